"""Presenting: the citizen's history of presentations, and the requests already read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wallet_presentations",
        sa.Column("id", sa.String(length=64), primary_key=True),
        sa.Column(
            "account_id",
            sa.String(length=64),
            sa.ForeignKey("wallet_accounts.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("created_at", sa.Integer(), nullable=False, index=True),
        sa.Column("expires_at", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("relying_party_name", sa.JSON(), nullable=False),
        sa.Column("purpose_name", sa.JSON(), nullable=False),
        sa.Column("credential_type", sa.String(length=128), nullable=False),
        sa.Column("disclosed", sa.JSON(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_mode", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.Integer(), nullable=True),
        sa.Column("sealed_state", sa.LargeBinary(), nullable=True),
    )
    op.create_table(
        "wallet_presentation_requests",
        sa.Column("request_hash", sa.String(length=64), primary_key=True),
        sa.Column("expires_at", sa.Integer(), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("wallet_presentation_requests")
    op.drop_table("wallet_presentations")
