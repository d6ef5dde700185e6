"""Documents verifiers fetch: agencies' JWKS (also as JWT VC Issuer Metadata), status lists and
their aggregation, and the signed trust list.

All are static between changes, so they carry an ETag and a Cache-Control lifetime; a status
list's lifetime is what is left of its `ttl`, so a cache never holds it past the `ttl`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response

from issuer.api.deps import DeploymentDep, ReadSessionDep
from issuer.errors import AdminError, AdminErrorCode
from issuer.models import MAX_ROW_ID
from issuer.services import issuance
from issuer.services.status_lists import published_status_list
from issuer.services.trust import agency_jwks, current_trust_list, status_list_aggregation
from issuer.tokens import token_hash
from verifier import sd_jwt_vc as vc
from verifier.status_list_aggregation import STATUS_LISTS
from verifier.type_metadata import TYPE_METADATA_PATH, type_metadata_bytes

router = APIRouter(tags=["Public documents"])

STATUS_LIST_MEDIA_TYPE = "application/statuslist+jwt"  # Token Status List draft 20 §5.1
TRUST_LIST_MEDIA_TYPE = "application/jwt"
_JWKS_MAX_AGE = 300


def _cached(request: Request, body: bytes, media_type: str, max_age: int) -> Response:
    etag = '"' + token_hash(body.decode("utf-8"))[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max_age}"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


@router.get("/agencies/{slug}/jwks.json")
def jwks(
    slug: str, request: Request, deployment: DeploymentDep, session: ReadSessionDep
) -> Response:
    agency = issuance.agency_by_slug(session, slug)
    if agency is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such agency")
    body = JSONResponse(agency_jwks(session, deployment, agency).to_dict()).body
    return _cached(request, bytes(body), "application/jwk-set+json", _JWKS_MAX_AGE)


@router.get(vc.WELL_KNOWN_JWT_VC_ISSUER + "/agencies/{slug}")
def jwt_vc_issuer_metadata(
    slug: str, request: Request, deployment: DeploymentDep, session: ReadSessionDep
) -> Response:
    """JWT VC Issuer Metadata (SD-JWT VC draft 12 §5): the agency's keys by value, for
    verifiers outside the trust list's scheme that resolve an SD-JWT VC's `iss`."""
    agency = issuance.agency_by_slug(session, slug)
    if agency is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such agency")
    document = {
        vc.JWT_VC_ISSUER_ISSUER: deployment.issuer_id(agency.slug),
        # §5.2: `jwks` or `jwks_uri`, never both; by value saves a verifier a second request.
        vc.JWT_VC_ISSUER_JWKS: agency_jwks(session, deployment, agency).to_dict(),
    }
    body = JSONResponse(document).body
    return _cached(request, bytes(body), "application/json", _JWKS_MAX_AGE)


@router.get(TYPE_METADATA_PATH + "/{vct}")
def type_metadata_document(vct: str, deployment: DeploymentDep) -> Response:
    """SD-JWT VC Type Metadata of a registry type (draft 12 §6), at the scheme's retrieval
    method for its URN `vct` (§6.3.3); the bytes every credential's `vct#integrity` names."""
    credential_type = deployment.registry.by_vct(vct)
    if credential_type is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such credential type")
    # §6.3.4: integrity-protected, so static: a consumer may cache it for good.
    headers = {"Cache-Control": "public, max-age=31536000, immutable"}
    return Response(
        type_metadata_bytes(credential_type), media_type="application/json", headers=headers
    )


@router.get("/agencies/{slug}/status-lists")
def status_list_aggregation_document(
    slug: str, request: Request, deployment: DeploymentDep
) -> Response:
    """Status List Aggregation (Token Status List draft 20): the URI of each of the agency's
    lists, so a counter can sync them all; named in the agency's issuer metadata."""
    uris = status_list_aggregation(deployment, slug=slug)
    if uris is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such agency")
    body = JSONResponse({STATUS_LISTS: uris}).body
    return _cached(request, bytes(body), "application/json", _JWKS_MAX_AGE)


@router.get("/agencies/{slug}/status-lists/{list_id}")
def status_list(
    slug: str,
    list_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    request: Request,
    deployment: DeploymentDep,
) -> Response:
    # The service holds its own transactions: a route's dependency session would span the
    # thread hops of FastAPI's pool (see servicekit.db.session_scope).
    published = published_status_list(deployment, slug=slug, list_id=list_id)
    if published is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "no such status list")
    return _cached(
        request,
        published.token.encode("ascii"),
        STATUS_LIST_MEDIA_TYPE,
        published.max_age(deployment.now()),
    )


@router.get("/trust-list.jwt")
def trust_list(request: Request, deployment: DeploymentDep) -> Response:
    token = current_trust_list(deployment)  # in transactions of its own, as status lists
    if token is None:
        raise AdminError(AdminErrorCode.NOT_FOUND, "this deployment publishes no trust list")
    return _cached(request, token.encode("ascii"), TRUST_LIST_MEDIA_TYPE, _JWKS_MAX_AGE)
