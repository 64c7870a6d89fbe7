"""group MMS: a line's reply-all groups as one group text, and the Twilio conversation of each

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("line") as batch:
        batch.add_column(
            sa.Column("group_mms", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(
            sa.Column("group_mms", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("provider_conversation_sid", sa.String(), nullable=True))
        batch.create_unique_constraint(
            "uq_conversation_provider_conversation_sid", ["provider_conversation_sid"]
        )
    with op.batch_alter_table("inbound_webhook") as batch:
        batch.add_column(sa.Column("conversation_sid", sa.String(), nullable=True))
        batch.add_column(sa.Column("conversation_index", sa.Integer(), nullable=True))
    with op.batch_alter_table("delivery") as batch:
        batch.add_column(sa.Column("group_conversation_id", sa.Integer(), nullable=True))
        batch.create_index(
            "ix_delivery_group_conversation_id", ["group_conversation_id"], unique=False
        )
        batch.create_foreign_key(
            "fk_delivery_group_conversation",
            "conversation",
            ["group_conversation_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery") as batch:
        batch.drop_constraint("fk_delivery_group_conversation", type_="foreignkey")
        batch.drop_index("ix_delivery_group_conversation_id")
        batch.drop_column("group_conversation_id")
    with op.batch_alter_table("inbound_webhook") as batch:
        batch.drop_column("conversation_index")
        batch.drop_column("conversation_sid")
    with op.batch_alter_table("conversation") as batch:
        batch.drop_constraint("uq_conversation_provider_conversation_sid", type_="unique")
        batch.drop_column("provider_conversation_sid")
        batch.drop_column("group_mms")
    with op.batch_alter_table("line") as batch:
        batch.drop_column("group_mms")
