"""`textbot doctor` and `--configure-twilio`, run as operators run them, against the loopback
fakes of Slack and Twilio: one run where all is well, then one run per problem, each naming
the problem and its fix."""

from __future__ import annotations

import os
import shutil
import socket
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
from models.conversations import send_text
from models.deliveries import Failed, Taken, find_deliveries_of
from models.error_codes import GROUP_NOT_ENABLED, describe_error
from models.groups import create_group_conversation
from models.tables import Line
from tests.factories import make_contact, make_line, make_text, settle_delivery
from tests.fakes.servers import refusing_port
from tests.fakes.slack import APP_TOKEN, BOT_TOKEN, FakeChannel, FakeSlack
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, OwnedNumber
from tests.processes import clean_environment, textbot_command
from tests.slack_driver import SIGNING_SECRET

PUBLIC_URL = "https://textbot.example.com"
GROUP_TEXTS_URL = f"{PUBLIC_URL}/twilio/conversations"
INBOUND_URL = PUBLIC_URL + "/twilio/messages"
SALES = "+12025550100"
SUPPORT = "+12025550101"
SETTINGS_PREFIXES = ("SLACK_", "TWILIO_", "PUBLIC_URL", "DATABASE_URL", "METRICS_", "DEV_PHONE_")

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
        make_line(session, number=SALES, name="Sales", channel_id="C0SALES", grants=("U0ALICE",))
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
        "METRICS_TOKEN": "test-metrics-token",
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
        "ok   Open routes",
        "ok   Twilio",
        "ok   Twilio webhooks",
        "ok   Line +1 202-555-0100 (Sales)",
        "ok   Line +1 202-555-0100 (Sales)",
        "ok   Slack posts",
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
    assert (
        "ok   Slack requests: Socket Mode: SLACK_APP_TOKEN opens a connection; /slack/events is "
        "served over HTTP as well, and only requests signed with SLACK_SIGNING_SECRET are taken"
    ) in result.output
    assert deployment.slack.calls_to("apps.connections.open")


def test_socket_mode_alone_says_slack_is_not_served_over_http(deployment: Deployment) -> None:
    deployment.env["SLACK_APP_TOKEN"] = APP_TOKEN
    del deployment.env["SLACK_SIGNING_SECRET"]
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert (
        "ok   Slack requests: Socket Mode: SLACK_APP_TOKEN opens a connection; /slack/events is "
        "not served over HTTP\n"
    ) in result.output


def test_an_open_metrics_route_is_pointed_out(deployment: Deployment) -> None:
    del deployment.env["METRICS_TOKEN"]
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert "info Open routes: GET /metrics (counts, no customer data) answers anyone" in (
        result.output
    )


def test_a_dev_phone_open_to_other_machines_needs_fixing(deployment: Deployment) -> None:
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_URL", "PUBLIC_URL"):
        del deployment.env[name]
    deployment.env["DEV_PHONE_ALLOW_REMOTE"] = "true"
    result = deployment.doctor()
    assert result.exit_code == 1, result.output
    assert "FIX  Open routes: the dev phone at /phone answers any machine" in result.output


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


# Held while the tests run: a port bound and closed again was once taken by another
# worker's fake Slack, which the doctor then reached.
_REFUSING: list[socket.socket] = []


def _closed_port_url() -> str:
    sock = refusing_port()
    _REFUSING.append(sock)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


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


def test_posts_slack_refused_for_good_are_shown_with_their_fix(deployment: Deployment) -> None:
    engine = create_db_engine(deployment.database_url)
    with Session(engine) as session:
        line = session.exec(select(Line).where(Line.number == SALES)).one()
        for phone in ("+12025550123", "+12025550124"):
            conversation, message = make_text(
                session, line=line, contact=make_contact(session, phone=phone)
            )
            conversation.slack_error = "is_archived"
            session.add(conversation)
        message.slack_error = "invalid_blocks"
        session.add(message)
        session.commit()
    engine.dispose()
    result = deployment.doctor()
    assert result.exit_code == 1, result.output
    [line] = _problems(result.output)
    assert line.startswith("FIX  Slack posts: "), result.output
    assert "2 conversation(s) in channel C0SALES wait for Slack (is_archived)" in line
    assert "1 message(s) refused (invalid_blocks)" in line
    assert "unarchive the channel, or move the line" in line


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


def _group_texts_come_here(deployment: Deployment) -> None:
    deployment.twilio.group_texts.webhook = GROUP_TEXTS_URL
    deployment.twilio.group_texts.webhook_filters = ["onMessageAdded"]


def test_a_group_text_line_whose_number_cannot_send_mms_is_to_fix(
    deployment: Deployment,
) -> None:
    deployment.update_line(group_mms=True)
    _group_texts_come_here(deployment)
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert "reply-all groups are group texts (group MMS)" in result.output
    deployment.number.mms = False
    result = deployment.doctor()
    assert result.exit_code == 1
    assert f"Twilio number {deployment.number.sid} cannot send MMS" in result.output
    assert "--group-mms off" in result.output


def _group_text_answered(deployment: Deployment, *, error_code: int | None) -> None:
    """A group text on the Sales line that Twilio refused (`error_code`) or accepted."""
    engine = create_db_engine(deployment.database_url)
    with Session(engine) as session:
        line = session.exec(select(Line).where(Line.number == SALES)).one()
        members = [make_contact(session, phone=p) for p in ("+12025550131", "+12025550132")]
        group = create_group_conversation(
            session=session, line=line, contacts=members, user_id="U0ALICE", group_mms=True
        )
        message, _ = send_text(
            session=session,
            conversation=group,
            line=line,
            recipients=members,
            body="Hi all",
            author_user_id="U0ALICE",
        )
        (delivery,) = find_deliveries_of(session=session, message_ids=[message.id or 0])
        outcome = (
            Taken("IM" + "1" * 32, "sent")
            if error_code is None
            else Failed(describe_error(error_code), error_code)
        )
        settle_delivery(session=session, delivery=delivery, outcome=outcome)
        session.commit()
    engine.dispose()


def test_a_group_text_line_on_an_account_without_group_texting_is_to_fix(
    deployment: Deployment,
) -> None:
    deployment.update_line(group_mms=True)
    _group_texts_come_here(deployment)
    _group_text_answered(deployment, error_code=GROUP_NOT_ENABLED)
    result = deployment.doctor()
    assert result.exit_code == 1
    (problem,) = _problems(result.output)
    assert "group texting (group MMS) is not enabled on the account (error 50452" in problem
    assert "ask Twilio support to enable group MMS" in problem and "--group-mms off" in problem

    _group_text_answered(deployment, error_code=None)  # enabled since: the next one went
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert "reply-all groups are group texts (group MMS)" in result.output


def test_configure_twilio_points_the_accounts_group_texts_here(deployment: Deployment) -> None:
    """A group-text line needs the account's Conversations webhook: the doctor says so, and
    `lines configure-twilio` sets it, keeping the events it posted already."""
    turned_on = deployment.run("lines", "configure", SALES, "--group-mms", "on")
    assert f"`textbot lines configure-twilio {SALES}` points it here" in turned_on.output
    groups = deployment.twilio.group_texts
    groups.webhook, groups.webhook_filters = "https://old.example.com/hook", ["onMessageUpdated"]
    result = deployment.doctor()
    assert result.exit_code == 1
    (problem,) = _problems(result.output)
    assert "members' texts to group texts go to https://old.example.com/hook" in problem
    assert "textbot lines configure-twilio NUMBER" in problem

    configured = deployment.run("lines", "configure-twilio", SALES)
    assert configured.exit_code == 0, configured.output
    assert f"now come to {GROUP_TEXTS_URL}; before, they went to https://old" in configured.output
    assert groups.webhook == GROUP_TEXTS_URL
    assert groups.webhook_filters == ["onMessageAdded", "onMessageUpdated"]
    result = deployment.doctor()
    assert result.exit_code == 0, result.output
    assert f"their texts come to {GROUP_TEXTS_URL}" in result.output
    again = deployment.run("lines", "configure-twilio", SALES)
    assert "already come to" in again.output
