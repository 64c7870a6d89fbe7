"""The database engine and migrations."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
WRITE_LOCK_TIMEOUT_SECONDS = 30


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def create_db_engine(url: str, *, for_reading: bool = False, for_migrating: bool = False) -> Engine:
    """An engine for `url`. On SQLite, a writing engine queues its transactions on a lock
    of its own and takes SQLite's write lock up front; a reading engine (for_reading) does
    neither, since readers of a WAL database never wait for writers.

    Migrations (for_migrating) run with SQLite's foreign keys off: Alembic rebuilds a table
    to alter it on SQLite, and dropping the old copy would cascade to the rows that refer
    to it."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    engine = create_engine(
        url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=20
    )
    event.listen(engine, "connect", _configure_sqlite)
    if for_migrating:
        event.listen(
            engine, "connect", lambda connection, _: connection.execute("PRAGMA foreign_keys=OFF")
        )
    if for_reading:
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
    else:
        _serialize_writers(engine)
    return engine


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is deferred).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


_thread_role = threading.local()


def mark_background_thread() -> None:
    """Writes from this thread (a worker's, not one answering a request) let writes that a
    request waits for go first on SQLite."""
    _thread_role.background = True


class WriteTurns:
    """One writer at a time per process, and a thread answering a request before any
    background worker, so that an acknowledgement never queues behind the Slack mirror
    or the dispatcher."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._held = False
        self._foreground_waiting = 0

    def acquire(self, timeout: float) -> bool:
        background = getattr(_thread_role, "background", False)
        with self._changed:
            if not background:
                self._foreground_waiting += 1
            try:
                turn = self._changed.wait_for(
                    lambda: not self._held and (not background or not self._foreground_waiting),
                    timeout,
                )
                if turn:
                    self._held = True
                return turn
            finally:
                if not background:
                    self._foreground_waiting -= 1

    def release(self) -> None:
        with self._changed:
            self._held = False
            self._changed.notify_all()


def _serialize_writers(engine: Engine) -> None:
    """A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when
    another writer got in between, so writers BEGIN IMMEDIATE. SQLite's busy handler waits
    by sleeping (up to 100 ms a time); writers of this process take turns instead and are
    handed the database as soon as it is free."""
    turns = WriteTurns()

    def begin(connection: Any) -> None:
        if not turns.acquire(timeout=WRITE_LOCK_TIMEOUT_SECONDS):
            raise TimeoutError("waited too long for the SQLite write lock")
        connection.info["holds_write_lock"] = True
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            _release(connection)
            raise

    def _release(connection: Any, *_: Any) -> None:
        if connection.info.pop("holds_write_lock", False):
            turns.release()

    event.listen(engine, "begin", begin)
    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)


class Database:
    """The engines of one database: `session()` for work that writes, `read_session()` for
    reads that must not queue behind writers (the same engine on PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_db_engine(url)
        self.read_engine = (
            create_db_engine(url, for_reading=True)
            if self.engine.dialect.name == "sqlite"
            else self.engine
        )

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def read_session(self) -> Session:
        return Session(self.read_engine, expire_on_commit=False)

    def dispose(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
