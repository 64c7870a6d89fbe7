"""On PostgreSQL, `textbot serve` posts to Slack from a child process (bot/mirror_process.py):
the two live and die together, and on SQLite the mirror stays in the serving process."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from sqlmodel import Session, select

from bot.db import create_db_engine
from models.inbound import receive_text
from models.tables import Line, Message
from tests.factories import make_line
from tests.fakes.slack import FakeSlack
from tests.fakes.twilio import FakeTwilio, TwilioDriver
from tests.processes import (
    BotProcess,
    bot_environment,
    child_pids,
    process_alive,
    textbot_command,
)
from tests.slack_driver import wait_until

SALES = "+12025550100"
JANE = "+12025550123"
CHANNEL = "C0SALES"

postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def bot(tmp_path, database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio):
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL, grants=("U0ALICE",))
    engine.dispose()
    bot = BotProcess(tmp_path, database_url, fake_slack, fake_twilio)
    yield bot
    bot.stop()


def text_in(bot: BotProcess, body: str, sid: str) -> None:
    TwilioDriver(bot.url).text(from_=JANE, to=SALES, body=body, sid=sid)


def routed(database_url: str, body: str) -> bool:
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session:
            return session.exec(select(Message).where(Message.body == body)).first() is not None
    finally:
        engine.dispose()


@postgresql_only
def test_the_mirror_posts_from_a_process_of_its_own(
    bot: BotProcess, database_url: str, fake_slack: FakeSlack
) -> None:
    [mirror] = child_pids(bot.process.pid)
    os.kill(mirror, signal.SIGSTOP)
    try:
        text_in(bot, "Are you open today?", "SM" + "a" * 32)
        wait_until(lambda: routed(database_url, "Are you open today?"), what="the text routed")
        time.sleep(1)  # the serving process is free to post, and must not
        assert fake_slack.calls_to("chat.postMessage") == []
    finally:
        os.kill(mirror, signal.SIGCONT)
    wait_until(lambda: fake_slack.top_level(CHANNEL), what="the text in Slack")
    assert bot.process.poll() is None


@postgresql_only
def test_a_killed_mirror_takes_the_bot_down_with_it(bot: BotProcess) -> None:
    [mirror] = child_pids(bot.process.pid)
    os.kill(mirror, signal.SIGKILL)
    assert bot.wait_killed() == -signal.SIGKILL  # so that a supervisor restarts both
    assert "the Slack mirror's process was killed by signal 9" in bot.log.read_text()


@postgresql_only
def test_a_killed_bot_takes_its_mirror_with_it(bot: BotProcess) -> None:
    [mirror] = child_pids(bot.process.pid)
    os.kill(bot.process.pid, signal.SIGKILL)
    assert bot.wait_killed() == -signal.SIGKILL
    wait_until(lambda: not process_alive(mirror), timeout=5, what="the mirror's process gone")


@postgresql_only
def test_a_stopped_bot_stops_its_mirror_first(
    bot: BotProcess, database_url: str, fake_slack: FakeSlack
) -> None:
    [mirror] = child_pids(bot.process.pid)
    text_in(bot, "See you at noon", "SM" + "b" * 32)
    wait_until(lambda: fake_slack.top_level(CHANNEL), what="the text in Slack")
    bot.process.terminate()
    bot.process.wait(15)  # uvicorn stops gracefully, then ends by the signal it was sent
    assert not process_alive(mirror)
    log = bot.log.read_text()
    assert "Application shutdown complete" in log
    assert "ERROR" not in log and "Traceback" not in log, log


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_mirror_stays_in_the_serving_process(
    bot: BotProcess, fake_slack: FakeSlack
) -> None:
    """SQLite's writers take turns within one process; across two they would poll."""
    assert child_pids(bot.process.pid) == []
    text_in(bot, "Are you open today?", "SM" + "c" * 32)
    wait_until(lambda: fake_slack.top_level(CHANNEL), what="the text in Slack")


@postgresql_only
def test_a_start_that_fails_posts_nothing_from_the_mirrors_process(
    tmp_path, database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    """The child is forked before Slack has checked the token; it posts only once the
    serving process starts its workers."""
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        make_line(session, number=SALES, channel_id=CHANNEL)
        line = session.exec(select(Line)).one()
        receive_text(session=session, line=line, from_phone=JANE, body="Hi", provider_sid="SM1")
    engine.dispose()
    result = subprocess.run(
        textbot_command("serve", "--port", "0", "--host", "127.0.0.1"),
        cwd=tmp_path,
        env=bot_environment(
            database_url,
            fake_slack,
            fake_twilio,
            "http://127.0.0.1:9",
            SLACK_BOT_TOKEN="xoxb-revoked",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    assert "Slack refused SLACK_BOT_TOKEN" in result.stderr
    assert "the Slack mirror runs in process" in result.stderr  # it was forked
    assert {call.method for call in fake_slack.calls} == {"auth.test"}
