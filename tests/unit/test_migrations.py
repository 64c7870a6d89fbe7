"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlmodel import SQLModel

import models.tables  # noqa: F401


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
