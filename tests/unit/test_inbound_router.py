import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

import bot.inbound_router
from bot.db import Database
from bot.inbound_router import InboundRouter
from models.groups import create_group_conversation
from models.inbound import MAX_ROUTING_ATTEMPTS, stage_inbound_texts, take_staged_texts
from models.stats import read_stats
from models.tables import Contact, InboundWebhook, Line, Message, MessageDirection
from models.types import utcnow
from tests.factories import make_contact, make_line

SALES, JANE, JOHN, OTHER = "+12025550100", "+12025550123", "+12025550124", "+12025550125"


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    with database.session() as session, session.begin():
        make_line(session, number=SALES)
    yield database
    database.dispose()


@pytest.fixture
def router(database: Database) -> InboundRouter:
    return InboundRouter(
        database=database, on_routed=lambda: None, recovery_wait=timedelta(seconds=30)
    )


def stage(database: Database, *texts: tuple[str, str, str], to: str = SALES) -> None:
    with database.engine.begin() as connection:
        stage_inbound_texts(
            connection,
            [
                {"message_sid": sid, "to_number": to, "from_number": sender, "body": body}
                for sid, sender, body in texts
            ],
        )


def route_all(router: InboundRouter) -> None:
    for _ in range(50):
        if router.step() is None:
            return
    raise AssertionError("the router never ran out of work")


def inbound_bodies(database: Database) -> list[str]:
    with database.read_session() as session:
        return list(
            session.exec(
                select(Message.body)
                .where(Message.direction == MessageDirection.INBOUND)
                .order_by(col(Message.id))
            ).all()
        )


def bodies_by_sender(database: Database) -> dict[str, list[str]]:
    """Each sender's texts in the order their conversation shows them (texts of different
    conversations may be stored in any order)."""
    with database.read_session() as session:
        rows = session.exec(
            select(Contact.phone, Message.body)
            .join(Contact, col(Contact.id) == Message.contact_id)
            .where(Message.direction == MessageDirection.INBOUND)
            .order_by(col(Message.id))
        ).all()
    found: dict[str, list[str]] = {}
    for phone, body in rows:
        found.setdefault(phone, []).append(body)
    return found


def staged(database: Database) -> list[InboundWebhook]:
    with database.read_session() as session:
        return list(session.exec(select(InboundWebhook)).all())


def test_staged_texts_enter_their_conversations_in_arrival_order_once(
    database: Database, router: InboundRouter
) -> None:
    stage(database, ("SM1", JANE, "one"), ("SM2", JOHN, "two"), ("SM3", JANE, "three"))
    stage(database, ("SM2", JOHN, "two, retried by Twilio before routing"))
    route_all(router)
    assert bodies_by_sender(database) == {JANE: ["one", "three"], JOHN: ["two"]}
    assert staged(database) == []
    with database.read_session() as session:
        assert sorted(session.exec(select(Contact.phone)).all()) == [JANE, JOHN]

    stage(database, ("SM1", JANE, "one, retried after it was routed"))
    route_all(router)
    assert bodies_by_sender(database) == {JANE: ["one", "three"], JOHN: ["two"]}
    assert staged(database) == []


def test_a_text_to_no_line_is_refused_logged_and_counted_once(
    database: Database, router: InboundRouter, caplog
) -> None:
    stage(database, ("SM1", JANE, "wrong number"), to="+12025550199")
    route_all(router)
    stage(database, ("SM1", JANE, "wrong number"), to="+12025550199")  # Twilio again
    route_all(router)
    assert "SM1 from +12025550123 to +12025550199 matches no line" in caplog.text
    assert inbound_bodies(database) == []
    assert staged(database) == []
    with database.read_session() as session:
        assert read_stats(session=session).inbound_refused == {"unknown_line": 1}


def test_a_text_that_keeps_failing_is_parked_and_the_others_go_on(
    database: Database, router: InboundRouter, monkeypatch
) -> None:
    real_store = bot.inbound_router.store_inbound_text

    def store(session: Session, text: InboundWebhook, **settings) -> bool:  # type: ignore[no-untyped-def]
        if text.message_sid == "SM2":
            raise RuntimeError("boom")
        return real_store(session, text, **settings)

    monkeypatch.setattr(bot.inbound_router, "store_inbound_text", store)
    stage(database, ("SM1", JANE, "one"), ("SM2", JOHN, "two"), ("SM3", JANE, "three"))
    route_all(router)
    assert inbound_bodies(database) == ["one", "three"]
    [parked] = staged(database)
    assert (parked.message_sid, parked.attempts) == ("SM2", MAX_ROUTING_ATTEMPTS)
    assert "boom" in (parked.last_error or "")
    with database.read_session() as session:
        stats = read_stats(session=session)
    assert (stats.inbound_backlog, stats.inbound_stuck) == (0, 1)


def test_the_backlog_counts_what_waits_for_the_router(
    database: Database, router: InboundRouter
) -> None:
    stage(database, ("SM1", JANE, "one"), ("SM2", JOHN, "two"))
    with database.read_session() as session:
        assert read_stats(session=session).inbound_backlog == 2
    route_all(router)
    with database.read_session() as session:
        assert read_stats(session=session).inbound_backlog == 0


def senders_of(texts: list[InboundWebhook] | None) -> list[str]:
    assert texts is not None
    return [text.from_number for text in texts]


def test_routers_on_postgresql_take_each_senders_texts_whole_and_apart(
    database: Database,
) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock lets one router run at a time")
    stage(database, ("SM1", JANE, "1"), ("SM2", JOHN, "2"), ("SM3", JANE, "3"), ("SM4", JOHN, "4"))
    cutoff = utcnow() - timedelta(minutes=1)
    with database.session() as first, first.begin():
        # One text's worth: the first router takes Jane's share (her first text for now).
        assert senders_of(take_staged_texts(session=first, limit=1, hold_cutoff=cutoff)) == [JANE]
        with database.session() as second, second.begin():
            assert senders_of(take_staged_texts(session=second, limit=50, hold_cutoff=cutoff)) == [
                JOHN,
                JOHN,
            ]
            with database.session() as third, third.begin():
                assert take_staged_texts(session=third, limit=50, hold_cutoff=cutoff) is None
    with database.session() as later, later.begin():  # the locks went with the transactions
        assert senders_of(take_staged_texts(session=later, limit=50, hold_cutoff=cutoff)) == [
            JANE,
            JOHN,
            JANE,
            JOHN,
        ]


def test_a_groups_texts_go_to_one_router_on_postgresql(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock lets one router run at a time")
    with database.session() as session, session.begin():
        line = session.exec(select(Line)).one()
        members = [make_contact(session, phone=JANE), make_contact(session, phone=JOHN)]
        create_group_conversation(session=session, line=line, contacts=members, user_id="U0A")
    stage(database, ("SM1", JANE, "1"), ("SM2", JOHN, "2"), ("SM3", OTHER, "3"))
    cutoff = utcnow() - timedelta(minutes=1)
    with database.session() as first, first.begin():
        assert senders_of(take_staged_texts(session=first, limit=1, hold_cutoff=cutoff)) == [JANE]
        with database.session() as second, second.begin():
            # John's text goes with the group's share, which the first router holds.
            assert senders_of(take_staged_texts(session=second, limit=50, hold_cutoff=cutoff)) == [
                OTHER
            ]


def test_two_routers_at_once_keep_each_conversations_order(database_url: str) -> None:
    """Two routers (each with connections of its own, as two processes have) route a
    stream of texts from many senders at the same time: each text once, each sender's in
    the order they came; on PostgreSQL both route."""
    setup = Database(database_url)
    with setup.session() as session, session.begin():
        make_line(session, number=SALES)
    senders = [f"+1202555{n:04d}" for n in range(100, 130)]
    expected: dict[str, list[str]] = {}
    for batch in range(6):
        texts = []
        for i, sender in enumerate(senders):
            body = f"{sender} #{batch * 100 + i}"
            texts.append((f"SM{batch}-{i}", sender, body))
            expected.setdefault(sender, []).append(body)
        stage(setup, *texts)
    routers = [
        InboundRouter(
            database=Database(database_url),
            on_routed=lambda: None,
            recovery_wait=timedelta(seconds=30),
        )
        for _ in range(2)
    ]
    done = threading.Barrier(2)

    def route(router: InboundRouter) -> int:
        steps = 0
        done.wait()
        while staged(setup):
            if router.step() == 0:
                steps += 1
        return steps

    with ThreadPoolExecutor(2) as pool:
        steps = list(pool.map(route, routers))
    assert bodies_by_sender(setup) == expected
    if setup.engine.dialect.name == "postgresql":
        assert all(steps), steps  # both routed
    for router in routers:
        router.database.dispose()
    setup.dispose()
