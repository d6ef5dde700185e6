"""Receiving and holding credentials: offers under way, credentials and their copies.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _owner() -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        "account_id",
        sa.String(length=64),
        sa.ForeignKey("wallet_accounts.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    )


def upgrade() -> None:
    op.create_table(
        "wallet_intakes",
        sa.Column("id", sa.String(length=64), primary_key=True),
        _owner(),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False, index=True),
        sa.Column("issuer_id", sa.String(length=512), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("sealed_state", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "wallet_credentials",
        sa.Column("id", sa.String(length=64), primary_key=True),
        _owner(),
        sa.Column("issuer_id", sa.String(length=512), nullable=False),
        sa.Column("credential_type", sa.String(length=128), nullable=False),
        sa.Column("vct", sa.String(length=512), nullable=False),
        sa.Column("configuration_id", sa.String(length=128), nullable=False),
        sa.Column("received_at", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("needs_reissue", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "wallet_credential_copies",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column(
            "credential_id",
            sa.String(length=64),
            sa.ForeignKey("wallet_credentials.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        _owner(),
        sa.Column("holder_jkt", sa.String(length=64), nullable=False),
        sa.Column("status_uri", sa.String(length=2048), nullable=True),
        sa.Column("status_index", sa.Integer(), nullable=True),
        sa.Column("used_at", sa.Integer(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("wallet_credential_copies")
    op.drop_table("wallet_credentials")
    op.drop_table("wallet_intakes")
