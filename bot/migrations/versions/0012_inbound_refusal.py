"""inbound refusal: texts the router could not take, counted in /metrics

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 12:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_refusal",
        sa.Column("message_sid", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("to_number", sa.String(), nullable=False),
        sa.Column("from_number", sa.String(), nullable=False),
        sa.Column("received_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refused_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_sid"),
    )


def downgrade() -> None:
    op.drop_table("inbound_refusal")
