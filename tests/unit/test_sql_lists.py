"""A list of values as one parameter (models.sql_lists), a batch's idempotency keys and an
outage's recovered texts each written in one statement: the same rows found and written on
both databases, and on PostgreSQL one statement text whatever the list's length."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select
from sqlmodel import Session, col

from models.inbound import stage_inbound_texts, stage_recovered_texts, take_idempotency_keys
from models.sql_lists import one_of
from models.tables import IdempotencyKey, InboundWebhook, Line
from models.types import utcnow
from tests.factories import make_line

_keys = IdempotencyKey.__table__  # type: ignore[attr-defined]
_KEYS_AMONG = select(_keys.c.key).where(one_of(_keys.c.key, "keys"))
_LINES_AMONG = select(Line.id).where(one_of(Line.id, "ids"))


@pytest.fixture
def statements(engine: Engine) -> Iterator[list[str]]:
    """The text of each statement sent to the driver."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine, "before_cursor_execute", record)


def test_one_of_finds_the_rows_whose_value_is_in_the_list(engine: Engine) -> None:
    stored = [f"SMS:SM{n:032x}" for n in range(1_000)]
    with Session(engine) as session, session.begin():
        session.execute(insert(_keys), [{"key": key} for key in stored])
        line_id = make_line(session).id
    wanted = [*stored[::3], "SMS:not-stored", "it's ; -- odd"]
    with Session(engine) as session:
        found = set(session.execute(_KEYS_AMONG, {"keys": wanted}).scalars())
        assert found == set(stored[::3])
        assert list(session.execute(_KEYS_AMONG, {"keys": []})) == []
        lines = session.execute(_LINES_AMONG, {"ids": [line_id, 10**9]}).scalars()
        assert list(lines) == [line_id]


def test_on_postgresql_the_statement_is_the_same_whatever_the_list(
    engine: Engine, statements: list[str]
) -> None:
    with Session(engine) as session:
        for size in (1, 60, 600):
            session.execute(_KEYS_AMONG, {"keys": [f"k{n}" for n in range(size)]}).all()
    statements = [s for s in statements if s.startswith("SELECT")]
    if engine.dialect.name == "postgresql":
        assert len(set(statements)) == 1
        assert "ANY" in statements[0]
    else:  # SQLite has no arrays: one placeholder a value
        assert [s.count("?") for s in statements] == [1, 60, 600]


def test_a_batch_of_keys_takes_only_the_new_ones_once(
    engine: Engine, statements: list[str]
) -> None:
    with Session(engine) as session, session.begin():
        assert take_idempotency_keys(session=session, keys=["a", "b"]) == {"a", "b"}
    with Session(engine) as session, session.begin():
        keys = ["b", "c", "c", "d"] + [f"k{n}" for n in range(500)]
        assert take_idempotency_keys(session=session, keys=keys) == set(keys) - {"b"}
    with Session(engine) as session:
        stored = session.execute(select(_keys.c.key, _keys.c.created_at)).all()
    assert len(stored) == 504
    assert all(created_at is not None for _, created_at in stored)
    if engine.dialect.name == "postgresql":
        inserts = [s for s in statements if s.startswith("INSERT")]
        assert len(set(inserts)) == 1


def test_recovered_texts_are_staged_in_the_order_given_once_each(
    engine: Engine, statements: list[str]
) -> None:
    logged = utcnow().replace(microsecond=0)  # Twilio's log gives the second
    rows = [
        {
            "message_sid": f"SM{n:032x}",
            "to_number": "+12025550100",
            "from_number": f"+120255501{n % 30:02d}",
            "body": f"text {n} \N{SMILING FACE WITH SMILING EYES}",
            "received_at": logged,
            "logged_to_the_second": True,
        }
        for n in reversed(range(600))  # the order given is not the sids' order
    ]
    with engine.begin() as connection:
        stage_inbound_texts(connection, rows[:1])  # the webhook brought the first already
    statements.clear()
    with engine.begin() as connection:
        stage_recovered_texts(connection, rows)
    with Session(engine) as session:
        staged = session.scalars(select(InboundWebhook).order_by(col(InboundWebhook.id))).all()
    assert [t.message_sid for t in staged] == [row["message_sid"] for row in rows]
    assert {t.received_at for t in staged} == {logged}
    assert all(t.logged_to_the_second and t.attempts == 0 for t in staged[1:])
    assert staged[1].body == rows[1]["body"]
    if engine.dialect.name == "postgresql":
        assert len([s for s in statements if s.startswith("INSERT")]) == 1
