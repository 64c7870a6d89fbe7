"""Replies typed in a conversation's Slack thread: texted after a short delay (during which
deleting cancels and editing changes them), or kept as internal notes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.conversations import (
    body_for,
    check_message_body,
    find_message_by_key,
    insert_message,
    mark_for_mirror,
    reopen_conversation,
    send_text,
)
from models.deliveries import checked_move
from models.groups import conversation_contacts
from models.outbound_media import OutboundFile, find_message_media
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
    NOT_AUTHOR = "not_author"  # the change does not come from the reply's author


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
    hold_seconds: float = 0,
    media: Sequence[OutboundFile] = (),
    now: datetime | None = None,
) -> Message:
    """Queue a thread reply (and the pictures in `media`) to the conversation's recipients
    after the line's reply delay (or `hold_seconds`, if longer), reopening a closed
    conversation. Raises InvalidMessageBody or RecipientOptedOut."""
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
        send_at=(now or utcnow()) + timedelta(seconds=max(line.reply_delay_seconds, hold_seconds)),
        skip_opted_out=conversation.kind == ConversationKind.GROUP,
        media=media,
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


def edit_pending_reply(
    *,
    session: Session,
    channel_id: str,
    ts: str,
    text: str,
    user_id: str,
    note_markers: tuple[str, ...] = DEFAULT_NOTE_MARKERS,
    expected_body: str | None = None,
) -> PendingChange:
    """The reply was edited in Slack by `user_id`: send the new text if it has not left yet,
    or, edited into a note, send nothing and keep it as a note. With `expected_body`, only
    a reply that still says that is changed (a later edit wins): UNKNOWN otherwise."""
    message = _pending_reply(session, channel_id, ts)
    if message is None:
        return PendingChange.UNKNOWN
    if message.author_user_id != user_id:
        return PendingChange.NOT_AUTHOR
    if is_note(text, note_markers):
        return _turn_into_note(session, message, text)
    has_media = bool(find_message_media(session=session, message_id=message.id or 0))
    new_text = check_message_body(text, allow_empty=has_media)
    if not _hold_pending_deliveries(session, message):
        return PendingChange.TOO_LATE
    if expected_body is not None:
        session.refresh(message)  # as it is now that its deliveries are held
        if message.body != expected_body:
            return PendingChange.UNKNOWN
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


def _turn_into_note(session: Session, message: Message, text: str) -> PendingChange:
    if not _cancel_pending_deliveries(session, message):
        return PendingChange.TOO_LATE
    message.direction = MessageDirection.NOTE
    message.body = text
    message.slack_rev = Message.slack_rev + 1  # type: ignore[assignment]
    session.add(message)
    conversation = session.get_one(Conversation, message.conversation_id)
    mark_for_mirror(conversation)  # the reply is marked as a note in Slack
    session.add(conversation)
    session.flush()
    return PendingChange.DONE


def _cancel_pending_deliveries(session: Session, message: Message) -> int:
    result = session.execute(
        update(Delivery)
        .where(
            col(Delivery.message_id) == message.id, col(Delivery.status) == DeliveryStatus.PENDING
        )
        .values(
            status=checked_move(DeliveryStatus.PENDING, DeliveryStatus.CANCELED),
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def cancel_pending_reply(*, session: Session, channel_id: str, ts: str) -> PendingChange:
    """The reply was deleted in Slack: cancel what has not left yet."""
    message = _pending_reply(session, channel_id, ts)
    if message is None:
        return PendingChange.UNKNOWN
    if not _cancel_pending_deliveries(session, message):
        return PendingChange.TOO_LATE
    # The Slack message is gone, so there is nothing to mark.
    message.slack_synced_rev = message.slack_rev
    session.add(message)
    session.flush()
    return PendingChange.DONE
