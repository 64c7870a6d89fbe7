"""Reply-all group conversations: one thread, several contacts who see each other's texts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam
from sqlmodel import Session, col, or_, select

from models.conversations import MAX_MESSAGE_LENGTH, queue_delivery
from models.sending import opt_out_refusal
from models.tables import (
    Contact,
    Conversation,
    ConversationKind,
    ConversationParticipant,
    ConversationStatus,
    Line,
    Message,
)
from models.types import insert_ignoring_conflicts, utcnow


def create_group_conversation(
    *,
    session: Session,
    line: Line,
    contacts: Sequence[Contact],
    user_id: str | None,
    group_mms: bool = False,
) -> Conversation:
    """A reply-all group: relayed one to one by the line, or (group_mms) one group text."""
    conversation = Conversation(
        team_id=line.team_id,
        line_id=line.id,  # type: ignore[arg-type]
        kind=ConversationKind.GROUP,
        created_by=user_id,
        group_mms=group_mms,
    )
    session.add(conversation)
    session.flush()
    insert_ignoring_conflicts(
        session,
        ConversationParticipant,
        [{"conversation_id": conversation.id, "contact_id": c.id} for c in contacts],
    )
    return conversation


def find_participants(*, session: Session, conversation: Conversation) -> list[Contact]:
    return list(
        session.exec(
            select(Contact)
            .join(ConversationParticipant, col(ConversationParticipant.contact_id) == Contact.id)
            .where(ConversationParticipant.conversation_id == conversation.id)
            .order_by(col(Contact.name), col(Contact.phone))
        ).all()
    )


def conversation_contacts(*, session: Session, conversation: Conversation) -> list[Contact]:
    """Everyone a message in this conversation is for: its contact, or its participants."""
    if conversation.kind == ConversationKind.GROUP:
        return find_participants(session=session, conversation=conversation)
    contact = session.get(Contact, conversation.contact_id) if conversation.contact_id else None
    return [contact] if contact is not None else []


def count_other_open_conversations(
    *, session: Session, line: Line, contact: Contact, besides: Conversation
) -> int:
    """Open conversations on the line, other than `besides`, that include the contact."""
    params = {"line_id": line.id, "contact_id": contact.id, "besides": besides.id}
    return len(session.exec(_OTHER_OPEN_CONVERSATIONS, params=params).all())


# Built once: every inbound text runs it.
_OTHER_OPEN_CONVERSATIONS = select(Conversation.id).where(
    Conversation.line_id == bindparam("line_id"),
    Conversation.status == ConversationStatus.OPEN,
    Conversation.id != bindparam("besides"),
    or_(
        col(Conversation.contact_id) == bindparam("contact_id"),
        col(Conversation.id).in_(
            select(ConversationParticipant.conversation_id).where(
                ConversationParticipant.contact_id == bindparam("contact_id")
            )
        ),
    ),
)


def relay_to_group(
    *,
    session: Session,
    conversation: Conversation,
    line: Line,
    message: Message,
    sender: Contact,
    sender_label: str,
) -> list[Contact]:
    """Queue a participant's text to every other participant who may be texted, prefixed
    with who wrote it; returns who it goes to. The deliveries hang off the inbound message."""
    others = [
        c
        for c in find_participants(session=session, conversation=conversation)
        if c.id != sender.id
    ]
    # On a line turned off, the relay is refused as it leaves, and the thread says so.
    recipients = [
        c for c in others if opt_out_refusal(session=session, line=line, contact=c) is None
    ]
    now = utcnow()
    for contact in recipients:
        queue_delivery(
            session=session,
            message=message,
            line=line,
            contact=contact,
            body=f"{sender_label}: {message.body}"[:MAX_MESSAGE_LENGTH],
            at=now,
        )
    session.flush()
    return recipients


def conversations_showing(*, session: Session, contact: Contact) -> list[Conversation]:
    """The conversations whose parent message names the contact."""
    in_groups = select(ConversationParticipant.conversation_id).where(
        ConversationParticipant.contact_id == contact.id
    )
    return list(
        session.exec(
            select(Conversation).where(
                or_(col(Conversation.contact_id) == contact.id, col(Conversation.id).in_(in_groups))
            )
        ).all()
    )
