"""inbound checked until

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "inbound_checked_until", models.types.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.drop_column("inbound_checked_until")
