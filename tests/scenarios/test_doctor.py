"""`textbot doctor` and `--configure-twilio`, run as operators run them, against the loopback
fakes of Slack and Twilio: one run where all is well, then one run per problem, each naming
the problem and its fix."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from bot.cli import app
from bot.db import create_db_engine
from models.tables import Line
from tests.factories import make_line
from tests.fakes.servers import bind_loopback
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeChannel, FakeSlack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, OwnedNumber
from tests.processes import clean_environment, textbot_command
from tests.slack_driver import SIGNING_SECRET

PUBLIC_URL = "https://textbot.example.com"
INBOUND_URL = PUBLIC_URL + "/twilio/messages"
SALES = "+12025550100"
SUPPORT = "+12025550101"
SETTINGS_PREFIXES = ("SLACK_", "TWILIO_", "PUBLIC_URL", "DATABASE_URL")

runner = CliRunner()


@dataclass
class Deployment:
    """A deployment as the doctor sees it: settings, a database with the line Sales in
    #sales, and Slack and Twilio (fakes) where all is well until a test breaks something."""

    env: dict[str, str]
    database_url: str
    slack: FakeSlack
    twilio: FakeTwilio
    channel: FakeChannel
    number: OwnedNumber

    def run(self, *args: str) -> Result:
        return runner.invoke(app, list(args), env=self.env)

    def doctor(self) -> Result:
        return self.run("doctor")

    def update_line(self, **values: object) -> None:
        engine = create_db_engine(self.database_url)
        with Session(engine) as session:
            line = session.exec(select(Line).where(Line.number == SALES)).one()
            for name, value in values.items():
                setattr(line, name, value)
            session.add(line)
            session.commit()
        engine.dispose()

    def line_numbers(self) -> list[str]:
        engine = create_db_engine(self.database_url)
        with Session(engine) as session:
            numbers = [line.number for line in session.exec(select(Line)).all()]
        engine.dispose()
        return sorted(numbers)


def deploy(database_url: str, slack: FakeSlack, twilio: FakeTwilio) -> Deployment:
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        make_line(session, number=SALES, name="Sales", channel_id="C0SALES")
        session.commit()
    engine.dispose()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_API_URL": twilio.url,
        "PUBLIC_URL": PUBLIC_URL,
        "DATABASE_URL": database_url,
    }
    return Deployment(
        env=env,
        database_url=database_url,
        slack=slack,
        twilio=twilio,
        channel=slack.add_channel("C0SALES", "sales"),
        number=twilio.own_number(SALES, sms_url=INBOUND_URL),
    )


@pytest.fixture(autouse=True)
def no_settings_from_outside(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no variables of the machine's, no .env file."""
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(SETTINGS_PREFIXES):
            monkeypatch.delenv(name)


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "textbot.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def deployment(sqlite_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio) -> Deployment:
    return deploy(sqlite_url, fake_slack, fake_twilio)


def _verdicts(output: str) -> list[str]:
    """The checks' lines, without the summary."""
    return [line for line in output.splitlines() if line[:5] in ("ok   ", "info ", "FIX  ")]


def _problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("FIX  ")]


# --- all well ---------------------------------------------------------------------------------


def test_all_is_well(deployment: Deployment, tmp_path: Path) -> None:
    result = subprocess.run(
        textbot_command("doctor"),
        cwd=tmp_path,
        env=clean_environment(**deployment.env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    checks = _verdicts(result.stdout)
    assert all(line.startswith("ok   ") for line in checks), result.stdout
    assert [line.split(":")[0] for line in checks] == [
        "ok   Database",
        "ok   Slack token",
        "ok   Slack scopes",
        "ok   Slack requests",
        "ok   Twilio",
        "ok   Twilio webhooks",
        "ok   Line +1 202-555-0100 (Sales)",
        "ok   Line +1 202-555-0100 (Sales)",
    ]
    assert "Slack token: workspace Test (T0TEST), bot @textbot" in result.stdout
    assert "channel #sales (C0SALES), and the bot is in it" in result.stdout
    assert f"Twilio number {deployment.number.sid}: incoming texts come to {INBOUND_URL}" in (
        result.stdout
    )
    assert f"asks Twilio for its status at {PUBLIC_URL}/twilio/status" in result.stdout
    assert result.stdout.rstrip().endswith("All well.")


def test_socket_mode_checks_the_app_token(deployment: Deployment) -> None:
    deployment.env["SLACK_APP_TOKEN"] = APP_TOKEN
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert "ok   Slack requests: Socket Mode: SLACK_APP_TOKEN opens a connection" in result.output
    assert deployment.slack.calls_to("apps.connections.open")


def test_without_twilio_credentials_the_simulator_is_no_problem(deployment: Deployment) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL", "PUBLIC_URL"):
        del deployment.env[name]
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert "info Twilio: no credentials, so texts go to the built-in SMS simulator" in result.output
    assert "Twilio number" not in result.output


@pytest.mark.parametrize("defers_to_number", [False, True], ids=["service webhook", "number's"])
def test_a_line_on_a_messaging_service(deployment: Deployment, defers_to_number: bool) -> None:
    service = deployment.twilio.add_messaging_service(
        inbound_request_url=None if defers_to_number else INBOUND_URL,
        use_inbound_webhook_on_number=defers_to_number,
    )
    deployment.update_line(messaging_service_sid=service.sid)
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    through = f" through Messaging Service {service.sid}" if not defers_to_number else ""
    assert f"incoming texts come to {INBOUND_URL}{through}\n" in result.output


# --- one problem at a time ------------------------------------------------------------------


def _set(name: str, value: str) -> Callable[[Deployment], None]:
    return lambda deployment: deployment.env.__setitem__(name, value)


def _unset(name: str) -> Callable[[Deployment], None]:
    return lambda deployment: deployment.env.__delitem__(name)


def _closed_port_url() -> str:
    sock = bind_loopback()
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there
    return f"http://127.0.0.1:{port}"


def _move_line_to_messaging_service(inbound_url: str | None) -> Callable[[Deployment], None]:
    def breakage(deployment: Deployment) -> None:
        service = deployment.twilio.add_messaging_service(inbound_request_url=inbound_url)
        deployment.update_line(messaging_service_sid=service.sid)

    return breakage


PROBLEMS = [
    pytest.param(
        _set("SLACK_BOT_TOKEN", "xoxb-revoked"),
        "FIX  Slack token: Slack refused SLACK_BOT_TOKEN (invalid_auth)",
        "copy the Bot User OAuth Token (xoxb-...) from the app's OAuth & Permissions page",
        id="bad slack token",
    ),
    pytest.param(
        _unset("SLACK_BOT_TOKEN"),
        "FIX  Slack token: SLACK_BOT_TOKEN is not set",
        "the Bot User OAuth Token (xoxb-...): create the Slack app from manifest.yml",
        id="no slack token",
    ),
    pytest.param(
        lambda d: d.slack.scopes.discard("groups:read"),
        "FIX  Slack scopes: the bot token lacks groups:read",
        "then reinstall the app to the workspace",
        id="missing scope",
    ),
    pytest.param(
        lambda d: d.env.__setitem__("SLACK_API_URL", _closed_port_url() + "/api/"),
        "FIX  Slack token: could not reach Slack at http://127.0.0.1:",
        "check the network, and SLACK_API_URL if it is set",
        id="slack unreachable",
    ),
    pytest.param(
        _unset("SLACK_SIGNING_SECRET"),
        "FIX  Slack requests: neither SLACK_APP_TOKEN (Socket Mode) nor SLACK_SIGNING_SECRET "
        "(HTTP mode) is set",
        "set SLACK_APP_TOKEN to an app-level token (xapp-...) with connections:write",
        id="no signing secret nor app token",
    ),
    pytest.param(
        _set("SLACK_APP_TOKEN", "xapp-revoked"),
        "FIX  Slack requests: Slack refused SLACK_APP_TOKEN (invalid_auth)",
        "set it to an app-level token (xapp-...) with connections:write",
        id="bad app token",
    ),
    pytest.param(
        lambda d: d.slack.channels.clear(),
        "FIX  Line +1 202-555-0100 (Sales): channel C0SALES was not found",
        "if it is a private channel, invite the bot to it (/invite @textbot",
        id="channel missing",
    ),
    pytest.param(
        lambda d: setattr(d.channel, "is_member", False),
        "FIX  Line +1 202-555-0100 (Sales): the bot is not in channel #sales (C0SALES)",
        "invite it: type /invite @textbot in #sales",
        id="bot not in channel",
    ),
    pytest.param(
        lambda d: setattr(d.channel, "is_archived", True),
        "FIX  Line +1 202-555-0100 (Sales): channel #sales (C0SALES) is archived",
        "unarchive it, or move the line to another channel (App Home > Manage lines)",
        id="channel archived",
    ),
    pytest.param(
        _set("TWILIO_AUTH_TOKEN", "not-the-auth-token"),
        f"FIX  Twilio: Twilio refused the credentials (TWILIO_ACCOUNT_SID {ACCOUNT_SID} with "
        "TWILIO_AUTH_TOKEN)",
        "copy the Account SID and Auth Token from the Twilio console (Account Info) into them",
        id="bad twilio credentials",
    ),
    pytest.param(
        lambda d: d.env.__setitem__("TWILIO_API_URL", _closed_port_url()),
        "FIX  Twilio: could not reach Twilio at http://127.0.0.1:",
        "check the network, and TWILIO_API_URL if it is set",
        id="twilio unreachable",
    ),
    pytest.param(
        _unset("TWILIO_AUTH_TOKEN"),
        "FIX  Twilio: TWILIO_AUTH_TOKEN is not set",
        "the Auth Token from the Twilio console",
        id="half the twilio credentials",
    ),
    pytest.param(
        lambda d: setattr(d.twilio, "account_status", "suspended"),
        f"FIX  Twilio: the Twilio account Test account ({ACCOUNT_SID}) is suspended",
        "reactivate it in the Twilio console",
        id="twilio account suspended",
    ),
    pytest.param(
        lambda d: d.twilio.numbers.clear(),
        "FIX  Line +1 202-555-0100 (Sales): +1 202-555-0100 does not belong to this Twilio "
        f"account ({ACCOUNT_SID})",
        "buy or port the number into this account",
        id="number not in account",
    ),
    pytest.param(
        lambda d: setattr(d.number, "sms_url", "https://old.example.com/sms"),
        "FIX  Line +1 202-555-0100 (Sales): the number's incoming texts go to "
        f"https://old.example.com/sms (POST), not {INBOUND_URL} (POST)",
        "run `textbot lines configure-twilio +12025550100`",
        id="sms_url elsewhere",
    ),
    pytest.param(
        lambda d: setattr(d.number, "sms_method", "GET"),
        f"the number's incoming texts go to {INBOUND_URL} (GET), not {INBOUND_URL} (POST)",
        "run `textbot lines configure-twilio +12025550100`",
        id="sms_method GET",
    ),
    pytest.param(
        lambda d: setattr(d.number, "sms_url", None),
        "the number's incoming texts go to nowhere (no webhook is set)",
        "run `textbot lines configure-twilio +12025550100`",
        id="no sms_url",
    ),
    pytest.param(
        lambda d: setattr(d.number, "sms_application_sid", "AP" + "0" * 32),
        f"the number's incoming texts go to the TwiML app AP{'0' * 32}, which overrides",
        "remove the app from +1 202-555-0100 in the Twilio console",
        id="twiml app",
    ),
    pytest.param(
        _move_line_to_messaging_service("https://old.example.com/sms"),
        f"'s incoming texts go to https://old.example.com/sms (POST), not {INBOUND_URL} (POST)",
        f'choose "Send a webhook" with {INBOUND_URL}, HTTP POST',
        id="messaging service webhook elsewhere",
    ),
    pytest.param(
        _move_line_to_messaging_service(None),
        "'s incoming texts are dropped (the service has no incoming-message webhook)",
        f'choose "Send a webhook" with {INBOUND_URL}, HTTP POST',
        id="messaging service without webhook",
    ),
    pytest.param(
        lambda d: d.update_line(messaging_service_sid="MG" + "0" * 32),
        f"FIX  Line +1 202-555-0100 (Sales): Messaging Service MG{'0' * 32} is not in this "
        "Twilio account",
        "check the SID in the Twilio console (Messaging > Services)",
        id="messaging service not in account",
    ),
    pytest.param(
        _unset("PUBLIC_URL"),
        "FIX  Twilio webhooks: PUBLIC_URL is not set, so Twilio has no address for incoming "
        "texts and their status",
        "set it to the external https URL Twilio reaches this server at",
        id="no public url",
    ),
    pytest.param(
        _set("PUBLIC_URL", "http://textbot.example.com"),
        "FIX  Twilio webhooks: PUBLIC_URL http://textbot.example.com is plain http",
        "serve textbot behind https",
        id="public url not https",
    ),
]


@pytest.mark.parametrize(("breakage", "problem", "fix"), PROBLEMS)
def test_each_problem_is_named_with_its_fix(
    deployment: Deployment, breakage: Callable[[Deployment], None], problem: str, fix: str
) -> None:
    breakage(deployment)
    result = deployment.doctor()
    assert result.exit_code == 1, result.output
    assert len(_problems(result.output)) == 1, result.output
    [line] = _problems(result.output)
    assert problem in line, result.output
    assert f" — {fix}" in line or fix in line.split(" — ", 1)[1], result.output
    assert result.output.rstrip().endswith("1 thing to fix.")


def test_a_broken_slack_token_leaves_the_channels_unchecked(deployment: Deployment) -> None:
    deployment.env["SLACK_BOT_TOKEN"] = "xoxb-revoked"
    result = deployment.doctor()
    assert "info Lines' channels: not checked until the Slack token works" in result.output
    assert not deployment.slack.calls_to("conversations.info")


def test_settings_that_cannot_be_read_stop_the_doctor(deployment: Deployment) -> None:
    deployment.env["SLACK_BOT_TOKEN"] = "not-a-slack-token"
    result = deployment.doctor()
    assert result.exit_code == 2
    assert "textbot: SLACK_BOT_TOKEN is malformed (must start with xoxb-)" in result.output


# --- the database -----------------------------------------------------------------------------


def test_a_database_behind_the_code_needs_an_upgrade(
    database_url: str, fake_slack: FakeSlack, fake_twilio: FakeTwilio
) -> None:
    deployment = deploy(database_url, fake_slack, fake_twilio)
    latest = _stamp(database_url, "0008")
    try:
        result = deployment.doctor()
    finally:
        _stamp(database_url, latest)
    assert result.exit_code == 1, result.output
    [problem] = _problems(result.output)
    assert problem.startswith("FIX  Database: ")
    assert f"is at migration 0008, and this textbot needs {latest} — run `textbot db upgrade`" in (
        problem
    )
    assert "info Lines: not checked until the database is fixed" in result.output


def _stamp(database_url: str, revision: str) -> str:
    """Record `revision` as the database's migration (the schema stays); returns the one
    recorded before."""
    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        before = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
    engine.dispose()
    return str(before)


def test_a_database_file_that_does_not_exist(deployment: Deployment, tmp_path: Path) -> None:
    deployment.env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'nowhere.db'}"
    result = deployment.doctor()
    assert result.exit_code == 1
    [problem] = _problems(result.output)
    assert "nowhere.db does not exist — run `textbot db upgrade` to create it" in problem
    assert not (tmp_path / "nowhere.db").exists()


def test_an_empty_database(deployment: Deployment, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    create_db_engine(f"sqlite:///{empty}").connect().close()
    deployment.env["DATABASE_URL"] = f"sqlite:///{empty}"
    [problem] = _problems(deployment.doctor().output)
    assert "has no tables yet — run `textbot db upgrade`" in problem


# --- pointing numbers at textbot ------------------------------------------------------------


@pytest.fixture
def support(deployment: Deployment) -> Iterator[OwnedNumber]:
    """A second number in the account, not yet a line, its texts going nowhere."""
    deployment.slack.add_channel("C0SUPPORT", "support")
    yield deployment.twilio.own_number(SUPPORT)


ADD_SUPPORT = ("lines", "add", SUPPORT, "--name", "Support", "--channel", "C0SUPPORT")


def test_lines_add_configure_twilio_points_the_number_here(
    deployment: Deployment, support: OwnedNumber
) -> None:
    result = deployment.run(*ADD_SUPPORT, "--configure-twilio")
    assert result.exit_code == 0, result.output
    assert (
        f"Incoming texts to +1 202-555-0101 now come to {INBOUND_URL} (POST); before, they went "
        "to nowhere (no webhook is set)." in result.output
    )
    assert "Added line Support (+1 202-555-0101) in C0SUPPORT." in result.output
    assert deployment.twilio.number_updates == [{"SmsUrl": INBOUND_URL, "SmsMethod": "POST"}]
    assert support.sms_url == INBOUND_URL
    doctor = deployment.doctor()
    assert doctor.exit_code == 0, doctor.output
    assert f"Twilio number {support.sid}: incoming texts come to {INBOUND_URL}" in doctor.output


@pytest.mark.parametrize(
    ("breakage", "exit_code", "message"),
    [
        pytest.param(
            lambda d: d.twilio.numbers.clear(),
            1,
            "+1 202-555-0101 does not belong to this Twilio account",
            id="number not in account",
        ),
        pytest.param(
            lambda d: [d.env.pop(n) for n in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")],
            2,
            "configuring a number needs Twilio: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN",
            id="no twilio credentials",
        ),
        pytest.param(_unset("PUBLIC_URL"), 2, "PUBLIC_URL is not set", id="no public url"),
        pytest.param(
            _set("TWILIO_AUTH_TOKEN", "not-the-auth-token"),
            1,
            "Twilio refused the credentials",
            id="bad twilio credentials",
        ),
        pytest.param(
            lambda d: [
                setattr(n, "sms_application_sid", "AP" + "1" * 32)
                for n in d.twilio.numbers.values()
            ],
            1,
            "the number's incoming texts go to the TwiML app",
            id="twiml app",
        ),
    ],
)
def test_lines_add_configure_twilio_adds_nothing_when_it_cannot_configure(
    deployment: Deployment,
    support: OwnedNumber,
    breakage: Callable[[Deployment], object],
    exit_code: int,
    message: str,
) -> None:
    breakage(deployment)
    result = deployment.run(*ADD_SUPPORT, "--configure-twilio")
    assert result.exit_code == exit_code, result.output
    assert message in result.output
    assert deployment.line_numbers() == [SALES]
    assert deployment.twilio.number_updates == []


def test_a_line_that_cannot_be_added_leaves_its_number_alone(
    deployment: Deployment, support: OwnedNumber
) -> None:
    result = deployment.run(
        "lines", "add", SUPPORT, "--name", "Support", "--channel", "support", "--configure-twilio"
    )
    assert result.exit_code == 1 and "'support' is not a Slack channel id" in result.output
    assert deployment.twilio.number_updates == [] and support.sms_url is None


def test_lines_configure_twilio_repairs_an_existing_line(deployment: Deployment) -> None:
    deployment.number.sms_url = "https://old.example.com/sms"
    assert deployment.doctor().exit_code == 1
    result = deployment.run("lines", "configure-twilio", "(202) 555-0100")
    assert result.exit_code == 0, result.output
    assert (
        f"now come to {INBOUND_URL} (POST); before, they went to https://old.example.com/sms "
        "(POST)." in result.output
    )
    assert deployment.doctor().exit_code == 0
    again = deployment.run("lines", "configure-twilio", SALES)
    assert f"Incoming texts to +1 202-555-0100 already come to {INBOUND_URL}." in again.output
    assert len(deployment.twilio.number_updates) == 1


def test_lines_configure_twilio_needs_a_line_on_a_number(deployment: Deployment) -> None:
    unknown = deployment.run("lines", "configure-twilio", SUPPORT)
    assert unknown.exit_code == 1 and f"there is no line {SUPPORT}" in unknown.output
    deployment.update_line(messaging_service_sid="MG" + "0" * 32)
    service_line = deployment.run("lines", "configure-twilio", SALES)
    assert service_line.exit_code == 1
    assert f"Sales texts through Messaging Service MG{'0' * 32}" in service_line.output
