"""`textbot contacts import` on the files people have: what spreadsheets export, with
every row accounted for."""

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot.cli import app
from bot.db import create_db_engine
from models.contacts import search_contacts
from models.directory import SHARED, Viewer
from models.tables import Contact, Line
from tests.factories import make_contact, make_line

runner = CliRunner()


@pytest.fixture
def import_file(database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("SLACK_TEAM_ID", "T0TEST")

    def run(content: bytes, *options: str, name: str = "contacts.csv"):
        path = tmp_path / name
        path.write_bytes(content)
        return runner.invoke(app, ["contacts", "import", str(path), *options])

    return run


def _search(session, query: str) -> list[str]:
    """Numbers found by someone with a line in the team, as the directory requires."""
    if not session.exec(select(Line).where(Line.team_id == "T0TEST")).first():
        make_line(session, number="+12025550199", team_id="T0TEST", grants=("U0READER",))
        session.commit()
    viewer = Viewer("T0TEST", "U0READER", SHARED)
    return [s.contact.phone for s in search_contacts(session=session, viewer=viewer, query=query)]


def _contacts(session) -> dict[str, str | None]:
    session.rollback()  # a fresh read; on SQLite an open read holds the write lock
    return {c.phone: c.name for c in session.exec(select(Contact)).all()}


def test_a_name_with_an_unquoted_comma_is_kept_whole(import_file, session) -> None:
    result = import_file(b"phone,name\n+12025550123,Smith, John\n2025550124,Doe,  Jane \n")
    assert result.exit_code == 0, result.output
    assert "contacts.csv: 2 rows: 2 added, 0 updated, 0 unchanged, 0 skipped." in result.output
    assert _contacts(session) == {"+12025550123": "Smith, John", "+12025550124": "Doe, Jane"}
    assert _search(session, "john smith") == ["+12025550123"]


def test_extra_fields_that_cannot_be_a_name_skip_the_row_and_keep_the_rest(
    import_file, session
) -> None:
    result = import_file(b"name,phone\nSmith, John,+12025550123\nJane Doe,2025550124\n")
    assert result.exit_code == 0, result.output
    assert (
        "  line 2: has 3 fields where the header has 2 (quote a name that holds a comma, "
        'e.g. "Smith, John")' in result.output
    )
    assert "contacts.csv: 2 rows: 1 added, 0 updated, 0 unchanged, 1 skipped." in result.output
    assert _contacts(session) == {"+12025550124": "Jane Doe"}


@pytest.mark.parametrize(
    ("content", "encoding_said"),
    [
        # Excel "CSV" on Windows: Windows-1252, curly apostrophe included.
        (
            "phone,name\n2025550123,Zoë Müller\n2025550124,Renée O\u2019Brien\n".encode("cp1252"),
            "cp1252",
        ),
        # An older export in Latin-1.
        (
            "phone,name\r\n2025550123,Zoë Müller\r\n2025550124,José Núñez\r\n".encode("latin-1"),
            "cp1252",
        ),
        # Excel "CSV UTF-8": a byte order mark.
        ("phone,name\r\n2025550123,Zoë Müller\r\n".encode("utf-8-sig"), None),
        # Excel "Unicode Text": UTF-16 with a BOM, separated by tabs.
        ("phone\tname\r\n2025550123\tZoë Müller\r\n".encode("utf-16"), "utf-16"),
        # A European Excel: semicolons, quoted fields, doubled quotes.
        ('phone;name\n2025550123;"Zoë ""Zo"" Müller"\n'.encode(), None),
    ],
    ids=["cp1252", "latin-1", "utf-8-bom", "utf-16-tabs", "semicolons"],
)
def test_what_spreadsheets_export_is_read(import_file, session, content, encoding_said) -> None:
    result = import_file(content)
    assert result.exit_code == 0, result.output
    assert "0 skipped." in result.output
    names = _contacts(session)
    assert names["+12025550123"] in ("Zoë Müller", 'Zoë "Zo" Müller')
    assert names.get("+12025550124") in (None, "Renée O\u2019Brien", "José Núñez")
    if encoding_said:
        assert f"Reading contacts.csv as {encoding_said}" in result.output
    else:
        assert "Reading contacts.csv as" not in result.output


def test_the_encoding_can_be_given(import_file, session) -> None:
    polish = "phone,name\n2025550123,Łukasz Żółć\n".encode("cp1250")
    result = import_file(polish, "--encoding", "cp1250")
    assert result.exit_code == 0, result.output
    assert _contacts(session) == {"+12025550123": "Łukasz Żółć"}


def test_a_file_not_in_the_given_encoding_is_refused_whole(import_file, session) -> None:
    result = import_file(
        "phone,name\n2025550123,Jane\n2025550124,Zoë\n".encode("latin-1"), "--encoding", "utf-8"
    )
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        "contacts.csv is not utf-8 (line 3 has bytes it cannot have): pass the file's "
        "encoding with --encoding, e.g. --encoding cp1252"
    )
    assert _contacts(session) == {}
    unknown = import_file(b"phone,name\n2025550123,Jane\n", "--encoding", "klingon")
    assert unknown.exit_code == 1 and "'klingon' is not an encoding Python knows" in unknown.output


def test_every_row_is_accounted_for_with_its_line(import_file, session) -> None:
    make_contact(session, phone="+12025550125", name="Known Name", team_id="T0TEST")
    make_contact(session, phone="+12025550126", name="Old Name", team_id="T0TEST")
    session.commit()
    content = (
        b"phone,name\n"
        b"2025550123,Jane Doe\n"  # 2: added
        b'2025550124,"Two\nLines"\n'  # 3-4: added, its name on one line
        b"+1 202 555 0123,Jane Again\n"  # 5: the number of line 2
        b"\n"  # 6: blank, not a row
        b"2025550125,Known Name\n"  # 7: unchanged
        b"2025550126,New Name\n"  # 8: renamed
        b"2025550125,\n"  # 9: the number of line 7
        b"12345,Short\n"  # 10: not a number
        b",,\n"  # 11: empty cells, not a row
        b"2025550127,Last\n"  # 12: added
    )
    result = import_file(content)
    assert result.exit_code == 0, result.output
    skipped = [line.strip() for line in result.stdout.splitlines() if line.startswith("  line")]
    assert skipped == [
        "line 5: +12025550123 is already on line 2",
        "line 9: +12025550125 is already on line 7",
        "line 10: 12345 is not a valid number: it is too short",
    ]
    assert "contacts.csv: 8 rows: 3 added, 1 updated, 1 unchanged, 3 skipped." in result.stdout
    assert _contacts(session) == {
        "+12025550123": "Jane Doe",
        "+12025550124": "Two Lines",
        "+12025550125": "Known Name",
        "+12025550126": "New Name",
        "+12025550127": "Last",
    }
    assert _search(session, "new name") == ["+12025550126"]
    assert _search(session, "old") == []


def test_a_terminal_sees_a_progress_bar_with_the_counts(import_file, monkeypatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    result = import_file(b"phone,name\n2025550123,Jane\n2025550123,Again\n555,Bad\n")
    assert result.exit_code == 0, result.output
    assert "100%" in result.stderr
    assert "3 rows: 1 added, 0 updated, 0 unchanged, 2 skipped" in result.stderr


def test_a_big_file_is_checked_in_worker_processes_in_file_order(database_url, tmp_path) -> None:
    """Rows are checked in other processes a chunk at a time; they come back in file order,
    so the first of two rows with one number is the one kept, as in a small file."""
    from bot.contact_file import ContactFile
    from bot.contact_import import import_contact_file

    path = tmp_path / "big.csv"
    rows = ["phone,name"]
    for n in range(5000):
        rows.append(f"+1202555{100 + n % 100:04d},Customer {n}")
    rows.insert(2501, "not a number,Nobody")
    path.write_text("\n".join(rows) + "\n")
    engine = create_db_engine(database_url)
    try:
        tally = import_contact_file(
            ContactFile(path), engine=engine, team_id="T0TEST", region="US", workers=2
        )
        with engine.connect() as connection:
            names = dict(connection.execute(select(Contact.phone, Contact.name)).all())
    finally:
        engine.dispose()
    assert (tally.added, tally.updated, tally.unchanged, len(tally.skipped)) == (100, 0, 0, 4901)
    assert tally.skipped[0].line == 102 and tally.skipped[0].reason == (
        "+12025550100 is already on line 2"
    )
    assert [s.line for s in tally.skipped if "not a number" in s.reason] == [2502]
    assert names == {f"+1202555{100 + n:04d}": f"Customer {n}" for n in range(100)}


def test_postgres_plans_lookups_for_the_contacts_an_import_brings(
    import_file, database_url: str
) -> None:
    """An import tells PostgreSQL's planner how big the contact table has grown. A table
    that grew from empty unnoticed (autovacuum off or behind) was planned as empty: each
    batch's numbers were looked up by reading every contact, and a million-row import
    slowed to a few hundred rows a second."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite plans from its indexes alone")
    rows = "".join(f"+1202555{100 + n % 100:04d},Customer {n}\n" for n in range(100))
    result = import_file(("phone,name\n" + rows).encode())
    assert result.exit_code == 0, result.output
    engine = create_db_engine(database_url)
    try:
        with engine.connect() as connection:
            known = connection.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE oid = 'contact'::regclass"
            ).scalar_one()
    finally:
        engine.dispose()
    assert known == 100
