"""Column types and small SQL helpers shared by the tables and rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import DateTime, String, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel import Session, SQLModel

EntityT = TypeVar("EntityT", bound=SQLModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every backend.

    PostgreSQL keeps them as timestamptz; SQLite has no time zones, so values are stored as
    naive UTC (compared as text, which orders correctly) and made aware again on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Search terms are compared byte-wise so that prefix ranges (term >= 'ab' AND term < 'ab{')
# use the index whatever the database's locale.
SearchTerm = String(64).with_variant(String(64, collation="C"), "postgresql")


def dialect_insert(dialect_name: str) -> Callable[..., Any]:
    """The INSERT construct with ON CONFLICT for the database in use."""
    return postgresql.insert if dialect_name == "postgresql" else sqlite.insert


def insert_ignoring_conflicts(
    session: Session, table: type[SQLModel], values: dict[str, Any] | list[dict[str, Any]]
) -> int:
    """INSERT ... ON CONFLICT DO NOTHING; returns how many rows went in.

    Inserting the unique key first, before any side effect, is how concurrent retries are
    told apart: exactly one of them inserts.
    """
    if not values:  # nothing to execute
        return 0
    statement = _insert_ignoring(session.get_bind().dialect.name, table)
    # Count what RETURNING gives back: rowcount is -1 for this statement on psycopg.
    return len(session.execute(statement, values).all())


def inserted_keys(
    session: Session, table: type[SQLModel], values: list[dict[str, Any]]
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING of many rows; the primary keys of those that went
    in (a table whose key is one column)."""
    if not values:
        return []
    statement = _insert_ignoring(session.get_bind().dialect.name, table)
    return list(session.execute(statement, values).scalars())


# The values go as parameters of a statement built once per table: built with its values,
# a statement costs more to build (and to find in SQLAlchemy's cache) than to run, and the
# inbound router runs several a text.
@lru_cache
def _insert_ignoring(dialect_name: str, table: type[SQLModel]) -> Any:
    sa_table = table.__table__  # type: ignore[attr-defined]
    return (
        dialect_insert(dialect_name)(sa_table)
        .on_conflict_do_nothing()
        .returning(*sa_table.primary_key.columns)
    )


@lru_cache
def _insert_returning_entity(dialect_name: str, entity: type[SQLModel]) -> Any:
    return dialect_insert(dialect_name)(entity).on_conflict_do_nothing().returning(entity)


def insert_unless_conflicting(
    session: Session, entity: type[EntityT], values: dict[str, Any]
) -> EntityT | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the row as an entity of the session, in
    one round trip; None if a conflicting row was there."""
    statement = _insert_returning_entity(session.get_bind().dialect.name, entity)
    return session.scalars(statement, values).first()
