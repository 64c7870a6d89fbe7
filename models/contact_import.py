"""Importing contacts in bulk: each row is added, updates a contact, changes nothing, or
is skipped with its line and the reason. Checking a row (its number above all) is the slow
part and needs no database, so it can run in other processes (check_rows); the rows come
back in order and are saved a batch at a time, a few statements each."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlmodel import Session

from models.contacts import IncomingContact, clean_name, name_search_terms, save_contacts
from models.phone import InvalidPhoneNumber, parse_phone_with_terms

BATCH_SIZE = 2000

# (line, phone, name) as read from a file.
RawRow = tuple[int, str, str | None]
# (line, E.164 number, name as kept, search terms) of a row that can be a contact, or
# (line, "", None, reason) of one that cannot. Plain tuples: they cross between processes,
# and a tuple pickles ten times faster than a dataclass.
CheckedRow = tuple[int, str, str | None, list[str] | str]


def check_rows(rows: list[RawRow], region: str) -> list[CheckedRow]:
    """Each row's number in E.164 and its name as kept, with their search terms; or why
    the row cannot be a contact."""
    checked: list[CheckedRow] = []
    for line, phone, name in rows:
        try:
            e164, number_terms = parse_phone_with_terms(phone, region=region)
        except InvalidPhoneNumber as exc:
            checked.append((line, "", None, str(exc)))
            continue
        name = clean_name(name)
        checked.append(
            (line, e164, name, list(dict.fromkeys(name_search_terms(name) + number_terms)))
        )
    return checked


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str


@dataclass
class ImportTally:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.added + self.updated + self.unchanged + len(self.skipped)


class ContactImport:
    """Checked rows in, in file order: duplicates set aside, the rest saved a batch at a
    time."""

    def __init__(self, *, team_id: str, batch_size: int = BATCH_SIZE):
        self.team_id = team_id
        self.batch_size = batch_size
        self.tally = ImportTally()
        self._pending: list[IncomingContact] = []
        # The line each number was first seen on: a later row with it is a duplicate.
        self._first_line: dict[str, int] = {}

    def accept(self, rows: list[CheckedRow]) -> None:
        for line, phone, name, terms in rows:
            if isinstance(terms, str):
                self.skip(line, terms)
                continue
            first = self._first_line.setdefault(phone, line)
            if first != line:
                self.skip(line, f"{phone} is already on line {first}")
                continue
            self._pending.append(IncomingContact(phone, name, terms))

    def skip(self, line: int, reason: str) -> None:
        self.tally.skipped.append(SkippedRow(line, reason))

    @property
    def batch_ready(self) -> bool:
        return len(self._pending) >= self.batch_size

    def save(self, session: Session) -> None:
        """Write the rows accepted since the last save (the caller commits)."""
        if not self._pending:
            return
        counts = save_contacts(session=session, team_id=self.team_id, contacts=self._pending)
        self.tally.added += counts.added
        self.tally.updated += counts.updated
        self.tally.unchanged += counts.unchanged
        self._pending = []
