"""Replies typed in a conversation's Slack thread: texted after a short delay (during which
deleting cancels and editing changes them), or kept as internal notes."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.conversations import (
    body_for,
    check_message_body,
    find_message_by_key,
    insert_message,
    reopen_conversation,
    send_text,
)
from models.groups import conversation_contacts
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import utcnow

DEFAULT_NOTE_MARKERS = ("note:", "//")


class PendingChange(StrEnum):
    DONE = "done"
    TOO_LATE = "too_late"  # already handed to the provider
    UNKNOWN = "unknown"  # not a reply we sent (or a note)


def thread_key(channel_id: str, ts: str) -> str:
    return f"slack:{channel_id}:{ts}"


def is_note(text: str, markers: tuple[str, ...] = DEFAULT_NOTE_MARKERS) -> bool:
    start = text.lstrip().lower()
    return any(start.startswith(marker.lower()) for marker in markers)


def find_conversation_by_thread(
    *, session: Session, team_id: str, channel_id: str, thread_ts: str
) -> Conversation | None:
    return session.exec(
        select(Conversation).where(
            Conversation.team_id == team_id,
            Conversation.slack_channel_id == channel_id,
            Conversation.slack_thread_ts == thread_ts,
        )
    ).first()


def record_note(
    *,
    session: Session,
    conversation: Conversation,
    text: str,
    user_id: str,
    channel_id: str,
    ts: str,
) -> Message:
    message, _ = insert_message(
        session=session,
        conversation=conversation,
        values={
            "direction": MessageDirection.NOTE,
            "origin": MessageOrigin.SLACK,
            "body": text,
            "author_user_id": user_id,
            "dedupe_key": thread_key(channel_id, ts),
            "slack_ts": ts,
        },
    )
    return message


def record_thread_reply(
    *,
    session: Session,
    conversation: Conversation,
    line: Line,
    text: str,
    user_id: str,
    channel_id: str,
    ts: str,
) -> Message:
    """Queue a thread reply to the conversation's recipients after the line's reply delay,
    reopening a closed conversation. Raises InvalidMessageBody or RecipientOptedOut."""
    reopen_conversation(session=session, conversation=conversation)
    message, _ = send_text(
        session=session,
        conversation=conversation,
        line=line,
        recipients=conversation_contacts(session=session, conversation=conversation),
        body=text,
        author_user_id=user_id,
        dedupe_key=thread_key(channel_id, ts),
        origin=MessageOrigin.SLACK,
        slack_ts=ts,
        send_at=utcnow() + timedelta(seconds=line.reply_delay_seconds),
        skip_opted_out=conversation.kind == ConversationKind.GROUP,
    )
    return message


def _hold_pending_deliveries(session: Session, message: Message) -> int:
    """Lock the message's deliveries that have not left yet, so that no dispatcher claims
    them until this transaction ends; returns how many there are."""
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.message_id) == message.id, col(Delivery.status) == DeliveryStatus.PENDING
        )
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _pending_reply(session: Session, channel_id: str, ts: str) -> Message | None:
    message = find_message_by_key(session=session, dedupe_key=thread_key(channel_id, ts))
    if message is None or message.direction != MessageDirection.OUTBOUND:
        return None
    return message


def edit_pending_reply(*, session: Session, channel_id: str, ts: str, text: str) -> PendingChange:
    """The reply was edited in Slack: send the new text, if it has not left yet."""
    message = _pending_reply(session, channel_id, ts)
    if message is None:
        return PendingChange.UNKNOWN
    new_text = check_message_body(text)
    if not _hold_pending_deliveries(session, message):
        return PendingChange.TOO_LATE
    message.body = new_text
    session.add(message)
    conversation = session.get_one(Conversation, message.conversation_id)
    line = session.get_one(Line, conversation.line_id)
    for delivery in session.exec(
        select(Delivery).where(
            Delivery.message_id == message.id, Delivery.status == DeliveryStatus.PENDING
        )
    ).all():
        contact = session.get_one(Contact, delivery.contact_id)
        delivery.body = body_for(
            session=session, line=line, contact=contact, text=new_text, message_id=message.id
        )
        session.add(delivery)
    session.flush()
    return PendingChange.DONE


def cancel_pending_reply(*, session: Session, channel_id: str, ts: str) -> PendingChange:
    """The reply was deleted in Slack: cancel what has not left yet."""
    message = _pending_reply(session, channel_id, ts)
    if message is None:
        return PendingChange.UNKNOWN
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.message_id) == message.id, col(Delivery.status) == DeliveryStatus.PENDING
        )
        .values(status=DeliveryStatus.CANCELED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return PendingChange.TOO_LATE
    # The Slack message is gone, so there is nothing to mark.
    message.slack_synced_rev = message.slack_rev
    session.add(message)
    session.flush()
    return PendingChange.DONE
