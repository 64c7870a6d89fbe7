"""Group texts (group MMS): a reply-all group on a line with group_mms is one group thread on
every member's phone, through one Twilio conversation, instead of being relayed one to one.

Twilio allows it on +1 (US and Canada) long codes only, with at most 10 members, the line
included. Its members are fixed once it starts: another set of numbers is another group on
every phone, and the same set again is the same group (Twilio refuses to make it twice)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.error_codes import GROUP_NOT_ENABLED
from models.lines import group_mms_refusal
from models.optouts import find_opted_out
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationParticipant,
    Delivery,
    DeliveryStatus,
    Line,
    Message,
    MessageDirection,
)

# Twilio's cap, the line included.
MAX_GROUP_MEMBERS = 10
MAX_GROUP_CONTACTS = MAX_GROUP_MEMBERS - 1
_PLUS_ONE = re.compile(r"\+1[2-9][0-9]{9}")
# The number's plain SMS webhook may bring a group text the Conversations webhook brings
# too (with another id): the same words from the same member this close together are one.
SAME_TEXT_WINDOW = timedelta(minutes=2)


def group_text_refusal(*, line: Line, phones: Sequence[str], labels: dict[str, str]) -> str | None:
    """Why these recipients cannot all be members of a group text on the line, or None."""
    if group_mms_refusal(line.number):
        return None  # not a group-text line: its groups are relayed
    if len(phones) > MAX_GROUP_CONTACTS:
        return (
            f"A group text can have at most {MAX_GROUP_CONTACTS} recipients (the line is the "
            f"tenth member); you picked {len(phones)}. Remove some, or pick a relayed group."
        )
    for phone in phones:
        if not _PLUS_ONE.fullmatch(phone):
            return (
                f"{labels.get(phone, phone)} cannot be in a group text: only +1 (US and "
                "Canada) mobile numbers can. Remove them, or pick a relayed group."
            )
    return None


def find_group_text(
    *, session: Session, line: Line, contacts: Sequence[Contact]
) -> Conversation | None:
    """The line's group text with exactly these contacts, if there is one: starting the same
    group again reopens it, as Twilio has only one group for a set of numbers."""
    wanted = {c.id for c in contacts}
    candidates = session.exec(
        select(Conversation).where(
            Conversation.line_id == line.id,
            Conversation.kind == ConversationKind.GROUP,
            col(Conversation.group_mms).is_(True),
        )
    ).all()
    for conversation in candidates:
        members = set(
            session.exec(
                select(ConversationParticipant.contact_id).where(
                    ConversationParticipant.conversation_id == conversation.id
                )
            ).all()
        )
        if members == wanted:
            return conversation
    return None


def group_member_phones(*, session: Session, conversation: Conversation) -> list[str]:
    """The numbers the group text is made with: its participants who have not opted out of
    the line, in a stable order."""
    contacts = list(
        session.exec(
            select(Contact)
            .join(ConversationParticipant, col(ConversationParticipant.contact_id) == Contact.id)
            .where(ConversationParticipant.conversation_id == conversation.id)
            .order_by(col(Contact.phone))
        ).all()
    )
    opted_out = find_opted_out(session=session, line_id=conversation.line_id, contacts=contacts)
    return [c.phone for c in contacts if c not in opted_out]


def record_group_conversation(*, session: Session, conversation_id: int, sid: str) -> None:
    """Remember the Twilio conversation of a group text (once: a second process that made the
    same one through 50438 finds the same sid)."""
    session.execute(
        update(Conversation)
        .where(
            col(Conversation.id) == conversation_id,
            col(Conversation.provider_conversation_sid).is_(None),
        )
        .values(provider_conversation_sid=sid)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def find_conversation_by_sid(*, session: Session, sid: str) -> Conversation | None:
    return session.exec(
        select(Conversation).where(Conversation.provider_conversation_sid == sid)
    ).first()


def find_same_group_text(
    *, session: Session, line_id: int, contact_id: int, body: str, at: datetime, key: str
) -> Message | None:
    """An inbound text from the contact with the same words in one of the line's group texts,
    received close to `at` by the other webhook than the one that brings `key` (a message's
    dedupe key: the Conversations webhook's ids are IM..., the number's SM... or MM...):
    the same group text. (The same words twice by one webhook are two texts.)"""
    conversations_webhook = col(Message.dedupe_key).like(GROUP_TEXT_KEY_PATTERN)
    other_webhook = ~conversations_webhook if _is_group_text_key(key) else conversations_webhook
    return session.exec(
        select(Message)
        .join(Conversation, col(Conversation.id) == Message.conversation_id)
        .where(
            Conversation.line_id == line_id,
            col(Conversation.group_mms).is_(True),
            Message.direction == MessageDirection.INBOUND,
            Message.contact_id == contact_id,
            Message.body == body,
            col(Message.created_at) >= at - SAME_TEXT_WINDOW,
            col(Message.created_at) <= at + SAME_TEXT_WINDOW,
            other_webhook,
        )
    ).first()


# An inbound text's dedupe key is "sms:" and its id; a Conversations message's id is IM...
GROUP_TEXT_KEY_PATTERN = "sms:IM%"


def _is_group_text_key(key: str) -> bool:
    return key.startswith(GROUP_TEXT_KEY_PATTERN.rstrip("%"))


def group_texting_refused_at(*, session: Session, line_id: int) -> datetime | None:
    """When Twilio last refused the line's group text because the account may not send group
    texts (50452), unless a group text went out after it (the account was enabled since)."""
    verdicts = session.exec(
        select(Delivery.error_code, Delivery.updated_at)
        .where(
            Delivery.line_id == line_id,
            col(Delivery.group_conversation_id).is_not(None),
            col(Delivery.status).in_(_GROUP_VERDICTS),
        )
        .order_by(col(Delivery.updated_at).desc())
        .limit(1)
    ).first()
    if verdicts is None or verdicts[0] != GROUP_NOT_ENABLED:
        return None
    return verdicts[1]


_GROUP_VERDICTS = [
    DeliveryStatus.QUEUED,
    DeliveryStatus.SENT,
    DeliveryStatus.DELIVERED,
    DeliveryStatus.FAILED,
]
