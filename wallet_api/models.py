"""The wallet service's tables (SQLModel). Every name starts with ``wallet_``: the issuer and
the wallet service may share one database schema.

An account holds no secret that could act for the citizen: the device key's public half, and
the recovery code as an HMAC (``wallet_api.accounts``). What it receives is sealed
(``keys.sealing``: a data key per record under the wallet's master key): the credentials
themselves, and the codes and tokens of an issuance under way. In clear are only what listing
and status checks need without opening a record: which agency, which type, when, how many
copies are unused, and each copy's place in its issuer's status list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, LargeBinary, String
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

__all__ = [
    "METADATA",
    "Account",
    "Credential",
    "CredentialCopy",
    "DpopNonce",
    "DpopReplay",
    "Intake",
    "Presentation",
    "SeenRequest",
    "WalletTable",
]


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


def _owner() -> Any:
    # Deleting an account deletes everything it holds, in the database itself.
    return Column(
        String(64), ForeignKey("wallet_accounts.id", ondelete="CASCADE"), nullable=False, index=True
    )


class Intake(WalletTable, table=True):
    """A credential offer the phone handed over, from reading it to the last credential stored
    (wallet_api.receiving). ``step`` grows with every change: each UPDATE is conditional on
    the step it was decided from, so a step sent twice at once runs once."""

    __tablename__ = "wallet_intakes"

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(sa_column=_owner())
    created_at: int
    expires_at: int = Field(index=True)
    issuer_id: str = Field(max_length=512)
    state: str = Field(max_length=16)
    step: int = 0
    # What the phone shows the citizen: agency, types, transaction code; no personal data.
    summary: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    # The pre-authorized code, access token, nonce, pending proofs, deferred transaction.
    sealed_state: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Credential(WalletTable, table=True):
    """One certificate the account holds, as a set of copies (batch issuance)."""

    __tablename__ = "wallet_credentials"

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(sa_column=_owner())
    issuer_id: str = Field(max_length=512)
    credential_type: str = Field(max_length=128)  # registry id
    vct: str = Field(max_length=512)
    configuration_id: str = Field(max_length=128)
    received_at: int
    expires_at: int
    # Set when the account moved to a new device: the copies are bound to keys the new phone
    # does not hold, so the agency (``issuer_id``) has to issue the certificate again.
    needs_reissue: bool = False


class CredentialCopy(WalletTable, table=True):
    """One copy of a credential: its own holder key, signature and digests (one per
    presentation, so two counters never see the same values)."""

    __tablename__ = "wallet_credential_copies"

    id: str = Field(primary_key=True, max_length=64)
    credential_id: str = Field(
        sa_column=Column(
            String(64),
            ForeignKey("wallet_credentials.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        )
    )
    account_id: str = Field(sa_column=_owner())
    holder_jkt: str = Field(max_length=64)  # RFC 7638 thumbprint of the copy's `cnf` key
    status_uri: str | None = Field(default=None, max_length=2048)
    status_index: int | None = None
    used_at: int | None = None
    sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))  # the SD-JWT VC


class Presentation(WalletTable, table=True):
    """One presentation: a counter's request (or a preset) the phone was shown, and what
    became of it (wallet_api.presenting). The row is the citizen's history: to whom, why,
    which claims (paths, never values), when. The working data of one still under way (the
    copy chosen, the SD-JWT with the disclosures to show, the KB-JWT signing input) is sealed
    in ``sealed_state`` and dropped once it is answered or refused."""

    __tablename__ = "wallet_presentations"

    id: str = Field(primary_key=True, max_length=64)
    account_id: str = Field(sa_column=_owner())
    created_at: int = Field(index=True)
    expires_at: int  # the request's `exp`: nothing is answered after it
    step: int = 0  # grows with every change: each UPDATE is conditional on it
    state: str = Field(max_length=16)
    client_id: str = Field(max_length=128)  # the registered relying party
    relying_party_name: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    purpose_name: dict[str, str] = Field(sa_column=Column(JSON, nullable=False))
    credential_type: str = Field(max_length=128)  # registry id
    # Concrete claims paths (OpenID4VP 1.0 §7) and their labels: what the counter sees.
    disclosed: list[Any] = Field(sa_column=Column(JSON, nullable=False))
    request_hash: str = Field(max_length=64)  # the replay key: SHA-256 of (client_id, nonce)
    response_mode: str = Field(max_length=16)
    answered_at: int | None = None
    sealed_state: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class SeenRequest(WalletTable, table=True):
    """A counter's request this wallet has read (primary key: SHA-256 of its client_id and
    nonce), until it expires: a request is answered once, by every worker (OpenID4VP 1.0
    §14.2: the nonce binds one answer to one request)."""

    __tablename__ = "wallet_presentation_requests"

    request_hash: str = Field(primary_key=True, max_length=64)
    expires_at: int = Field(index=True)
