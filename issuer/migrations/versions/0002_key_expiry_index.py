"""issued credentials indexed by agency, signing key and expiry

Whether a retired key still signs an unexpired credential (and so stays in the agency's
JWKS and the trust list) becomes one index seek a key, not a scan of the agency's credentials.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_INDEX = "ix_issuedcredential_key_expiry"


def upgrade() -> None:
    op.create_index(
        _INDEX, "issuedcredential", ["agency_id", "signing_kid", "expires_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(_INDEX, table_name="issuedcredential")
