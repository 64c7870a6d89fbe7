"""A quiet, useful console: one line per meaningful event, the rest at DEBUG."""

from __future__ import annotations

import logging
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.logs import configure_logging
from bot.runtime import Runtime
from bot.settings import Settings
from tests.conftest import Bot
from tests.factories import make_line
from tests.fakes.slack import BOT_TOKEN, FakeSlack
from tests.slack_driver import SIGNING_SECRET, wait_until


@pytest.fixture
def runtime(tmp_path: Path, sqlite_template: Path, fake_slack: FakeSlack, monkeypatch):
    # As an operator runs it: the token in the environment, where Bolt looks for it too.
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    database = tmp_path / "textbot.db"
    shutil.copy(sqlite_template, database)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        database_url=f"sqlite:///{database}",
    )
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging()
    runtime = Runtime(settings, port=3000)
    yield runtime
    runtime.database.dispose()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_bolt_starts_without_warning_that_the_token_is_unused(
    tmp_path, sqlite_template, fake_slack, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    database = tmp_path / "textbot.db"
    shutil.copy(sqlite_template, database)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SIGNING_SECRET,
        slack_api_url=fake_slack.api_url,
        database_url=f"sqlite:///{database}",
    )
    with caplog.at_level(logging.DEBUG):
        runtime = Runtime(settings, port=3000)
    runtime.database.dispose()
    assert "will be unused" not in caplog.text


def test_bolt_logs_only_warnings_like_the_other_sdks(runtime: Runtime) -> None:
    assert not runtime.bolt_app.logger.isEnabledFor(logging.INFO)
    assert runtime.bolt_app.logger.isEnabledFor(logging.WARNING)


def test_a_periodic_job_that_runs_late_still_runs_and_says_nothing(
    runtime: Runtime, caplog
) -> None:
    """A busy machine delays a run past APScheduler's default second of grace: the run is
    not skipped with a warning (every 30 s, for the reconcile job), it just runs."""
    runtime.scheduler.remove_all_jobs()
    ran = threading.Event()
    late = datetime.now(UTC) - timedelta(seconds=5)
    runtime.scheduler.add_job(ran.set, "date", run_date=late, id="late")
    with caplog.at_level(logging.INFO):
        runtime.scheduler.start()
        try:
            assert ran.wait(10)
            # Done with it: a date job leaves the scheduler once it has run.
            wait_until(lambda: runtime.scheduler.get_job("late") is None, what="the job done")
        finally:
            runtime.scheduler.shutdown()
    assert [r for r in caplog.records if r.name.startswith("apscheduler")] == []


def test_a_text_twilio_sends_twice_is_one_line_in_the_log(bot: Bot, caplog) -> None:
    with bot.session() as session, session.begin():
        make_line(session, number="+12025550100", channel_id="C0SALES")
    sid = "SM" + "d" * 32
    with caplog.at_level(logging.INFO):
        for _ in range(2):
            response = bot.twilio.text(from_="+12025550123", to="+12025550100", body="Hi", sid=sid)
            assert response.status_code == 200
            bot.wait_routed()
    about_it = [r for r in caplog.records if sid in r.getMessage() and r.levelno >= logging.INFO]
    assert [r.getMessage() for r in about_it] == [
        f"inbound text {sid} stored in conversation {about_it[0].getMessage().split()[-1]}"
    ]


def test_a_run_skipped_while_the_last_one_still_runs_says_nothing(runtime: Runtime, caplog) -> None:
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES

    runtime.scheduler.remove_all_jobs()
    release, skipped = threading.Event(), threading.Event()
    runtime.scheduler.add_listener(lambda _: skipped.set(), EVENT_JOB_MAX_INSTANCES)
    runtime.scheduler.add_job(release.wait, "interval", seconds=0.2, id="slow")
    with caplog.at_level(logging.INFO):
        runtime.scheduler.start()
        try:
            assert skipped.wait(10)
        finally:
            release.set()
            runtime.scheduler.shutdown()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
