"""Lists as parameters: `column IN (...)` that PostgreSQL gets as an array, and many rows
written by one statement over an array a column.

An expanding IN renders one placeholder per value, so a statement over 500 staged texts
is a new text of thousands of characters each time it runs: SQLAlchemy renders it and
psycopg parses it again (psycopg caches the parsing only of statements under 4 KB and 50
parameters). On PostgreSQL `column = ANY(:values)` is one statement whatever the list's
length, its values one array; SQLite, which has no arrays, keeps the expanding IN."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Boolean, any_, bindparam, func
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeEngine


class OneOf(ColumnElement[bool]):
    """`column` is one of the values of the list parameter `name` (given at execution)."""

    __visit_name__ = "one_of"
    inherit_cache = True
    type = Boolean()
    # What the statement cache's key is made of (declared as a list by SQLAlchemy).
    _traverse_internals = [  # noqa: RUF012
        ("column", InternalTraversal.dp_clauseelement),
        ("name", InternalTraversal.dp_string),
    ]

    def __init__(self, column: Any, name: str) -> None:
        clause = getattr(column, "__clause_element__", None)  # a mapped attribute's column
        self.column = clause() if clause else column
        self.name = name


def one_of(column: Any, name: str) -> OneOf:
    return OneOf(column, name)


@compiles(OneOf)
def _in_list(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column.in_(bindparam(element.name, expanding=True)), **kw)


@compiles(OneOf, "postgresql")
def _any_of_array(element: OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    values = bindparam(element.name, type_=ARRAY(element.column.type))
    return compiler.process(element.column == any_(values), **kw)


def as_arrays(rows: Iterable[Mapping[str, Any]], names: Iterable[str]) -> dict[str, list[Any]]:
    """The parameters of a rows_of_arrays statement: each named column's values, in the rows'
    order."""
    rows = list(rows)
    return {name: [row[name] for row in rows] for name in names}


def rows_of_arrays(
    columns: Mapping[str, type[TypeEngine[Any]]], *, place: str | None = None
) -> Any:
    """PostgreSQL: rows made of one array parameter a column, each named as its column
    (`unnest(:a, :b, ...) AS rows(a, b, ...)`), numbered in `place` when given (WITH
    ORDINALITY), for a statement that writes many rows as one."""
    arrays = (bindparam(name, type_=ARRAY(kind())) for name, kind in columns.items())
    rows = func.unnest(*arrays)
    if place is None:
        return rows.table_valued(*columns).render_derived()
    return rows.table_valued(*columns, with_ordinality=place).render_derived()
