"""a conversation's unmirrored messages, its broadcasts and its newest text are found
through indexes of their own, whatever the conversation's length

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _only(condition: str) -> dict[str, Any]:
    return {"sqlite_where": sa.text(condition), "postgresql_where": sa.text(condition)}


def upgrade() -> None:
    op.create_index(
        "ix_message_unmirrored",
        "message",
        ["conversation_id", "id"],
        **_only("slack_rev > slack_synced_rev"),
    )
    op.create_index(
        "ix_message_broadcast",
        "message",
        ["conversation_id", "broadcast_id"],
        **_only("broadcast_id IS NOT NULL"),
    )
    op.create_index(
        "ix_message_text_time",
        "message",
        ["conversation_id", sa.text("coalesce(sent_at, created_at)")],
    )


def downgrade() -> None:
    for name in (
        "ix_message_text_time",
        "ix_message_broadcast",
        "ix_message_unmirrored",
    ):
        op.drop_index(name, table_name="message")
