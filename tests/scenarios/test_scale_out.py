"""Several `textbot serve` processes on one PostgreSQL: every text leaves once, and no line
sends faster than its rate, whichever process sends it."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.db import create_db_engine
from models.conversations import open_or_reopen_conversation, send_text
from models.tables import Delivery
from models.types import utcnow
from tests.factories import make_contact, make_line
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio
from tests.processes import BotProcess
from tests.slack_driver import wait_until

LINES = 4
PER_LINE = 50
RATE = 10.0  # texts a second, per line


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_processes_send_each_text_once_within_each_lines_rate(
    tmp_path, database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    # Both processes are up before the texts are queued, so both find them (a process
    # takes seconds to start on a busy machine; at 10/s the texts take five).
    bots = [BotProcess(tmp_path, database_url, fake_slack, fake_twilio) for _ in range(2)]
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            for line_number in range(LINES):
                line = make_line(
                    session,
                    number=f"+120255501{line_number:02d}",
                    name=f"Line {line_number}",
                    channel_id=f"C0LINE{line_number}",
                    grants=("U0ALICE",),  # the texts' author
                )
                line.sends_per_second = RATE
                for n in range(PER_LINE):
                    contact = make_contact(session, phone=f"+120255501{50 + n:02d}", name=None)
                    conversation, _ = open_or_reopen_conversation(
                        session=session, line=line, contact=contact, user_id="U0ALICE"
                    )
                    send_text(
                        session=session,
                        conversation=conversation,
                        line=line,
                        recipients=[contact],
                        body=f"text {line_number}-{n}",
                        author_user_id="U0ALICE",
                    )
            # And one scheduled text, due while both processes run: it must fire once.
            send_text(
                session=session,
                conversation=conversation,
                line=line,
                recipients=[contact],
                body="scheduled",
                author_user_id="U0ALICE",
                scheduled_for=utcnow() + timedelta(seconds=3),
            )
        wait_until(
            lambda: len(fake_twilio.messages) >= LINES * PER_LINE + 1, timeout=60, what="all texts"
        )
        wait_until(lambda: _all_recorded(engine), timeout=30, what="every sid recorded")
        with Session(engine) as session:
            deliveries = list(session.exec(select(Delivery)).all())
    finally:
        for bot in bots:
            bot.stop()
        engine.dispose()

    # Both processes took part.
    assert all("accepted as" in bot.log.read_text() for bot in bots)
    bodies = [m.body for m in fake_twilio.messages]
    assert len(bodies) == LINES * PER_LINE + 1 == len(set(bodies))  # each exactly once
    # Pacing is enforced when a send is claimed (the slot is taken in the database), so it
    # is measured there; arrival at the provider adds network jitter on top.
    by_line: dict[int, list] = defaultdict(list)
    for delivery in deliveries:
        by_line[delivery.line_id].append(delivery.claimed_at)
    for line_id, times in by_line.items():
        times.sort()
        # In any one-second window, no more than the rate (plus one at the window's edge).
        for index, start in enumerate(times):
            window = [t for t in times[index:] if t < start + timedelta(seconds=1)]
            assert len(window) <= RATE + 1, (
                f"line {line_id} sent {len(window)} texts within a second"
            )
        assert (times[-1] - times[0]).total_seconds() >= (len(times) - 1) / RATE - 0.5


def _all_recorded(engine) -> bool:
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    return all(d.provider_sid for d in deliveries)
