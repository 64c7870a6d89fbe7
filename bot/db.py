"""The database engine and migrations."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"
WRITE_LOCK_TIMEOUT_SECONDS = 30


def normalize_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs that name no driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def shown_url(url: str) -> str:
    """The database URL as it may be printed or logged: its password masked."""
    try:
        return make_url(normalize_url(url)).render_as_string(hide_password=True)
    except ArgumentError:
        return "(not a database URL)"


def create_db_engine(url: str, *, for_reading: bool = False, for_migrating: bool = False) -> Engine:
    """An engine for `url`. On SQLite, a writing engine queues its transactions on a lock
    of its own and takes SQLite's write lock up front; a reading engine (for_reading) does
    neither, since readers of a WAL database never wait for writers.

    Migrations (for_migrating) run with SQLite's foreign keys off: Alembic rebuilds a table
    to alter it on SQLite, and dropping the old copy would cascade to the rows that refer
    to it."""
    url = normalize_url(url)
    if not url.startswith("sqlite"):
        return create_engine(
            url, pool_pre_ping=True, pool_size=10, max_overflow=20, hide_parameters=True
        )
    # hide_parameters: an error logs its SQL but not the customers' bodies and numbers.
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        pool_size=20,
        hide_parameters=True,
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
    or the dispatcher.

    A release wakes one waiter, a request's if any waits: waking them all (a single
    condition) had each of 16 waiting request threads take the GIL to find the turn taken
    (6% of the process's time under a burst of view submissions)."""

    def __init__(self) -> None:
        lock = threading.Lock()
        self._foreground = threading.Condition(lock)
        self._background = threading.Condition(lock)
        self._held = False
        self._foreground_waiting = 0
        self._background_waiting = 0

    def acquire(self, timeout: float) -> bool:
        background = getattr(_thread_role, "background", False)
        turn_came = self._background if background else self._foreground
        with turn_came:
            if background:
                self._background_waiting += 1
            else:
                self._foreground_waiting += 1
            try:
                taken = turn_came.wait_for(
                    lambda: not self._held and (not background or not self._foreground_waiting),
                    timeout,
                )
                if taken:
                    self._held = True
                return taken
            finally:
                if background:
                    self._background_waiting -= 1
                else:
                    self._foreground_waiting -= 1

    @property
    def waiting(self) -> int:
        return self._foreground_waiting + self._background_waiting

    def release(self) -> None:
        with self._foreground:
            self._held = False
            if self._foreground_waiting:
                self._foreground.notify()
            else:
                self._background.notify()


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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (Alembic's version table), None when it has none.
    Read with plain SQL: Alembic takes longer to import than an operator's command to run."""
    with engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        return connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").scalar()


def known_revisions() -> list[str]:
    """This textbot's migrations, oldest first: the repository numbers them 0001, 0002...
    in their file names (a test keeps the newest equal to Alembic's head)."""
    names = (path.name for path in (MIGRATIONS / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))
    return sorted(name[:4] for name in names)


def latest_revision() -> str:
    return known_revisions()[-1]


class DatabaseNotReady(Exception):
    """The database cannot be used as it is: `problem` says why, `fix` what to do."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


def check_database_ready(url: str) -> str:
    """The database's migration when it is the one this textbot needs; otherwise raise
    DatabaseNotReady. A SQLite file that does not exist is not created."""
    shown = shown_url(url)
    missing_file = _missing_sqlite_file(url)
    if missing_file:
        raise DatabaseNotReady(
            f"{shown}: the file {missing_file} does not exist",
            "run `textbot db upgrade` to create it (or correct DATABASE_URL)",
        )
    try:
        # A reading engine: a check must not wait for SQLite's write lock.
        engine = create_db_engine(url, for_reading=True)
    except ArgumentError as exc:
        raise DatabaseNotReady(f"DATABASE_URL is not usable ({exc})", _URL_HELP) from None
    try:
        current = current_revision(engine)
    except SQLAlchemyError as exc:
        raise unreachable_database(url, exc) from None
    finally:
        engine.dispose()
    latest = latest_revision()
    if current == latest:
        return current
    if current is None:
        raise DatabaseNotReady(f"{shown} has no tables yet", "run `textbot db upgrade`")
    if current not in known_revisions():
        raise DatabaseNotReady(
            f"{shown} is at migration {current}, which this textbot does not know (a newer "
            "version upgraded it)",
            "run the newer textbot, or a database that matches this version",
        )
    raise DatabaseNotReady(
        f"{shown} is at migration {current}, and this textbot needs {latest}",
        "run `textbot db upgrade`",
    )


def unreachable_database(url: str, error: SQLAlchemyError) -> DatabaseNotReady:
    """What an error from the database driver means to an operator, in one line."""
    reason = " ".join(str(getattr(error, "orig", None) or error).split())
    return DatabaseNotReady(
        f"cannot open the database {shown_url(url)} ({reason})",
        "check DATABASE_URL, and that the database server is running and reachable",
    )


_URL_HELP = "set a SQLAlchemy URL such as sqlite:///textbot.db or postgresql://user@host/db"


def _missing_sqlite_file(url: str) -> str | None:
    """The database file a SQLite URL names when it does not exist (connecting would create
    an empty one)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or not path or path == ":memory:":
        return None
    return None if Path(path).exists() else path


def new_session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
