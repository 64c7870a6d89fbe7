"""A list of values as one parameter: `column IN (...)` that PostgreSQL gets as an array.

An expanding IN renders one placeholder per value, so a statement over 500 staged texts
is a new text of thousands of characters each time it runs: SQLAlchemy renders it and
psycopg parses it again (psycopg caches the parsing only of statements under 4 KB and 50
parameters). On PostgreSQL `column = ANY(:values)` is one statement whatever the list's
length, its values one array; SQLite, which has no arrays, keeps the expanding IN."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


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
