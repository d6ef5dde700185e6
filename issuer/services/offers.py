"""Credential offers (OID4VCI 1.0 §4): an agency's claims for a citizen, waiting for a wallet.

The claims are checked against the type's schema now, not at issuance: an agency learns of
bad data while it still has the citizen's file open. They are stored sealed (the
deployment's ``Sealer``: a data key per offer, bound to the offer's id, so that a sealed blob
moved to another row does not open) and dropped once issued or dead. The pre-authorized
code and the transaction code are returned once, here, and stored only hashed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from credential_schemas import CredentialType
from credential_schemas.errors import SchemaRegistryError
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import AccessToken, Agency, Approval, Offer, OfferState
from issuer.services.deployment import Deployment
from issuer.tokens import keyed_hash, new_numeric_code, new_token, token_hash
from keys.encoding import json_dumps
from protocols.oid4vci import (
    TxCodeSpec,
    credential_offer,
    offer_uri_by_reference,
    offer_uri_by_value,
)
from servicekit.db import session_scope

__all__ = [
    "SUBJECT_PURPOSE",
    "TX_CODE_PURPOSE",
    "CreatedOffer",
    "create_offer",
    "credential_type_for",
    "offer_claims",
    "offer_claims_context",
    "offer_reference_url",
    "pre_authorized_code",
    "purge_stale_offers",
    "seal_claims",
    "seal_legacy_claims",
    "subject_hash",
]

SUBJECT_PURPOSE = "subject"
TX_CODE_PURPOSE = "tx_code"
PRE_AUTHORIZED_CODE_PURPOSE = "pre-authorized_code"
# Where no subject reference is given, the first of these claims present identifies the
# citizen (for "list/revoke everything of this person"); hashed, never stored in the clear.
_SUBJECT_CLAIMS = ("resident_registration_number", "employee_number")
CLAIMS_CONTEXT = "offer-claims"  # what a sealed offer blob is, bound with the offer's id
_LEGACY_BATCH = 500


@dataclass(frozen=True, slots=True)
class CreatedOffer:
    offer_id: str
    credential_offer: dict[str, Any]
    offer_uri: str  # by value: openid-credential-offer://?credential_offer=...
    offer_reference_uri: str  # by reference: ...?credential_offer_uri=...
    pre_authorized_code: str
    tx_code: str | None  # to deliver to the citizen by a second channel (SMS, letter)
    expires_at: int


def credential_type_for(deployment: Deployment, agency: Agency, type_id: str) -> CredentialType:
    """The registry type ``type_id``, if this agency may issue it."""
    if type_id not in agency.credential_types:
        try:
            deployment.registry.get(type_id)
        except SchemaRegistryError:
            raise AdminError(
                AdminErrorCode.UNKNOWN_CREDENTIAL_TYPE, f"no certificate type {type_id[:64]!r}"
            ) from None
        raise AdminError(AdminErrorCode.FORBIDDEN, f"this agency does not issue {type_id}")
    return deployment.registry.get(type_id)


def subject_hash(deployment: Deployment, agency: Agency, subject: str) -> str:
    # Keyed and per agency: two agencies' records of one citizen cannot be joined by hash.
    return keyed_hash(deployment.settings.hmac_key, SUBJECT_PURPOSE, f"{agency.slug}\x00{subject}")


def pre_authorized_code(deployment: Deployment, offer_id: str) -> str:
    """The offer's pre-authorized code, derived from its id under the deployment key.

    Stored only hashed, yet the offer by reference (§4.1.3) must hand it out again: deriving
    it gives the same code every time, and whoever can fetch the offer could read it anyway.
    """
    return keyed_hash(deployment.settings.hmac_key, PRE_AUTHORIZED_CODE_PURPOSE, offer_id)


def offer_reference_url(deployment: Deployment, slug: str, offer_id: str) -> str:
    return f"{deployment.issuer_id(slug)}/credential-offers/{offer_id}"


def offer_claims_context(offer_id: str) -> str:
    return f"{CLAIMS_CONTEXT}\x00{offer_id}"


def seal_claims(deployment: Deployment, offer_id: str, claims: Mapping[str, Any]) -> bytes:
    """``claims`` sealed for offer ``offer_id`` alone."""
    return deployment.sealer.seal(json_dumps(dict(claims)), context=offer_claims_context(offer_id))


def offer_claims(deployment: Deployment, offer: Offer) -> dict[str, Any]:
    """The claims of a pending offer, opened (they are never kept in the clear)."""
    if offer.sealed_claims is None:
        raise LookupError(f"offer {offer.id} holds no claims")
    plain = deployment.sealer.open(offer.sealed_claims, context=offer_claims_context(offer.id))
    claims = json.loads(plain)  # our own JSON, authenticated by the seal
    assert isinstance(claims, dict)  # noqa: S101 - sealed from a dict
    return claims


def seal_legacy_claims(deployment: Deployment) -> int:
    """Seal the plain claims of offers written before migration 0003 and clear them; called at
    start-up (a migration holds no key). Returns how many were sealed.

    Claims of offers that can no longer be issued are dropped instead. Each batch clears
    every row it reads, so the loop ends."""
    deployment.sealer  # noqa: B018 - opened now: a passphrase that cannot open it stops the start
    sealed, sqlite = 0, deployment.engine.dialect.name == "sqlite"
    while True:
        with session_scope(deployment.engine) as session:
            if sqlite:  # the plain text's old cells are zeroed, not left in free space
                session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
            batch = list(
                session.exec(
                    select(Offer).where(col(Offer.legacy_claims).is_not(None)).limit(_LEGACY_BATCH)
                )
            )
            for offer in batch:
                pending = offer.state in (OfferState.OFFERED, OfferState.REDEEMED)
                if pending and isinstance(offer.legacy_claims, dict):
                    offer.sealed_claims = seal_claims(deployment, offer.id, offer.legacy_claims)
                    sealed += 1
                offer.legacy_claims = None
                session.add(offer)
        if len(batch) < _LEGACY_BATCH:
            break
    if sealed and sqlite:
        # The WAL still holds the old pages: fold it into the file and empty it (best effort:
        # a reader of another process can hold it; its next checkpoint folds it then).
        raw = deployment.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    return sealed


def purge_stale_offers(session: Session, deployment: Deployment) -> int:
    """Wipe the claims of offers that can no longer lead to a credential, and drop expired
    access tokens (and with them the credentials they could fetch again); returns how many
    offers died.

    An unredeemed offer past its code's expiry is dead. A redeemed one whose access token
    expired unused is stuck, not dead: it keeps its sealed claims so that the agency can
    re-offer it (``GET /admin/offers?stuck=true``), as long as a deferred offer may wait for
    its wallet (``deferred_token_seconds``); then it dies too.
    """
    now, settings = deployment.now(), deployment.settings
    dead = ((col(Offer.state) == OfferState.OFFERED) & (col(Offer.expires_at) <= now)) | (
        (col(Offer.state) == OfferState.REDEEMED)
        & (col(Offer.redeemed_at) <= now - settings.deferred_token_seconds)
    )
    result = session.exec(
        update(Offer).where(dead).values(state=OfferState.DEAD, sealed_claims=None)
    )
    # An expired access token answers as an unknown one: its row only takes up space.
    session.exec(delete(AccessToken).where(col(AccessToken.expires_at) <= now))
    return int(result.rowcount)


def _refuse_unencodable(**fields: object) -> None:
    """A JSON `\\ud800` escape parses to a lone surrogate, which schemas let through but no
    UTF-8 text can carry: the credential signed from it, or the offer shown, would fail later."""
    for name, value in fields.items():
        try:
            json_dumps(value)
        except (UnicodeEncodeError, ValueError):
            code = (
                AdminErrorCode.INVALID_CLAIMS
                if name == "claims"
                else AdminErrorCode.INVALID_REQUEST
            )
            raise AdminError(code, f"{name}: not valid Unicode text") from None


def create_offer(
    session: Session,
    deployment: Deployment,
    *,
    agency: Agency,
    type_id: str,
    claims: Mapping[str, Any],
    subject: str | None = None,
    tx_code: bool = True,
    tx_code_description: str | None = None,
    approval_required: bool = False,
    credential_expires_at: int | None = None,
    known_subject_hash: str | None = None,
) -> CreatedOffer:
    """A new offer; ``known_subject_hash`` (a re-offer) stands for ``subject``."""
    credential_type = credential_type_for(deployment, agency, type_id)
    try:
        credential_type.validate(claims)
    except SchemaRegistryError as exc:
        raise AdminError(AdminErrorCode.INVALID_CLAIMS, exc.detail) from None
    _refuse_unencodable(claims=claims, subject=subject, tx_code_description=tx_code_description)
    if subject is None:
        subject = next((str(claims[c]) for c in _SUBJECT_CLAIMS if c in claims), None)
    if subject is None and known_subject_hash is None:
        raise AdminError(
            AdminErrorCode.INVALID_REQUEST,
            "give `subject`: the claims hold no resident registration or employee number",
        )
    purge_stale_offers(session, deployment)
    now, settings = deployment.now(), deployment.settings
    if credential_expires_at is not None and credential_expires_at <= now:
        raise AdminError(AdminErrorCode.INVALID_REQUEST, "credential_expires_at is in the past")

    offer_id = new_token()[:32]
    code = pre_authorized_code(deployment, offer_id)
    tx_spec = (
        TxCodeSpec(settings.tx_code_length, description=tx_code_description) if tx_code else None
    )
    tx_value = new_numeric_code(settings.tx_code_length) if tx_code else None
    offer = Offer(
        id=offer_id,
        agency_id=agency.id,  # type: ignore[arg-type]
        credential_type=credential_type.id,
        sealed_claims=seal_claims(deployment, offer_id, claims),
        subject_hash=known_subject_hash or subject_hash(deployment, agency, subject or ""),
        pre_authorized_code_hash=token_hash(code),
        tx_code_hash=(
            keyed_hash(settings.hmac_key, TX_CODE_PURPOSE, tx_value) if tx_value else None
        ),
        tx_code_length=settings.tx_code_length if tx_code else None,
        tx_code_description=tx_code_description,
        tx_code_attempts_left=settings.tx_code_attempts if tx_code else 0,
        approval=Approval.PENDING if approval_required else Approval.APPROVED,
        created_at=now,
        expires_at=now + settings.pre_authorized_code_seconds,
        credential_expires_at=credential_expires_at,
    )
    session.add(offer)
    session.flush()
    offer_object = credential_offer(
        deployment.issuer_id(agency.slug), [credential_type.id], code, tx_spec
    )
    return CreatedOffer(
        offer_id=offer.id,
        credential_offer=offer_object,
        offer_uri=offer_uri_by_value(offer_object),
        offer_reference_uri=offer_uri_by_reference(
            offer_reference_url(deployment, agency.slug, offer.id)
        ),
        pre_authorized_code=code,
        tx_code=tx_value,
        expires_at=offer.expires_at,
    )
