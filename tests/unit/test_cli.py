"""The CLI, run as operators run it, on the test database."""

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from models.tables import Contact, Line, LineAccess
from tests.factories import make_contact

runner = CliRunner()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SLACK_TEAM_ID", "T0TEST")

    def run(*args: str):
        return runner.invoke(app, list(args))

    return run


def test_lines_add_grant_revoke_list(cli, session) -> None:
    result = cli("lines", "add", "(202) 555-0100", "--name", "Sales", "--channel", "C0SALES")
    assert result.exit_code == 0, result.output
    assert "Added line Sales (+1 202-555-0100) in C0SALES." in result.output
    assert cli("lines", "grant", "+12025550100", "U0ALICE", "S0TEAM").exit_code == 0
    again = cli("lines", "grant", "2025550100", "U0ALICE")
    assert "Already had it: U0ALICE." in again.output
    revoke = cli("lines", "revoke", "2025550100", "S0TEAM", "U0NOBODY")
    assert (
        "Revoked Sales from S0TEAM." in revoke.output
        and "Did not have it: U0NOBODY." in revoke.output
    )
    listing = cli("lines", "list")
    assert "+1 202-555-0100  Sales  team T0TEST  channel C0SALES  access: U0ALICE" in listing.output
    line = session.exec(select(Line)).one()
    assert line.number == "+12025550100" and line.team_id == "T0TEST"
    assert [a.principal for a in session.exec(select(LineAccess)).all()] == ["U0ALICE"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("lines", "add", "555-0100", "--name", "X", "--channel", "C1X"),
            "555-0100 is not a valid number: it needs an area code",
        ),
        (
            ("lines", "add", "2025550100", "--name", "X", "--channel", "general"),
            "'general' is not a Slack channel id",
        ),
        (("lines", "grant", "2025550199", "U0ALICE"), "there is no line 2025550199"),
    ],
)
def test_bad_line_commands_say_why(cli, args, message) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert message in result.output


def test_a_line_number_can_only_be_added_once(cli) -> None:
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    result = cli("lines", "add", "+1 202 555 0100", "--name", "Other", "--channel", "C0OTHER")
    assert result.exit_code == 1 and "+12025550100 is already the line 'Sales'" in result.output


def test_granting_something_that_is_not_a_principal_is_refused(cli, session) -> None:
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    result = cli("lines", "grant", "2025550100", "U0ALICE", "#general")
    assert result.exit_code == 1 and "'#general' is neither a Slack user id" in result.output
    assert session.exec(select(LineAccess)).all() == []  # all or nothing


def test_contacts_add_and_rename(cli, session) -> None:
    assert (
        "Added contact +1 202-555-0123: Jane Doe."
        in cli("contacts", "add", "2025550123", "--name", "Jane Doe").output
    )
    assert (
        "Updated contact +1 202-555-0123: Jane Roe."
        in cli("contacts", "add", "+12025550123", "--name", "Jane Roe").output
    )
    assert [(c.phone, c.name) for c in session.exec(select(Contact)).all()] == [
        ("+12025550123", "Jane Roe")
    ]
    bad = cli("contacts", "add", "12345")
    assert bad.exit_code == 1 and "is not a valid number" in bad.output


def test_contacts_import_reports_skipped_rows(cli, session, tmp_path) -> None:
    make_contact(session, phone="+12025550124", name=None)
    session.commit()
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "Phone,Name\n"
        "(202) 555-0123,Jane Doe\n"
        "555-0100,Nope\n"
        "+12025550124,John Smith\n"
        ",Empty\n"
        "2025550125,\n"
    )
    result = cli("contacts", "import", str(csv_file))
    assert result.exit_code == 0, result.output
    assert "contacts.csv: 5 rows: 2 added, 1 updated, 0 unchanged, 2 skipped." in result.output
    assert "line 3: 555-0100 is not a valid number: it needs an area code" in result.output
    assert "line 5: no number was given" in result.output
    contacts = {c.phone: c.name for c in session.exec(select(Contact)).all()}
    assert contacts == {
        "+12025550123": "Jane Doe",
        "+12025550124": "John Smith",
        "+12025550125": None,
    }


def test_contacts_import_keeps_nothing_hidden_in_names(cli, session, tmp_path) -> None:
    make_contact(session, phone="+12025550124", name="John Smith")
    session.commit()
    csv_file = tmp_path / "contacts.csv"
    csv_file.write_text(
        "phone,name\n2025550123,\u202eJane\x07 Doe\n2025550124,John\u2066 Smith\n",
        encoding="utf-8",
    )
    result = cli("contacts", "import", str(csv_file))
    assert "contacts.csv: 2 rows: 1 added, 0 updated, 1 unchanged, 0 skipped." in result.output
    contacts = {c.phone: c.name for c in session.exec(select(Contact)).all()}
    assert contacts == {"+12025550123": "Jane Doe", "+12025550124": "John Smith"}


def test_contacts_import_needs_a_phone_column(cli, tmp_path) -> None:
    csv_file = tmp_path / "bad.csv"
    csv_file.write_text("number,name\n2025550123,Jane\n")
    result = cli("contacts", "import", str(csv_file))
    assert result.exit_code == 1 and "has no 'phone' column" in result.output


def test_the_team_is_read_from_the_bot_token_when_not_given(
    cli, fake_slack, monkeypatch, session
) -> None:
    monkeypatch.delenv("SLACK_TEAM_ID")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    result = cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    assert result.exit_code == 0, result.output
    assert session.exec(select(Line)).one().team_id == "T0TEST"
    assert [c.method for c in fake_slack.calls] == ["auth.test"]


def test_without_any_way_to_know_the_team_the_cli_says_so(cli, monkeypatch) -> None:
    monkeypatch.delenv("SLACK_TEAM_ID")
    result = cli("contacts", "add", "2025550123")
    assert result.exit_code == 2 and "which Slack workspace?" in result.output


def test_lines_configure(cli, session) -> None:
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    result = cli(
        "lines",
        "configure",
        "2025550100",
        "--reply-delay",
        "10",
        "--rate",
        "2",
        "--footer",
        "Reply STOP to opt out",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Sales: reply delay 10s, send rate 2 texts/s, auto-close after 7 days, quiet hours "
        "21-8 (recipient's time), away message off, business hours 09:00-17:00, time zone "
        'America/New_York, footer "Reply STOP to opt out", reply-all groups relayed.'
    )
    never = cli("lines", "configure", "2025550100", "--auto-close-days", "0")
    assert "auto-close never," in never.output
    line = session.exec(select(Line)).one()
    assert (line.reply_delay_seconds, line.sends_per_second, line.opt_out_footer) == (
        10,
        2,
        "Reply STOP to opt out",
    )
    session.rollback()  # end the read: on SQLite it holds the write lock
    assert "footer none, " in cli("lines", "configure", "2025550100", "--no-footer").output
    bad = cli("lines", "configure", "2025550100", "--reply-delay", "-1")
    assert bad.exit_code == 1 and "between 0 and 300 seconds" in bad.output


def test_group_texts_are_a_line_setting_for_plus_one_long_codes_only(cli, session) -> None:
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    on = cli("lines", "configure", "2025550100", "--group-mms", "on")
    assert on.exit_code == 0 and on.output.strip().endswith("reply-all groups group texts.")
    assert "Sales  group texts" in cli("lines", "list").output
    off = cli("lines", "configure", "2025550100", "--group-mms", "off")
    assert off.output.strip().endswith("reply-all groups relayed.")
    assert [e.split("  ")[-1] for e in cli("audit").output.strip().splitlines()[-2:]] == [
        "set Sales: reply-all groups group texts",
        "set Sales: reply-all groups relayed",
    ]
    for number, name, channel, reason in (
        ("+18885550100", "Toll free", "C0FREE", "is a toll-free number"),
        ("+442071838750", "London", "C0UK", "is not a +1 (US or Canada) number"),
    ):
        cli("lines", "add", number, "--name", name, "--channel", channel)
        refused = cli("lines", "configure", number, "--group-mms", "on")
        assert refused.exit_code == 1 and reason in refused.output, refused.output
    assert cli("lines", "configure", "2025550100", "--group-mms", "yes").exit_code == 1
    session.rollback()
    assert [line.group_mms for line in session.exec(select(Line)).all()] == [False] * 3


def test_audit_prints_line_and_access_changes(cli) -> None:
    assert "No changes recorded yet." in cli("audit").output
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    cli("lines", "grant", "2025550100", "U0ALICE", "--manager")
    cli("lines", "revoke", "2025550100", "U0ALICE", "U0NOBODY")
    lines = cli("audit").output.strip().splitlines()
    assert [line.split("  ", 1)[1] for line in lines] == [
        "cli  line.add  added Sales (+12025550100) in C0SALES",
        "cli  access.grant  granted Sales to U0ALICE as a manager",
        "cli  access.revoke  revoked Sales from U0ALICE",
    ]
    group_manager = cli("lines", "grant", "2025550100", "S0TEAM", "--manager")
    assert group_manager.exit_code == 1 and "only users can manage a line" in group_manager.output


def test_lines_configure_away_message_and_quiet_hours(cli, session) -> None:
    cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    result = cli(
        "lines",
        "configure",
        "2025550100",
        "--away-message",
        "Closed now, back at 9",
        "--business-hours",
        "08:30-18:00",
        "--time-zone",
        "America/Chicago",
        "--quiet-hours",
        "20-9",
    )
    assert result.exit_code == 0, result.output
    line = session.exec(select(Line)).one()
    assert (line.away_message, line.business_hours, line.time_zone) == (
        "Closed now, back at 9",
        "08:30-18:00",
        "America/Chicago",
    )
    assert (line.quiet_start_hour, line.quiet_end_hour) == (20, 9)
    session.rollback()
    for option, value, error in (
        ("--business-hours", "9 to 5", "is not business hours like 09:00-17:00"),
        ("--time-zone", "Mars/Olympus", "is not a time zone"),
        ("--quiet-hours", "late", "is not two hours like 21-8"),
        ("--quiet-hours", "25-8", "Quiet hours are two hours of the day"),
    ):
        bad = cli("lines", "configure", "2025550100", option, value)
        assert bad.exit_code == 1 and error in bad.output, bad.output


@pytest.mark.parametrize("command", [("db", "upgrade"), ("serve", "--port", "0")])
def test_an_unreachable_database_is_named_without_its_password(
    monkeypatch: pytest.MonkeyPatch, tmp_path, command
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "test-secret")
    # Port 1 on loopback: nothing listens there.
    monkeypatch.setenv("DATABASE_URL", "postgresql://textbot:s3cret-pw@127.0.0.1:1/textbot")
    result = runner.invoke(app, list(command))
    assert result.exit_code != 0
    assert "cannot open the database postgresql+psycopg://textbot:***@127.0.0.1:1/textbot" in (
        result.output
    )
    assert "s3cret-pw" not in result.output


def test_a_line_name_too_long_for_slack_is_refused(cli, session) -> None:
    result = cli("lines", "add", "2025550100", "--name", "N" * 41, "--channel", "C0SALES")
    assert result.exit_code != 0
    assert "A line's name can be at most 40 characters (this one has 41)" in result.output
    assert session.exec(select(Line)).all() == []
