"""Opt-out: a contact who texts STOP to a line is not texted from it again until START."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from sqlalchemy import Integer, bindparam, delete
from sqlmodel import Session, col, select

from models.sql_lists import one_of
from models.tables import Contact, Line, OptOut
from models.types import insert_ignoring_conflicts

# The carriers' and Twilio's standard keywords, matched on the whole message.
STOP_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
START_KEYWORDS = frozenset({"START", "UNSTOP", "YES"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"})


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


class RecipientOptedOut(Exception):
    """Someone tried to text contacts who opted out of the line."""

    def __init__(self, contacts: Sequence[Contact]):
        super().__init__(", ".join(c.phone for c in contacts))
        self.contacts = list(contacts)


def classify_keyword(body: str, opt_out_type: str | None = None) -> Keyword | None:
    """What an inbound text asks for. Twilio's OptOutType (sent when its Advanced Opt-Out
    handles the number, with the account's own keywords) wins over our list."""
    if opt_out_type:
        try:
            return Keyword(opt_out_type.strip().lower())
        except ValueError:
            pass
    word = body.strip().rstrip(".!").upper()
    if word in STOP_KEYWORDS:
        return Keyword.STOP
    if word in START_KEYWORDS:
        return Keyword.START
    if word in HELP_KEYWORDS:
        return Keyword.HELP
    return None


def opt_out(*, session: Session, line: Line, contact: Contact, keyword: str) -> bool:
    """Record the opt-out; False if the contact had opted out already."""
    row = {"line_id": line.id, "contact_id": contact.id, "keyword": keyword}
    return bool(insert_ignoring_conflicts(session, OptOut, row))


def opt_in(*, session: Session, line: Line, contact: Contact) -> bool:
    """Lift the opt-out; False if there was none."""
    result = session.execute(
        delete(OptOut).where(col(OptOut.line_id) == line.id, col(OptOut.contact_id) == contact.id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def find_opted_out(*, session: Session, line_id: int, contacts: Sequence[Contact]) -> list[Contact]:
    """Those of `contacts` who opted out of the line."""
    ids = [c.id for c in contacts]
    if not ids:
        return []
    opted = set(session.exec(_OPTED_OUT_AMONG, params={"line_id": line_id, "ids": ids}).all())
    return [c for c in contacts if c.id in opted]


# Built once: every text asks it, once per recipient of a multi-recipient message.
_OPTED_OUT_AMONG = select(OptOut.contact_id).where(
    OptOut.line_id == bindparam("line_id", type_=Integer), one_of(OptOut.contact_id, "ids")
)


def find_opt_out(*, session: Session, line_id: int, contact_id: int) -> OptOut | None:
    return session.get(OptOut, (line_id, contact_id))
