"""Contacts: lookup, creation, and suggestions by name or number as a user types."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy import delete
from sqlmodel import Session, col, select

from models.phone import number_search_terms
from models.tables import Contact, ContactSearchTerm
from models.types import insert_ignoring_conflicts

MAX_NAME_LENGTH = 120
_TERM_LENGTH = 64
# Every term is made of these characters only; '{' sorts right after 'z', so all terms
# starting with a prefix p lie in [p, p + '{').
_PREFIX_END = "{"


@dataclass(frozen=True)
class ContactSuggestion:
    contact: Contact
    matched_on: str  # "name" or "number"


def _fold(text: str) -> str:
    """Lower-case ASCII letters and digits only: 'Zoë O'Neil' -> 'zoe oneil'."""
    decomposed = unicodedata.normalize("NFKD", text)
    ascii_text = decomposed.encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9 ]+", "", ascii_text)


def name_search_terms(name: str | None) -> list[str]:
    if not name:
        return []
    return list(dict.fromkeys(word[:_TERM_LENGTH] for word in _fold(name).split()))


def clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    name = " ".join(name.split())[:MAX_NAME_LENGTH]
    return name or None


def find_contact_by_phone(*, session: Session, team_id: str, phone: str) -> Contact | None:
    return session.exec(
        select(Contact).where(Contact.team_id == team_id, Contact.phone == phone)
    ).first()


def _index_contact(session: Session, contact: Contact) -> None:
    assert contact.id is not None
    session.execute(
        delete(ContactSearchTerm).where(col(ContactSearchTerm.contact_id) == contact.id)
    )
    terms = name_search_terms(contact.name) + number_search_terms(contact.phone)
    insert_ignoring_conflicts(
        session,
        ContactSearchTerm,
        [{"team_id": contact.team_id, "term": t, "contact_id": contact.id} for t in terms],
    )


def get_or_create_contact(
    *, session: Session, team_id: str, phone: str, name: str | None = None
) -> tuple[Contact, bool]:
    """Return the team's contact for `phone` (E.164), creating it if new; safe under races.

    An existing contact keeps its name unless it has none and a name is given.
    """
    name = clean_name(name)
    inserted = insert_ignoring_conflicts(
        session, Contact, {"team_id": team_id, "phone": phone, "name": name}
    )
    contact = find_contact_by_phone(session=session, team_id=team_id, phone=phone)
    assert contact is not None
    if inserted:
        _index_contact(session, contact)
    elif name and not contact.name:
        rename_contact(session=session, contact=contact, name=name)
    return contact, bool(inserted)


def rename_contact(*, session: Session, contact: Contact, name: str | None) -> Contact:
    contact.name = clean_name(name)
    session.add(contact)
    session.flush()
    _index_contact(session, contact)
    return contact


def search_contacts(
    *, session: Session, team_id: str, query: str, limit: int = 20
) -> list[ContactSuggestion]:
    """Contacts whose name words or number digits start with what was typed.

    A query with digits matches numbers (punctuation ignored, so "(202) 555" works); a
    query of words matches contacts having a name word starting with each of them.
    """
    digits = re.sub(r"\D", "", query)
    words = _fold(query).split()
    if digits and len(digits) >= len(re.sub(r"[\s()+.-]", "", query)):
        return [
            ContactSuggestion(c, "number")
            for c in _contacts_with_term_prefix(session, team_id, digits[:_TERM_LENGTH], limit)
        ]
    if not words:
        return []
    # Scan the index with the longest word (fewest rows), then check the others.
    anchor = max(words, key=len)
    others = [w for w in words if w != anchor]
    candidates = _contacts_with_term_prefix(
        session, team_id, anchor[:_TERM_LENGTH], limit if not others else limit * 20
    )
    matches = []
    for contact in candidates:
        contact_words = name_search_terms(contact.name)
        if all(any(cw.startswith(w) for cw in contact_words) for w in others):
            matches.append(ContactSuggestion(contact, "name"))
        if len(matches) == limit:
            break
    return matches


def _contacts_with_term_prefix(
    session: Session, team_id: str, prefix: str, limit: int
) -> list[Contact]:
    term_rows = session.exec(
        select(ContactSearchTerm.contact_id)
        .where(
            ContactSearchTerm.team_id == team_id,
            ContactSearchTerm.term >= prefix,
            ContactSearchTerm.term < prefix + _PREFIX_END,
        )
        .order_by(col(ContactSearchTerm.term))
        .limit(limit * 2)
    ).all()
    ids = list(dict.fromkeys(term_rows))[:limit]
    if not ids:
        return []
    by_id = {c.id: c for c in session.exec(select(Contact).where(col(Contact.id).in_(ids))).all()}
    return [by_id[i] for i in ids if i in by_id]
