"""`/text LINE NUMBER_OR_CONTACT MESSAGE`: send without the form, with the form's checks."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from handlers import texts
from handlers.blocks import contact_label, line_label
from models.access import can_use_line
from models.contacts import get_or_create_contact, search_contacts
from models.conversations import (
    InvalidMessageBody,
    check_message_body,
    open_or_reopen_conversation,
    send_text,
)
from models.optouts import find_opted_out
from models.phone import format_phone, try_parse_phone
from models.tables import Contact, Line

_MAX_NAME_WORDS = 6


class QuickSendError(Exception):
    """What to tell the user instead of sending."""


@dataclass
class QuickSend:
    line: Line
    contact: Contact | None
    new_phone: str | None
    text: str


def _match_line(session: Session, team_id: str, words: list[str], region: str) -> tuple[Line, int]:
    lines = session.exec(select(Line).where(Line.team_id == team_id)).all()
    for size in range(min(len(words), _MAX_NAME_WORDS), 0, -1):
        candidate = " ".join(words[:size])
        number = try_parse_phone(candidate, region=region)
        for line in lines:
            if line.number == number or line.name.lower() == candidate.lower():
                return line, size
    raise QuickSendError(texts.QUICK_UNKNOWN_LINE.format(line=words[0]))


def _match_recipient(
    session: Session, team_id: str, words: list[str], region: str
) -> tuple[Contact | None, str | None, int]:
    for size in range(min(len(words), _MAX_NAME_WORDS), 0, -1):
        candidate = " ".join(words[:size])
        number = try_parse_phone(candidate, region=region)
        if number:
            known = session.exec(
                select(Contact).where(Contact.team_id == team_id, Contact.phone == number)
            ).first()
            return known, None if known else number, size
        named = [
            s.contact
            for s in search_contacts(session=session, team_id=team_id, query=candidate, limit=50)
            if (s.contact.name or "").lower() == candidate.lower()
        ]
        if len(named) > 1:
            raise QuickSendError(texts.QUICK_AMBIGUOUS_CONTACT.format(name=candidate))
        if named:
            return named[0], None, size
    raise QuickSendError(texts.QUICK_UNKNOWN_RECIPIENT.format(recipient=words[0] if words else ""))


def parse_quick_send(
    session: Session, *, team_id: str, user_id: str, text: str, region: str
) -> QuickSend:
    """Read LINE, then a number or a contact's exact name, then the message; raises
    QuickSendError with the reason."""
    words = text.split()
    line, used = _match_line(session, team_id, words, region)
    if not can_use_line(session=session, line=line, user_id=user_id):
        raise QuickSendError(texts.NO_ACCESS_TO_NAMED_LINE.format(line=line.name))
    if not line.active:
        raise QuickSendError(texts.LINE_INACTIVE.format(line=line.name))
    contact, new_phone, used_by_recipient = _match_recipient(session, team_id, words[used:], region)
    message = " ".join(words[used + used_by_recipient :])
    try:
        body = check_message_body(message)
    except InvalidMessageBody as exc:
        raise QuickSendError(str(exc)) from None
    if contact is not None and find_opted_out(
        session=session, line_id=line.id or 0, contacts=[contact]
    ):
        raise QuickSendError(
            texts.RECIPIENT_OPTED_OUT.format(who=contact_label(contact), line=line.name)
        )
    return QuickSend(line=line, contact=contact, new_phone=new_phone, text=body)


def quick_send(
    session: Session, *, team_id: str, user_id: str, text: str, region: str, dedupe_key: str
) -> str:
    """Send, and say what happened (or why not), privately."""
    try:
        parsed = parse_quick_send(
            session, team_id=team_id, user_id=user_id, text=text, region=region
        )
    except QuickSendError as exc:
        return f":warning: Not sent: {exc}\n{texts.QUICK_USAGE}"
    contact = parsed.contact
    if contact is None:
        assert parsed.new_phone is not None
        contact, _ = get_or_create_contact(session=session, team_id=team_id, phone=parsed.new_phone)
    conversation, _ = open_or_reopen_conversation(
        session=session, line=parsed.line, contact=contact, user_id=user_id
    )
    send_text(
        session=session,
        conversation=conversation,
        line=parsed.line,
        recipients=[contact],
        body=parsed.text,
        author_user_id=user_id,
        dedupe_key=dedupe_key,
    )
    return texts.QUICK_SENT.format(
        who=contact_label(contact), line=line_label(parsed.line), channel=parsed.line.channel_id
    )


def list_contacts(session: Session, *, team_id: str, query: str) -> str:
    """/text contacts QUERY"""
    if not query.strip():
        return texts.CONTACTS_USAGE
    found = search_contacts(session=session, team_id=team_id, query=query, limit=20)
    if not found:
        return texts.NO_CONTACTS_FOUND.format(query=query)
    rows = "\n".join(
        f"• {s.contact.name or '(no name)'}: {format_phone(s.contact.phone)}" for s in found
    )
    return f"*Contacts matching “{query}”*\n{rows}"
