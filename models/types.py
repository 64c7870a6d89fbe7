"""Column types and small SQL helpers shared by the tables and rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
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
    if not values:  # .values([]) would insert one row of defaults
        return 0
    insert = dialect_insert(session.get_bind().dialect.name)
    sa_table = table.__table__  # type: ignore[attr-defined]
    statement = (
        insert(sa_table)
        .values(values)
        .on_conflict_do_nothing()
        # Count what RETURNING gives back: rowcount is -1 for this statement on psycopg.
        .returning(*sa_table.primary_key.columns)
    )
    return len(session.execute(statement).all())


def insert_unless_conflicting(
    session: Session, entity: type[EntityT], values: dict[str, Any]
) -> EntityT | None:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the row as an entity of the session, in
    one round trip; None if a conflicting row was there."""
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = insert(entity).values(values).on_conflict_do_nothing().returning(entity)
    return session.scalars(statement).first()
