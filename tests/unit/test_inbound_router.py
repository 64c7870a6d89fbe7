from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import Session, col, select

import bot.inbound_router
from bot.db import Database
from bot.inbound_router import InboundRouter
from models.inbound import MAX_ROUTING_ATTEMPTS, stage_inbound_texts, take_routing_turn
from models.stats import read_stats
from models.tables import Contact, InboundWebhook, Message, MessageDirection
from tests.factories import make_line

SALES, JANE, JOHN = "+12025550100", "+12025550123", "+12025550124"


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


def staged(database: Database) -> list[InboundWebhook]:
    with database.read_session() as session:
        return list(session.exec(select(InboundWebhook)).all())


def test_staged_texts_enter_their_conversations_in_arrival_order_once(
    database: Database, router: InboundRouter
) -> None:
    stage(database, ("SM1", JANE, "one"), ("SM2", JOHN, "two"), ("SM3", JANE, "three"))
    stage(database, ("SM2", JOHN, "two, retried by Twilio before routing"))
    route_all(router)
    assert inbound_bodies(database) == ["one", "two", "three"]
    assert staged(database) == []
    with database.read_session() as session:
        assert sorted(session.exec(select(Contact.phone)).all()) == [JANE, JOHN]

    stage(database, ("SM1", JANE, "one, retried after it was routed"))
    route_all(router)
    assert inbound_bodies(database) == ["one", "two", "three"]
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


def test_one_router_at_a_time_on_postgresql(database: Database) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's write lock serializes routers already")
    with database.session() as first, first.begin():
        assert take_routing_turn(first)
        with database.session() as second, second.begin():
            assert not take_routing_turn(second)
    with database.session() as later, later.begin():
        assert take_routing_turn(later)  # the lock went with the first transaction
