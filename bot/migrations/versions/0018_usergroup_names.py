"""usergroup names: the workspace's user groups as last listed by Slack

The line settings' user-group search answers from this copy (an options request is
answered before any Slack call may be made); the periodic user-group job and opening the
settings refresh it.

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 15:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "usergroup",
        sa.Column("team_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("usergroup_id", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("handle", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("listed_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("team_id", "usergroup_id"),
    )


def downgrade() -> None:
    op.drop_table("usergroup")
