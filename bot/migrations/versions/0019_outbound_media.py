"""outbound media: pictures sent as MMS, with the token of the URL Twilio fetches them from

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbound_media",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("slack_file_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("source_url", sa.String(), nullable=True),
        sa.Column("content_type", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("fetched_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", models.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", models.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["message.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index(
        "ix_outbound_media_message", "outbound_media", ["message_id", "position"], unique=False
    )
    op.create_index(
        op.f("ix_outbound_media_expires_at"), "outbound_media", ["expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_outbound_media_expires_at"), table_name="outbound_media")
    op.drop_index("ix_outbound_media_message", table_name="outbound_media")
    op.drop_table("outbound_media")
