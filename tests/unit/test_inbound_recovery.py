"""Texts the webhook missed are read back from Twilio's log (the fake pages it as Twilio
does) and put in their conversations once each, in the order they arrived, however many;
after a restart, before the newer texts the webhook brings meanwhile."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlmodel import col, select

from bot.runtime import Runtime
from bot.server import create_asgi_app
from bot.workers import WorkerLoop
from models.inbound import hold_lines_for_recovery
from models.tables import (
    Contact,
    IdempotencyKey,
    InboundWebhook,
    Line,
    Message,
    MessageDirection,
)
from tests.conftest import make_settings
from tests.factories import make_line
from tests.fakes.servers import BackgroundServer, bind_loopback
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio

SALES = "+12025550100"
PHONES = ("+12025550123", "+12025550124", "+12025550125")
# Ten customers who text Sales during an outage.
CUSTOMERS = tuple(f"+120255501{n}" for n in range(30, 40))
# Texts to Sales that were stored before the outage: reading them all back would take
# several pages of the log more than the outage's own texts.
EARLIER_TEXTS = 3000


@pytest.fixture
def runtime(database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> Iterator[Runtime]:
    """The bot's runtime talking to the fakes and taking Twilio's webhooks over HTTP, its
    workers not started: tests step them."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    runtime = Runtime(make_settings(database_url, fake_slack, fake_twilio, url), port=port)
    server = BackgroundServer(create_asgi_app(runtime, start_workers=False), sock).start()
    fake_twilio.inbound_webhook = f"{url}/twilio/messages"
    with runtime.database.session() as session, session.begin():
        make_line(session, number=SALES)
    yield runtime
    server.stop()
    runtime.inbound_staging.close()
    runtime.dispatcher.close()
    runtime.mirror.close()
    runtime.database.dispose()


def _log(fake: FakeTwilio, count: int, *, at: datetime | None = None) -> list[str]:
    """`count` texts to Sales in Twilio's log (their webhooks never reached the bot), a
    second apart from `at` or all now; their sids, oldest first."""
    return [
        fake.receive(
            sender=PHONES[i % len(PHONES)],
            to=SALES,
            body=f"text {i}",
            at=at + timedelta(seconds=i) if at else None,
        ).sid
        for i in range(count)
    ]


def _mark_stored(runtime: Runtime, sids: list[str]) -> None:
    """As the router leaves texts it has put in their conversations: their keys taken."""
    with runtime.database.session() as session, session.begin():
        session.execute(insert(IdempotencyKey), [{"key": f"sms:{sid}"} for sid in sids])


def _route_all(runtime: Runtime) -> None:
    # Nothing here waits on the router's writes, so it may take longer turns than it would
    # with webhooks arriving.
    runtime.inbound_router.budget = 1.0
    while runtime.inbound_router.step() is not None:
        pass


def _inbound_keys(runtime: Runtime) -> list[str]:
    """The dedupe keys of the inbound messages stored, in the order they were stored."""
    with runtime.database.read_session() as session:
        return [
            str(key)
            for key in session.exec(
                select(Message.dedupe_key)
                .where(Message.direction == MessageDirection.INBOUND)
                .order_by(col(Message.id))
            ).all()
        ]


def _inbound_keys_by_sender(runtime: Runtime) -> dict[str, list[str]]:
    """Each sender's inbound messages (dedupe keys), in the order their thread shows them."""
    with runtime.database.read_session() as session:
        rows = session.exec(
            select(Contact.phone, Message.dedupe_key)
            .join(Contact, col(Contact.id) == Message.contact_id)
            .where(Message.direction == MessageDirection.INBOUND)
            .order_by(col(Message.id))
        ).all()
    keys: dict[str, list[str]] = {}
    for phone, key in rows:
        keys.setdefault(phone, []).append(str(key))
    return keys


def _late_keys(runtime: Runtime) -> list[str]:
    with runtime.database.read_session() as session:
        return [
            str(key)
            for key in session.exec(
                select(Message.dedupe_key).where(col(Message.received_late).is_(True))
            ).all()
        ]


def _start_stepped(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process starts as `textbot serve` starts it, its workers and scheduler left for
    the test to step."""
    monkeypatch.setattr(WorkerLoop, "start", lambda self: None)
    monkeypatch.setattr(runtime.scheduler, "start", lambda: None)
    runtime.start()


def _staged_sids(runtime: Runtime) -> list[str]:
    """The texts waiting for the router, in the order it will route them."""
    with runtime.database.read_session() as session:
        return list(
            session.exec(select(InboundWebhook.message_sid).order_by(col(InboundWebhook.id))).all()
        )


def _outage(runtime: Runtime, fake: FakeTwilio, texts: int) -> list[str]:
    """Texts stored and checked, then `texts` texts the webhook never brought; their sids."""
    earlier = _log(fake, EARLIER_TEXTS, at=datetime.now(UTC) - timedelta(hours=6))
    _mark_stored(runtime, earlier)
    assert runtime.reconcile_inbound() == 0  # the last check before the outage
    missed = _log(fake, texts)
    fake.list_requests.clear()
    return missed


@pytest.mark.parametrize("outage_texts", [250, 5000])
def test_every_text_of_a_long_outage_is_recovered_once_and_in_order(
    runtime: Runtime, fake_twilio: FakeTwilio, outage_texts: int
) -> None:
    missed = _outage(runtime, fake_twilio, outage_texts)
    assert runtime.reconcile_inbound() == outage_texts
    assert _staged_sids(runtime) == missed  # one statement, in the order they arrived
    # The log is read back to where the last check ended, not through the whole day.
    assert len(fake_twilio.list_requests) <= outage_texts // 1000 + 2
    assert runtime.reconcile_inbound() == 0
    assert _staged_sids(runtime) == missed


def test_recovered_texts_enter_their_conversations_once_in_order(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    missed = _outage(runtime, fake_twilio, 250)
    runtime.reconcile_inbound()
    _route_all(runtime)
    # Each conversation's in order (the router may store different senders' texts in any
    # order: a batch's plain texts go together, the others one by one).
    assert _inbound_keys_by_sender(runtime) == {
        phone: [f"sms:{sid}" for i, sid in enumerate(missed) if PHONES[i % len(PHONES)] == phone]
        for phone in PHONES
    }
    assert runtime.reconcile_inbound() == 0


def test_a_text_missed_before_one_that_was_stored_is_recovered(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    """The webhook failed for one text and worked for the next: reading back only to the
    newest stored text would lose the first for good."""
    runtime.reconcile_inbound()
    missed, stored = _log(fake_twilio, 2)
    _mark_stored(runtime, [stored])
    assert runtime.reconcile_inbound() == 1
    _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{missed}"]


def test_an_outage_longer_than_the_lookback_is_read_back_to_the_last_check(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    with runtime.database.session() as session, session.begin():
        session.exec(select(Line)).one().inbound_checked_until = three_days_ago
    _log(fake_twilio, 1, at=three_days_ago - timedelta(minutes=5))  # checked back then
    missed = _log(fake_twilio, 3, at=datetime.now(UTC) - timedelta(days=2))
    assert runtime.reconcile_inbound() == 3
    assert _staged_sids(runtime) == missed


def test_a_lines_first_check_reads_back_as_far_as_the_lookback(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    lookback = timedelta(hours=runtime.settings.inbound_lookback_hours)
    _log(fake_twilio, 1, at=datetime.now(UTC) - lookback - timedelta(minutes=5))
    recent = _log(fake_twilio, 1, at=datetime.now(UTC) - lookback + timedelta(minutes=5))
    assert runtime.reconcile_inbound() == 1
    _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{sid}" for sid in recent]


def test_each_check_notes_how_far_the_line_was_checked(
    runtime: Runtime, fake_twilio: FakeTwilio
) -> None:
    before = datetime.now(UTC)
    runtime.reconcile_inbound()
    with runtime.database.read_session() as session:
        checked = session.exec(select(Line.inbound_checked_until)).one()
    assert checked is not None and before - timedelta(minutes=11) < checked < before


def test_texts_recovered_at_start_go_before_the_newer_ones_the_webhook_brought_first(
    runtime: Runtime, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bot restarts after an outage, and customers text again before it has read
    Twilio's log back: each thread still shows the texts in the order Twilio received
    them."""
    assert runtime.reconcile_inbound() == 0  # the last check before the outage
    outage = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    sent: dict[str, list[str]] = {phone: [] for phone in CUSTOMERS}
    for i in range(30):
        phone = CUSTOMERS[i % len(CUSTOMERS)]
        text = fake_twilio.receive(
            sender=phone, to=SALES, body=f"during the outage {i}", at=outage + timedelta(seconds=i)
        )
        sent[phone].append(text.sid)
    _start_stepped(runtime, monkeypatch)
    for phone in CUSTOMERS[:5]:
        text = fake_twilio.text_in(sender=phone, to=SALES, body="anyone there?")
        assert text.webhook_status == 200
        sent[phone].append(text.sid)
    _route_all(runtime)  # the router's turn comes before the read of Twilio's log
    assert _inbound_keys(runtime) == []

    assert runtime.reconcile_inbound() == 30
    _route_all(runtime)
    assert _inbound_keys_by_sender(runtime) == {
        phone: [f"sms:{sid}" for sid in sids] for phone, sids in sent.items()
    }
    assert _late_keys(runtime) == []


def test_a_line_whose_log_cannot_be_read_at_start_is_routed_after_the_wait(
    runtime: Runtime,
    fake_twilio: FakeTwilio,
    fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Twilio's log cannot be read when the bot starts: the texts the webhook brings wait
    no longer than INBOUND_RECOVERY_WAIT_SECONDS; a text recovered after them says in its
    thread when it was sent."""
    assert runtime.reconcile_inbound() == 0
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    missed = fake_twilio.receive(sender=CUSTOMERS[0], to=SALES, body="open today?", at=sent_at)
    fake_twilio.log_unavailable = True
    started = datetime.now(UTC)
    runtime.clock.set(started)
    _start_stepped(runtime, monkeypatch)
    assert runtime.reconcile_inbound() == 0  # Twilio answers 503
    newer = fake_twilio.text_in(sender=CUSTOMERS[0], to=SALES, body="hello?")
    assert newer.webhook_status == 200
    _route_all(runtime)
    assert _inbound_keys(runtime) == []

    wait = timedelta(seconds=runtime.settings.inbound_recovery_wait_seconds)
    runtime.clock.set(started + wait + timedelta(seconds=1))
    with caplog.at_level("WARNING", logger="bot.inbound_router"):
        _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{newer.sid}"]
    assert f"texts to {SALES} are routed without waiting any longer" in caplog.text

    fake_twilio.log_unavailable = False
    assert runtime.reconcile_inbound() == 1
    _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{newer.sid}", f"sms:{missed.sid}"]
    assert _late_keys(runtime) == [f"sms:{missed.sid}"]
    while runtime.mirror.step() is not None:
        pass
    [parent] = fake_slack.top_level("C0SALES")
    posted = [m.all_text for m in fake_slack.thread("C0SALES", parent.ts)]
    assert [("hello?" in text, "open today?" in text) for text in posted] == [
        (True, False),
        (False, True),
    ]
    assert "received late" not in posted[0]
    assert f"<!date^{int(sent_at.timestamp())}^" in posted[1] and "received late" in posted[1]


def test_a_process_that_starts_while_the_log_is_read_holds_the_texts_until_it_is_read_again(
    runtime: Runtime, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Several processes share the database: a read of the log that began before another
    process started may have missed what the webhook missed while it was down."""
    _start_stepped(runtime, monkeypatch)
    read_log = runtime.gateway.received_pages

    def read_while_another_process_starts(**query):  # type: ignore[no-untyped-def]
        with runtime.database.engine.begin() as connection:
            hold_lines_for_recovery(connection, now=datetime.now(UTC) + timedelta(seconds=1))
        yield from read_log(**query)

    monkeypatch.setattr(runtime.gateway, "received_pages", read_while_another_process_starts)
    runtime.reconcile_inbound()
    text = fake_twilio.text_in(sender=CUSTOMERS[0], to=SALES, body="hello?")
    _route_all(runtime)
    assert _inbound_keys(runtime) == []

    monkeypatch.setattr(runtime.gateway, "received_pages", read_log)
    runtime.reconcile_inbound()
    _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{text.sid}"]


def test_a_text_recovered_from_the_second_the_webhook_brought_an_older_one_in_comes_after_it(
    runtime: Runtime, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twilio's log gives only the second a text arrived in, the webhook's arrival is
    exact: a text the webhook brought and a newer one read back from the log within the
    same second enter their thread in the order the customer sent them (found by the chaos
    suite: the newer one went first, and the older one was not said to be late). The newer
    one may be said to be received late: within that second, which came first is not
    known."""
    assert runtime.reconcile_inbound() == 0  # the last check before the restart
    _start_stepped(runtime, monkeypatch)
    # Early in a second, so that both texts reach Twilio within it.
    while datetime.now(UTC).microsecond > 200_000:
        pass
    older = fake_twilio.text_in(sender=CUSTOMERS[0], to=SALES, body="first")
    assert older.webhook_status == 200  # staged, held until the log is read back
    newer = fake_twilio.receive(
        sender=CUSTOMERS[0],
        to=SALES,
        body="second",
        at=older.date_created.replace(microsecond=900_000),
    )  # its webhook never came
    with runtime.database.read_session() as session:
        staged = session.exec(select(InboundWebhook)).one()
    assert staged.received_at.replace(microsecond=0) == newer.date_created.replace(microsecond=0)

    assert runtime.reconcile_inbound() == 1
    _route_all(runtime)
    assert _inbound_keys(runtime) == [f"sms:{older.sid}", f"sms:{newer.sid}"]
    assert f"sms:{older.sid}" not in _late_keys(runtime)


def test_a_log_that_cannot_be_read_is_read_again_within_seconds(
    runtime: Runtime, fake_twilio: FakeTwilio, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An outage's texts are only in Twilio's log: when the log answers 503 as the bot
    starts, it is read again a second later, then two…, not at the next regular check five
    minutes on (the chaos suite's storms lost 30 texts that way)."""
    _start_stepped(runtime, monkeypatch)
    fake_twilio.log_unavailable = True

    def retry_in() -> float:
        """When the retry is due (taken off the scheduler, which is not running)."""
        job = runtime.scheduler.get_job("inbound-reconcile-retry")
        assert job is not None, "no retry scheduled"
        job.remove()
        return (job.trigger.run_date - datetime.now(UTC)).total_seconds()

    assert runtime.reconcile_inbound() == 0
    assert 0 < retry_in() <= 1
    assert runtime.reconcile_inbound() == 0
    assert 1 < retry_in() <= 2
    fake_twilio.log_unavailable = False
    missed = _log(fake_twilio, 3)
    assert runtime.reconcile_inbound() == 3
    assert _staged_sids(runtime) == missed
    assert runtime.scheduler.get_job("inbound-reconcile-retry") is None
    fake_twilio.log_unavailable = True
    runtime.reconcile_inbound()
    assert 0 < retry_in() <= 1  # the pause starts again at a second
