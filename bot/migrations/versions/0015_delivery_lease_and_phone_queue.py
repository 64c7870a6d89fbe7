"""delivery lease and phone queue

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("lease_until", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_delivery_phone_queue", ["line_id", "contact_id", "status"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index("ix_delivery_phone_queue")
        batch_op.drop_column("lease_until")
