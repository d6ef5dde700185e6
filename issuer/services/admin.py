"""The agency admin API's service: who is calling, and what an agency may do to its records.

Every function takes the calling ``AgencyPrincipal`` and touches only that agency's rows:
a record of another agency is "not found", never "forbidden", so that its existence is not
revealed. Each action that changes something appends an ``AuditEvent`` in the same
transaction, so that there is no change without its record.

A change is decided on the row as it is now: the row is read locked (``for_update``), so
that two decisions racing for one offer or one credential (approve and deny, revoke and
unsuspend) are taken one after the other, the second seeing the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from issuer import observability as observe
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import (
    AccessToken,
    Agency,
    AgencyToken,
    Approval,
    AuditEvent,
    IssuedCredential,
    Offer,
    OfferState,
)
from issuer.services.deployment import Deployment
from issuer.services.offers import CreatedOffer, create_offer, offer_claims, subject_hash
from issuer.services.status_lists import set_credential_status
from issuer.tokens import new_token, token_hash
from verifier.status_list import StatusValue

__all__ = [
    "ADMIN_TOKEN_PREFIX",
    "AgencyPrincipal",
    "StatusAction",
    "authenticate",
    "change_credential_status",
    "create_agency_token",
    "decide_offer",
    "get_credential",
    "get_offer",
    "list_audit_events",
    "list_credentials",
    "list_offers",
    "live_token_offers",
    "make_offer",
    "record",
    "reoffer",
]

ADMIN_TOKEN_PREFIX = "jgat_"  # noqa: S105 - a prefix that makes leaked tokens greppable
MAX_PAGE = 1000
OFFER_ID_LENGTH = 64  # the column's width; a longer id names no offer


@dataclass(frozen=True, slots=True)
class AgencyPrincipal:
    agency: Agency
    token_id: int


def create_agency_token(session: Session, *, agency: Agency, label: str, now: int) -> str:
    """A new admin token for ``agency``: returned once, stored as its SHA-256."""
    token = new_token(ADMIN_TOKEN_PREFIX)
    session.add(
        AgencyToken(
            agency_id=agency.id,  # type: ignore[arg-type]
            token_hash=token_hash(token),
            label=label,
            created_at=now,
        )
    )
    return token


def authenticate(session: Session, token: str | None) -> AgencyPrincipal:
    if not token:
        raise AdminError(AdminErrorCode.UNAUTHENTICATED, "an agency API token is required")
    row = session.exec(
        select(AgencyToken).where(AgencyToken.token_hash == token_hash(token))
    ).first()
    if row is None or row.revoked_at is not None or row.id is None:
        raise AdminError(AdminErrorCode.UNAUTHENTICATED, "unknown or revoked API token")
    agency = session.get(Agency, row.agency_id)
    assert agency is not None  # noqa: S101 - a foreign key
    return AgencyPrincipal(agency, row.id)


def record(
    session: Session,
    principal: AgencyPrincipal,
    action: str,
    *,
    target: str | None,
    now: int,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append an audit event (never a claim value or a secret in ``detail``)."""
    session.add(
        AuditEvent(
            agency_id=principal.agency.id,  # type: ignore[arg-type]
            token_id=principal.token_id,
            action=action,
            target=target,
            detail=dict(detail or {}),
            at=now,
        )
    )


def make_offer(
    session: Session,
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    type_id: str,
    claims: Mapping[str, Any],
    subject: str | None = None,
    tx_code: bool = True,
    tx_code_description: str | None = None,
    approval_required: bool = False,
    credential_expires_at: int | None = None,
) -> CreatedOffer:
    created = create_offer(
        session,
        deployment,
        agency=principal.agency,
        type_id=type_id,
        claims=claims,
        subject=subject,
        tx_code=tx_code,
        tx_code_description=tx_code_description,
        approval_required=approval_required,
        credential_expires_at=credential_expires_at,
    )
    record(
        session,
        principal,
        "offer.create",
        target=created.offer_id,
        now=deployment.now(),
        detail={
            "credential_type": type_id,
            "tx_code": tx_code,
            "approval_required": approval_required,
        },
    )
    return created


def get_offer(
    session: Session, principal: AgencyPrincipal, offer_id: str, *, for_update: bool = False
) -> Offer:
    """One of the calling agency's offers (another agency's is "not found", as none)."""
    offer = (
        session.get(Offer, offer_id, **_locked(for_update))
        if len(offer_id) <= OFFER_ID_LENGTH
        else None
    )
    if offer is None or offer.agency_id != principal.agency.id:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such offer")
    return offer


def decide_offer(
    session: Session,
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    offer_id: str,
    approve: bool,
) -> Offer:
    """Approve or deny an offer waiting for approval (its wallet is polling, §9)."""
    offer = get_offer(session, principal, offer_id, for_update=True)
    if offer.approval != Approval.PENDING:
        raise AdminError(AdminErrorCode.CONFLICT, f"the offer is already {offer.approval}")
    offer.approval = Approval.APPROVED if approve else Approval.DENIED
    if not approve and offer.state in (OfferState.OFFERED, OfferState.REDEEMED):
        offer.state, offer.sealed_claims = OfferState.DEAD, None
    session.add(offer)
    record(
        session,
        principal,
        "offer.approve" if approve else "offer.deny",
        target=offer_id,
        now=deployment.now(),
    )
    return offer


def live_token_offers(session: Session, offer_ids: list[str], now: int) -> set[str]:
    """Which of ``offer_ids`` have an access token still valid: a wallet may still finish."""
    if not offer_ids:
        return set()
    query = select(AccessToken.offer_id).where(
        col(AccessToken.offer_id).in_(offer_ids), col(AccessToken.expires_at) > now
    )
    return set(session.exec(query))


def list_offers(
    session: Session,
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    state: OfferState | None = None,
    stuck: bool = False,
    after_id: str = "",
    limit: int = 100,
) -> list[Offer]:
    """The agency's offers by id (``after_id`` pages), in ``state`` if given; ``stuck``: the
    redeemed ones whose access token expired with no credential issued (to re-offer)."""
    query = select(Offer).where(Offer.agency_id == principal.agency.id, col(Offer.id) > after_id)
    if stuck:
        state = OfferState.REDEEMED
        live = select(AccessToken.offer_id).where(col(AccessToken.expires_at) > deployment.now())
        query = query.where(col(Offer.id).not_in(live))
    if state is not None:
        query = query.where(Offer.state == state)
    query = query.order_by(col(Offer.id)).limit(max(1, min(limit, MAX_PAGE)))
    return list(session.exec(query))


def reoffer(
    session: Session, deployment: Deployment, principal: AgencyPrincipal, *, offer_id: str
) -> CreatedOffer:
    """A fresh offer (new code, new transaction code) with the claims of a stuck one, which
    dies: its wallet's token expired with no credential issued (a failure or a lost answer)."""
    offer = get_offer(session, principal, offer_id)
    now = deployment.now()
    if offer.state != OfferState.REDEEMED or offer.sealed_claims is None:
        raise AdminError(
            AdminErrorCode.CONFLICT, f"only a stuck redeemed offer; it is {offer.state}"
        )
    if live_token_offers(session, [offer.id], now):
        raise AdminError(
            AdminErrorCode.CONFLICT, "the wallet's access token is still valid: it may finish"
        )
    claims = offer_claims(deployment, offer)
    # Conditional: a credential request finishing at this moment wins, or this does; not both.
    retired = session.exec(
        update(Offer)
        .where(col(Offer.id) == offer.id, col(Offer.state) == OfferState.REDEEMED)
        .values(state=OfferState.DEAD, sealed_claims=None)
    )
    if retired.rowcount != 1:
        raise AdminError(AdminErrorCode.CONFLICT, "the offer changed meanwhile")
    session.exec(delete(AccessToken).where(col(AccessToken.offer_id) == offer.id))
    created = create_offer(
        session,
        deployment,
        agency=principal.agency,
        type_id=offer.credential_type,
        claims=claims,
        tx_code=offer.tx_code_hash is not None,
        tx_code_description=offer.tx_code_description,
        approval_required=offer.approval == Approval.PENDING,
        credential_expires_at=offer.credential_expires_at,
        known_subject_hash=offer.subject_hash,
    )
    record(
        session,
        principal,
        "offer.reoffer",
        target=offer.id,
        now=now,
        detail={"new_offer_id": created.offer_id, "credential_type": offer.credential_type},
    )
    return created


def get_credential(
    session: Session, principal: AgencyPrincipal, credential_id: int, *, for_update: bool = False
) -> IssuedCredential:
    credential = session.get(IssuedCredential, credential_id, **_locked(for_update))
    if credential is None or credential.agency_id != principal.agency.id:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such credential")
    return credential


def list_credentials(
    session: Session,
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    subject: str | None = None,
    credential_type: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[IssuedCredential]:
    """Metadata of issued credentials, oldest first, paged by id (``after_id``)."""
    query = select(IssuedCredential).where(
        IssuedCredential.agency_id == principal.agency.id, col(IssuedCredential.id) > after_id
    )
    if subject is not None:
        query = query.where(
            IssuedCredential.subject_hash == subject_hash(deployment, principal.agency, subject)
        )
    if credential_type is not None:
        query = query.where(IssuedCredential.credential_type == credential_type)
    query = query.order_by(col(IssuedCredential.id)).limit(max(1, min(limit, MAX_PAGE)))
    return list(session.exec(query))


def _locked(for_update: bool) -> dict[str, Any]:
    # FOR NO KEY UPDATE: the row is ours to change; rows that refer to it may still be added.
    if not for_update:
        return {}
    return {"with_for_update": {"key_share": True}, "populate_existing": True}


class StatusAction:
    REVOKE = "revoke"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"


# action -> (statuses it may start from, status it sets)
_TRANSITIONS: dict[str, tuple[frozenset[int], StatusValue]] = {
    StatusAction.REVOKE: (
        frozenset({StatusValue.VALID, StatusValue.SUSPENDED}),
        StatusValue.INVALID,
    ),
    StatusAction.SUSPEND: (frozenset({StatusValue.VALID}), StatusValue.SUSPENDED),
    StatusAction.UNSUSPEND: (frozenset({StatusValue.SUSPENDED}), StatusValue.VALID),
}


def change_credential_status(
    session: Session,
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    credential_id: int,
    action: str,
    reason: str | None = None,
) -> IssuedCredential:
    """Revoke (final), suspend, or unsuspend one credential."""
    if action not in _TRANSITIONS:
        raise AdminError(AdminErrorCode.INVALID_REQUEST, f"unknown action {action[:32]!r}")
    credential = get_credential(session, principal, credential_id, for_update=True)
    allowed_from, target = _TRANSITIONS[action]
    if credential.status not in allowed_from:
        current = StatusValue(credential.status).name.lower()
        raise AdminError(AdminErrorCode.CONFLICT, f"cannot {action} a credential that is {current}")
    now = deployment.now()
    set_credential_status(session, credential=credential, status=target, now=now)
    record(
        session,
        principal,
        f"credential.{action}",
        target=str(credential_id),
        now=now,
        detail={"reason": reason} if reason else None,
    )
    observe.credential_status_changed(principal.agency.slug, credential_id, action)
    return credential


def list_audit_events(
    session: Session, principal: AgencyPrincipal, *, after_id: int = 0, limit: int = 100
) -> list[AuditEvent]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.agency_id == principal.agency.id, col(AuditEvent.id) > after_id)
        .order_by(col(AuditEvent.id))
        .limit(max(1, min(limit, MAX_PAGE)))
    )
    return list(session.exec(query))
