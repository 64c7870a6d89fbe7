"""The CLI does what an operator expects: nothing changes that was not asked for, what is
asked for happens, and every change is in `textbot audit`."""

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from models.tables import AuditEntry, Contact, Line, LineAccess
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


@pytest.fixture
def sales(cli) -> None:
    result = cli("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES")
    assert result.exit_code == 0, result.output


def _audit(cli) -> list[str]:
    return [line.split("  ", 1)[1] for line in cli("audit").output.strip().splitlines()]


def test_contacts_add_without_a_name_keeps_the_contacts_name(cli, session) -> None:
    make_contact(session, phone="+12025550123", name="Jane Doe", team_id="T0TEST")
    session.commit()
    result = cli("contacts", "add", "2025550123")
    assert result.exit_code == 0, result.output
    assert "Contact +1 202-555-0123 is already there: Jane Doe (unchanged" in result.output
    assert session.exec(select(Contact.name)).one() == "Jane Doe"
    session.rollback()
    cleared = cli("contacts", "add", "2025550123", "--name", "")
    assert "Updated contact +1 202-555-0123: (no name)." in cleared.output
    assert session.exec(select(Contact.name)).one() is None


def test_granting_manager_to_someone_with_access_makes_them_a_manager(cli, sales, session) -> None:
    cli("lines", "grant", "2025550100", "U0ALICE", "S0TEAM")
    result = cli("lines", "grant", "2025550100", "U0ALICE", "U0BOB", "--manager")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Granted Sales to U0BOB as a manager.",
        "Now managing Sales: U0ALICE.",
    ]
    grants = {a.principal: a.manager for a in session.exec(select(LineAccess)).all()}
    assert grants == {"U0ALICE": True, "U0BOB": True, "S0TEAM": False}
    session.rollback()  # end the read: on SQLite it holds the write lock
    listing = cli("lines", "list").output
    assert "access: S0TEAM, U0ALICE (manager), U0BOB (manager)" in listing
    assert _audit(cli)[-2:] == [
        "cli  access.grant  granted Sales to U0BOB as a manager",
        "cli  access.manager  U0ALICE now manages Sales",
    ]
    again = cli("lines", "grant", "2025550100", "U0ALICE", "--manager")
    assert "Already had it: U0ALICE." in again.output
    revoked = cli("lines", "revoke", "2025550100", "U0ALICE")
    assert revoked.exit_code == 0 and "Revoked Sales from U0ALICE." in revoked.output
    assert "access: S0TEAM, U0BOB (manager)" in cli("lines", "list").output


def test_lines_configure_shows_every_setting_and_records_the_change(cli, sales) -> None:
    result = cli(
        "lines",
        "configure",
        "2025550100",
        "--auto-close-days",
        "0",
        "--quiet-hours",
        "off",
        "--away-message",
        "Back at 9",
        "--business-hours",
        "08:00-16:00",
        "--time-zone",
        "America/Chicago",
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (
        "Sales: reply delay 5s, send rate 1 texts/s, auto-close never, quiet hours off, "
        'away message "Back at 9", business hours 08:00-16:00, time zone America/Chicago, '
        "footer none, reply-all groups relayed."
    )
    assert _audit(cli)[-1] == (
        'cli  line.configure  set Sales: auto-close never; quiet hours off; away message "Back '
        'at 9"; business hours 08:00-16:00; time zone America/Chicago'
    )
    one_day = cli("lines", "configure", "2025550100", "--auto-close-days", "1", "--rate", "2")
    assert "auto-close after 1 day," in one_day.output
    assert (
        _audit(cli)[-1]
        == "cli  line.configure  set Sales: send rate 2 texts/s; auto-close after 1 day"
    )
    unchanged = cli("lines", "configure", "2025550100", "--rate", "2")
    assert unchanged.exit_code == 0 and _audit(cli)[-1].endswith("auto-close after 1 day")


def test_lines_configure_help_names_every_setting() -> None:
    help_text = " ".join(runner.invoke(app, ["lines", "configure", "--help"]).output.split())
    for words in (
        "reply delay",
        "send rate",
        "auto-close",
        "quiet hours",
        "away message",
        "business hours",
        "time zone",
        "opt-out footer",
        "(0: never)",
        "off: none",
    ):
        assert words in help_text, words


@pytest.mark.parametrize("team", ["foo", "t0test", "C0SALES", "T0 TEST"])
def test_a_team_that_is_not_a_slack_workspace_id_is_refused(cli, session, team) -> None:
    result = cli("contacts", "add", "2025550123", "--name", "Jane", "--team", team)
    assert result.exit_code == 2
    assert f"{team!r} is not a Slack workspace id (T..." in result.output
    added = cli("lines", "add", "2025550100", "--name", "S", "--channel", "C0S", "--team", team)
    assert added.exit_code == 2
    assert session.exec(select(Contact)).all() == [] and session.exec(select(Line)).all() == []
    session.rollback()


def test_a_slack_team_id_setting_that_is_no_workspace_id_is_a_settings_error(
    cli, monkeypatch
) -> None:
    monkeypatch.setenv("SLACK_TEAM_ID", "foo")
    result = cli("contacts", "add", "2025550123")
    assert result.exit_code == 2
    assert result.output.startswith("textbot: SLACK_TEAM_ID is malformed (not a Slack workspace")


def test_two_lines_of_a_workspace_cannot_share_a_name(cli, sales, session) -> None:
    result = cli("lines", "add", "2025550101", "--name", " sales ", "--channel", "C0OTHER")
    assert result.exit_code == 1
    assert (
        "There is already a line called 'Sales' (+12025550100) in this workspace: pick "
        "another name." in result.output
    )
    other_team = cli(
        "lines", "add", "2025550101", "--name", "Sales", "--channel", "C0OTHER", "--team", "T0OTHER"
    )
    assert other_team.exit_code == 0, other_team.output
    assert sorted((x.team_id, x.name) for x in session.exec(select(Line)).all()) == [
        ("T0OTHER", "Sales"),
        ("T0TEST", "Sales"),
    ]
    assert [e.action for e in session.exec(select(AuditEntry)).all()] == ["line.add", "line.add"]
