"""OID4VCI 1.0 endpoints of each agency (`/agencies/{slug}/…` and its well-known documents)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from issuer.api.deps import DeploymentDep, ReadSessionDep, bearer_token, read_json_body
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import Agency, Offer, OfferState
from issuer.services import issuance, token_endpoint
from issuer.services.deployment import Deployment, FaultPoint
from issuer.services.offers import pre_authorized_code
from issuer.services.trust import status_list_aggregation_uri
from protocols.oid4vci import (
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    IssuerEndpoints,
    TxCodeSpec,
    authorization_server_metadata,
    credential_issuer_metadata,
    credential_offer,
    parse_credential_request,
    parse_deferred_request,
    parse_notification_request,
    parse_token_request,
)
from protocols.oid4vci.errors import (
    CredentialErrorCode,
    CredentialRequestError,
    NotificationError,
    NotificationErrorCode,
)
from servicekit.http_errors import NO_STORE

router = APIRouter(tags=["OpenID4VCI"])

_SIGNING_ALGORITHMS = ["ES256", "EdDSA"]


def _agency(session: Session, slug: str) -> Agency:
    agency = issuance.agency_by_slug(session, slug)
    if agency is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such credential issuer")
    return agency


def _issuer_metadata(deployment: Deployment, agency: Agency) -> dict[str, object]:
    issuer_id = deployment.issuer_id(agency.slug)
    return credential_issuer_metadata(
        issuer_id,
        credential_types=[deployment.registry.get(t) for t in agency.credential_types],
        names={"ko": agency.name_ko, "en": agency.name_en},
        endpoints=IssuerEndpoints.for_issuer(issuer_id),
        batch_size=deployment.settings.batch_size,
        signing_algorithms=_SIGNING_ALGORITHMS,
        proof_algorithms=sorted(deployment.settings.proof_algorithms),
        status_list_aggregation_endpoint=status_list_aggregation_uri(deployment, agency.slug),
    )


@router.get(WELL_KNOWN_CREDENTIAL_ISSUER + "/agencies/{slug}")
def issuer_metadata(slug: str, deployment: DeploymentDep, session: ReadSessionDep) -> JSONResponse:
    """Credential Issuer Metadata (§12.2), generated from the registry."""
    return JSONResponse(_issuer_metadata(deployment, _agency(session, slug)))


@router.get(WELL_KNOWN_OAUTH_AS + "/agencies/{slug}")
def authorization_server(
    slug: str, deployment: DeploymentDep, session: ReadSessionDep
) -> JSONResponse:
    """RFC 8414 metadata: each agency is its own authorization server."""
    agency = _agency(session, slug)
    issuer_id = deployment.issuer_id(agency.slug)
    endpoints = IssuerEndpoints.for_issuer(issuer_id)
    document = authorization_server_metadata(
        issuer_id,
        token_endpoint=endpoints.token,
        status_list_aggregation_endpoint=status_list_aggregation_uri(deployment, agency.slug),
    )
    return JSONResponse(document)


@router.get("/agencies/{slug}/credential-offers/{offer_id}")
def offer_by_reference(
    slug: str, offer_id: str, deployment: DeploymentDep, session: ReadSessionDep
) -> JSONResponse:
    """The Credential Offer object behind a `credential_offer_uri` (§4.1.3)."""
    agency = _agency(session, slug)
    offer = session.get(Offer, offer_id[:64])
    if (
        offer is None
        or offer.agency_id != agency.id
        or offer.state != OfferState.OFFERED
        or offer.expires_at <= deployment.now()
    ):
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such offer, or it is no longer open")
    tx_code = (
        TxCodeSpec(
            offer.tx_code_length or deployment.settings.tx_code_length,
            description=offer.tx_code_description,
        )
        if offer.tx_code_hash is not None
        else None
    )
    body = credential_offer(
        deployment.issuer_id(slug),
        [offer.credential_type],
        pre_authorized_code(deployment, offer.id),
        tx_code,
    )
    return JSONResponse(body, headers=NO_STORE)


@router.post("/agencies/{slug}/token")
def token(
    slug: str,
    deployment: DeploymentDep,
    grant_type: Annotated[str | None, Form()] = None,
    pre_authorized_code: Annotated[str | None, Form(alias="pre-authorized_code")] = None,
    tx_code: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    """Token endpoint (§6): the pre-authorized code grant, with or without a transaction code."""
    form = {
        name: value
        for name, value in (
            ("grant_type", grant_type),
            ("pre-authorized_code", pre_authorized_code),
            ("tx_code", tx_code),
        )
        if value is not None
    }
    issued = token_endpoint.redeem_pre_authorized_code(
        deployment, slug=slug, request=parse_token_request(form)
    )
    deployment.fault_point(FaultPoint.TOKEN_ANSWER)  # tests only: committed, not yet answered
    body = {
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "expires_in": issued.expires_in,
    }
    return JSONResponse(body, headers=NO_STORE)


@router.post("/agencies/{slug}/nonce")
def nonce(slug: str, deployment: DeploymentDep) -> JSONResponse:
    """Nonce endpoint (§7): a fresh, single-use `c_nonce`; never cached (§7.2)."""
    value = issuance.new_nonce(deployment, slug=slug)
    if value is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such credential issuer")
    return JSONResponse({"c_nonce": value}, headers=NO_STORE)


def _credential_response(result: issuance.Issued | issuance.Deferred) -> JSONResponse:
    if isinstance(result, issuance.Deferred):
        body: dict[str, object] = {
            "transaction_id": result.transaction_id,
            "interval": result.interval,
        }
        return JSONResponse(body, status_code=202, headers=NO_STORE)
    body = {
        "credentials": [{"credential": c} for c in result.credentials],
        "notification_id": result.notification_id,
    }
    return JSONResponse(body, headers=NO_STORE)


_NOT_JSON = CredentialRequestError(
    CredentialErrorCode.INVALID_CREDENTIAL_REQUEST, "the body is not a JSON object"
)


@router.post("/agencies/{slug}/credential")
async def credential(slug: str, request: Request, deployment: DeploymentDep) -> JSONResponse:
    """Credential endpoint (§8): one credential per `jwt` key proof (batch)."""
    body = await read_json_body(request, _NOT_JSON)
    parsed = parse_credential_request(body, batch_size=deployment.settings.batch_size)
    # The service is synchronous (database, signing): off the event loop, which must stay
    # free to finish other requests (and, on SQLite, their transactions holding the lock).
    result = await run_in_threadpool(
        issuance.issue_credentials,
        deployment,
        slug=slug,
        access_token=bearer_token(request),
        request=parsed,
    )
    if deployment.fault_hook is not None:  # tests only: committed, not yet answered
        await run_in_threadpool(deployment.fault_point, FaultPoint.CREDENTIAL_ANSWER)
    return _credential_response(result)


@router.post("/agencies/{slug}/deferred_credential")
async def deferred_credential(
    slug: str, request: Request, deployment: DeploymentDep
) -> JSONResponse:
    """Deferred credential endpoint (§9): 202 while the agency's approval is pending."""
    body = await read_json_body(request, _NOT_JSON)
    result = await run_in_threadpool(
        issuance.deferred_credentials,
        deployment,
        slug=slug,
        access_token=bearer_token(request),
        transaction_id=parse_deferred_request(body),
    )
    return _credential_response(result)


@router.post("/agencies/{slug}/notification", status_code=204)
async def notification(slug: str, request: Request, deployment: DeploymentDep) -> Response:
    """Notification endpoint (§11): 204, also for a repeated notification."""
    not_json = NotificationError(
        NotificationErrorCode.INVALID_NOTIFICATION_REQUEST, "the body is not a JSON object"
    )
    body = await read_json_body(request, not_json)
    await run_in_threadpool(
        issuance.notify,
        deployment,
        slug=slug,
        access_token=bearer_token(request),
        request=parse_notification_request(body),
    )
    return Response(status_code=204, headers=NO_STORE)
