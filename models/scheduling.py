"""Send later: scheduled messages wait in the outbox until their time, and can be
canceled until they leave (by a button, or when the contact texts in first)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from models.deliveries import move_delivery, touch_mirror
from models.tables import Contact, Conversation, Delivery, DeliveryStatus, Line, Message
from models.types import utcnow

# A "later" closer than this is as good as now, and too close to cancel.
MIN_DELAY = timedelta(seconds=30)
MAX_DELAY = timedelta(days=365)


class InvalidSendTime(ValueError):
    """The chosen time cannot be used; str() says why."""


def check_send_time(when: datetime, *, now: datetime | None = None) -> datetime:
    now = now or utcnow()
    if when < now + MIN_DELAY:
        raise InvalidSendTime("That time has passed (or is under a minute away). Pick a later one.")
    if when > now + MAX_DELAY:
        raise InvalidSendTime("Texts can be scheduled up to a year ahead.")
    return when


def _cancel_pending(session: Session, deliveries: list[Delivery]) -> int:
    for delivery in deliveries:
        move_delivery(delivery, DeliveryStatus.CANCELED)
        session.add(delivery)
        touch_mirror(session, delivery)
    session.flush()
    return len(deliveries)


def cancel_scheduled(*, session: Session, message: Message) -> int:
    """Cancel what of a scheduled message has not left; returns how many texts."""
    pending = session.exec(
        select(Delivery)
        .where(Delivery.message_id == message.id, Delivery.status == DeliveryStatus.PENDING)
        .with_for_update()
    ).all()
    return _cancel_pending(session, list(pending))


def cancel_scheduled_to(
    *, session: Session, conversation: Conversation, contact: Contact
) -> list[Message]:
    """The contact texted in: their scheduled texts in this conversation are canceled
    (a reply usually makes them moot). Returns the messages affected."""
    rows = session.exec(
        _SCHEDULED_TO_CONTACT,
        params={"conversation_id": conversation.id, "contact_id": contact.id},
    ).all()
    _cancel_pending(session, [delivery for delivery, _ in rows])
    return list({message.id: message for _, message in rows}.values())


# Built once: every inbound text runs it.
_SCHEDULED_TO_CONTACT = (
    select(Delivery, Message)
    .join(Message, col(Message.id) == Delivery.message_id)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        col(Message.scheduled_for).is_not(None),
        Delivery.contact_id == bindparam("contact_id"),
        Delivery.status == DeliveryStatus.PENDING,
    )
)


def find_scheduled_for_user(
    *, session: Session, team_id: str, user_id: str
) -> list[tuple[Message, Conversation, Line]]:
    """The user's scheduled messages that have not left yet, soonest first."""
    pending = select(Delivery.message_id).where(Delivery.status == DeliveryStatus.PENDING)
    rows = session.exec(
        select(Message, Conversation, Line)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .join(Line, col(Line.id) == Conversation.line_id)
        .where(
            Conversation.team_id == team_id,
            Message.author_user_id == user_id,
            col(Message.scheduled_for).is_not(None),
            col(Message.id).in_(pending),
        )
        .order_by(col(Message.scheduled_for))
        .limit(20)
    ).all()
    return [(message, conversation, line) for message, conversation, line in rows]
