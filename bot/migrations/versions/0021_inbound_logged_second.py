"""inbound texts read back from Twilio's log: their time is known to the second

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_webhook", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "logged_to_the_second", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("inbound_webhook", schema=None) as batch_op:
        batch_op.drop_column("logged_to_the_second")
