"""Conversations and their messages: create-or-reopen, close, and writing outbound texts
(message + delivery, the outbox row) in the caller's transaction."""

from __future__ import annotations

from sqlalchemy import true
from sqlmodel import Session, select

from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Delivery,
    Line,
    Message,
    MessageDirection,
)
from models.types import insert_ignoring_conflicts, utcnow

MAX_MESSAGE_LENGTH = 1600  # Twilio's limit for one message body


class InvalidMessageBody(ValueError):
    """The text cannot be sent as is; str() says why."""


def check_message_body(body: str | None) -> str:
    """Return the body to send (surrounding blank space removed) or raise InvalidMessageBody."""
    text = (body or "").strip()
    if not text:
        raise InvalidMessageBody("The message is empty. Type something to send.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidMessageBody(
            f"The message is {len(text):,} characters long; the limit is "
            f"{MAX_MESSAGE_LENGTH:,}. Shorten it by {len(text) - MAX_MESSAGE_LENGTH:,}."
        )
    return text


def mark_for_mirror(conversation: Conversation, *, parent: bool = False) -> None:
    """Tell the Slack mirror this conversation has something to post or update."""
    # SQL expressions, so the UPDATE always sets them, whatever this session loaded: a
    # mirror worker may have cleared the flag since.
    conversation.mirror_pending = true()  # type: ignore[assignment]
    conversation.mirror_seq = Conversation.mirror_seq + 1  # type: ignore[assignment]
    if parent:
        conversation.parent_rev = Conversation.parent_rev + 1  # type: ignore[assignment]


def find_direct_conversation(
    *, session: Session, line: Line, contact: Contact
) -> Conversation | None:
    return session.exec(
        select(Conversation).where(
            Conversation.line_id == line.id, Conversation.contact_id == contact.id
        )
    ).first()


def open_or_reopen_conversation(
    *, session: Session, line: Line, contact: Contact, user_id: str | None
) -> tuple[Conversation, bool]:
    """The direct conversation of (line, contact), created or reopened; True if created."""
    inserted = insert_ignoring_conflicts(
        session,
        Conversation,
        {
            "team_id": line.team_id,
            "line_id": line.id,
            "contact_id": contact.id,
            "kind": ConversationKind.DIRECT,
            "status": ConversationStatus.OPEN,
            "created_by": user_id,
        },
    )
    conversation = find_direct_conversation(session=session, line=line, contact=contact)
    assert conversation is not None
    if not inserted and conversation.status != ConversationStatus.OPEN:
        reopen_conversation(session=session, conversation=conversation)
    return conversation, bool(inserted)


def reopen_conversation(*, session: Session, conversation: Conversation) -> bool:
    """Reopen a closed conversation; False if it was open already."""
    if conversation.status == ConversationStatus.OPEN:
        return False
    conversation.status = ConversationStatus.OPEN
    conversation.closed_at = None
    conversation.closed_by = None
    mark_for_mirror(conversation, parent=True)
    session.add(conversation)
    session.flush()
    session.refresh(conversation)
    return True


def close_conversation(*, session: Session, conversation: Conversation, user_id: str) -> bool:
    """Close an open conversation; False if it was closed already."""
    if conversation.status == ConversationStatus.CLOSED:
        return False
    conversation.status = ConversationStatus.CLOSED
    conversation.closed_at = utcnow()
    conversation.closed_by = user_id
    mark_for_mirror(conversation, parent=True)
    session.add(conversation)
    session.flush()
    session.refresh(conversation)
    return True


def find_message_by_key(*, session: Session, dedupe_key: str) -> Message | None:
    return session.exec(select(Message).where(Message.dedupe_key == dedupe_key)).first()


def send_text(
    *,
    session: Session,
    conversation: Conversation,
    line: Line,
    recipients: list[Contact],
    body: str,
    author_user_id: str | None,
    dedupe_key: str | None = None,
) -> tuple[Message, bool]:
    """Write an outbound message and one pending delivery per recipient.

    Returns (message, created). With a dedupe_key that was used before, nothing is written
    and the earlier message is returned with created=False.
    """
    text = check_message_body(body)
    now = utcnow()
    if dedupe_key is not None:
        inserted = insert_ignoring_conflicts(
            session,
            Message,
            {
                "conversation_id": conversation.id,
                "direction": MessageDirection.OUTBOUND,
                "body": text,
                "author_user_id": author_user_id,
                "dedupe_key": dedupe_key,
                "created_at": now,
            },
        )
        message = find_message_by_key(session=session, dedupe_key=dedupe_key)
        assert message is not None
        if not inserted:
            return message, False
    else:
        message = Message(
            conversation_id=conversation.id,  # type: ignore[arg-type]
            direction=MessageDirection.OUTBOUND,
            body=text,
            author_user_id=author_user_id,
            created_at=now,
        )
        session.add(message)
        session.flush()
    for contact in recipients:
        session.add(
            Delivery(
                message_id=message.id,  # type: ignore[arg-type]
                line_id=line.id,  # type: ignore[arg-type]
                contact_id=contact.id,  # type: ignore[arg-type]
                to_phone=contact.phone,
                next_attempt_at=now,
            )
        )
    conversation.last_message_at = now
    mark_for_mirror(conversation)
    session.add(conversation)
    session.flush()
    session.refresh(conversation)
    return message, True
