"""The migrations build exactly the schema the models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401


# SQLite's dialect cannot read back an index on an expression (ix_message_text_time), so
# on SQLite it is left out of the comparison; PostgreSQL compares it.
@pytest.mark.filterwarnings("ignore:.*expression-based index")
def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() is not None
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrading_a_database_with_sent_texts_keeps_what_each_phone_was_sent(tmp_path) -> None:
    from sqlalchemy import text

    from bot.db import create_db_engine, upgrade_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, "0001")
    engine = create_db_engine(url)
    then = "2026-01-01 00:00:00"
    rows = {
        "line": {
            "id": 1,
            "team_id": "T1",
            "number": "+12025550100",
            "name": "Sales",
            "channel_id": "C1",
            "active": True,
            "sends_per_second": 1.0,
            "created_at": then,
        },
        "contact": {"id": 1, "team_id": "T1", "phone": "+12025550123", "created_at": then},
        "conversation": {
            "id": 1,
            "team_id": "T1",
            "line_id": 1,
            "contact_id": 1,
            "kind": "direct",
            "status": "open",
            "created_at": then,
            "parent_rev": 1,
            "parent_synced_rev": 0,
            "mirror_pending": True,
            "mirror_seq": 1,
        },
        "message": {
            "id": 1,
            "conversation_id": 1,
            "direction": "outbound",
            "body": "Hello from before",
            "created_at": then,
            "slack_rev": 1,
            "slack_synced_rev": 0,
        },
        "delivery": {
            "id": 1,
            "message_id": 1,
            "line_id": 1,
            "contact_id": 1,
            "to_phone": "+12025550123",
            "status": "delivered",
            "attempts": 1,
            "next_attempt_at": then,
            "created_at": then,
            "updated_at": then,
        },
    }
    with engine.begin() as connection:
        for table, row in rows.items():
            columns = ", ".join(row)
            values = ", ".join(f":{name}" for name in row)
            connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values})"), row)
    engine.dispose()
    upgrade_database(url)
    engine = create_db_engine(url)
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT body FROM delivery")).scalar_one()
            == "Hello from before"
        )
        assert connection.execute(text("SELECT origin FROM message")).scalar_one() == "app"
        assert connection.execute(text("SELECT reply_delay_seconds FROM line")).scalar_one() == 5
    engine.dispose()


def test_the_newest_migration_file_is_alembics_head() -> None:
    """Commands check the schema against the newest numbered file without importing
    Alembic; the numbering must give the same answer as Alembic's graph."""
    from alembic.script import ScriptDirectory

    from bot.db import alembic_config, known_revisions, latest_revision

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert latest_revision() == scripts.get_current_head()
    assert known_revisions() == [s.revision for s in reversed(list(scripts.walk_revisions()))]


def test_lines_sharing_a_name_are_renamed_before_names_become_unique(tmp_path) -> None:
    """Migration 0013: the oldest line keeps the name; each later one gets its number's last
    four digits (or more, when that is taken too), within the 40 characters a name may
    have; every rename is in the audit log; the database then refuses a shared name."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from bot.db import create_db_engine, upgrade_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, "0012")
    engine = create_db_engine(url)
    lines = [
        (1, "T1", "+12025550100", "Sales"),
        (2, "T1", "+12025550101", "sales"),  # same name in another case
        (3, "T1", "+12025550102", "Sales"),
        (4, "T1", "+12025550103", "Sales 0102"),  # what line 3 would become
        (5, "T2", "+12025550104", "Sales"),  # another workspace
        (6, "T1", "+12025550105", "N" * 40),
        (7, "T1", "+12025550106", "N" * 40),
    ]
    with engine.begin() as connection:
        for line_id, team_id, number, name in lines:
            connection.execute(
                text(
                    "INSERT INTO line (id, team_id, number, name, channel_id, active, "
                    "sends_per_second, created_at) VALUES (:id, :team, :number, :name, 'C1', 1, "
                    "1.0, '2026-01-01 00:00:00')"
                ),
                {"id": line_id, "team": team_id, "number": number, "name": name},
            )
    engine.dispose()
    upgrade_database(url)
    engine = create_db_engine(url)
    with engine.begin() as connection:
        names = dict(connection.execute(text("SELECT id, name FROM line")).all())
        audit = connection.execute(
            text("SELECT line_id, actor, action, detail FROM audit_entry ORDER BY line_id")
        ).all()
    assert names == {
        1: "Sales",
        2: "sales 0101",
        3: "Sales 12025550102",
        4: "Sales 0102",
        5: "Sales",
        6: "N" * 40,
        7: "N" * 35 + " 0106",
    }
    assert [(row.line_id, row.actor, row.action) for row in audit] == [
        (2, "textbot db upgrade", "line.rename"),
        (3, "textbot db upgrade", "line.rename"),
        (7, "textbot db upgrade", "line.rename"),
    ]
    assert audit[0].detail.startswith("renamed sales to sales 0101: another line of the")
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(text("UPDATE line SET name = 'Sales' WHERE id = 4"))
    engine.dispose()
