"""Messages typed in a conversation's thread: replies to text, notes, edits and deletions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from sqlmodel import Session

from handlers import texts
from handlers.deps import HandlerDeps
from handlers.refusals import refusal_text
from handlers.slack.attachments import attached_files
from handlers.slack.guard import deps_of
from handlers.views.common import escape, segments_summary
from models.conversations import InvalidMessageBody
from models.inbound import take_idempotency_key
from models.outbound_media import OutboundFile
from models.replies import (
    PendingChange,
    cancel_pending_reply,
    edit_pending_reply,
    find_conversation_by_thread,
    is_note,
    record_note,
    record_thread_reply,
    thread_key,
)
from models.send_plan import BadBody, BadPictures, reply_refusal
from models.sending import line_refusal
from models.slack_text import PhoneText, phone_text
from models.sms_segments import count_segments
from models.tables import Conversation, Line

logger = logging.getLogger(__name__)


def _from_a_bot(message: dict[str, Any], context: BoltContext) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or (context.bot_user_id and message.get("user") == context.bot_user_id)
    )


def _in_a_thread(message: dict[str, Any]) -> bool:
    """A reply in a thread (a message Slack sends always has its own ts; one without is
    not a message anyone typed)."""
    thread_ts, ts = message.get("thread_ts"), message.get("ts")
    return bool(thread_ts) and bool(ts) and thread_ts != ts


# How long a reply naming someone textbot has no name for waits at least: the name is
# looked up after the ack, and the reply corrected before it leaves.
NAME_LOOKUP_SECONDS = 3.0


def _only_previews_changed(event: dict[str, Any]) -> bool:
    """Slack adds link previews (unfurls) to a message by changing it: the text stays the
    same and attachments come. That is no edit."""
    previous = event.get("previous_message")
    message = event.get("message") or {}
    return previous is not None and (previous.get("text") or "") == (message.get("text") or "")


def handle_message_event(body: dict[str, Any], event: dict[str, Any], context: BoltContext) -> None:
    """Replies, edits and deletions in conversation threads; everything else is ignored.
    Nothing here calls Slack: names not known yet are looked up after the ack."""
    deps = deps_of(context)
    subtype = event.get("subtype")
    team_id = body.get("team_id") or context.team_id or ""
    channel = event.get("channel", "")
    texted: str | None = None  # the text queued for the customer, if any
    if subtype in (None, "thread_broadcast", "file_share"):
        if _from_a_bot(event, context) or not _in_a_thread(event):
            return
        message = event
        converted = phone_text(message, deps.slack_names.known)
        note, texted = _handle_reply(deps, team_id, channel, event, converted)
    elif subtype == "message_changed":
        message = event.get("message") or {}
        if (
            _from_a_bot(message, context)
            or not _in_a_thread(message)
            or _only_previews_changed(event)
        ):
            return
        converted = phone_text(message, deps.slack_names.known)
        note, texted = _handle_edit(deps, channel, message, converted)
    elif subtype == "message_deleted":
        message = event.get("previous_message") or {}
        if _from_a_bot(message, context) or not _in_a_thread(message):
            return
        note = _handle_deletion(deps, channel, event.get("deleted_ts") or message.get("ts", ""))
    else:
        return
    user = message.get("user")
    if user and (note or texted is not None):
        context["reply_follow_up"] = {
            "user": user,
            "thread_ts": message.get("thread_ts"),
            "note": note,
            "texted": texted,
            "message": {k: message.get(k) for k in ("ts", "text", "blocks")},
        }


def follow_up_reply(context: BoltContext, event: dict[str, Any], client: WebClient) -> None:
    """After the ack: tell the author privately why their reply was not (re)sent, or what
    the customer gets when it differs from what they typed, once names are looked up."""
    follow_up = context.get("reply_follow_up")
    if not follow_up:
        return
    text = follow_up["note"]
    if follow_up["texted"] is not None:
        text = _texted_note(deps_of(context), client, event["channel"], follow_up)
    if text:
        client.chat_postEphemeral(
            channel=event["channel"],
            user=follow_up["user"],
            text=text,
            thread_ts=follow_up["thread_ts"],
        )


def _texted_note(
    deps: HandlerDeps, client: WebClient, channel: str, follow_up: dict[str, Any]
) -> str | None:
    """Look up the names the reply mentions that were not known before the ack, correct the
    queued text if they change it, and say what the customer gets if the author typed
    something else."""
    message = follow_up["message"]
    before = phone_text(message, deps.slack_names.known)
    deps.slack_names.look_up(client, before.unresolved)
    converted = phone_text(message, deps.slack_names.known)
    if converted.text != follow_up["texted"]:
        try:
            with deps.session() as session:
                result = edit_pending_reply(
                    session=session,
                    channel_id=channel,
                    ts=message["ts"],
                    text=converted.text,
                    user_id=follow_up["user"],
                    note_markers=deps.note_markers,
                    expected_body=follow_up["texted"],
                )
        except InvalidMessageBody as exc:
            return texts.REPLY_INVALID.format(reason=str(exc))
        if result != PendingChange.DONE:
            return None  # already gone as it was, or changed again since
        deps.work_queued()
    if not converted.differs:
        return None
    return texts.TEXTED_AS.format(
        text=escape(converted.text), segments=segments_summary(count_segments(converted.text))
    )


def _handle_reply(
    deps: HandlerDeps, team_id: str, channel: str, event: dict[str, Any], converted: PhoneText
) -> tuple[str | None, str | None]:
    """(a private note for the author when the reply is not texted, the text queued)."""
    ts, user, text = event["ts"], event.get("user", ""), converted.text
    files = attached_files(event.get("files"))
    with deps.session() as session:
        conversation = find_conversation_by_thread(
            session=session, team_id=team_id, channel_id=channel, thread_ts=event["thread_ts"]
        )
        if conversation is None:
            return None, None  # a thread that is not a conversation
        # Taken before anything else: Slack's retries (even one racing the first
        # delivery) find it and do nothing.
        if not take_idempotency_key(session=session, key=thread_key(channel, ts)):
            return None, None
        line = session.get_one(Line, conversation.line_id)
        refused = line_refusal(session=session, line=line, team_id=team_id, user_id=user)
        if refused is not None and not refused.turned_off:
            return texts.REPLY_NOT_ALLOWED.format(line=line.name), None
        # A line turned off still takes notes in its threads.
        if refused is not None and not is_note(text, deps.note_markers):
            return texts.REPLY_LINE_OFF.format(line=line.name), None
        if is_note(text, deps.note_markers):
            record_note(
                session=session,
                conversation=conversation,
                text=text,
                user_id=user,
                channel_id=channel,
                ts=ts,
            )
            return None, None
        refusal = _refusal(session, conversation, line, text, files)
        if refusal:
            return refusal, None
        message = record_thread_reply(
            session=session,
            conversation=conversation,
            line=line,
            text=text,
            user_id=user,
            channel_id=channel,
            ts=ts,
            hold_seconds=NAME_LOOKUP_SECONDS if converted.unresolved else 0,
            media=files,
            now=deps.clock(),
        )
        queued = message.body
    deps.work_queued()
    return None, queued


def _refusal(
    session: Session,
    conversation: Conversation,
    line: Line,
    text: str,
    files: list[OutboundFile],
) -> str | None:
    refused = reply_refusal(session, conversation=conversation, line=line, text=text, files=files)
    match refused:
        case None:
            return None
        case BadPictures(reason=reason):
            return texts.REPLY_FILE_REFUSED.format(reason=escape(reason))
        case BadBody(reason=reason):
            return texts.REPLY_INVALID.format(reason=reason)
    return refusal_text(refused, show=escape)


def _handle_edit(
    deps: HandlerDeps, channel: str, message: dict[str, Any], converted: PhoneText
) -> tuple[str | None, str | None]:
    """(a private note for the author when the edit changes nothing, the text now queued)."""
    try:
        with deps.session() as session:
            result = edit_pending_reply(
                session=session,
                channel_id=channel,
                ts=message["ts"],
                text=converted.text,
                user_id=_editor(message),
                note_markers=deps.note_markers,
            )
    except InvalidMessageBody as exc:
        return texts.REPLY_INVALID.format(reason=str(exc)), None
    if result == PendingChange.DONE:
        deps.work_queued()
        if not is_note(converted.text, deps.note_markers):
            # Checked by the edit (a reply with a picture may have no words).
            return None, converted.text.strip()
    return (texts.EDIT_TOO_LATE if result == PendingChange.TOO_LATE else None), None


def _editor(message: dict[str, Any]) -> str:
    """The author of an edit made by its own author, else "" (no reply's author): Slack
    names the message's author in `user` and whoever edited it in `edited.user`."""
    author = str(message.get("user") or "")
    editor = str((message.get("edited") or {}).get("user") or author)
    return author if editor == author else ""


def _handle_deletion(deps: HandlerDeps, channel: str, ts: str) -> str | None:
    with deps.session() as session:
        result = cancel_pending_reply(session=session, channel_id=channel, ts=ts)
    if result == PendingChange.DONE:
        deps.work_queued()
    return texts.DELETE_TOO_LATE if result == PendingChange.TOO_LATE else None
