"""The wallet-facing protocol (OID4VCI 1.0, pre-authorized code flow), over the database.

Every one-time value is consumed by a conditional UPDATE or DELETE whose row count decides
who won, inside the transaction that acts on it: two processes racing for one
pre-authorized code, nonce or transaction id get one success and one error, never two.
An offer's state changes the same way (UPDATE … WHERE state = the state expected), and a
request that acts on a redeemed offer locks its row first, so that retries of one access
token queue behind each other instead of each issuing a credential set.

Each service function is one transaction, run again once if the database chose it as a
deadlock's victim (``retrying``).

The token endpoint is ``issuer.services.token_endpoint``. A lost answer can be asked for
again (``issuer.services.redelivery``): the same access token gets the credentials issued
with it again, a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, event, update
from sqlmodel import Session, col, select

from issuer import observability as observe
from issuer.credential import StatusReference, issue_sd_jwt_vc
from issuer.models import (
    AccessToken,
    Agency,
    Approval,
    AuditEvent,
    DeferredIssuance,
    IssuedCredential,
    Nonce,
    Offer,
    OfferState,
)
from issuer.services.deployment import Deployment, FaultPoint
from issuer.services.offers import offer_claims
from issuer.services.redelivery import keep_for_redelivery, redelivery
from issuer.services.status_lists import allocate_credential_slot, status_list_uri
from issuer.tokens import new_token, token_hash
from keys.jwk import PublicKey, public_key_from_jwk
from protocols.oid4vci import (
    CredentialRequest,
    KeyProof,
    NotificationRequest,
    verify_jwt_proof,
)
from protocols.oid4vci.errors import (
    BearerTokenError,
    CredentialErrorCode,
    CredentialRequestError,
    NotificationError,
    NotificationErrorCode,
    OAuthErrorCode,
)
from servicekit.db import retrying, session_scope

__all__ = [
    "CREDENTIAL_ISSUED",
    "Deferred",
    "Issued",
    "agency_by_slug",
    "deferred_credentials",
    "issue_credentials",
    "new_nonce",
    "notify",
]

CREDENTIAL_ISSUED = "credential.issue"  # the audit event of each credential issued


@dataclass(frozen=True, slots=True)
class Issued:
    credentials: tuple[str, ...]
    notification_id: str


@dataclass(frozen=True, slots=True)
class Deferred:
    transaction_id: str
    interval: int


def agency_by_slug(session: Session, slug: str) -> Agency | None:
    return session.exec(select(Agency).where(Agency.slug == slug)).first()


# --- Nonce endpoint (§7) -------------------------------------------------------------------


@retrying
def new_nonce(deployment: Deployment, *, slug: str) -> str | None:
    """A fresh `c_nonce` for agency ``slug`` (None if there is no such agency)."""
    now = deployment.now()
    nonce = new_token()
    with session_scope(deployment.engine) as session:
        agency = agency_by_slug(session, slug)
        if agency is None or agency.id is None:
            return None
        session.exec(delete(Nonce).where(col(Nonce.expires_at) <= now))
        # With them the credentials they could fetch again (redelivery): gone once expired.
        session.exec(delete(AccessToken).where(col(AccessToken.expires_at) <= now))
        session.add(
            Nonce(
                value_hash=token_hash(nonce),
                agency_id=agency.id,
                expires_at=now + deployment.settings.nonce_seconds,
            )
        )
    return nonce


# --- Credential endpoint (§8) and deferred endpoint (§9) ------------------------------------


def _authorised_offer(
    session: Session, *, slug: str, access_token: str | None, now: int, lock: bool = False
) -> tuple[Agency, Offer]:
    """The agency and the offer ``access_token`` was issued for; with ``lock``, the offer's
    row is locked until the transaction ends, so that requests acting on it run one by one."""
    if not access_token:
        raise BearerTokenError("an access token is required", token_given=False)
    token = session.get(AccessToken, token_hash(access_token))
    agency = agency_by_slug(session, slug)
    if token is None or agency is None or token.agency_id != agency.id or token.expires_at <= now:
        raise BearerTokenError("unknown or expired access token")
    # FOR NO KEY UPDATE: serialises the requests of one offer, while the rows that merely
    # refer to it (access tokens, credentials) can still be inserted.
    offer = session.get(
        Offer, token.offer_id, with_for_update={"key_share": True} if lock else None
    )
    assert offer is not None  # noqa: S101 - a foreign key
    return agency, offer


@retrying
def issue_credentials(
    deployment: Deployment, *, slug: str, access_token: str | None, request: CredentialRequest
) -> Issued | Deferred:
    now, settings = deployment.now(), deployment.settings
    with session_scope(deployment.engine) as session:
        agency, offer = _authorised_offer(
            session, slug=slug, access_token=access_token, now=now, lock=True
        )
        if request.configuration_id not in agency.credential_types:
            raise CredentialRequestError(
                CredentialErrorCode.UNKNOWN_CREDENTIAL_CONFIGURATION,
                "not a credential configuration of this issuer",
            )
        if request.configuration_id != offer.credential_type:
            raise BearerTokenError(
                "the access token does not cover this configuration",
                OAuthErrorCode.INSUFFICIENT_SCOPE,
            )
        if offer.state == OfferState.ISSUED:
            # Issued already: to this token (its answer was lost), the same credentials again.
            proofs = _verified_proofs(deployment, slug, request.proofs, now)
            _consume_nonces(session, agency, proofs, now)
            holder_kids = frozenset(proof.holder_key.kid for proof in proofs)
            again = redelivery(session, deployment, offer, access_token or "", holder_kids, now)
            if again is not None:
                return Issued(again.credentials, again.notification_id)
        if offer.state != OfferState.REDEEMED:
            raise CredentialRequestError(
                CredentialErrorCode.CREDENTIAL_REQUEST_DENIED, "this offer was already issued"
            )
        if session.exec(
            select(DeferredIssuance).where(DeferredIssuance.offer_id == offer.id)
        ).first():
            raise CredentialRequestError(
                CredentialErrorCode.CREDENTIAL_REQUEST_DENIED,
                "this offer is deferred: use the deferred credential endpoint",
            )
        proofs = _verified_proofs(deployment, slug, request.proofs, now)
        _consume_nonces(session, agency, proofs, now)
        holder_keys = [proof.holder_key for proof in proofs]

        refusal = _refusal(offer, now)
        if refusal is not None:
            _kill(session, offer)
        elif offer.approval == Approval.PENDING:
            transaction_id = new_token()
            session.add(
                DeferredIssuance(
                    transaction_id_hash=token_hash(transaction_id),
                    offer_id=offer.id,
                    agency_id=offer.agency_id,
                    holder_jwks=[key.to_jwk() for key in holder_keys],
                    created_at=now,
                )
            )
            # The wallet comes back later with the same token (§9): keep it valid that long.
            session.exec(
                update(AccessToken)
                .where(col(AccessToken.token_hash) == token_hash(access_token or ""))
                .values(expires_at=now + settings.deferred_token_seconds)
            )
            return Deferred(transaction_id, settings.deferred_interval_seconds)
        else:
            issued = _issue(session, deployment, agency, offer, holder_keys, now)
            keep_for_redelivery(
                session, deployment, access_token or "", issued.credentials, holder_keys, now
            )
            return issued
    # Outside the transaction, so that the offer's death is committed before the error.
    raise CredentialRequestError(CredentialErrorCode.CREDENTIAL_REQUEST_DENIED, refusal)


@retrying
def deferred_credentials(
    deployment: Deployment, *, slug: str, access_token: str | None, transaction_id: str
) -> Issued | Deferred:
    now = deployment.now()
    with session_scope(deployment.engine) as session:
        agency, offer = _authorised_offer(
            session, slug=slug, access_token=access_token, now=now, lock=True
        )
        deferral = session.get(DeferredIssuance, token_hash(transaction_id))
        if (
            deferral is not None
            and deferral.completed_at is not None
            and deferral.offer_id == offer.id
        ):
            # Completed already: its answer was lost; the same credentials again.
            again = redelivery(session, deployment, offer, access_token or "", None, now)
            if again is not None:
                return Issued(again.credentials, again.notification_id)
        if deferral is None or deferral.offer_id != offer.id or deferral.completed_at is not None:
            raise CredentialRequestError(
                CredentialErrorCode.INVALID_TRANSACTION_ID, "unknown or completed transaction"
            )
        if offer.approval == Approval.PENDING:
            return Deferred(transaction_id, deployment.settings.deferred_interval_seconds)
        # §9.3: the transaction id is invalidated once used; only one request completes it.
        completed = session.exec(
            update(DeferredIssuance)
            .where(
                col(DeferredIssuance.transaction_id_hash) == deferral.transaction_id_hash,
                col(DeferredIssuance.completed_at).is_(None),
            )
            .values(completed_at=now)
        )
        if completed.rowcount != 1:
            raise CredentialRequestError(
                CredentialErrorCode.INVALID_TRANSACTION_ID, "unknown or completed transaction"
            )
        refusal = _refusal(offer, now)
        if refusal is None:
            keys = [public_key_from_jwk(jwk) for jwk in deferral.holder_jwks]
            issued = _issue(session, deployment, agency, offer, keys, now)
            keep_for_redelivery(
                session, deployment, access_token or "", issued.credentials, keys, now
            )
            return issued
        _kill(session, offer)
    raise CredentialRequestError(CredentialErrorCode.CREDENTIAL_REQUEST_DENIED, refusal)


def _refusal(offer: Offer, now: int) -> str | None:
    """Why this offer can no longer be issued, or None."""
    if offer.approval == Approval.DENIED:
        return "the agency declined this offer"
    if offer.credential_expires_at is not None and offer.credential_expires_at <= now:
        # A late approval must not hand out a credential that is already expired.
        return "the credential's validity ended before it could be issued"
    return None


def _verified_proofs(
    deployment: Deployment, slug: str, proofs: Sequence[str], now: int
) -> list[KeyProof]:
    settings = deployment.settings
    verified = [
        verify_jwt_proof(
            proof,
            audience=deployment.issuer_id(slug),
            algorithms=settings.proof_algorithm_set,
            now=now,
            max_age=settings.proof_max_age_seconds,
            clock_skew=settings.proof_clock_skew_seconds,
        )
        for proof in proofs
    ]
    # One credential per key (§8.3): the same key twice would link the copies.
    if len({proof.holder_key.kid for proof in verified}) != len(verified):
        raise CredentialRequestError(CredentialErrorCode.INVALID_PROOF, "a key is proven twice")
    return verified


def _consume_nonces(session: Session, agency: Agency, proofs: Sequence[KeyProof], now: int) -> None:
    nonces = {proof.nonce for proof in proofs}
    if None in nonces:
        # §8.3.1.2: a key proof without a c_nonce is an invalid proof.
        raise CredentialRequestError(CredentialErrorCode.INVALID_PROOF, "a proof has no nonce")
    for nonce in sorted(n for n in nonces if n is not None):
        consumed = session.exec(
            delete(Nonce).where(
                col(Nonce.value_hash) == token_hash(nonce),
                col(Nonce.agency_id) == agency.id,
                col(Nonce.expires_at) > now,
            )
        )
        if consumed.rowcount != 1:
            raise CredentialRequestError(
                CredentialErrorCode.INVALID_NONCE, "unknown, used or expired c_nonce"
            )


def _issue(
    session: Session,
    deployment: Deployment,
    agency: Agency,
    offer: Offer,
    holder_keys: Sequence[PublicKey],
    now: int,
) -> Issued:
    claims = offer_claims(deployment, offer)  # wiped only with state ISSUED/DEAD
    deployment.fault_point(FaultPoint.SIGNING)
    credential_type = deployment.registry.get(offer.credential_type)
    signer = deployment.signer(agency.slug)
    expires_at = offer.credential_expires_at or now + int(credential_type.validity.total_seconds())
    credentials: list[str] = []
    for holder_key in holder_keys:
        record = allocate_credential_slot(
            session,
            deployment,
            agency=agency,
            credential=IssuedCredential(
                agency_id=offer.agency_id,
                offer_id=offer.id,
                credential_type=credential_type.id,
                status_list_id=0,
                status_index=0,
                signing_kid=signer.kid,
                subject_hash=offer.subject_hash,
                issued_at=now,
                expires_at=expires_at,
            ),
        )
        status = StatusReference(
            status_list_uri(deployment, agency.slug, record.status_list_id), record.status_index
        )
        issued = issue_sd_jwt_vc(
            credential_type,
            claims,
            issuer_id=deployment.issuer_id(agency.slug),
            signing_key=signer,
            holder_key=holder_key,
            status=status,
            now=now,
            expires_at=expires_at,
            vct_integrity=deployment.settings.vct_integrity,
        )
        credentials.append(issued.compact)
        _audit_issued(session, record, now)
    notification_id = new_token()[:32]
    # Data minimisation: the claims have done their job.
    issued_offer = session.exec(
        update(Offer)
        .where(col(Offer.id) == offer.id, col(Offer.state) == OfferState.REDEEMED)
        .values(state=OfferState.ISSUED, sealed_claims=None, notification_id=notification_id)
    )
    if issued_offer.rowcount != 1:  # never, while the caller holds the row; if so, undo all
        raise CredentialRequestError(
            CredentialErrorCode.CREDENTIAL_REQUEST_DENIED, "this offer was already issued"
        )
    # Logged when the transaction commits: one rolled back (signer, database) issued nothing.
    event.listen(
        session,
        "after_commit",
        lambda _: observe.credentials_issued(agency.slug, credential_type.id, len(credentials)),
        once=True,
    )
    return Issued(tuple(credentials), notification_id)


def _audit_issued(session: Session, credential: IssuedCredential, now: int) -> None:
    """The issuance in the agency's audit log: what and where, never a claim or the subject.
    No agency token acted (``token_id`` None): a wallet did."""
    session.add(
        AuditEvent(
            agency_id=credential.agency_id,
            token_id=None,
            action=CREDENTIAL_ISSUED,
            target=str(credential.id),
            detail={
                "credential_type": credential.credential_type,
                "status_list_id": credential.status_list_id,
                "status_index": credential.status_index,
            },
            at=now,
        )
    )


def _kill(session: Session, offer: Offer) -> None:
    session.exec(
        update(Offer)
        .where(
            col(Offer.id) == offer.id,
            col(Offer.state).in_((OfferState.OFFERED, OfferState.REDEEMED)),
        )
        .values(state=OfferState.DEAD, sealed_claims=None)
    )


# --- Notification endpoint (§11) ------------------------------------------------------------


@retrying
def notify(
    deployment: Deployment, *, slug: str, access_token: str | None, request: NotificationRequest
) -> None:
    """Record the wallet's event; repeating the same notification is fine (§11: idempotent)."""
    now = deployment.now()
    with session_scope(deployment.engine) as session:
        _, offer = _authorised_offer(session, slug=slug, access_token=access_token, now=now)
        if offer.notification_id is None or offer.notification_id != request.notification_id:
            raise NotificationError(
                NotificationErrorCode.INVALID_NOTIFICATION_ID, "unknown notification_id"
            )
        # The event is recorded against the notification it names, whatever else raced it.
        session.exec(
            update(Offer)
            .where(col(Offer.id) == offer.id, col(Offer.notification_id) == request.notification_id)
            .values(notification_event=request.event)
        )
