"""The dispatcher against the fake Twilio taking its time to answer: each line sends at its
own rate, sends overlap, and nothing waits for a slow send but its own line's pace."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise

import pytest
from sqlmodel import col, select

from bot.db import Database
from bot.dispatcher import Dispatcher
from bot.sms_gateway import SendFailed, TwilioGateway
from bot.workers import WorkerLoop
from models.tables import Delivery, DeliveryStatus, Line
from tests.factories import make_contact, make_line, make_text
from tests.fakes.servers import BackgroundServer
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, CreateCall, FakeTwilio
from tests.slack_driver import wait_until

PROVIDER_DELAY = 0.05  # seconds Twilio takes to accept a message


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def slow_twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio(send_delay=PROVIDER_DELAY)
    server = BackgroundServer(fake.app).start()
    fake.url = server.url
    # The first send in a process imports what the SDK and the server need on the way (half
    # a second on a busy machine), which would bunch the sends behind it.
    with contextlib.suppress(SendFailed):
        make_gateway(fake).send(to="+1", body="warm-up", from_number="+12025550100")
    fake.create_calls.clear()
    yield fake
    server.stop()


def queue_texts(
    database: Database, *, rate: float, count: int, number: str = "+12025550100"
) -> str:
    """A line sending `rate` texts a second, with `count` texts queued; returns its number."""
    with database.session() as session:
        line = make_line(
            session,
            number=number,
            name=f"Line {number}",
            channel_id=f"C0{number[-4:]}",
            grants=("U0ALICE",),  # the texts' author
        )
        line.sends_per_second = rate
        for n in range(count):
            contact = make_contact(session, phone=f"+120255501{20 + n:02d}")
            make_text(session, line=line, contact=contact, body=f"text {n} from {number}")
        session.commit()
    return number


def make_gateway(fake: FakeTwilio, *, timeout: float = 10.0) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID,
        auth_token=AUTH_TOKEN,
        api_url=fake.url,
        status_callback_url=None,
        timeout=timeout,
    )


def make_dispatcher(
    database: Database, fake: FakeTwilio, *, timeout: float = 10.0, **options: int
) -> Dispatcher:
    return Dispatcher(database=database, gateway=make_gateway(fake, timeout=timeout), **options)  # type: ignore[arg-type]


@contextmanager
def dispatching(
    database: Database, fake: FakeTwilio, *, timeout: float = 10.0, **options: int
) -> Iterator[Dispatcher]:
    """The dispatcher running in its worker loop, and its unconfirmed sends settled every
    moment, as in `textbot serve`."""
    dispatcher = make_dispatcher(database, fake, timeout=timeout, **options)

    def reconcile() -> None:
        dispatcher.reconcile()

    loop = WorkerLoop("dispatcher", dispatcher.step, poll_seconds=0.2)
    settling = WorkerLoop("reconcile", reconcile, poll_seconds=0.2)
    loop.start()
    settling.start()
    try:
        yield dispatcher
    finally:
        settling.stop()
        loop.stop()
        dispatcher.close()


def sends_from(fake: FakeTwilio, number: str, count: int) -> list[CreateCall]:
    """Wait for `count` sends from `number` to be accepted; returns them in arrival order."""

    def accepted() -> list[CreateCall]:
        calls = [c for c in fake.create_calls if c.from_ == number and c.status_code == 201]
        return calls if len(calls) >= count else []

    calls = wait_until(accepted, timeout=60, what=f"{count} texts from {number}")
    return sorted(calls, key=lambda call: call.received)


def claimed_in_order(database: Database, number: str) -> list[str]:
    """The phones the line's texts went to, in the order of their slots: oldest text first.
    (Their requests start in that order; on a busy machine one can reach the provider a
    moment after the next.)"""
    with database.read_session() as session:
        rows = session.exec(
            select(Delivery, Line).join(Line, col(Line.id) == Delivery.line_id)
        ).all()
    claimed = [d for d, line in rows if line.number == number and d.claimed_at is not None]
    return [d.to_phone for d in sorted(claimed, key=lambda d: d.claimed_at)]  # type: ignore[arg-type, return-value]


def slot_gaps(database: Database, number: str) -> list[float]:
    """Seconds between the slots the line's sends were claimed for, in order."""
    with database.read_session() as session:
        slots = sorted(
            delivery.claimed_at
            for delivery, line in session.exec(
                select(Delivery, Line).join(Line, col(Line.id) == Delivery.line_id)
            ).all()
            if line.number == number and delivery.claimed_at is not None
        )
    return [(b - a).total_seconds() for a, b in pairwise(slots)]


# Each send starts a whole interval after the line's previous one (the slots above show it
# exactly); on the way to the provider, a busy machine can delay one send's request more
# than the next one's, so arrivals are held to a part of the interval.
ARRIVAL_JITTER = 0.5


def arrival_gaps(calls: list[CreateCall]) -> list[float]:
    """Seconds between the provider's receipt of each send and the next."""
    return [b.received - a.received for a, b in pairwise(calls)]


def most_at_once(calls: list[CreateCall]) -> int:
    """The most sends the provider was working on at the same time."""
    events = sorted([(c.received, 1) for c in calls] + [(c.answered, -1) for c in calls])
    busy = most = 0
    for _, change in events:
        busy += change
        most = max(most, busy)
    return most


def test_a_fast_line_sends_at_its_rate_with_sends_overlapping(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    number = queue_texts(database, rate=50, count=20)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 20)
    # One at a time, 20 sends of 50 ms would take a second; at 50/s a few are out at once.
    assert most_at_once(calls) >= 2
    assert claimed_in_order(database, number) == [f"+120255501{20 + n:02d}" for n in range(20)]
    # Never faster than the line's pace: each send had a slot of its own, 20 ms apart, and
    # they reached the provider over about as long.
    assert min(slot_gaps(database, number)) >= 0.02 - 1e-6
    assert calls[-1].received - calls[0].received >= 19 * 0.02 * ARRIVAL_JITTER


def test_a_line_never_sends_faster_than_its_pace(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    slow_twilio.send_delay = 0.15
    number = queue_texts(database, rate=10, count=10)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 10)
    assert min(slot_gaps(database, number)) >= 0.1 - 1e-6
    assert min(arrival_gaps(calls)) >= 0.1 * ARRIVAL_JITTER
    assert most_at_once(calls) >= 2  # each takes 150 ms, and the next is not held for it


def test_a_slow_line_keeps_its_interval(database: Database, slow_twilio: FakeTwilio) -> None:
    number = queue_texts(database, rate=1, count=3)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 3)
    assert min(slot_gaps(database, number)) >= 1 - 1e-6
    assert min(arrival_gaps(calls)) >= 1 * ARRIVAL_JITTER


def test_a_slow_line_does_not_hold_a_fast_one_back(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    # One text every 20 s: had the fast line to wait for the slow one's pace, its 20 texts
    # (0.4 s at 50/s) would not be out before the slow line's second, 20 s on.
    slow = queue_texts(database, rate=0.05, count=2, number="+12025550100")
    fast = queue_texts(database, rate=50, count=20, number="+12025550199")
    with dispatching(database, slow_twilio):
        sends_from(slow_twilio, slow, 1)
        sends_from(slow_twilio, fast, 20)
        slow_calls = [c for c in slow_twilio.create_calls if c.from_ == slow]
    assert len(slow_calls) == 1


def test_a_slow_send_does_not_hold_the_next_ones_back(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    number = queue_texts(database, rate=50, count=10)
    slow_twilio.delay_sends_to("+12025550120", 1.0)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 10)
    stuck = next(c for c in calls if c.to == "+12025550120")
    assert all(c.received < stuck.answered for c in calls)


def test_sends_at_once_are_bounded_by_the_pool(database: Database, slow_twilio: FakeTwilio) -> None:
    slow_twilio.send_delay = 0.2
    number = queue_texts(database, rate=100, count=8)
    with dispatching(database, slow_twilio, concurrency=2):
        calls = sends_from(slow_twilio, number, 8)
    assert most_at_once(calls) == 2


def test_close_waits_for_the_sends_in_hand(database: Database, slow_twilio: FakeTwilio) -> None:
    release = slow_twilio.hold_sends()
    queue_texts(database, rate=100, count=4)
    dispatcher = make_dispatcher(database, slow_twilio)
    try:
        dispatcher.step()  # claims the four (the next 40 ms hold five slots) and returns
        assert statuses(database) == [DeliveryStatus.SENDING] * 4
        threading.Timer(0.3, release.set).start()
        dispatcher.close()
        assert statuses(database) == [DeliveryStatus.QUEUED] * 4
    finally:
        release.set()


def statuses(database: Database) -> list[DeliveryStatus]:
    with database.read_session() as session:
        return [d.status for d in session.exec(select(Delivery).order_by(col(Delivery.id))).all()]


def test_an_empty_outbox_sleeps_until_woken(database: Database, slow_twilio: FakeTwilio) -> None:
    dispatcher = make_dispatcher(database, slow_twilio)
    try:
        assert dispatcher.step() is None
    finally:
        dispatcher.close()


JANE = "+12025550123"


@pytest.mark.parametrize("logged", [False, True], ids=["never-logged", "logged-late"])
def test_a_send_cut_by_a_timeout_reaches_the_phone_before_the_text_behind_it(
    database: Database, slow_twilio: FakeTwilio, logged: bool
) -> None:
    with database.session() as session:
        line = make_line(session, number="+12025550100", grants=("U0ALICE",))
        line.sends_per_second = 50
        jane = make_contact(session, phone=JANE)
        for body in ("Your table is ready", "It is by the window"):
            make_text(session, line=line, contact=jane, body=body)
        session.commit()
    # The first request hangs past the client's timeout; Twilio either never got it, or
    # logs it as taken a moment after the client gave up.
    slow_twilio.hang_next_send_to(JANE, 1.5, logged=logged)
    with dispatching(database, slow_twilio, timeout=0.5):

        def settled() -> list[Delivery]:
            with database.read_session() as session:
                rows = session.exec(select(Delivery).order_by(col(Delivery.id))).all()
            return list(rows) if all(d.provider_sid for d in rows) else []

        deliveries = wait_until(settled, timeout=20, what="both texts settled")
    sms = slow_twilio.sent_to(JANE)
    assert [m.body for m in sms] == ["Your table is ready", "It is by the window"]
    assert [d.provider_sid for d in deliveries] == [m.sid for m in sms]
