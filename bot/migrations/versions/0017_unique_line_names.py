"""unique line names: one name, one line, in each workspace

Quick send and people pick a line by its name, so two lines of a team must not share one
(ignoring case). Lines that do are renamed first, deterministically: the oldest keeps the
name, each later one gets the last four digits of its number appended ("Sales 0101"; the
whole number, then its id, when that is taken too), cut to fit the 40 characters a name
may have. Each rename is recorded in the audit log.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 13:30:00.000000
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain, count

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

MAX_LINE_NAME_LENGTH = 40  # models.lines, as of this migration

line = sa.table(
    "line",
    sa.column("id", sa.Integer()),
    sa.column("team_id", sa.String()),
    sa.column("number", sa.String()),
    sa.column("name", sa.String()),
)
audit_entry = sa.table(
    "audit_entry",
    sa.column("team_id", sa.String()),
    sa.column("actor", sa.String()),
    sa.column("action", sa.String()),
    sa.column("line_id", sa.Integer()),
    sa.column("detail", sa.String()),
    sa.column("created_at", models.types.UTCDateTime(timezone=True)),
)


def unique_names(rows: list[tuple[int, str, str, str]]) -> dict[int, str]:
    """New names for the lines whose name an older line of their team has (ignoring
    case): {line id: new name}. `rows` are (id, team_id, number, name)."""
    taken: dict[str, set[str]] = {}
    for _, team_id, _, name in rows:
        taken.setdefault(team_id, set()).add(name.casefold())
    kept: dict[str, set[str]] = {}
    renamed: dict[int, str] = {}
    for line_id, team_id, number, name in sorted(rows):
        names = kept.setdefault(team_id, set())
        if name.casefold() not in names:
            names.add(name.casefold())
            continue
        digits = number.lstrip("+")
        suffixes = chain(
            (f" {digits[-4:]}", f" {digits}", f" {line_id}"), (f" {line_id}-{n}" for n in count(2))
        )
        for suffix in suffixes:
            candidate = name[: MAX_LINE_NAME_LENGTH - len(suffix)].rstrip() + suffix
            if candidate.casefold() not in taken[team_id]:
                break
        taken[team_id].add(candidate.casefold())
        names.add(candidate.casefold())
        renamed[line_id] = candidate
    return renamed


def upgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.select(line.c.id, line.c.team_id, line.c.number, line.c.name))
    lines = {row.id: row for row in rows}
    now = datetime.now(UTC)
    for line_id, name in unique_names([tuple(row) for row in lines.values()]).items():
        old = lines[line_id]
        connection.execute(line.update().where(line.c.id == line_id).values(name=name))
        connection.execute(
            audit_entry.insert().values(
                team_id=old.team_id,
                actor="textbot db upgrade",
                action="line.rename",
                line_id=line_id,
                detail=f"renamed {old.name} to {name}: another line of the workspace was "
                f"called {old.name} (names are unique now)",
                created_at=now,
            )
        )
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_line_team_name", ["team_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.drop_constraint("uq_line_team_name", type_="unique")
