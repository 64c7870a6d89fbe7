"""Rows for the benchmarks: a line with its conversation thread, and a million contacts
written in bulk with the same search terms the product indexes."""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from functools import cache

import phonenumbers
import psycopg
from sqlalchemy import insert, text
from sqlmodel import Session, select

from bot.db import Database, create_db_engine
from models.contacts import name_search_terms
from models.phone import number_search_terms
from models.tables import Contact, ContactSearchTerm, Conversation, Line
from tests.factories import make_contact, make_line, make_text
from tests.fakes.slack import TEAM_ID
from tests.slack_driver import wait_until

FIRST_NAMES = [
    "Ada",
    "Alan",
    "Alice",
    "Amir",
    "Ana",
    "Ben",
    "Bea",
    "Carla",
    "Chen",
    "Dana",
    "Diego",
    "Eli",
    "Emma",
    "Eva",
    "Farah",
    "Femi",
    "Gus",
    "Hana",
    "Ines",
    "Ivan",
    "Jade",
    "Jon",
    "Kai",
    "Kim",
    "Lara",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mia",
    "Nico",
    "Nina",
    "Omar",
    "Otto",
    "Pia",
    "Raj",
    "Rosa",
    "Sam",
    "Sara",
    "Tao",
    "Tess",
    "Uma",
    "Vera",
    "Will",
    "Xia",
    "Yara",
    "Yuki",
    "Zoe",
    "Zane",
]
LAST_NAMES = [
    "Abbott",
    "Baker",
    "Castro",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hughes",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Moreau",
    "Nagy",
    "Okafor",
    "Patel",
    "Quinn",
    "Rossi",
    "Silva",
    "Tanaka",
    "Ueda",
    "Varga",
    "Weber",
    "Xu",
    "Young",
    "Zhang",
    "Becker",
    "Costa",
    "Dubois",
    "Fuentes",
    "Gallo",
    "Horvat",
    "Iqbal",
    "Kowalski",
    "Larsen",
    "Mendes",
    "Novak",
    "Olsen",
    "Perez",
    "Rahman",
    "Santos",
    "Torres",
]


def prepare_line(database_url: str, *, user: str, contacts: int = 100) -> tuple[int, str]:
    """A line the user may use and `contacts` named contacts; returns (line id, number)."""
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        line = make_line(session, grants=(user,), reply_delay_seconds=5.0)
        line.sends_per_second = 1000.0
        for n in range(contacts):
            make_contact(session, phone=f"+120255501{n:02d}", name=f"Customer {n}")
        result = (line.id or 0, line.number)
    engine.dispose()
    return result


def start_thread(
    database_url: str, *, line_id: int, phone: str, author: str = "U0BENCH"
) -> tuple[str, str]:
    """A conversation whose parent message the running bot has posted: (channel, ts)."""
    database = Database(database_url)
    with database.session() as session, session.begin():
        line = session.get_one(Line, line_id)
        contact = make_contact(session, phone=phone, name="Thread Customer")
        conversation, _ = make_text(session, line=line, contact=contact, author=author)
        conversation_id = conversation.id

    def posted() -> tuple[str, str] | None:
        with database.read_session() as session:
            found = session.get_one(Conversation, conversation_id)
            if found.slack_thread_ts and found.slack_channel_id:
                return found.slack_channel_id, found.slack_thread_ts
            return None

    thread = wait_until(posted, timeout=60, what="the conversation's parent message")
    database.dispose()
    return thread


@cache
def _area_codes() -> list[int]:
    """North American area codes in use (a 555 number under any other is no number at
    all, and an import would skip it)."""
    return [
        area
        for area in range(201, 1000)
        if phonenumbers.is_valid_number(phonenumbers.parse(f"+1{area}5550123"))
    ]


def people(count: int, seed: int = 7) -> Iterator[tuple[str, str]]:
    """(E.164 number, name) pairs: distinct valid numbers (up to 4.5 million), names drawn
    from the lists above."""
    chooser = random.Random(seed)
    areas = _area_codes()
    if count > len(areas) * 10_000:
        raise ValueError(f"at most {len(areas) * 10_000} distinct numbers")
    for n in range(count):
        number = f"+1{areas[n // 10_000]}555{n % 10_000:04d}"
        yield number, f"{chooser.choice(FIRST_NAMES)} {chooser.choice(LAST_NAMES)}"


def add_contacts(database_url: str, count: int) -> None:
    """`count` contacts and their search terms, written in bulk (COPY on PostgreSQL)."""
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        start = session.exec(select(Contact.id).order_by(Contact.id.desc())).first() or 0  # type: ignore[union-attr]
    contacts, terms = [], []
    for offset, (phone, name) in enumerate(people(count), 1):
        contact_id = start + offset
        contacts.append({"id": contact_id, "team_id": TEAM_ID, "phone": phone, "name": name})
        for term in name_search_terms(name) + number_search_terms(phone):
            terms.append({"team_id": TEAM_ID, "term": term, "contact_id": contact_id})
    if engine.dialect.name == "postgresql":
        engine.dispose()
        _copy_postgres(database_url, contacts, terms)
        return
    with engine.begin() as connection:
        for batch in range(0, len(contacts), 50_000):
            connection.execute(insert(Contact), contacts[batch : batch + 50_000])
        for batch in range(0, len(terms), 100_000):
            connection.execute(insert(ContactSearchTerm), terms[batch : batch + 100_000])
        connection.execute(text("ANALYZE"))
    engine.dispose()


def _copy_postgres(database_url: str, contacts: list[dict], terms: list[dict]) -> None:
    plain = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain) as connection, connection.cursor() as cursor:
        with cursor.copy("COPY contact (id, team_id, phone, name, created_at) FROM STDIN") as copy:
            for row in contacts:
                copy.write_row((row["id"], row["team_id"], row["phone"], row["name"], "now"))
        with cursor.copy("COPY contact_search_term (team_id, term, contact_id) FROM STDIN") as copy:
            buffer = io.StringIO()
            for row in terms:
                buffer.write(f"{row['team_id']}\t{row['term']}\t{row['contact_id']}\n")
            copy.write(buffer.getvalue())
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('contact', 'id'), max(id)) FROM contact"
        )
        cursor.execute("ANALYZE contact")
        cursor.execute("ANALYZE contact_search_term")
