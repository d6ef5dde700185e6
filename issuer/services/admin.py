"""The agency admin API's service: who is calling, and what an agency may do to its records.

Every function takes the calling ``AgencyPrincipal`` and touches only that agency's rows:
a record of another agency is "not found", never "forbidden", so that its existence is not
revealed. Each action that changes something appends an ``AuditEvent`` in the same
transaction, so that there is no change without its record.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from issuer import observability as observe
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import (
    Agency,
    AgencyToken,
    Approval,
    AuditEvent,
    IssuedCredential,
    Offer,
    OfferState,
)
from issuer.services.deployment import Deployment
from issuer.services.offers import CreatedOffer, create_offer, subject_hash
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
    "make_offer",
    "record",
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


def get_offer(session: Session, principal: AgencyPrincipal, offer_id: str) -> Offer:
    """One of the calling agency's offers (another agency's is "not found", as none)."""
    offer = session.get(Offer, offer_id) if len(offer_id) <= OFFER_ID_LENGTH else None
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
    offer = get_offer(session, principal, offer_id)
    if offer.approval != Approval.PENDING:
        raise AdminError(AdminErrorCode.CONFLICT, f"the offer is already {offer.approval}")
    offer.approval = Approval.APPROVED if approve else Approval.DENIED
    if not approve and offer.state in (OfferState.OFFERED, OfferState.REDEEMED):
        offer.state, offer.claims = OfferState.DEAD, None
    session.add(offer)
    record(
        session,
        principal,
        "offer.approve" if approve else "offer.deny",
        target=offer_id,
        now=deployment.now(),
    )
    return offer


def get_credential(
    session: Session, principal: AgencyPrincipal, credential_id: int
) -> IssuedCredential:
    credential = session.get(IssuedCredential, credential_id)
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
    credential = get_credential(session, principal, credential_id)
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
