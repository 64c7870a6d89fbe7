"""contact search terms are no longer checked against contact, row by row

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite's foreign keys have no name: the batch names the reflected one by this convention.
_NAMING = {"fk": "fk_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(
            "contact_search_term_contact_id_fkey", "contact_search_term", type_="foreignkey"
        )
        return
    with op.batch_alter_table("contact_search_term", naming_convention=_NAMING) as batch_op:
        batch_op.drop_constraint("fk_contact_search_term_contact_id", type_="foreignkey")


def downgrade() -> None:
    with op.batch_alter_table("contact_search_term") as batch_op:
        batch_op.create_foreign_key(
            "contact_search_term_contact_id_fkey",
            "contact",
            ["contact_id"],
            ["id"],
            ondelete="CASCADE",
        )
