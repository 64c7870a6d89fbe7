"""What goes wrong before a command can do its work is said in one line, with the fix, and
a non-zero exit; never a traceback."""

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import bot.cli
from bot.cli import app, main
from bot.db import create_db_engine

runner = CliRunner()

COMMANDS_ON_THE_DATABASE = [
    ("lines", "list"),
    ("lines", "add", "2025550100", "--name", "Sales", "--channel", "C0SALES"),
    ("lines", "grant", "2025550100", "U0ALICE"),
    ("lines", "configure", "2025550100", "--rate", "2"),
    ("contacts", "add", "2025550123", "--name", "Jane"),
    ("audit",),
]


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SLACK_TEAM_ID", "T0TEST")

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def _one_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert "Traceback" not in output
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS_ON_THE_DATABASE)
def test_a_command_before_db_upgrade_asks_for_it_and_leaves_no_file_behind(
    run, monkeypatch, tmp_path, command
) -> None:
    database = tmp_path / "textbot.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    result = run(*command)
    assert result.exit_code == 1
    assert _one_line(result.output) == (
        f"textbot: sqlite:///{database}: the file {database} does not exist: run "
        "`textbot db upgrade` to create it (or correct DATABASE_URL)"
    )
    assert not database.exists()


@pytest.mark.parametrize("command", COMMANDS_ON_THE_DATABASE)
def test_a_command_on_an_empty_database_asks_for_db_upgrade(
    run, monkeypatch, tmp_path, command
) -> None:
    database = tmp_path / "empty.db"
    create_db_engine(f"sqlite:///{database}").connect().close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    result = run(*command)
    assert result.exit_code == 1
    assert _one_line(result.output).endswith("has no tables yet: run `textbot db upgrade`")


def test_a_command_on_a_database_behind_the_code_asks_for_db_upgrade(
    run, monkeypatch, tmp_path, database_url
) -> None:
    engine = create_db_engine(database_url)
    with engine.begin() as connection:
        latest = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", database_url)
    try:
        result = run("lines", "list")
    finally:
        engine = create_db_engine(database_url)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": latest})
        engine.dispose()
    assert result.exit_code == 1
    assert _one_line(result.output).endswith(
        f"is at migration 0003, and this textbot needs {latest}: run `textbot db upgrade`"
    )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("bogus", "it is not a database URL"),
        (
            "mysql://textbot:pw@db.example.com/textbot",
            "textbot works with SQLite or PostgreSQL, not mysql",
        ),
    ],
)
@pytest.mark.parametrize("command", [("db", "upgrade"), ("lines", "list"), ("doctor",)])
def test_a_malformed_database_url_is_named_as_the_setting_to_fix(
    run, monkeypatch, url, reason, command
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    result = run(*command)
    assert result.exit_code == 2
    line = _one_line(result.output)
    assert line.startswith(f"textbot: DATABASE_URL is malformed ({reason}")
    assert "sqlite:///textbot.db" in line
    assert "pw" not in line


def test_an_unreachable_database_is_one_line(run, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://textbot:pw@127.0.0.1:1/textbot")
    result = run("db", "upgrade")
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert line.startswith("textbot: cannot open the database postgresql+psycopg://textbot:***@")
    assert line.endswith(
        "check DATABASE_URL, and that the database server is running and reachable"
    )


def test_an_error_nobody_foresaw_is_one_line_unless_the_traceback_is_asked_for(
    monkeypatch, capsys, tmp_path
) -> None:
    monkeypatch.chdir(tmp_path)

    def broken(*_: object) -> None:
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(bot.cli, "upgrade_database", broken)
    monkeypatch.setattr("sys.argv", ["textbot", "db", "upgrade"])
    with pytest.raises(SystemExit) as exit_:
        main()
    assert exit_.value.code == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "textbot: unexpected error (RuntimeError: disk on fire second line); run the command "
        "again with --traceback to see where, and please report it"
    ]
    monkeypatch.setattr("sys.argv", ["textbot", "--traceback", "db", "upgrade"])
    with pytest.raises(RuntimeError, match="disk on fire"):
        main()
