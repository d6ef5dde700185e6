"""Accounts bound to a device key, DPoP nonces and replay rows.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_accounts",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column("created_at", sa.Integer(), nullable=False),
        sa.Column("device_jkt", sa.String(length=64), nullable=False, unique=True),
        sa.Column("device_jwk", sa.JSON(), nullable=False),
        sa.Column("device_bound_at", sa.Integer(), nullable=False),
        sa.Column("recovery_hash", sa.String(length=64), nullable=False),
        sa.Column("recovery_failures", sa.Integer(), nullable=False),
        sa.Column("spent_recovery_hash", sa.String(length=64), nullable=True),
    )
    op.create_table(
        "wallet_dpop_nonces",
        sa.Column("value", sa.String(length=64), primary_key=True),
        sa.Column("issued_at", sa.Integer(), nullable=False, index=True),
        sa.Column("expires_at", sa.Integer(), nullable=False, index=True),
    )
    op.create_table(
        "wallet_dpop_replays",
        sa.Column("proof_id", sa.String(length=64), primary_key=True),
        sa.Column("expires_at", sa.Integer(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("wallet_dpop_replays")
    op.drop_table("wallet_dpop_nonces")
    op.drop_table("wallet_accounts")
