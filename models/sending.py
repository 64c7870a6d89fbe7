"""The send policy: the rules a text answers to when someone asks for it (the form, quick
send, a thread reply) and again when it leaves (the dispatcher), written once.

Each rule returns a typed refusal, or None; every surface words a refusal its own way
(a modal's field error, an ephemeral note, the failed delivery's reason in the thread).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from models.access import can_use_line
from models.optouts import find_opt_out
from models.quiet_hours import quiet_time
from models.tables import Contact, Delivery, Line, Message


@dataclass(frozen=True)
class LineRefusal:
    """The line cannot be used by this person: not theirs (or not the team's), or off."""

    line: Line | None
    turned_off: bool


@dataclass(frozen=True)
class OptedOut:
    contact: Contact
    line: Line


@dataclass(frozen=True)
class QuietHours:
    """The text would reach `phone` at `local`, inside the line's quiet hours; it may go
    from `next_allowed` (UTC)."""

    phone: str
    local: datetime
    next_allowed: datetime
    start_hour: int
    end_hour: int


def line_refusal(
    *, session: Session, line: Line | None, team_id: str, user_id: str
) -> LineRefusal | None:
    """Whether this person may send from this line now: the team's, active, and granted to
    them or to a group of theirs."""
    if line is None or line.team_id != team_id:
        return LineRefusal(None, turned_off=False)
    if not can_use_line(session=session, line=line, user_id=user_id):
        return LineRefusal(line, turned_off=False)
    if not line.active:
        return LineRefusal(line, turned_off=True)
    return None


def opt_out_refusal(*, session: Session, line: Line, contact: Contact | None) -> OptedOut | None:
    """A contact who texted STOP to this line gets nothing more from it (a new number has
    not opted out)."""
    if contact is None or contact.id is None:
        return None
    if find_opt_out(session=session, line_id=line.id or 0, contact_id=contact.id) is None:
        return None
    return OptedOut(contact, line)


def automatic_text_refusal(
    *, session: Session, line: Line, contact: Contact
) -> LineRefusal | OptedOut | None:
    """A text nobody typed (an away message) goes only from a line that is on, to someone
    who has not opted out of it."""
    if not line.active:
        return LineRefusal(line, turned_off=True)
    return opt_out_refusal(session=session, line=line, contact=contact)


def quiet_hours_refusal(*, line: Line, phones: Iterable[str], at: datetime) -> QuietHours | None:
    """The first recipient whom a text arriving `at` would reach in the line's quiet hours
    (their own time, from the number)."""
    for phone in phones:
        quiet = quiet_time(phone, at, start=line.quiet_start_hour, end=line.quiet_end_hour)
        if quiet is not None:
            return QuietHours(
                phone=phone,
                local=quiet.local,
                next_allowed=quiet.next_allowed,
                start_hour=line.quiet_start_hour,
                end_hour=line.quiet_end_hour,
            )
    return None


def departure_refusal(*, session: Session, delivery: Delivery, line: Line) -> str | None:
    """Asked again as a text leaves, since things change while it waits (an undo window, a
    scheduled time): why it must not go, as the thread will say it, or None."""
    message = session.get(Message, delivery.message_id)
    author = message.author_user_id if message is not None else None
    if not line.active:
        return f"not sent: the line {line.name} was turned off before the text left"
    if author is not None and not can_use_line(session=session, line=line, user_id=author):
        return f"not sent: its author no longer had access to the line {line.name}"
    return None
