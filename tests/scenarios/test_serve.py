"""`textbot serve` as a separate process, as an operator starts it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from bot.db import create_db_engine, upgrade_database
from models.tables import Delivery, DeliveryStatus
from tests.factories import make_line
from tests.fakes.servers import bind_loopback
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, TEAM_ID, FakeSlack
from tests.slack_driver import SIGNING_SECRET, SlackDriver, wait_until

ALICE = "U0ALICE"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def _environment(tmp_path, **values: str) -> dict[str, str]:
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "TWILIO_", "PUBLIC_URL", "DATABASE_URL"))
    }
    return {**keep, "PYTHONUNBUFFERED": "1", **values}


@pytest.mark.parametrize(
    "slack_settings",
    [
        {"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "", "SLACK_SIGNING_SECRET": ""},
        # .env.example copied as it is
        {"SLACK_BOT_TOKEN": "xoxb-...", "SLACK_APP_TOKEN": "xapp-...", "SLACK_SIGNING_SECRET": ""},
    ],
    ids=["unset", "placeholders"],
)
def test_the_bot_command_before_any_token_prints_the_set_up_steps(
    tmp_path, slack_settings: dict[str, str]
) -> None:
    """A newcomer runs the README's bot command first: a few lines of guidance, no traceback,
    and no line from make calling it a failed build."""
    port = bind_loopback().getsockname()[1]
    # Empty values override any .env a developer keeps in the checkout.
    env = _environment(
        tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'first.db'}", **slack_settings
    )
    result = subprocess.run(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0
    assert "Traceback" not in result.stderr + result.stdout
    guide = result.stderr[result.stderr.index("textbot: Slack is not set up yet") :]
    assert len(guide.strip().splitlines()) <= 10
    assert "make" not in guide.strip().splitlines()[-1]
    for step in (
        "Create the Slack app from manifest.yml",
        "SLACK_BOT_TOKEN=xoxb-",
        "SLACK_APP_TOKEN=xapp-",
        "Run `make run` again",
        f"http://127.0.0.1:{port}/phone",
    ):
        assert step in guide
    served = subprocess.run(
        _command("serve", "--port", str(port)),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode == 3, "serve itself says it did not serve"


def test_serve_with_half_the_slack_settings_names_the_missing_one(tmp_path) -> None:
    result = subprocess.run(
        _command("serve"),
        cwd=tmp_path,
        env=_environment(tmp_path, SLACK_APP_TOKEN=APP_TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        "textbot: SLACK_BOT_TOKEN is not set: the Bot User OAuth Token (xoxb-...)"
    )
    assert "manifest.yml" in lines[0]


def test_serve_on_an_empty_database_asks_for_the_upgrade(tmp_path, fake_slack: FakeSlack) -> None:
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        DATABASE_URL=f"sqlite:///{tmp_path / 'empty.db'}",
    )
    result = subprocess.run(
        _command("serve"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "does not exist: run `textbot db upgrade` to create it" in result.stderr
    assert not (tmp_path / "empty.db").exists()


def _upgraded_database(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'textbot.db'}"
    upgrade_database(url)
    return url


def _own_lines(stderr: str) -> list[str]:
    """What textbot printed: make adds its own line about a failed recipe ("make[1]: ***"
    when the tests themselves run under make, as `make test` does)."""
    assert "Traceback" not in stderr
    return [
        line
        for line in stderr.strip().splitlines()
        if not re.match(r"make(\[\d+\])?: \*\*\*", line)
    ]


@pytest.mark.parametrize("socket_mode", [False, True], ids=["http", "socket-mode"])
def test_serve_when_slack_cannot_be_reached_says_so_in_one_line(tmp_path, socket_mode) -> None:
    closed_port = bind_loopback()  # bound, never listening: connections are refused
    modes = {"SLACK_APP_TOKEN": APP_TOKEN} if socket_mode else {"SLACK_SIGNING_SECRET": "s"}
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_API_URL=f"http://127.0.0.1:{closed_port.getsockname()[1]}/api/",
        DATABASE_URL=_upgraded_database(tmp_path),
        **modes,
    )
    result = subprocess.run(
        _command("serve", "--port", "0"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    closed_port.close()
    assert result.returncode == 1
    assert _own_lines(result.stderr) == [
        f"textbot: cannot reach Slack at {env['SLACK_API_URL']} ([Errno 111] Connection "
        "refused): check this machine's network connection (and SLACK_API_URL, if set), "
        "then start again"
    ]


def test_make_run_when_slack_cannot_be_reached_says_so_in_one_line(tmp_path) -> None:
    closed_port = bind_loopback()
    port = bind_loopback().getsockname()[1]
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=f"http://127.0.0.1:{closed_port.getsockname()[1]}/api/",
        DATABASE_URL=f"sqlite:///{tmp_path / 'textbot.db'}",
    )
    result = subprocess.run(
        ["make", "--no-print-directory", "run", f"PORT={port}"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    closed_port.close()
    assert result.returncode != 0
    [line] = _own_lines(result.stderr)
    assert line.startswith("textbot: cannot reach Slack at ")


def test_serve_on_a_port_already_in_use_says_so_before_starting_anything(
    tmp_path, fake_slack: FakeSlack
) -> None:
    taken = bind_loopback()
    taken.listen()
    port = taken.getsockname()[1]
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        DATABASE_URL=_upgraded_database(tmp_path),
    )
    result = subprocess.run(
        _command("serve", "--port", str(port), "--host", "127.0.0.1"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    taken.close()
    assert result.returncode == 1
    assert _own_lines(result.stderr) == [
        f"textbot: port {port} is already in use (is textbot already running?): stop what "
        "holds it, or pick another port: `textbot serve --port N` (`make run PORT=N`)"
    ]
    # Nothing started: the bot never asked Slack anything.
    assert fake_slack.calls == []


def _serve(tmp_path, fake_slack: FakeSlack, **settings: str) -> Iterator[tuple[str, str]]:
    """db upgrade, then serve with no Twilio credentials (the built-in simulator)."""
    database_url = f"sqlite:///{tmp_path / 'textbot.db'}"
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake_slack.api_url,
        DATABASE_URL=database_url,
        **settings,
    )
    upgrade = subprocess.run(
        _command("db", "upgrade"), cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert upgrade.returncode == 0, upgrade.stderr
    process = subprocess.Popen(
        _command("serve", "--port", str(port), "--host", "127.0.0.1"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"serve exited: {process.stdout.read() if process.stdout else ''}")
        try:
            health = httpx.get(f"{url}/healthz", timeout=1).json()
            return health["ok"] is True and health["database"] is True
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout=30, what="/healthz")
    yield url, database_url
    process.terminate()
    process.wait(10)


@pytest.fixture
def served(tmp_path, fake_slack: FakeSlack) -> Iterator[tuple[str, str]]:
    yield from _serve(tmp_path, fake_slack)


@pytest.fixture
def served_in_socket_mode(tmp_path, fake_slack: FakeSlack) -> Iterator[tuple[str, str]]:
    yield from _serve(tmp_path, fake_slack, SLACK_APP_TOKEN=APP_TOKEN)


def test_served_bot_texts_through_the_simulator_end_to_end(served, fake_slack: FakeSlack) -> None:
    url, database_url = served
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        line = make_line(session, grants=(ALICE,))
        line_id = line.id
    slack = SlackDriver(url, fake_slack)
    view = slack.open_modal(user=ALICE)
    response = slack.submit(
        view, user=ALICE, line_id=str(line_id), recipient="new:+12025550150", message="Hi"
    )
    assert response.json()["response_action"] == "update"

    def delivered() -> bool:
        with Session(engine) as session:
            delivery = session.exec(select(Delivery)).first()
            return delivery is not None and delivery.status == DeliveryStatus.DELIVERED

    # The simulator accepts the text and reports sent, then delivered, to /twilio/status.
    wait_until(delivered, timeout=15, what="the simulator to report delivery")
    assert wait_until(
        lambda: [m for m in fake_slack.top_level("C0SALES")], what="the parent message"
    )
    engine.dispose()


def test_socket_mode_receives_slack_requests_and_still_serves_twilio(
    served_in_socket_mode, fake_slack
) -> None:
    url, database_url = served_in_socket_mode
    engine = create_db_engine(database_url)
    with Session(engine) as session, session.begin():
        make_line(session, grants=(ALICE,))
    engine.dispose()
    command = {
        "team_id": TEAM_ID,
        "channel_id": "C0GENERAL",
        "user_id": ALICE,
        "command": "/text",
        "text": "",
        "api_app_id": "A0TEXTBOT",
        "response_url": fake_slack.response_url(),
        "trigger_id": "1.2.socket",
    }
    fake_slack.push_socket_envelope("slash_commands", command, envelope_id="E1")
    ack = wait_until(lambda: fake_slack.socket_acks, what="the Socket Mode acknowledgement")[0]
    assert ack["envelope_id"] == "E1"
    opened = wait_until(lambda: fake_slack.calls_to("views.open"), what="views.open")
    assert opened[0].params["trigger_id"] == "1.2.socket"
    # Slack's route over HTTP takes only what is signed with the signing secret set here.
    unsigned = httpx.post(f"{url}/slack/events", data={**command, "text": "+12025550100 x hi"})
    assert unsigned.status_code == 401
    # The Twilio webhooks are served over HTTP all the same (and check signatures).
    assert httpx.post(f"{url}/twilio/status", data={"MessageSid": "SM1"}).status_code == 403


def test_a_started_bot_says_what_matters_once_and_then_is_quiet(
    tmp_path, fake_slack: FakeSlack
) -> None:
    """Started in Socket Mode with the scheduler's shortest period: the console says where
    the dev phone is and that Slack is connected, then nothing while nothing happens."""
    port = bind_loopback().getsockname()[1]
    env = _environment(
        tmp_path,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_APP_TOKEN=APP_TOKEN,
        SLACK_API_URL=fake_slack.api_url,
        DATABASE_URL=_upgraded_database(tmp_path),
        RECONCILE_AFTER_SECONDS="1",  # the reconcile job every half second
    )
    process = subprocess.Popen(
        _command("serve", "--port", str(port), "--host", "127.0.0.1"),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: _answers(port), timeout=30, what="/healthz")
        time.sleep(3)
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0]
    ours = [line for line in output.splitlines() if not line.startswith("INFO:")]
    assert [line.split(" ", 3)[-1] for line in ours] == [
        "textbot: connected to Slack in Socket Mode",
        "bot.runtime: no Twilio credentials: texts go to the built-in SMS simulator; dev "
        f"phone: http://127.0.0.1:{port}/phone",
    ], output


def _answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False
