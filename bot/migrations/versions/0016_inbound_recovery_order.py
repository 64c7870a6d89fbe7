"""inbound recovery before routing, staged texts in the order they reached Twilio, late texts

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0016"
# 0014 is another branch's: whichever merges second revises the other.
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "inbound_recovery_pending_since",
                models.types.UTCDateTime(timezone=True),
                nullable=True,
            )
        )
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sent_at", models.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("received_late", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("inbound_webhook", schema=None) as batch_op:
        batch_op.create_index("ix_inbound_webhook_arrival", ["received_at", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbound_webhook", schema=None) as batch_op:
        batch_op.drop_index("ix_inbound_webhook_arrival")
    with op.batch_alter_table("message", schema=None) as batch_op:
        batch_op.drop_column("received_late")
        batch_op.drop_column("sent_at")
    with op.batch_alter_table("line", schema=None) as batch_op:
        batch_op.drop_column("inbound_recovery_pending_since")
