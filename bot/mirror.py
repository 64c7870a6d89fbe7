"""The Slack mirror: posts each conversation's parent message and every message in its
thread, and updates them as statuses change, one conversation at a time, in order."""

from __future__ import annotations

import logging
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.db import Database
from handlers.blocks import build_conversation_parent, build_message_reply
from models.deliveries import find_deliveries_of
from models.mirroring import (
    claim_conversation_for_mirror,
    find_conversations_to_mirror,
    find_messages_to_mirror,
    finish_mirror,
    record_message_mirrored,
    record_parent_mirrored,
    release_mirror,
)
from models.tables import Contact, Conversation, Delivery, Line
from models.types import utcnow

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
ERROR_PAUSE = timedelta(seconds=5)


class SlackMirror:
    def __init__(self, *, database: Database, client: WebClient, concurrency: int = 4):
        self.database = database
        self.client = client
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="mirror")

    def step(self) -> float | None:
        with self.database.read_session() as session:
            conversation_ids = find_conversations_to_mirror(session=session, now=utcnow())
        if not conversation_ids:
            return None
        done = list(self._pool.map(self._mirror_claimed, conversation_ids))
        return 0 if any(done) else None

    def _mirror_claimed(self, conversation_id: int) -> bool:
        with self.database.session() as session, session.begin():
            seq = claim_conversation_for_mirror(
                session=session, conversation_id=conversation_id, now=utcnow(), lease=LEASE
            )
        if seq is None:
            return False
        try:
            self._mirror(conversation_id)
        except SlackApiError as exc:
            wait = _retry_after(exc) or ERROR_PAUSE
            logger.warning(
                "conversation %s: Slack said %s; trying again in %ss",
                conversation_id,
                exc.response.get("error") or exc.response.status_code,
                wait.total_seconds(),
            )
            self._release(conversation_id, wait)
            return False
        except Exception:
            logger.exception("conversation %s: mirroring failed", conversation_id)
            self._release(conversation_id, ERROR_PAUSE)
            return False
        with self.database.session() as session, session.begin():
            finish_mirror(session=session, conversation_id=conversation_id, seq=seq)
        return True

    def _release(self, conversation_id: int, wait: timedelta) -> None:
        with self.database.session() as session, session.begin():
            release_mirror(
                session=session, conversation_id=conversation_id, not_before=utcnow() + wait
            )

    def _mirror(self, conversation_id: int) -> None:
        with self.database.read_session() as session:
            conversation = session.get_one(Conversation, conversation_id)
            line = session.get_one(Line, conversation.line_id)
            contact = (
                session.get(Contact, conversation.contact_id) if conversation.contact_id else None
            )
            messages = find_messages_to_mirror(session=session, conversation_id=conversation_id)
            deliveries: dict[int, list[Delivery]] = defaultdict(list)
            for delivery in find_deliveries_of(
                session=session, message_ids=[m.id for m in messages if m.id is not None]
            ):
                deliveries[delivery.message_id].append(delivery)

        channel = conversation.slack_channel_id or line.channel_id
        thread_ts = conversation.slack_thread_ts
        if thread_ts is None or conversation.parent_rev > conversation.parent_synced_rev:
            text, blocks = build_conversation_parent(
                conversation=conversation, line=line, contact=contact
            )
            if thread_ts is None:
                response = self.client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, unfurl_links=False
                )
                channel, thread_ts = response["channel"], response["ts"]
            else:
                self.client.chat_update(channel=channel, ts=thread_ts, text=text, blocks=blocks)
            with self.database.session() as session, session.begin():
                record_parent_mirrored(
                    session=session,
                    conversation_id=conversation_id,
                    rev=conversation.parent_rev,
                    channel_id=channel,
                    thread_ts=thread_ts,
                )

        for message in messages:
            text, blocks = build_message_reply(
                message=message, deliveries=deliveries[message.id or 0]
            )
            if message.slack_ts is None:
                response = self.client.chat_postMessage(
                    channel=channel,
                    thread_ts=thread_ts,
                    text=text,
                    blocks=blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
                ts = response["ts"]
            else:
                self.client.chat_update(
                    channel=channel, ts=message.slack_ts, text=text, blocks=blocks
                )
                ts = message.slack_ts
            with self.database.session() as session, session.begin():
                record_message_mirrored(
                    session=session, message_id=message.id or 0, rev=message.slack_rev, slack_ts=ts
                )

    def close(self) -> None:
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
