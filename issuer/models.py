"""The issuer's tables (SQLModel). Times are epoch seconds; secrets are stored only hashed.

What must hold across processes is a database constraint here, not process memory:
one-time codes and nonces are consumed by a conditional UPDATE/DELETE whose row count says
who won; status-list indices are unique per list (``uq_status_slot``) and never freed.

Data minimisation: an offer's claims are kept only until its credentials are issued (or the
offer dies), and only sealed (``keys.sealing``: a data key per record, wrapped by the
deployment's master key); an issued credential keeps its type, status slot, times and a
keyed hash of the subject, never the claims. The credentials handed to a wallet are kept,
sealed, on its access token while it may fetch them again (a lost response), no longer.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

__all__ = [
    "MAX_BIG_ROW_ID",
    "MAX_ROW_ID",
    "AccessToken",
    "Agency",
    "AgencyToken",
    "Approval",
    "AuditEvent",
    "DeferredIssuance",
    "IssuedCredential",
    "Nonce",
    "Offer",
    "OfferState",
    "StatusListRecord",
    "TrustListPublication",
]


# Integer primary keys are SQL INTEGER: 32-bit on PostgreSQL. An id from outside (a path or
# query parameter) above this is refused before it reaches a query, where it would fail.
MAX_ROW_ID = 2**31 - 1
# Issued credentials and audit events grow with every issuance (batches of ten, a nation,
# years): their ids are BIGINT (SQLite's INTEGER rowid is 64-bit already).
MAX_BIG_ROW_ID = 2**63 - 1
_BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class OfferState(StrEnum):
    OFFERED = "offered"  # the pre-authorized code is waiting to be redeemed
    # Exchanged for an access token; credentials not yet issued. Once the token has expired
    # unused the offer is stuck: the agency sees it and may re-offer it (claims kept sealed).
    REDEEMED = "redeemed"
    ISSUED = "issued"  # credentials issued; claims wiped
    DEAD = "dead"  # too many wrong transaction codes, withdrawn, or denied; claims wiped


class Approval(StrEnum):
    APPROVED = "approved"
    PENDING = "pending"  # the credential endpoint defers (OID4VCI 1.0 §9)
    DENIED = "denied"


class Agency(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, max_length=64)
    name_ko: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    # Registry type ids this agency issues (the trust list authorises them by vct).
    credential_types: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: int = Field(sa_type=BigInteger)


class AgencyToken(SQLModel, table=True):
    """An admin API token; the token itself is shown once and stored as SHA-256."""

    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    token_hash: str = Field(unique=True, max_length=64)
    label: str = Field(max_length=100)
    created_at: int = Field(sa_type=BigInteger)
    revoked_at: int | None = Field(default=None, sa_type=BigInteger)


class Offer(SQLModel, table=True):
    # Random, unguessable: also the path of the offer by reference.
    id: str = Field(primary_key=True, max_length=64)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    credential_type: str = Field(max_length=64)  # registry id = credential configuration id
    # The claims, sealed under the context ``offer_claims_context(id)``; None once issued/dead.
    sealed_claims: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # Plain JSON claims written before migration 0003: sealed into `sealed_claims` and
    # cleared at start-up (`seal_legacy_claims`), never written again.
    legacy_claims: dict[str, Any] | None = Field(
        default=None, sa_column=Column("claims", JSON(none_as_null=True))
    )
    subject_hash: str = Field(index=True, max_length=64)
    pre_authorized_code_hash: str = Field(unique=True, max_length=64)
    # HMAC of the transaction code (a 6-digit code falls to brute force under plain SHA-256).
    tx_code_hash: str | None = Field(default=None, max_length=64)
    tx_code_length: int | None = None
    tx_code_description: str | None = Field(default=None, max_length=300)
    tx_code_attempts_left: int = 0
    # Indexed: the sweep of stale offers (`purge_stale_offers`, at every new offer) reads
    # only the few offers still open, not every offer ever made.
    state: str = Field(default=OfferState.OFFERED, max_length=16, index=True)
    approval: str = Field(default=Approval.APPROVED, max_length=16)
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)  # of the pre-authorized code
    redeemed_at: int | None = Field(default=None, sa_type=BigInteger)
    credential_expires_at: int | None = Field(default=None, sa_type=BigInteger)
    notification_id: str | None = Field(default=None, unique=True, max_length=64)
    notification_event: str | None = Field(default=None, max_length=32)
    # How many more times the token endpoint answers this redeemed offer's code again (a
    # lost token response); a wrong transaction code spends one too, so guesses stay bounded.
    token_answers_left: int = 0


class AccessToken(SQLModel, table=True):
    token_hash: str = Field(primary_key=True, max_length=64)
    offer_id: str = Field(foreign_key="offer.id", index=True)
    agency_id: int = Field(foreign_key="agency.id")
    created_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    # The credentials issued with this token, sealed, for a wallet whose response was lost;
    # deleted with the token when it expires.
    sealed_credentials: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    redeliveries_left: int = 0


class Nonce(SQLModel, table=True):
    """A `c_nonce` (OID4VCI 1.0 §7); consumed by deleting its row."""

    value_hash: str = Field(primary_key=True, max_length=64)
    agency_id: int = Field(foreign_key="agency.id")
    expires_at: int = Field(sa_type=BigInteger, index=True)


class DeferredIssuance(SQLModel, table=True):
    """A credential request parked until the agency approves (OID4VCI 1.0 §9)."""

    transaction_id_hash: str = Field(primary_key=True, max_length=64)
    offer_id: str = Field(foreign_key="offer.id", index=True)
    agency_id: int = Field(foreign_key="agency.id")
    # The holder keys proven in the original request, one credential each.
    holder_jwks: list[dict[str, str]] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: int = Field(sa_type=BigInteger)
    completed_at: int | None = Field(default=None, sa_type=BigInteger)


class StatusListRecord(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    size: int
    bits: int = 2
    created_at: int = Field(sa_type=BigInteger)
    # Bumped by every status change; the published token says which version it signed.
    version: int = 0
    token: str | None = None
    token_version: int | None = None
    token_issued_at: int | None = Field(default=None, sa_type=BigInteger)


class IssuedCredential(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("status_list_id", "status_index", name="uq_status_slot"),
        # Does a key still sign an unexpired credential? One seek a key (services.trust).
        Index("ix_issuedcredential_key_expiry", "agency_id", "signing_kid", "expires_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True))
    agency_id: int = Field(foreign_key="agency.id", index=True)
    offer_id: str | None = Field(default=None, foreign_key="offer.id", index=True)
    credential_type: str = Field(max_length=64)
    status_list_id: int = Field(foreign_key="statuslistrecord.id")
    status_index: int
    status: int = 0  # Token Status List value: 0 valid, 1 invalid (revoked), 2 suspended
    signing_kid: str = Field(max_length=64)
    subject_hash: str = Field(index=True, max_length=64)
    issued_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)
    status_changed_at: int | None = Field(default=None, sa_type=BigInteger)


class AuditEvent(SQLModel, table=True):
    """Append-only (database triggers refuse UPDATE and DELETE)."""

    id: int | None = Field(default=None, sa_column=Column(_BIG_ID, primary_key=True))
    agency_id: int = Field(foreign_key="agency.id", index=True)
    token_id: int | None = Field(default=None, foreign_key="agencytoken.id")
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=200)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    at: int = Field(sa_type=BigInteger)


class TrustListPublication(SQLModel, table=True):
    sequence: int = Field(primary_key=True)
    digest: str = Field(max_length=64)
    token: str
    issued_at: int = Field(sa_type=BigInteger)
    expires_at: int = Field(sa_type=BigInteger)


class RelyingPartyRegistration(SQLModel, table=True):
    """A counter the trust operator registered (keys.relying_party): published in the trust
    list, so that wallets know who may ask for what, and why."""

    id: str = Field(primary_key=True, max_length=100)  # the relying party's client_id
    entry: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    registered_at: int = Field(sa_type=BigInteger)
