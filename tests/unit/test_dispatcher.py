"""The dispatcher against the fake Twilio taking its time to answer: each line sends at its
own rate, sends overlap, and nothing waits for a slow send but its own line's pace."""

from __future__ import annotations

import contextlib
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
            session, number=number, name=f"Line {number}", channel_id=f"C0{number[-4:]}"
        )
        line.sends_per_second = rate
        for n in range(count):
            contact = make_contact(session, phone=f"+120255501{20 + n:02d}")
            make_text(session, line=line, contact=contact, body=f"text {n} from {number}")
        session.commit()
    return number


def make_gateway(fake: FakeTwilio) -> TwilioGateway:
    return TwilioGateway(
        account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_url=fake.url, status_callback_url=None
    )


def make_dispatcher(database: Database, fake: FakeTwilio, **options: int) -> Dispatcher:
    return Dispatcher(database=database, gateway=make_gateway(fake), **options)  # type: ignore[arg-type]


@contextmanager
def dispatching(database: Database, fake: FakeTwilio, **options: int) -> Iterator[Dispatcher]:
    """The dispatcher running in its worker loop, as in `textbot serve`."""
    dispatcher = make_dispatcher(database, fake, **options)
    loop = WorkerLoop("dispatcher", dispatcher.step, poll_seconds=0.2)
    loop.start()
    try:
        yield dispatcher
    finally:
        loop.stop()
        dispatcher.close()


def sends_from(fake: FakeTwilio, number: str, count: int) -> list[CreateCall]:
    """Wait for `count` sends from `number` to be accepted; returns them in arrival order."""

    def accepted() -> list[CreateCall]:
        calls = [c for c in fake.create_calls if c.from_ == number and c.status_code == 201]
        return calls if len(calls) >= count else []

    calls = wait_until(accepted, timeout=60, what=f"{count} texts from {number}")
    return sorted(calls, key=lambda call: call.received)


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
    overlapping = sum(1 for a, b in pairwise(calls) if b.received < a.answered)
    assert overlapping >= 10 and most_at_once(calls) >= 2
    assert [c.to for c in calls] == [f"+120255501{20 + n:02d}" for n in range(20)]  # oldest first
    # Never faster than the line's pace: each send had a slot of its own, 20 ms apart, and
    # they reached the provider over as long (the odd arrival is a few ms off its slot:
    # the sending threads and this fake share one busy interpreter).
    assert min(slot_gaps(database, number)) >= 0.02 - 1e-6
    assert calls[-1].received - calls[0].received >= 19 * 0.02 - 0.05


def test_a_line_never_sends_faster_than_its_pace(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    slow_twilio.send_delay = 0.15
    number = queue_texts(database, rate=10, count=10)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 10)
    assert min(slot_gaps(database, number)) >= 0.1 - 1e-6
    assert min(b.received - a.received for a, b in pairwise(calls)) >= 0.1 - 0.03
    assert most_at_once(calls) >= 2  # each takes 150 ms, and the next is not held for it


def test_a_slow_line_keeps_its_interval(database: Database, slow_twilio: FakeTwilio) -> None:
    number = queue_texts(database, rate=1, count=3)
    with dispatching(database, slow_twilio):
        calls = sends_from(slow_twilio, number, 3)
    assert min(slot_gaps(database, number)) >= 1 - 1e-6
    assert min(b.received - a.received for a, b in pairwise(calls)) >= 0.95


def test_a_slow_line_does_not_hold_a_fast_one_back(
    database: Database, slow_twilio: FakeTwilio
) -> None:
    slow = queue_texts(database, rate=1, count=2, number="+12025550100")
    fast = queue_texts(database, rate=50, count=20, number="+12025550199")
    with dispatching(database, slow_twilio):
        slow_calls = sends_from(slow_twilio, slow, 2)
        fast_calls = sends_from(slow_twilio, fast, 20)
    # The fast line's 20 texts take 0.4 s at 50/s: all out before the slow line's second.
    assert fast_calls[-1].received < slow_calls[1].received


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
    slow_twilio.send_delay = 0.2
    queue_texts(database, rate=100, count=4)
    dispatcher = make_dispatcher(database, slow_twilio)
    dispatcher.step()  # claims the four (the next 40 ms hold five slots) and returns
    assert not slow_twilio.create_calls
    dispatcher.close()
    with database.read_session() as session:
        statuses = [d.status for d in session.exec(select(Delivery)).all()]
    assert statuses == [DeliveryStatus.QUEUED] * 4


def test_an_empty_outbox_sleeps_until_woken(database: Database, slow_twilio: FakeTwilio) -> None:
    dispatcher = make_dispatcher(database, slow_twilio)
    try:
        assert dispatcher.step() is None
    finally:
        dispatcher.close()
