"""Inbound texts: which conversation they belong to, stored once per provider id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, update
from sqlmodel import Session, col, select

from models.broadcasts import note_reply
from models.contacts import get_or_create_contact
from models.conversations import insert_message, mark_for_mirror, open_or_reopen_conversation
from models.groups import count_other_open_conversations, relay_to_group
from models.optouts import Keyword, classify_keyword, opt_in, opt_out
from models.phone import format_phone
from models.scheduling import cancel_scheduled_to
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationStatus,
    Delivery,
    IdempotencyKey,
    InboundWebhook,
    Line,
    Message,
    MessageDirection,
    MessageOrigin,
)
from models.types import dialect_insert, insert_ignoring_conflicts

# A staged text whose routing failed this often waits for someone to look (it shows in
# /metrics) instead of being tried forever.
MAX_ROUTING_ATTEMPTS = 5
# Any constant will do: the key of PostgreSQL's advisory lock that lets one router at a
# time route, so texts enter their conversations in the order they arrived.
_ROUTING_LOCK_KEY = 7_464_101


def stage_inbound_texts(connection: Connection, rows: list[dict[str, Any]]) -> None:
    """Store webhooks as they came, in one statement; a MessageSid already staged is
    skipped (Twilio retried before the first copy was routed)."""
    insert = dialect_insert(connection.dialect.name)
    table = InboundWebhook.__table__  # type: ignore[attr-defined]
    connection.execute(insert(table).on_conflict_do_nothing(index_elements=["message_sid"]), rows)


def take_routing_turn(session: Session) -> bool:
    """Whether this transaction may route staged texts. On PostgreSQL one transaction at a
    time may (the others go on with other work); SQLite's write lock already serializes."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(select(func.pg_try_advisory_xact_lock(_ROUTING_LOCK_KEY))).scalar())


def any_staged(*, session: Session) -> bool:
    """Whether a text waits for the router (those parked after failing do not)."""
    waiting = session.exec(
        select(InboundWebhook.id)
        .where(col(InboundWebhook.attempts) < MAX_ROUTING_ATTEMPTS)
        .limit(1)
    ).first()
    return waiting is not None


def staged_texts(*, session: Session, limit: int) -> list[InboundWebhook]:
    """The oldest staged texts still to route, in arrival order."""
    return list(
        session.exec(
            select(InboundWebhook)
            .where(col(InboundWebhook.attempts) < MAX_ROUTING_ATTEMPTS)
            .order_by(col(InboundWebhook.id))
            .limit(limit)
        ).all()
    )


def forget_staged(*, session: Session, staged_ids: list[int]) -> None:
    """Drop staged texts the router has put in their conversations."""
    if staged_ids:
        session.execute(
            delete(InboundWebhook)
            .where(col(InboundWebhook.id).in_(staged_ids))
            .execution_options(synchronize_session=False)
        )


def note_routing_failure(*, session: Session, staged_id: int, error: str) -> None:
    session.execute(
        update(InboundWebhook)
        .where(col(InboundWebhook.id) == staged_id)
        .values(attempts=InboundWebhook.attempts + 1, last_error=error[:500])
        .execution_options(synchronize_session=False)
    )


def take_idempotency_key(*, session: Session, key: str) -> bool:
    """True the first time a key is taken; False for every retry, even a concurrent one
    (it waits for the first transaction and then finds the key)."""
    return bool(insert_ignoring_conflicts(session, IdempotencyKey, {"key": key}))


def route_inbound(*, session: Session, line: Line, contact: Contact) -> tuple[Conversation, bool]:
    """The conversation an inbound text from `contact` to `line` belongs to: the open one on
    the line that most recently texted them; else their direct conversation, reopened if
    closed; else a new one. True if new."""
    most_recent = session.exec(
        _MOST_RECENTLY_TEXTED, params={"contact_id": contact.id, "line_id": line.id}
    ).first()
    if most_recent is not None:
        return most_recent, False
    return open_or_reopen_conversation(session=session, line=line, contact=contact, user_id=None)


# Built once: every inbound text runs it.
_MOST_RECENTLY_TEXTED = (
    select(Conversation)
    .join(Message, col(Message.conversation_id) == Conversation.id)
    .join(Delivery, col(Delivery.message_id) == Message.id)
    .where(
        Delivery.contact_id == bindparam("contact_id"),
        Conversation.line_id == bindparam("line_id"),
        Conversation.status == ConversationStatus.OPEN,
    )
    .order_by(col(Delivery.id).desc())
    .limit(1)
)


@dataclass(frozen=True)
class Received:
    conversation: Conversation
    contact: Contact
    message: Message
    conversation_created: bool
    keyword: Keyword | None
    opt_out_changed: bool
    relayed_to: list[Contact]
    other_open_conversations: int
    canceled_scheduled: list[Message]


def receive_text(
    *,
    session: Session,
    line: Line,
    from_phone: str,
    body: str,
    provider_sid: str,
    media: list[dict[str, str]] | None = None,
    opt_out_type: str | None = None,
    cancel_scheduled_on_reply: bool = True,
) -> Received | None:
    """Store an inbound text; None if this provider id was stored before.

    The key is taken first, so a repeated webhook has no side effect at all. STOP and its
    synonyms opt the contact out of the line, START opts them back in.
    """
    if not take_idempotency_key(session=session, key=f"sms:{provider_sid}"):
        return None
    contact, _ = get_or_create_contact(session=session, team_id=line.team_id, phone=from_phone)
    conversation, created = route_inbound(session=session, line=line, contact=contact)
    message, _ = insert_message(
        session=session,
        conversation=conversation,
        values={
            "direction": MessageDirection.INBOUND,
            "origin": MessageOrigin.SMS,
            "body": body,
            "contact_id": contact.id,
            "dedupe_key": f"sms:{provider_sid}",
            "media": media or None,
        },
    )
    keyword = classify_keyword(body, opt_out_type)
    changed = False
    if keyword == Keyword.STOP:
        changed = opt_out(session=session, line=line, contact=contact, keyword=body.strip()[:32])
    elif keyword == Keyword.START:
        changed = opt_in(session=session, line=line, contact=contact)
    if changed:
        mark_for_mirror(conversation, parent=True)  # a group's parent shows who opted out
        session.add(conversation)
    relayed_to: list[Contact] = []
    if conversation.kind == ConversationKind.GROUP and keyword is None:
        relayed_to = relay_to_group(
            session=session,
            conversation=conversation,
            line=line,
            message=message,
            sender=contact,
            sender_label=contact.name or format_phone(contact.phone),
        )
    note_reply(session, conversation)
    canceled = (
        cancel_scheduled_to(session=session, conversation=conversation, contact=contact)
        if cancel_scheduled_on_reply
        else []
    )
    others = count_other_open_conversations(
        session=session, line=line, contact=contact, besides=conversation
    )
    return Received(
        conversation, contact, message, created, keyword, changed, relayed_to, others, canceled
    )
