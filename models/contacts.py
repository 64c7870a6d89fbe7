"""Contacts: lookup, creation, and suggestions by name or number as a user types."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, Integer, and_, bindparam, delete, func, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select, SelectOfScalar

from models.directory import (
    LINES,
    Viewer,
    few_visible_contact_ids,
    visibility_params,
    visible_contact,
)
from models.phone import format_phone, number_search_terms
from models.sql_lists import one_of
from models.tables import Contact, ContactSearchTerm
from models.types import insert_ignoring_conflicts, utcnow
from models.untrusted_text import strip_hidden_characters

# A contact's label, "Name (+1 202-555-0123)", is the name their texts are posted under in
# Slack, which shows 80 characters of it.
MAX_NAME_LENGTH = 60
_TERM_LENGTH = 64
# Every term is made of these characters only; '{' sorts right after 'z', so all terms
# starting with a prefix p lie in [p, p + '{').
_PREFIX_END = "{"
# In a query of several words, a word of digits matches numbers only from this length on;
# shorter, it matches name words only, told apart as terms shorter than any phone number.
_NUMBER_PREFIX_DIGITS = 3
_NUMBER_TERM_LENGTH = 7
# How many terms of the longest word a query of several words reads at most.
_SCANNED_TERMS = 2000
# In a "lines" directory, a user whose lines reach at most this many contacts is searched
# among those contacts; checking each term of the index against their lines instead would
# read most of a prefix's range when they see few of many.
_FEW_VISIBLE = 2000
# What a search reads of a query: nobody types more to find a contact, and each word costs
# a subquery (a 1,200-word query once made a statement SQLite refused after seconds).
MAX_QUERY_LENGTH = 100
MAX_QUERY_WORDS = 8


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
    """A contact's name as it is kept: one line, spaces collapsed, nothing hidden in it."""
    if name is None:
        return None
    name = " ".join(strip_hidden_characters(name).split())[:MAX_NAME_LENGTH]
    return name or None


def contact_label(contact: Contact) -> str:
    """Name and number as plain text: "Jane Doe (+1 202-555-0123)", or the number alone."""
    number = format_phone(contact.phone)
    return f"{contact.name} ({number})" if contact.name else number


def find_contact_by_phone(*, session: Session, team_id: str, phone: str) -> Contact | None:
    return session.exec(_CONTACT_BY_PHONE, params={"team_id": team_id, "phone": phone}).first()


# Built once, like the other statements every inbound text runs: building costs more than
# running them.
_CONTACT_BY_PHONE = select(Contact).where(
    Contact.team_id == bindparam("team_id"), Contact.phone == bindparam("phone")
)


def find_contacts(*, session: Session, ids: Collection[int]) -> list[Contact]:
    return list(session.exec(_CONTACTS_BY_ID, params={"ids": list(ids)}).all())


_CONTACTS_BY_ID = select(Contact).where(one_of(Contact.id, "ids"))


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
    # Most texts come from contacts already known: look before trying to insert.
    contact = find_contact_by_phone(session=session, team_id=team_id, phone=phone)
    inserted = 0
    if contact is None:
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


def bounded_query(query: str) -> str:
    """The part of a query a search reads: its first MAX_QUERY_WORDS words, at most
    MAX_QUERY_LENGTH characters."""
    return " ".join(query[:MAX_QUERY_LENGTH].split()[:MAX_QUERY_WORDS])


@dataclass(frozen=True)
class IncomingContact:
    """A contact as an import brings it: its number (E.164), its name if any (as
    clean_name keeps it), and its search terms (name_search_terms and
    number_search_terms)."""

    phone: str
    name: str | None
    terms: list[str]


@dataclass
class SaveCounts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0


_CONTACT = Contact.__table__  # type: ignore[attr-defined]


def save_contacts(
    *,
    session: Session,
    team_id: str,
    contacts: Sequence[IncomingContact],
    now: datetime | None = None,
) -> SaveCounts:
    """Add the numbers the team does not have and rename the contacts whose name differs
    (one with no name given keeps theirs), a few statements for the whole batch. The
    numbers must be distinct.

    The rows go to the driver as they are: SQLAlchemy's handling of each row's parameters
    costs more than the database's insert, and imports bring millions."""
    connection = session.connection()
    postgres = connection.dialect.name == "postgresql"
    placeholder = "%s" if postgres else "?"

    def run_many(sql: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            connection.exec_driver_sql(sql.replace("?", placeholder), rows)

    def by_phone(phones: list[str]) -> dict[str, tuple[int, str | None]]:
        """(id, name) of the team's contacts with these numbers."""
        if not phones:
            return {}
        sql = "SELECT phone, id, name FROM contact WHERE team_id = ? AND phone "
        if postgres:
            # One array: the statement's text stays the same whatever the batch's size.
            found = connection.exec_driver_sql(
                (sql + "= ANY(?)").replace("?", placeholder), (team_id, phones)
            )
        else:
            marks = ", ".join("?" * len(phones))
            found = connection.exec_driver_sql(f"{sql}IN ({marks})", (team_id, *phones))
        return {phone: (contact_id, name) for phone, contact_id, name in found}

    known = by_phone([c.phone for c in contacts])
    new = [c for c in contacts if c.phone not in known]
    created = _bound(_CONTACT.c.created_at, now or utcnow(), connection.dialect)
    # A number another process adds meanwhile is left as it is (and counted as added).
    if postgres:
        added = _add_contacts_postgres(connection, team_id, new, created)
    else:
        _insert_many(
            connection,
            "contact",
            {"team_id": "text", "phone": "text", "name": "text", "created_at": "timestamptz"},
            [(team_id, c.phone, c.name, created) for c in new],
        )
        found = by_phone([c.phone for c in new])
        added = {phone: contact_id for phone, (contact_id, _) in found.items()}
    indexed = [(added[c.phone], c) for c in new if c.phone in added]
    renamed = [
        (known[c.phone][0], c)
        for c in contacts
        if c.phone in known and c.name and c.name != known[c.phone][1]
    ]
    run_many(
        "UPDATE contact SET name = ? WHERE id = ?",
        [(c.name, contact_id) for contact_id, c in renamed],
    )
    run_many(
        "DELETE FROM contact_search_term WHERE contact_id = ?",
        [(contact_id,) for contact_id, _ in renamed],
    )

    def terms_of(pairs: list[tuple[int, IncomingContact]]) -> list[tuple[str, str, int]]:
        return [(team_id, term, contact_id) for contact_id, c in pairs for term in c.terms]

    if postgres:
        # Nobody else can have terms for contacts this transaction just added.
        _copy_terms_postgres(connection, team_id, indexed)
    else:
        _insert_many(connection, "contact_search_term", _TERM_COLUMNS, terms_of(indexed))
    _insert_many(connection, "contact_search_term", _TERM_COLUMNS, terms_of(renamed))
    return SaveCounts(
        added=len(new), updated=len(renamed), unchanged=len(contacts) - len(new) - len(renamed)
    )


_TERM_COLUMNS = {"team_id": "text", "term": "text", "contact_id": "int"}

# On PostgreSQL an import's rows go in by COPY: an INSERT of arrays costs five times as
# much, its text built by psycopg in Python.


def _add_contacts_postgres(
    connection: Connection, team_id: str, new: list[IncomingContact], created: Any
) -> dict[str, int]:
    """Insert these contacts but the numbers already there; the ids of those inserted, by
    number."""
    if not new:
        return {}
    with _driver_cursor(connection) as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS contact_import_batch (phone text, name text) "
            "ON COMMIT DELETE ROWS"
        )
        with cursor.copy("COPY contact_import_batch (phone, name) FROM STDIN") as copy:
            for contact in new:
                copy.write_row((contact.phone, contact.name))
        cursor.execute(
            "INSERT INTO contact (team_id, phone, name, created_at) "
            "SELECT %s, phone, name, %s FROM contact_import_batch "
            "ON CONFLICT DO NOTHING RETURNING phone, id",
            (team_id, created),
        )
        return {phone: contact_id for phone, contact_id in cursor}


def _copy_terms_postgres(
    connection: Connection, team_id: str, contacts: list[tuple[int, IncomingContact]]
) -> None:
    """Add the search terms of these (id, contact) pairs, which have none yet."""
    lines = [f"{team_id}\t{term}\t{contact_id}\n" for contact_id, c in contacts for term in c.terms]
    data = "".join(lines)
    statement = "COPY contact_search_term (team_id, term, contact_id) FROM STDIN"
    with _driver_cursor(connection) as cursor, cursor.copy(statement) as copy:
        # Terms are letters and digits, which COPY takes as they are: a million contacts'
        # terms are written in one go instead of row by row. Anything else is escaped.
        plain = data.count("\t") == 2 * len(lines) and data.count("\n") == len(lines)
        if plain and "\\" not in data and "\r" not in data:
            copy.write(data)
        else:
            for contact_id, c in contacts:
                for term in c.terms:
                    copy.write_row((team_id, term, contact_id))


def _driver_cursor(connection: Connection) -> Any:
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None
    return driver_connection.cursor()


def _insert_many(
    connection: Connection, table: str, columns: dict[str, str], rows: list[tuple[Any, ...]]
) -> None:
    """INSERT … ON CONFLICT DO NOTHING of `rows` as the driver takes them fastest: on
    PostgreSQL one statement of arrays (`columns` maps each column to its type there),
    elsewhere executemany."""
    if not rows:
        return
    names = ", ".join(columns)
    if connection.dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING",
            tuple(list(values) for values in zip(*rows, strict=True)),
        )
    else:
        marks = ", ".join("?" * len(columns))
        connection.exec_driver_sql(
            f"INSERT INTO {table} ({names}) VALUES ({marks}) ON CONFLICT DO NOTHING", rows
        )


def refresh_contact_statistics(session: Session) -> None:
    """Tell PostgreSQL's planner how many contacts there are now. Without it (autovacuum
    off, or behind), a table that grew from empty is still planned as empty: a number is
    looked up by reading every contact, and the import slows down as it goes."""
    if session.connection().dialect.name == "postgresql":
        session.connection().exec_driver_sql("ANALYZE contact, contact_search_term")


def _bound(column: Any, value: Any, dialect: Any) -> Any:
    """`value` as SQLAlchemy would hand it to the driver for `column`."""
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


def search_contacts(
    *,
    session: Session,
    viewer: Viewer,
    query: str,
    limit: int = 20,
) -> list[ContactSuggestion]:
    """Contacts the user may see (models.directory) whose name words or number digits start
    with what was typed; only bounded_query(query) is read.

    A query of digits matches numbers (punctuation ignored, so "(202) 555" works), and
    name words such as the 4 of "Customer 4". A query of words matches contacts having,
    for each word, a name word starting with it; a word of three or more digits may
    instead start the contact's number ("john 202"), while one or two digits match name
    words only, so that "customer 1" is not every contact with a +1 number. Results come
    in the index order of the longest word's matching terms.
    """
    query = bounded_query(query)
    digits = re.sub(r"\D", "", query)
    if digits and len(digits) >= len(re.sub(r"[\s()+.-]", "", query)):
        found = _contacts_with_term_prefixes(session, viewer, [digits[:_TERM_LENGTH]], limit)
        return [ContactSuggestion(c, "number") for c in found]
    words = list(dict.fromkeys(w[:_TERM_LENGTH] for w in _fold(query).split()))
    if not words:
        return []
    # Scan the index with the longest word (fewest rows); the others only filter.
    words.sort(key=len, reverse=True)
    found = _contacts_with_term_prefixes(session, viewer, words, limit, short_digits_as_names=True)
    return [ContactSuggestion(c, "name") for c in found]


def _contacts_with_term_prefixes(
    session: Session,
    viewer: Viewer,
    prefixes: list[str],
    limit: int,
    *,
    short_digits_as_names: bool = False,
) -> list[Contact]:
    """Contacts the viewer may see having a term starting with each prefix, in the index
    order of the first prefix's terms.

    The first prefix's range is read in index order, each row checked against the
    viewer's directory, and each further prefix is checked per row, through the index on
    (contact_id, term). With several prefixes only the range's first _SCANNED_TERMS terms
    are read, so the cost stays bounded when few contacts match all the prefixes, at the
    price of missing matches behind that many partial ones. A viewer of a "lines"
    directory who sees at most _FEW_VISIBLE contacts is searched among those instead.
    """
    names_only = tuple(
        short_digits_as_names and p.isdigit() and len(p) < _NUMBER_PREFIX_DIGITS for p in prefixes
    )
    visibility = visibility_params(session=session, viewer=viewer)
    if not visibility["line_ids"]:
        return []  # no usable line, no contact
    params: dict[str, Any] = {
        **visibility,
        "team_id": viewer.team_id,
        "limit": limit,
        "rows": limit * 2,
    }
    for i, prefix in enumerate(prefixes):
        params[f"start{i}"], params[f"end{i}"] = prefix, prefix + _PREFIX_END
    among: Among = viewer.directory
    if viewer.directory == LINES:
        ids = few_visible_contact_ids(
            session=session, line_ids=visibility["line_ids"], most=_FEW_VISIBLE
        )
        if ids is not None:
            among, params["ids"] = "ids", ids
    last = None
    if len(prefixes) > 1 and among != "ids":
        params["skip"] = _SCANNED_TERMS - 1
        last = session.exec(_last_scanned_term(names_only[0]), params=params).first()
        if last is not None:
            params["last_term"], params["last_id"] = last
    statement = _matching_contacts(among, names_only, last is not None)
    return list(session.exec(statement, params=params))


# The statements below are built once per shape and take the prefixes as parameters:
# building a statement costs more than running it on a small table.
_TERM, _CONTACT_ID = col(ContactSearchTerm.term), col(ContactSearchTerm.contact_id)
_OF_TEAM = col(ContactSearchTerm.team_id) == bindparam("team_id")


@lru_cache
def _last_scanned_term(names_only: bool) -> Select[str, int]:
    """(term, contact_id) of the _SCANNED_TERMS-th term of the first prefix, if any."""
    return (
        select(_TERM, _CONTACT_ID)
        .where(_OF_TEAM, _term_range(_TERM, 0, names_only))
        .order_by(_TERM, _CONTACT_ID)
        .offset(bindparam("skip", type_=Integer))
        .limit(1)
    )


# Whose contacts a search reads: a directory's, or those whose ids it is given ("ids").
Among = Literal["shared", "lines", "ids"]


@lru_cache
def _matching_contacts(
    among: Among, names_only: tuple[bool, ...], bounded: bool
) -> SelectOfScalar[Contact]:
    """Contacts the user may see with a term starting with each prefix; bounded: read up to
    (last_term, last_id) only."""
    # SQLite bounds an index scan with one end only, so an earlier end replaces the range's.
    scan_end = (
        tuple_(_TERM, _CONTACT_ID) <= tuple_(bindparam("last_term"), bindparam("last_id"))
        if bounded
        else None
    )
    conditions = [_term_range(_TERM, 0, names_only[0], scan_end)]
    if among == "ids":
        # The team's contacts already; without team_id the index on (contact_id, term)
        # answers alone.
        conditions.append(_CONTACT_ID.in_(bindparam("ids", expanding=True)))
    else:
        conditions += [_OF_TEAM, visible_contact(among, _CONTACT_ID)]
    for i, only_names in enumerate(names_only[1:], 1):
        further = aliased(ContactSearchTerm)
        conditions.append(
            select(further.contact_id)
            .where(
                col(further.contact_id) == _CONTACT_ID,
                _term_range(col(further.term), i, only_names),
            )
            # OFFSET 0 keeps PostgreSQL from turning the EXISTS into a join that reads the
            # whole range of this prefix; it stays a per-row check through contact_id.
            .offset(0)
            .exists()
        )
    terms = select(_TERM, _CONTACT_ID).where(*conditions)
    if among != "ids":
        # A contact may have several terms in the range, e.g. its two number forms.
        terms = terms.order_by(_TERM, _CONTACT_ID).limit(bindparam("rows", type_=Integer))
    # else the given contacts' terms are read through contact_id, all of them: asking for
    # the index order would have the database read the prefix's whole range instead.
    found = terms.subquery()
    # Each contact once, where its first term came.
    first_found = (
        select(found.c.contact_id, func.min(found.c.term).label("term"))
        .group_by(found.c.contact_id)
        .subquery()
    )
    return (
        select(Contact)
        .join(first_found, first_found.c.contact_id == Contact.id)
        .order_by(first_found.c.term, first_found.c.contact_id)
        .limit(bindparam("limit", type_=Integer))
    )


def _term_range(
    term: Any, i: int, names_only: bool, end: ColumnElement[bool] | None = None
) -> ColumnElement[bool]:
    """term starts with prefix i (parameters start{i} and end{i})."""
    conditions = [
        term >= bindparam(f"start{i}"),
        term < bindparam(f"end{i}") if end is None else end,
    ]
    if names_only:
        # Numbers are indexed as long digit strings; shorter digit terms are name words.
        conditions.append(func.length(term) < _NUMBER_TERM_LENGTH)
    return and_(*conditions)
