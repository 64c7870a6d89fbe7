"""contact search terms indexed by contact, then term

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contact_search_term", schema=None) as batch_op:
        batch_op.create_index(
            "ix_contact_search_term_contact_term", ["contact_id", "term"], unique=False
        )
        batch_op.drop_index("ix_contact_search_term_contact_id")


def downgrade() -> None:
    with op.batch_alter_table("contact_search_term", schema=None) as batch_op:
        batch_op.create_index("ix_contact_search_term_contact_id", ["contact_id"], unique=False)
        batch_op.drop_index("ix_contact_search_term_contact_term")
