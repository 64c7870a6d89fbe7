"""Messages typed in a conversation's thread: replies to text, notes, edits and deletions."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from sqlmodel import Session

from handlers import texts
from handlers.blocks import contact_label
from handlers.deps import HandlerDeps
from models.access import can_use_line
from models.conversations import InvalidMessageBody, check_message_body
from models.groups import conversation_contacts
from models.inbound import take_idempotency_key
from models.optouts import find_opted_out
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
from models.tables import Conversation, ConversationKind, Line

logger = logging.getLogger(__name__)


def _from_a_bot(message: dict[str, Any], context: BoltContext) -> bool:
    return bool(
        message.get("bot_id")
        or message.get("subtype") == "bot_message"
        or (context.bot_user_id and message.get("user") == context.bot_user_id)
    )


def _in_a_thread(message: dict[str, Any]) -> bool:
    thread_ts = message.get("thread_ts")
    return bool(thread_ts) and thread_ts != message.get("ts")


def register(app: App, deps: HandlerDeps) -> None:
    def handle_message_event(
        body: dict[str, Any], event: dict[str, Any], context: BoltContext
    ) -> None:
        """Replies, edits and deletions in conversation threads; everything else is ignored."""
        subtype = event.get("subtype")
        team_id = body.get("team_id") or context.team_id or ""
        channel = event.get("channel", "")
        if subtype in (None, "thread_broadcast"):
            if _from_a_bot(event, context) or not _in_a_thread(event):
                return
            note = _handle_reply(deps, team_id, channel, event)
            user, thread_ts = event.get("user"), event.get("thread_ts")
        elif subtype == "message_changed":
            message = event.get("message") or {}
            if _from_a_bot(message, context) or not _in_a_thread(message):
                return
            note = _handle_edit(deps, channel, message)
            user, thread_ts = message.get("user"), message.get("thread_ts")
        elif subtype == "message_deleted":
            previous = event.get("previous_message") or {}
            if _from_a_bot(previous, context) or not _in_a_thread(previous):
                return
            note = _handle_deletion(
                deps, channel, event.get("deleted_ts") or previous.get("ts", "")
            )
            user, thread_ts = previous.get("user"), previous.get("thread_ts")
        else:
            return
        if note and user:
            context["private_note"] = {"user": user, "text": note, "thread_ts": thread_ts}

    def send_private_note(context: BoltContext, event: dict[str, Any], client: WebClient) -> None:
        """After the ack: tell the author privately why their reply was not (re)sent."""
        note = context.get("private_note")
        if note:
            client.chat_postEphemeral(
                channel=event["channel"],
                user=note["user"],
                text=note["text"],
                thread_ts=note["thread_ts"],
            )

    app.event("message")(ack=handle_message_event, lazy=[send_private_note])


def _handle_reply(
    deps: HandlerDeps, team_id: str, channel: str, event: dict[str, Any]
) -> str | None:
    """Returns a private note for the author when the reply is not texted."""
    ts, user, text = event["ts"], event.get("user", ""), event.get("text", "")
    with deps.session() as session:
        conversation = find_conversation_by_thread(
            session=session, team_id=team_id, channel_id=channel, thread_ts=event["thread_ts"]
        )
        if conversation is None:
            return None  # a thread that is not a conversation
        # Taken before anything else: Slack's retries (even one racing the first
        # delivery) find it and do nothing.
        if not take_idempotency_key(session=session, key=thread_key(channel, ts)):
            return None
        line = session.get_one(Line, conversation.line_id)
        if not can_use_line(session=session, line=line, user_id=user):
            return texts.REPLY_NOT_ALLOWED.format(line=line.name)
        if not line.active and not is_note(text, deps.note_markers):
            return texts.REPLY_LINE_OFF.format(line=line.name)
        if is_note(text, deps.note_markers):
            record_note(
                session=session,
                conversation=conversation,
                text=text,
                user_id=user,
                channel_id=channel,
                ts=ts,
            )
            return None
        refusal = _refusal(session, conversation, line, text)
        if refusal:
            return refusal
        record_thread_reply(
            session=session,
            conversation=conversation,
            line=line,
            text=text,
            user_id=user,
            channel_id=channel,
            ts=ts,
        )
    deps.work_queued()
    return None


def _refusal(session: Session, conversation: Conversation, line: Line, text: str) -> str | None:
    try:
        check_message_body(text)
    except InvalidMessageBody as exc:
        return texts.REPLY_INVALID.format(reason=str(exc))
    recipients = conversation_contacts(session=session, conversation=conversation)
    opted_out = find_opted_out(session=session, line_id=line.id or 0, contacts=recipients)
    # A group texts whoever is still in; a direct conversation needs its one contact.
    if opted_out and (
        conversation.kind != ConversationKind.GROUP or len(opted_out) == len(recipients)
    ):
        who = ", ".join(contact_label(c) for c in opted_out)
        return texts.RECIPIENT_OPTED_OUT.format(who=who, line=line.name)
    return None


def _handle_edit(deps: HandlerDeps, channel: str, message: dict[str, Any]) -> str | None:
    try:
        with deps.session() as session:
            result = edit_pending_reply(
                session=session, channel_id=channel, ts=message["ts"], text=message.get("text", "")
            )
    except InvalidMessageBody as exc:
        return texts.REPLY_INVALID.format(reason=str(exc))
    return texts.EDIT_TOO_LATE if result == PendingChange.TOO_LATE else None


def _handle_deletion(deps: HandlerDeps, channel: str, ts: str) -> str | None:
    with deps.session() as session:
        result = cancel_pending_reply(session=session, channel_id=channel, ts=ts)
    if result == PendingChange.DONE:
        deps.work_queued()
    return texts.DELETE_TOO_LATE if result == PendingChange.TOO_LATE else None
