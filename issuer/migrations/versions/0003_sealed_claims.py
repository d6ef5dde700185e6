"""sealed offer claims, and what a lost response needs to be answered again

- ``offer.sealed_claims``: the claims, encrypted at rest (``keys.sealing``). The old plain
  JSON column ``offer.claims`` stays, read only: a migration holds no key, so the claims of
  offers still pending when this runs are sealed at the service's next start-up
  (``issuer.services.offers.seal_legacy_claims``), which then clears them. Nothing writes
  that column any more; a later migration drops it.
- ``offer.token_answers_left``: how often the token endpoint may answer a redeemed code again.
- ``accesstoken.sealed_credentials`` / ``redeliveries_left``: the credentials issued with a
  token, sealed, that the same token may fetch again a bounded number of times.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases (SQLite adds and, from 3.35, drops columns).
    op.add_column("offer", sa.Column("sealed_claims", sa.LargeBinary(), nullable=True))
    op.add_column(
        "offer", sa.Column("token_answers_left", sa.Integer(), nullable=False, server_default="0")
    )
    op.add_column("accesstoken", sa.Column("sealed_credentials", sa.LargeBinary(), nullable=True))
    op.add_column(
        "accesstoken",
        sa.Column("redeliveries_left", sa.Integer(), nullable=False, server_default="0"),
    )


def downgrade() -> None:
    # Sealed claims cannot be turned back into plain JSON without the key: a downgrade
    # loses the claims of pending offers (they are re-offered after an upgrade).
    op.drop_column("accesstoken", "redeliveries_left")
    op.drop_column("accesstoken", "sealed_credentials")
    op.drop_column("offer", "token_answers_left")
    op.drop_column("offer", "sealed_claims")
