"""Alembic environment: the URL comes from the config `textbot db upgrade` builds."""

import warnings

from alembic import context
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from bot.db import create_db_engine
from bot.settings import load_settings

config = context.config
# SQLite's dialect cannot read back an index on an expression (ix_message_text_time), so an
# autogenerate on SQLite leaves it out, saying so twice; PostgreSQL compares it.
warnings.filterwarnings("ignore", message=".*expression-based index")
target_metadata = SQLModel.metadata


def _database_url() -> str:
    # Set by bot.db.alembic_config; when a developer runs `alembic` by hand, the settings.
    return config.get_main_option("sqlalchemy.url") or load_settings().database_url


def _numbered(context, revision, directives) -> None:  # type: ignore[no-untyped-def]
    """A new migration takes the next number (0018 after 0017), as the repository's do."""
    heads = ScriptDirectory.from_config(config).get_heads()
    number = max((int(head) for head in heads if head.isdigit()), default=0) + 1
    for script in directives:
        script.rev_id = f"{number:04d}"


def run_migrations_offline() -> None:
    context.configure(
        url=_database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        process_revision_directives=_numbered,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is None:
        engine = create_db_engine(_database_url(), for_migrating=True)
        with engine.connect() as connection:
            _run(connection)
        engine.dispose()
    else:
        _run(connectable)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        process_revision_directives=_numbered,
    )
    with context.begin_transaction():
        context.run_migrations()
        if connection.dialect.name == "sqlite":
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise RuntimeError(f"migration left rows pointing nowhere: {broken[:5]}")


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
