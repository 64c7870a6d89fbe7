"""The Slack mirror: posts each conversation's parent message and every message in its
thread, and updates them as statuses change, one conversation at a time, in order."""

from __future__ import annotations

import logging
import mimetypes
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from bot.db import Database, mark_background_thread
from bot.faults import crash_point
from bot.slack_pace import ChannelPace
from bot.slack_posted import (
    catch_up_metadata,
    find_posted_messages,
    find_posted_parent,
    message_metadata,
    parent_metadata,
)
from bot.sms_gateway import MediaRefused
from bot.workers import retry_pause
from handlers.texts import REPLY_FAILED
from handlers.views.common import Block, contact_mrkdwn, escape
from handlers.views.thread import (
    REPLY_REACTIONS,
    build_broadcast_summary,
    build_catch_up,
    build_conversation_parent,
    build_media_links,
    build_message_reply,
    build_plain_fallback,
    message_identity,
    reply_mark,
)
from models.broadcasts import (
    broadcast_progress,
    claim_summary,
    find_summaries_to_post,
    record_summary_posted,
)
from models.contacts import find_contacts
from models.deliveries import FAILURE_STATUSES, find_deliveries_of
from models.groups import find_participants
from models.mirroring import (
    CHANNEL_REFUSALS,
    PAYLOAD_REFUSALS,
    claim_conversation_for_mirror,
    clear_parked_conversation,
    find_conversations_to_mirror,
    find_messages_to_mirror,
    finish_mirror,
    park_conversation_mirror,
    park_message,
    plan_posts,
    record_found_parent,
    record_found_posts,
    record_message_mirrored,
    record_messages_mirrored,
    record_parent_mirrored,
    release_mirror,
    renew_mirror_leases,
)
from models.optouts import find_opted_out
from models.outbound_media import find_message_media
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    Delivery,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import utcnow

logger = logging.getLogger(__name__)

# After Slack answers with an error (which posted nothing), a conversation waits this long,
# then twice as long after each further failure in a row: a 500 mostly passes within a
# second or two. At most 15 s, so that texts show within seconds of Slack's return (a
# minute's cap held a conversation 63 s in the chaos suite after six 500s in a row).
ERROR_PAUSE_FIRST = timedelta(seconds=1)
ERROR_PAUSE_MOST = timedelta(seconds=15)
# After no answer, longer: Slack may still be posting what the client gave up on, and the
# next attempt looks up what was posted (found by the chaos suite: a hang of 11 s against
# the client's 10 s, looked up after 1 s, was posted twice).
NO_ANSWER_PAUSE_FIRST = timedelta(seconds=5)


class SlackMirror:
    def __init__(
        self,
        *,
        database: Database,
        client: WebClient,
        fetch_media: Callable[[str], tuple[bytes, str]],
        concurrency: int = 4,
        lease: timedelta = timedelta(seconds=10),
        pace: ChannelPace | None = None,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.database = database
        self.clock = clock
        self.pace = pace or ChannelPace(0)
        self.client = client
        self.fetch_media = fetch_media
        # Short, and renewed every fifth of it while this process works on a conversation
        # (however long Slack's pace makes that): another process takes over a dead one's
        # conversations within seconds.
        self.lease = lease
        self._pool = ThreadPoolExecutor(
            concurrency, thread_name_prefix="mirror", initializer=mark_background_thread
        )
        self._closing = threading.Event()
        self._held: set[int] = set()
        self._held_lock = threading.Lock()
        self._failures_in_a_row: dict[int, int] = {}  # by conversation, in this process
        self._lease_keeper: threading.Thread | None = None

    def step(self) -> float | None:
        now = self.clock()
        with self.database.read_session() as session:
            conversation_ids = find_conversations_to_mirror(session=session, now=now)
            broadcast_ids = find_summaries_to_post(session=session, now=now)
        done = list(self._pool.map(self._mirror_claimed, conversation_ids))
        done += list(self._pool.map(self._post_summary, broadcast_ids))
        return 0 if any(done) else None

    @cached_property
    def team_url(self) -> str:
        """The workspace's URL, for links to threads (read once from Slack)."""
        try:
            return str(self.client.auth_test().get("url") or "")
        except SlackApiError:
            logger.warning("could not read the workspace URL; summaries will not link threads")
            return ""

    def _post_summary(self, broadcast_id: int) -> bool:
        """Post or update a multi-recipient message's summary in its sender's DM."""
        if self._closing.is_set():
            return False
        now = self.clock()
        with self.database.session() as session, session.begin():
            broadcast = claim_summary(session=session, broadcast_id=broadcast_id, now=now)
            if broadcast is None:
                return False
            line = session.get_one(Line, broadcast.line_id)
            progress = broadcast_progress(session=session, broadcast=broadcast)
        text, blocks = build_broadcast_summary(
            broadcast=broadcast, line=line, progress=progress, team_url=self.team_url
        )
        try:
            if broadcast.slack_ts is None:
                response = self._post(
                    broadcast.user_id, text=text, blocks=blocks, unfurl_links=False
                )
                channel, ts = response["channel"], response["ts"]
            else:
                channel, ts = broadcast.slack_channel_id or broadcast.user_id, broadcast.slack_ts
                self._update(channel, ts, text=text, blocks=blocks)
        except SlackApiError:
            logger.warning(
                "summary of broadcast %s not posted; will retry", broadcast_id, exc_info=True
            )
            return False
        with self.database.session() as session, session.begin():
            record_summary_posted(
                session=session,
                broadcast_id=broadcast_id,
                rev=broadcast.summary_rev,
                channel_id=channel,
                ts=ts,
                now=self.clock(),
            )
        return True

    def _mirror_claimed(self, conversation_id: int) -> bool:
        if self._closing.is_set():  # shutting down: the work stays pending in the database
            return False
        with self.database.session() as session, session.begin():
            claim = claim_conversation_for_mirror(
                session=session, conversation_id=conversation_id, now=self.clock(), lease=self.lease
            )
        if claim is None:
            return False
        self._hold(conversation_id)
        try:
            self._mirror(conversation_id, taken_over=claim.taken_over)
        except SlackApiError as exc:
            wait = _retry_after(exc) or self._failure_pause(conversation_id, ERROR_PAUSE_FIRST)
            logger.warning(
                "conversation %s: Slack said %s; trying again in %ss",
                conversation_id,
                exc.response.get("error") or exc.response.status_code,
                wait.total_seconds(),
            )
            self._release(conversation_id, wait)
            return False
        except Exception:
            # No answer (a timeout, a cut connection) or a bug: a post may have reached
            # Slack unrecorded. The lease is left to run out instead of being given back, so
            # that the next attempt, by any process, takes the conversation over: it looks
            # up what was posted before posting again.
            logger.exception("conversation %s: mirroring failed", conversation_id)
            pause = self._failure_pause(conversation_id, NO_ANSWER_PAUSE_FIRST)
            self._let_lease_run_out(conversation_id, pause)
            return False
        finally:
            with self._held_lock:
                self._held.discard(conversation_id)
        with self._held_lock:
            self._failures_in_a_row.pop(conversation_id, None)
        with self.database.session() as session, session.begin():
            finish_mirror(session=session, conversation_id=conversation_id, seq=claim.seq)
        return True

    def _failure_pause(self, conversation_id: int, first: timedelta) -> timedelta:
        with self._held_lock:
            failures = self._failures_in_a_row.get(conversation_id, 0) + 1
            self._failures_in_a_row[conversation_id] = failures
        return retry_pause(failures, first=first, most=ERROR_PAUSE_MOST)

    def _hold(self, conversation_id: int) -> None:
        with self._held_lock:
            self._held.add(conversation_id)
            if self._lease_keeper is None:
                self._lease_keeper = threading.Thread(
                    target=self._renew_leases, name="mirror-leases", daemon=True
                )
                self._lease_keeper.start()

    def _renew_leases(self) -> None:
        mark_background_thread()
        while not self._closing.wait(self.lease.total_seconds() / 5):
            with self._held_lock:
                held = list(self._held)
            if not held:
                continue
            try:
                with self.database.session() as session, session.begin():
                    renew_mirror_leases(
                        session=session, conversation_ids=held, until=self.clock() + self.lease
                    )
            except Exception:
                logger.exception("could not renew the leases of %d conversations", len(held))

    def _let_lease_run_out(self, conversation_id: int, wait: timedelta) -> None:
        with self._held_lock:
            self._held.discard(conversation_id)  # no longer renewed
        with self.database.session() as session, session.begin():
            renew_mirror_leases(
                session=session, conversation_ids=[conversation_id], until=self.clock() + wait
            )

    def _release(self, conversation_id: int, wait: timedelta) -> None:
        with self.database.session() as session, session.begin():
            release_mirror(
                session=session, conversation_id=conversation_id, not_before=self.clock() + wait
            )

    def _mirror(self, conversation_id: int, *, taken_over: bool = False) -> None:
        """Post or update what the conversation's thread should show. `taken_over`: a
        worker died holding this conversation, and may have posted without recording."""
        with self.database.read_session() as session:
            conversation = session.get_one(Conversation, conversation_id)
            line = session.get_one(Line, conversation.line_id)
            messages = find_messages_to_mirror(session=session, conversation_id=conversation_id)
            deliveries: dict[int, list[Delivery]] = defaultdict(list)
            for delivery in find_deliveries_of(
                session=session, message_ids=[m.id for m in messages if m.id is not None]
            ):
                deliveries[delivery.message_id].append(delivery)
            contact_ids = (
                {m.contact_id for m in messages if m.contact_id}
                | {d.contact_id for ds in deliveries.values() for d in ds}
                | ({conversation.contact_id} if conversation.contact_id else set())
            )
            participants = (
                find_participants(session=session, conversation=conversation)
                if conversation.kind == ConversationKind.GROUP
                else []
            )
            opted_out_ids = frozenset(
                c.id or 0
                for c in find_opted_out(
                    session=session, line_id=line.id or 0, contacts=participants
                )
            )
            contacts = {c.id or 0: c for c in find_contacts(session=session, ids=contact_ids)}

        channel = conversation.slack_channel_id or line.channel_id
        thread_ts = conversation.slack_thread_ts
        if thread_ts is None or conversation.parent_rev > conversation.parent_synced_rev:
            text, blocks = build_conversation_parent(
                conversation=conversation,
                line=line,
                contact=contacts.get(conversation.contact_id or 0),
                participants=participants,
                opted_out_ids=opted_out_ids,
            )
            if thread_ts is None and taken_over:
                thread_ts = find_posted_parent(
                    self.client,
                    channel=channel,
                    conversation_id=conversation_id,
                    since=conversation.created_at,
                )
                if thread_ts is not None:
                    with self.database.session() as session, session.begin():
                        record_found_parent(
                            session=session,
                            conversation_id=conversation_id,
                            channel_id=channel,
                            thread_ts=thread_ts,
                        )
                    self._update(channel, thread_ts, text=text, blocks=blocks)
            try:
                if thread_ts is None:
                    response = self._post(
                        channel,
                        text=text,
                        blocks=blocks,
                        unfurl_links=False,
                        metadata=parent_metadata(conversation_id),
                    )
                    channel, thread_ts = response["channel"], response["ts"]
                    crash_point("after_slack_parent_post")
                else:
                    self._update(channel, thread_ts, text=text, blocks=blocks)
            except SlackApiError as exc:
                if _error(exc) in CHANNEL_REFUSALS | PAYLOAD_REFUSALS:
                    self._park_conversation(conversation_id, channel, _error(exc))
                    return
                raise
            with self.database.session() as session, session.begin():
                record_parent_mirrored(
                    session=session,
                    conversation_id=conversation_id,
                    rev=conversation.parent_rev,
                    channel_id=channel,
                    thread_ts=thread_ts,
                )

        if taken_over and any(m.slack_ts is None for m in messages):
            messages = self._take_over_posts(messages, channel=channel, thread_ts=thread_ts)
        relayed = {message_id for message_id, ds in deliveries.items() if ds}
        for post in plan_posts(messages, relayed=relayed):
            if len(post) > 1:
                if not self._post_catch_up(
                    post,
                    conversation_id=conversation_id,
                    channel=channel,
                    thread_ts=thread_ts,
                    contact=contacts.get(post[0].contact_id or 0),
                    assignee=conversation.assigned_to,
                ):
                    return
                continue
            message = post[0]
            try:
                mark = self._mirror_message(
                    message,
                    channel=channel,
                    thread_ts=thread_ts,
                    deliveries=deliveries[message.id or 0],
                    contacts=contacts,
                    assignee=conversation.assigned_to,
                )
            except SlackApiError as exc:
                if _error(exc) in CHANNEL_REFUSALS:
                    self._park_conversation(conversation_id, channel, _error(exc))
                    return  # its messages wait for the channel, in order
                if _error(exc) not in PAYLOAD_REFUSALS:
                    raise
                self._park_message(message, conversation_id, _error(exc))
                continue  # the later texts are not held up
            with self.database.session() as session, session.begin():
                record_message_mirrored(
                    session=session,
                    message_id=message.id or 0,
                    rev=message.slack_rev,
                    slack_ts=message.slack_ts or "",
                    mark=mark,
                )
        if conversation.slack_error:
            with self.database.session() as session, session.begin():
                clear_parked_conversation(session=session, conversation_id=conversation_id)

    def _take_over_posts(
        self, messages: list[Message], *, channel: str, thread_ts: str
    ) -> list[Message]:
        """After a takeover, what a dead worker posted is recorded, not posted again: a
        message in a catch-up post is done; one posted alone is updated from now on. Returns
        the messages still to mirror."""
        posted = find_posted_messages(self.client, channel=channel, thread_ts=thread_ts)
        found = {
            m.id: posted.ts_by_message[m.id]
            for m in messages
            if m.slack_ts is None and m.id in posted.ts_by_message
        }
        done = [m for m in messages if m.id in found and m.id in posted.caught_up]
        if found:
            with self.database.session() as session, session.begin():
                record_found_posts(session=session, slack_ts_by_message=found)
                for message in done:
                    record_messages_mirrored(
                        session=session,
                        posted=[(message.id or 0, message.slack_rev)],
                        slack_ts=found[message.id or 0],
                    )
        for message in messages:
            if message.id in found:
                message.slack_ts = found[message.id]  # updated below, not posted again
        done_ids = {m.id for m in done}
        return [m for m in messages if m.id not in done_ids]

    def _post_catch_up(
        self,
        messages: list[Message],
        *,
        conversation_id: int,
        channel: str,
        thread_ts: str,
        contact: Contact | None,
        assignee: str | None,
    ) -> bool:
        """Post a catch-up post of several texts and record them all; False when the
        conversation was parked (its channel refuses posts)."""
        text, blocks = build_catch_up(messages=messages, contact=contact, assignee=assignee)
        try:
            response = self._post_to_thread(
                channel,
                thread_ts,
                text=text,
                blocks=blocks,
                shown=messages[0],
                contact=contact,
                metadata=catch_up_metadata([m.id or 0 for m in messages]),
            )
        except SlackApiError as exc:
            if _error(exc) in CHANNEL_REFUSALS:
                self._park_conversation(conversation_id, channel, _error(exc))
                return False
            if _error(exc) not in PAYLOAD_REFUSALS:
                raise
            for message in messages:
                self._park_message(message, conversation_id, _error(exc))
            return True
        crash_point("after_slack_reply_post")
        with self.database.session() as session, session.begin():
            record_messages_mirrored(
                session=session,
                posted=[(message.id or 0, message.slack_rev) for message in messages],
                slack_ts=response["ts"],
            )
        return True

    def _park_conversation(self, conversation_id: int, channel: str, error: str) -> None:
        logger.warning(
            "conversation %s: Slack refuses posts in %s (%s); parked until it has new work "
            "(see textbot doctor)",
            conversation_id,
            channel,
            error,
        )
        with self.database.session() as session, session.begin():
            park_conversation_mirror(session=session, conversation_id=conversation_id, error=error)

    def _park_message(self, message: Message, conversation_id: int, error: str) -> None:
        logger.warning(
            "conversation %s: Slack refused message %s even in plain text (%s); parked",
            conversation_id,
            message.id,
            error,
        )
        with self.database.session() as session, session.begin():
            park_message(
                session=session,
                message_id=message.id or 0,
                rev=message.slack_rev,
                error=error,
                slack_ts=message.slack_ts,
            )

    def _post(
        self, channel: str, *, text: str, blocks: list[Block], **options: Any
    ) -> SlackResponse:
        """chat.postMessage, past what can be fixed here: not in the channel, join it once;
        blocks refused, post the plain fallback once. Any other refusal is raised."""
        joined = plain = False
        while True:
            self.pace.wait(channel)
            try:
                return self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, **options
                )
            except SlackApiError as exc:
                error = _error(exc)
                if error == "not_in_channel" and not joined:
                    joined = True
                    if self._join(channel):
                        continue
                elif error in PAYLOAD_REFUSALS and not plain:
                    plain = True
                    logger.warning(
                        "Slack refused a post in %s (%s): posting it plain", channel, error
                    )
                    text, blocks = build_plain_fallback(text)
                    continue
                raise

    def _post_to_thread(
        self,
        channel: str,
        thread_ts: str,
        *,
        text: str,
        blocks: list[Block],
        shown: Message,
        contact: Contact | None,
        metadata: dict[str, Any],
    ) -> SlackResponse:
        """A post in a conversation's thread, under the contact's name when it shows their
        texts."""
        identity = message_identity(shown, contact)
        return self._post(
            channel,
            thread_ts=thread_ts,
            text=text,
            blocks=blocks,
            unfurl_links=False,
            unfurl_media=False,
            username=identity.get("username"),
            icon_emoji=identity.get("icon_emoji"),
            metadata=metadata,
        )

    def _update(self, channel: str, ts: str, *, text: str, blocks: list[Block]) -> None:
        """chat.update; blocks refused, the plain fallback once."""
        try:
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as exc:
            if _error(exc) not in PAYLOAD_REFUSALS - {"message_not_found", "cant_update_message"}:
                raise
            logger.warning("Slack refused an update in %s (%s): plain", channel, _error(exc))
            text, blocks = build_plain_fallback(text)
            self.client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)

    def _join(self, channel: str) -> bool:
        """Join a public channel the bot was not in (a line moved to it, the bot removed)."""
        try:
            self.client.conversations_join(channel=channel)
        except SlackApiError as exc:
            logger.warning("could not join %s: %s", channel, _error(exc))
            return False
        logger.info("joined %s to post in it", channel)
        return True

    def _mirror_message(
        self,
        message: Message,
        *,
        channel: str,
        thread_ts: str,
        deliveries: list[Delivery],
        contacts: dict[int, Contact],
        assignee: str | None = None,
    ) -> str | None:
        """Show the message in the thread; returns the mark it now has (see Message)."""
        contact = contacts.get(message.contact_id or 0)
        if message.origin == MessageOrigin.SLACK:
            return self._mark_slack_reply(message, channel, thread_ts, deliveries, contacts)
        pictures: list[str] = []
        if message.direction == MessageDirection.OUTBOUND:
            with self.database.read_session() as session:
                media = find_message_media(session=session, message_id=message.id or 0)
                pictures = [item.name or "picture" for item in media]
        text, blocks = build_message_reply(
            message=message,
            deliveries=deliveries,
            contact=contact,
            assignee=assignee,
            pictures=pictures,
        )
        if message.slack_ts is not None:
            self._update(channel, message.slack_ts, text=text, blocks=blocks)
            return message.slack_mark
        response = self._post_to_thread(
            channel,
            thread_ts,
            text=text,
            blocks=blocks,
            shown=message,
            contact=contact,
            metadata=message_metadata(message.id or 0),
        )
        message.slack_ts = response["ts"]
        crash_point("after_slack_reply_post")
        if message.media:
            failed = self._copy_media(message.media, channel=channel, thread_ts=thread_ts)
            if failed:
                self._update(
                    channel,
                    message.slack_ts,
                    text=text,
                    blocks=[*blocks, build_media_links(failed)],
                )
        return None

    def _mark_slack_reply(
        self,
        message: Message,
        channel: str,
        thread_ts: str,
        deliveries: list[Delivery],
        contacts: dict[int, Contact],
    ) -> str | None:
        """A reply typed in Slack is already there: react to show where it has got to, and
        say why when it failed."""
        mark = reply_mark(message, deliveries)
        if mark is None or mark == message.slack_mark or message.slack_ts is None:
            return message.slack_mark
        try:
            self.client.reactions_add(
                channel=channel, timestamp=message.slack_ts, name=REPLY_REACTIONS[mark]
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in ("already_reacted", "message_not_found"):
                raise
        if mark == "failed":
            failed = [d for d in deliveries if d.status in FAILURE_STATUSES]
            who = ", ".join(contact_mrkdwn(contacts[d.contact_id]) for d in failed)
            reasons = "; ".join(escape(d.error_text or "no reason given") for d in failed)
            self._post(
                channel,
                thread_ts=thread_ts,
                text=REPLY_FAILED.format(who=who, reason=reasons),
                blocks=[],
            )
        return mark

    def _copy_media(
        self, media: list[dict[str, str]], *, channel: str, thread_ts: str
    ) -> list[tuple[int, str | None]]:
        """Upload inbound attachments into the thread; returns those that could not be, by
        number (from 1), with the URL to link them to (None: not a Twilio URL, no link)."""
        failed: list[tuple[int, str | None]] = []
        for index, item in enumerate(media):
            try:
                content, content_type = self.fetch_media(item["url"])
                extension = (
                    mimetypes.guess_extension(content_type or item.get("content_type", "")) or ""
                )
                self.client.files_upload_v2(
                    channel=channel,
                    thread_ts=thread_ts,
                    content=content,
                    filename=f"attachment-{index + 1}{extension}",
                )
            except MediaRefused as refused:
                logger.warning("attachment %s of an inbound text: %s", index + 1, refused)
                failed.append((index + 1, None))
            except (requests.RequestException, SlackApiError) as exc:
                logger.warning("could not copy attachment %s into Slack: %s", index + 1, exc)
                failed.append((index + 1, item["url"]))
            except Exception:
                logger.exception("could not copy attachment %s into Slack", index + 1)
                failed.append((index + 1, item["url"]))
        return failed

    def stop_claiming(self) -> None:
        """Finish the conversations in hand and claim no more: a step over a long paced
        backlog would otherwise hold up shutdown for a second a conversation."""
        self._closing.set()

    def close(self) -> None:
        self.stop_claiming()
        self._pool.shutdown(wait=True)


def _retry_after(exc: SlackApiError) -> timedelta | None:
    if exc.response.status_code != 429:
        return None
    headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
    value = headers.get("retry-after", 1)
    if isinstance(value, list):
        value = value[0]
    try:
        return timedelta(seconds=float(value))
    except (TypeError, ValueError):
        return timedelta(seconds=1)


def _error(exc: SlackApiError) -> str:
    return str(exc.response.get("error") or exc.response.status_code)
