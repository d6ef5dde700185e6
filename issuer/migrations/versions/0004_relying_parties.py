"""registered relying parties, published in the trust list

- ``relyingpartyregistration``: one row per counter the trust operator registered, holding
  its entry as keys.relying_party reads it (names, keys, response URIs, purposes).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "relyingpartyregistration",
        sa.Column("id", sa.String(length=100), primary_key=True),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.Column("registered_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("relyingpartyregistration")
