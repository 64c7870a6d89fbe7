"""Conversations and their messages: create-or-reopen, close, and writing outbound texts
(message + delivery, the outbox row) in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, true, update
from sqlmodel import Session, col, select

from models.merge_fields import DEFAULT_FALLBACK, fill_merge_fields
from models.optouts import RecipientOptedOut, find_opted_out
from models.outbound_media import OutboundFile, attach_media
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Delivery,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import insert_ignoring_conflicts, insert_unless_conflicting, utcnow
from models.untrusted_text import strip_hidden_characters

MAX_MESSAGE_LENGTH = 1600  # Twilio's limit for one message body


class LineInactive(ValueError):
    """The line is turned off: it keeps its history but sends nothing new."""


class InvalidMessageBody(ValueError):
    """The text cannot be sent as is; str() says why."""


def check_message_body(body: str | None, *, allow_empty: bool = False) -> str:
    """Return the body to send (control characters and bidi overrides dropped, as from a
    customer's text, and surrounding blank space removed) or raise InvalidMessageBody.
    `allow_empty`: a picture goes with it, which is enough to send."""
    text = strip_hidden_characters(body or "").strip()
    if not text and not allow_empty:
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
        _DIRECT_CONVERSATION, params={"line_id": line.id, "contact_id": contact.id}
    ).first()


_DIRECT_CONVERSATION = select(Conversation).where(
    Conversation.line_id == bindparam("line_id"), Conversation.contact_id == bindparam("contact_id")
)


def open_or_reopen_conversation(
    *, session: Session, line: Line, contact: Contact, user_id: str | None
) -> tuple[Conversation, bool]:
    """The direct conversation of (line, contact), created or reopened; True if created."""
    conversation = find_direct_conversation(session=session, line=line, contact=contact)
    if conversation is not None:
        reopen_conversation(session=session, conversation=conversation)
        return conversation, False
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


def insert_message(
    *, session: Session, conversation: Conversation, values: dict[str, Any]
) -> tuple[Message, bool]:
    """Add a message to the conversation (for the mirror to show); with a dedupe_key that
    was used before, nothing is written and the earlier message is returned, False."""
    now = utcnow()
    values = {"conversation_id": conversation.id, "created_at": now, **values}
    key = values.get("dedupe_key")
    if key is not None:
        inserted = insert_unless_conflicting(session, Message, values)
        if inserted is None:
            earlier = find_message_by_key(session=session, dedupe_key=key)
            assert earlier is not None
            return earlier, False
        message = inserted
    else:
        message = Message(**values)
        session.add(message)
        session.flush()
    conversation.last_message_at = now
    mark_for_mirror(conversation)
    session.add(conversation)
    session.flush()  # the counters it set are read again only if someone asks
    return message, True


def add_notice(*, session: Session, conversation: Conversation, text: str) -> Message:
    """Something textbot tells the team in the conversation's thread."""
    message, _ = insert_message(
        session=session,
        conversation=conversation,
        values={"direction": MessageDirection.NOTICE, "body": text, "origin": MessageOrigin.APP},
    )
    return message


def _has_texted(session: Session, line: Line, contact: Contact, before_message: int | None) -> bool:
    query = select(Delivery.id).where(
        Delivery.line_id == line.id, Delivery.contact_id == contact.id
    )
    if before_message is not None:
        query = query.where(col(Delivery.message_id) < before_message)
    return session.exec(query.limit(1)).first() is not None


def body_for(
    *,
    session: Session,
    line: Line,
    contact: Contact,
    text: str,
    message_id: int | None = None,
    merge_fallback: str = DEFAULT_FALLBACK,
) -> str:
    """What a contact is sent: merge fields filled for them, and the line's opt-out footer
    on their first text from it (counting texts before message_id, when given)."""
    text = fill_merge_fields(text, contact, merge_fallback)[:MAX_MESSAGE_LENGTH]
    if line.opt_out_footer and not _has_texted(session, line, contact, message_id):
        return f"{text}\n\n{line.opt_out_footer}"
    return text


def send_text(
    *,
    session: Session,
    conversation: Conversation,
    line: Line,
    recipients: list[Contact],
    body: str,
    author_user_id: str | None,
    dedupe_key: str | None = None,
    origin: MessageOrigin = MessageOrigin.APP,
    slack_ts: str | None = None,
    send_at: datetime | None = None,
    skip_opted_out: bool = False,
    broadcast_id: int | None = None,
    merge_fallback: str = DEFAULT_FALLBACK,
    scheduled_for: datetime | None = None,
    media: Sequence[OutboundFile] = (),
) -> tuple[Message, bool]:
    """Write an outbound message and one pending delivery per recipient (the outbox), with
    the pictures in `media` (checked by models.outbound_media first) to go with it.

    Refuses (RecipientOptedOut) if any recipient opted out of the line, before writing;
    with skip_opted_out (a group), they are left out instead.
    Returns (message, created); a used dedupe_key writes nothing and returns the earlier
    message with created=False.
    """
    text = check_message_body(body, allow_empty=bool(media))
    if media and conversation.group_mms:
        # A group text's message would need its pictures uploaded to Twilio's media store
        # first; until then they are refused rather than dropped.
        raise InvalidMessageBody(
            "Pictures cannot go to a group text yet: send the text without them."
        )
    if not line.active:
        raise LineInactive(f"The line {line.name} is turned off.")
    opted_out = find_opted_out(session=session, line_id=line.id or 0, contacts=recipients)
    if opted_out and not skip_opted_out:
        raise RecipientOptedOut(opted_out)
    recipients = [c for c in recipients if c not in opted_out]
    message, created = insert_message(
        session=session,
        conversation=conversation,
        values={
            "direction": MessageDirection.OUTBOUND,
            "body": text,
            "author_user_id": author_user_id,
            "dedupe_key": dedupe_key,
            "origin": origin,
            "slack_ts": slack_ts,
            "broadcast_id": broadcast_id,
            "scheduled_for": scheduled_for,
        },
    )
    if not created:
        return message, False
    if media:
        attach_media(session=session, message=message, files=media)
    if conversation.group_mms:
        # A group text: one message to the group's conversation, for everyone at once (the
        # opted-out left out by Twilio), never one SMS each.
        if recipients:
            session.add(
                Delivery(
                    message_id=message.id,  # type: ignore[arg-type]
                    line_id=line.id,  # type: ignore[arg-type]
                    contact_id=recipients[0].id,  # type: ignore[arg-type]
                    to_phone=recipients[0].phone,
                    group_conversation_id=conversation.id,
                    body=text,
                    next_attempt_at=scheduled_for or send_at or message.created_at,
                )
            )
        recipients = []
    for contact in recipients:
        body_text = body_for(
            session=session, line=line, contact=contact, text=text, merge_fallback=merge_fallback
        )
        queue_delivery(
            session=session,
            message=message,
            line=line,
            contact=contact,
            body=body_text,
            at=scheduled_for or send_at or message.created_at,
        )
    session.flush()
    return message, True


def queue_delivery(
    *, session: Session, message: Message, line: Line, contact: Contact, body: str, at: datetime
) -> None:
    """Put one text to one phone in the outbox."""
    session.add(
        Delivery(
            message_id=message.id,  # type: ignore[arg-type]
            line_id=line.id,  # type: ignore[arg-type]
            contact_id=contact.id,  # type: ignore[arg-type]
            to_phone=contact.phone,
            body=body,
            next_attempt_at=at,
        )
    )


def assign_conversation(
    *, session: Session, conversation: Conversation, user_id: str | None
) -> bool:
    """Assign the conversation to a user (or to nobody); False if nothing changed."""
    if conversation.assigned_to == user_id:
        return False
    conversation.assigned_to = user_id
    mark_for_mirror(conversation, parent=True)
    session.add(conversation)
    session.flush()
    session.refresh(conversation)
    return True


def close_idle_conversations(*, session: Session, now: datetime) -> list[Conversation]:
    """Close open conversations with no text for longer than their line's auto-close
    period; returns those this call closed (another process may close some first)."""
    closed = []
    candidates = session.exec(
        select(Conversation, Line)
        .join(Line, col(Line.id) == Conversation.line_id)
        .where(Conversation.status == ConversationStatus.OPEN, col(Line.auto_close_days) > 0)
    ).all()
    for conversation, line in candidates:
        last = conversation.last_message_at or conversation.created_at
        if last > now - timedelta(days=line.auto_close_days):
            continue
        result = session.execute(
            update(Conversation)
            .where(
                col(Conversation.id) == conversation.id,
                col(Conversation.status) == ConversationStatus.OPEN,
            )
            .values(status=ConversationStatus.CLOSED, closed_at=now, closed_by=None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            session.refresh(conversation)
            mark_for_mirror(conversation, parent=True)
            session.add(conversation)
            closed.append(conversation)
    session.flush()
    return closed
