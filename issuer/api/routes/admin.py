"""The agency admin API (`/admin/…`): offers, approvals, credentials' status, the audit log.

Every route authenticates the agency by its API token (`Authorization: Bearer jgat_…`) and
sees only that agency's records. Routes that write open their transaction in their own body
(one thread from start to end, so it queues for SQLite's lock like the services' do).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from issuer.api.deps import DeploymentDep, ReadPrincipalDep, ReadSessionDep
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import MAX_BIG_ROW_ID, IssuedCredential, Offer, OfferState
from issuer.services import admin
from issuer.services.offers import CreatedOffer, offer_reference_url
from protocols.oid4vci import offer_uri_by_reference
from servicekit.db import retrying, session_scope
from verifier.status_list import StatusValue

router = APIRouter(prefix="/admin", tags=["Agency admin"])

_LAST_SECOND_OF_9999 = 253_402_300_799  # 9999-12-31T23:59:59Z, the last an RFC 3339 date has


class OfferCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credential_type: str = Field(max_length=64)
    claims: dict[str, Any]
    subject: str | None = Field(default=None, max_length=200)
    tx_code: bool = True
    tx_code_description: str | None = Field(default=None, max_length=300)
    approval_required: bool = False
    # Epoch seconds; bounded so that it fits the database's BIGINT and a JWT `exp` that
    # every verifier can read (an unbounded int was a 500 at INSERT).
    credential_expires_at: int | None = Field(default=None, ge=0, le=_LAST_SECOND_OF_9999)


class OfferCreated(BaseModel):
    offer_id: str
    credential_offer: dict[str, Any]
    credential_offer_uri: str
    credential_offer_reference_uri: str
    tx_code: str | None
    expires_at: int


class OfferPublic(BaseModel):
    offer_id: str
    credential_type: str
    state: str
    approval: str
    created_at: int
    expires_at: int
    notification_event: str | None

    @classmethod
    def of(cls, offer: Offer) -> OfferPublic:
        return cls(
            offer_id=offer.id,
            credential_type=offer.credential_type,
            state=offer.state,
            approval=offer.approval,
            created_at=offer.created_at,
            expires_at=offer.expires_at,
            notification_event=offer.notification_event,
        )


class OfferProgress(OfferPublic):
    """An offer in a list: how far it got, and whether it is stuck (redeemed, its access
    token expired, no credential issued: re-offer it with `POST …/reoffer`)."""

    redeemed_at: int | None
    age_seconds: int  # since the offer was made
    stuck: bool

    @classmethod
    def listed(cls, offer: Offer, *, now: int, token_live: bool) -> OfferProgress:
        return cls(
            **OfferPublic.of(offer).model_dump(),
            redeemed_at=offer.redeemed_at,
            age_seconds=max(0, now - offer.created_at),
            stuck=offer.state == OfferState.REDEEMED and not token_live,
        )


def _offer_created(created: CreatedOffer) -> OfferCreated:
    return OfferCreated(
        offer_id=created.offer_id,
        credential_offer=created.credential_offer,
        credential_offer_uri=created.offer_uri,
        credential_offer_reference_uri=created.offer_reference_uri,
        tx_code=created.tx_code,
        expires_at=created.expires_at,
    )


class CredentialPublic(BaseModel):
    """What the service keeps of an issued credential: metadata, never claims."""

    id: int
    credential_type: str
    status: Literal["valid", "invalid", "suspended"]
    status_list_id: int
    status_index: int
    signing_kid: str
    issued_at: int
    expires_at: int
    status_changed_at: int | None

    @classmethod
    def of(cls, credential: IssuedCredential) -> CredentialPublic:
        assert credential.id is not None  # noqa: S101 - read from the database
        return cls(
            id=credential.id,
            credential_type=credential.credential_type,
            status=StatusValue(credential.status).name.lower(),  # type: ignore[arg-type]
            status_list_id=credential.status_list_id,
            status_index=credential.status_index,
            signing_kid=credential.signing_kid,
            issued_at=credential.issued_at,
            expires_at=credential.expires_at,
            status_changed_at=credential.status_changed_at,
        )


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=300)


class AuditEventPublic(BaseModel):
    id: int
    action: str
    target: str | None
    token_id: int | None
    detail: dict[str, Any]
    at: int


@router.post("/offers", status_code=201)
@retrying  # the body is the unit of work: its transaction, run again on a deadlock
def create_offer(
    body: OfferCreate, principal: ReadPrincipalDep, deployment: DeploymentDep
) -> OfferCreated:
    """A credential offer for one citizen; the claims are checked against the type's schema."""
    with session_scope(deployment.engine) as session:
        created = admin.make_offer(
            session,
            deployment,
            principal,
            type_id=body.credential_type,
            claims=body.claims,
            subject=body.subject,
            tx_code=body.tx_code,
            tx_code_description=body.tx_code_description,
            approval_required=body.approval_required,
            credential_expires_at=body.credential_expires_at,
        )
    return _offer_created(created)


@router.get("/offers")
def list_offers(
    principal: ReadPrincipalDep,
    session: ReadSessionDep,
    deployment: DeploymentDep,
    state: OfferState | None = None,
    stuck: bool = False,
    after_id: Annotated[str, Query(max_length=admin.OFFER_ID_LENGTH)] = "",
    limit: Annotated[int, Query(ge=1, le=admin.MAX_PAGE)] = 100,
) -> list[OfferProgress]:
    """The agency's offers (by id; page with `after_id`), in one `state` if given; `stuck`:
    those redeemed whose access token expired with no credential issued."""
    rows = admin.list_offers(
        session, deployment, principal, state=state, stuck=stuck, after_id=after_id, limit=limit
    )
    now = deployment.now()
    live = admin.live_token_offers(session, [row.id for row in rows], now)
    return [OfferProgress.listed(row, now=now, token_live=row.id in live) for row in rows]


@router.post("/offers/{offer_id}/reoffer", status_code=201)
def reoffer(offer_id: str, principal: ReadPrincipalDep, deployment: DeploymentDep) -> OfferCreated:
    """A fresh offer (new code and transaction code) with the sealed claims of a stuck one,
    which is withdrawn."""
    with session_scope(deployment.engine) as session:
        created = admin.reoffer(session, deployment, principal, offer_id=offer_id)
    return _offer_created(created)


@router.get("/offers/{offer_id}")
def get_offer(offer_id: str, principal: ReadPrincipalDep, session: ReadSessionDep) -> OfferPublic:
    return OfferPublic.of(admin.get_offer(session, principal, offer_id))


@router.get(
    "/offers/{offer_id}/qr",
    responses={200: {"content": {"image/png": {}, "image/svg+xml": {}}}},
    response_class=Response,
)
def offer_qr(
    offer_id: str,
    principal: ReadPrincipalDep,
    session: ReadSessionDep,
    deployment: DeploymentDep,
    image_format: Annotated[Literal["png", "svg"], Query(alias="format")] = "png",
) -> Response:
    """The offer as a QR code of its `openid-credential-offer://` URI (by reference: small)."""
    from verifier.qr_image import render_png, render_svg

    offer = admin.get_offer(session, principal, offer_id)
    if offer.state != OfferState.OFFERED:
        raise AdminError(AdminErrorCode.CONFLICT, f"the offer is {offer.state}")
    uri = offer_uri_by_reference(offer_reference_url(deployment, principal.agency.slug, offer.id))
    headers = {"Cache-Control": "no-store"}
    if image_format == "svg":
        return Response(render_svg(uri), media_type="image/svg+xml", headers=headers)
    return Response(render_png(uri), media_type="image/png", headers=headers)


@router.post("/offers/{offer_id}/approve")
@retrying  # the body is the unit of work: its transaction, run again on a deadlock
def approve_offer(
    offer_id: str, principal: ReadPrincipalDep, deployment: DeploymentDep
) -> OfferPublic:
    """Let a deferred issuance complete at the wallet's next poll."""
    with session_scope(deployment.engine) as session:
        decided = admin.decide_offer(
            session, deployment, principal, offer_id=offer_id, approve=True
        )
    return OfferPublic.of(decided)


@router.post("/offers/{offer_id}/deny")
@retrying  # the body is the unit of work: its transaction, run again on a deadlock
def deny_offer(
    offer_id: str, principal: ReadPrincipalDep, deployment: DeploymentDep
) -> OfferPublic:
    with session_scope(deployment.engine) as session:
        decided = admin.decide_offer(
            session, deployment, principal, offer_id=offer_id, approve=False
        )
    return OfferPublic.of(decided)


@router.get("/credentials")
def list_credentials(
    principal: ReadPrincipalDep,
    session: ReadSessionDep,
    deployment: DeploymentDep,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    credential_type: Annotated[str | None, Query(max_length=64)] = None,
    after_id: Annotated[int, Query(ge=0, le=MAX_BIG_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=admin.MAX_PAGE)] = 100,
) -> list[CredentialPublic]:
    """Issued credentials (metadata only), oldest first; page with `after_id`."""
    rows = admin.list_credentials(
        session,
        deployment,
        principal,
        subject=subject,
        credential_type=credential_type,
        after_id=after_id,
        limit=limit,
    )
    return [CredentialPublic.of(row) for row in rows]


@router.get("/credentials/{credential_id}")
def get_credential(
    credential_id: Annotated[int, Path(ge=1, le=MAX_BIG_ROW_ID)],
    principal: ReadPrincipalDep,
    session: ReadSessionDep,
) -> CredentialPublic:
    return CredentialPublic.of(admin.get_credential(session, principal, credential_id))


@router.post("/credentials/{credential_id}/{action}")
@retrying  # the body is the unit of work: its transaction, run again on a deadlock
def change_status(
    credential_id: Annotated[int, Path(ge=1, le=MAX_BIG_ROW_ID)],
    action: Literal["revoke", "suspend", "unsuspend"],
    principal: ReadPrincipalDep,
    deployment: DeploymentDep,
    body: StatusChange | None = None,
) -> CredentialPublic:
    """Revoke (final), suspend or unsuspend; the status list shows it at its next fetch."""
    with session_scope(deployment.engine) as session:
        changed = admin.change_credential_status(
            session,
            deployment,
            principal,
            credential_id=credential_id,
            action=action,
            reason=body.reason if body else None,
        )
    return CredentialPublic.of(changed)


@router.get("/audit-events")
def audit_events(
    principal: ReadPrincipalDep,
    session: ReadSessionDep,
    after_id: Annotated[int, Query(ge=0, le=MAX_BIG_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=admin.MAX_PAGE)] = 100,
) -> list[AuditEventPublic]:
    rows = admin.list_audit_events(session, principal, after_id=after_id, limit=limit)
    return [
        AuditEventPublic(
            id=row.id or 0,
            action=row.action,
            target=row.target,
            token_id=row.token_id,
            detail=row.detail,
            at=row.at,
        )
        for row in rows
    ]
