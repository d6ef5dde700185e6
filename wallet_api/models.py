"""The wallet service's tables (SQLModel). Every name starts with ``wallet_``: the issuer and
the wallet service may share one database schema.

An account holds no secret that could act for the citizen: the device key's public half, and
the recovery code as an HMAC (``wallet_api.accounts``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = ["METADATA", "Account", "DpopNonce", "DpopReplay", "WalletTable"]


class WalletTable(SQLModel, registry=registry()):
    """The base of the wallet's tables: a registry and metadata of their own, not
    ``SQLModel.metadata`` (the issuer's), so that neither service's migrations or checks see
    the other's tables when one process imports both (a test run, an embedding)."""


METADATA = WalletTable.metadata


class Account(WalletTable, table=True):
    __tablename__ = "wallet_accounts"

    id: str = Field(primary_key=True, max_length=64)
    created_at: int
    # RFC 7638 thumbprint of the phone's current device key: every request's DPoP proof is
    # signed by it. Unique: one key, one account.
    device_jkt: str = Field(unique=True, max_length=64)
    device_jwk: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    device_bound_at: int
    recovery_hash: str = Field(max_length=64)  # HMAC-SHA256 of the recovery code, hex
    recovery_failures: int = 0  # wrong codes since the last successful recovery
    # The code the last recovery spent: a device that lost the race with it (or a citizen
    # who types the old code again) is refused without spending an attempt of the new code.
    spent_recovery_hash: str | None = Field(default=None, max_length=64)


class DpopNonce(WalletTable, table=True):
    """A server nonce (RFC 9449 §8): a row, so that every worker process accepts it."""

    __tablename__ = "wallet_dpop_nonces"

    value: str = Field(primary_key=True, max_length=64)
    issued_at: int = Field(index=True)
    expires_at: int = Field(index=True)


class DpopReplay(WalletTable, table=True):
    """A proof seen (RFC 9449 §11.1): the primary key refuses its second use.

    ``proof_id`` is SHA-256 of the proof's (jkt, jti), not the pair itself: a deleted
    account leaves nothing that names its key behind, while the row lives out its minute.
    """

    __tablename__ = "wallet_dpop_replays"

    proof_id: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(index=True)
