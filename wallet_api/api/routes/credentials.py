"""Receiving and holding credentials (docs/wallet.md): offers handed over, the phone's
signatures, and what the account holds. Each handler calls one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from servicekit.http_errors import NO_STORE
from wallet_api import holding, receiving
from wallet_api.api.answers import DPOP_RESPONSES, account_of, answer
from wallet_api.api.deps import AccountDep, DeploymentDep
from wallet_api.errors import WalletError, WalletErrorCode

__all__ = ["MAX_PHOTO_BYTES", "PHOTO_PATH", "router"]

router = APIRouter(tags=["Credentials"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "`not_found`: no such record, or another account's"}
}
_ISSUER: dict[int | str, dict[str, Any]] = {
    400: {"description": "`invalid_offer`, `offer_refused`, `invalid_request`"},
    403: {"description": "`untrusted_issuer`: the trust list does not authorise it"},
    502: {"description": "`issuer_unavailable`, `credential_refused` (nothing stored)"},
    503: {"description": "`trust_unavailable`"},
}
MAX_PHOTO_BYTES = 4 * 1024 * 1024  # a phone camera's JPEG of a QR code, with room
PHOTO_PATH = "/intakes/photo"


class OfferIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    offer_uri: str = Field(
        min_length=1,
        max_length=8192,
        description="`openid-credential-offer://?credential_offer…` (by value or by reference)",
    )


class AcceptIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    tx_code: str | None = Field(default=None, max_length=64)
    configuration_id: str | None = Field(default=None, max_length=128)
    device_keys: list[dict[str, Any]] = Field(
        min_length=1, max_length=100, description="One P-256 public JWK per copy"
    )


class SignaturesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    signatures: list[Annotated[str, Field(max_length=200)]] = Field(
        min_length=1, max_length=100, description="base64url JWS signatures, in order"
    )


@router.post(
    "/intakes",
    status_code=201,
    summary="Hand over a credential offer: who offers what, and whether a code is needed",
    responses={**DPOP_RESPONSES, **_ISSUER},
)
def hand_over(body: OfferIn, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.read_offer(deployment, account_of(device), offer_uri=body.offer_uri)
    return answer(deployment, view.to_json(), 201)


@router.post(
    PHOTO_PATH,
    status_code=201,
    summary="Hand over a photo of the offer's QR code (PNG or JPEG body)",
    responses={**DPOP_RESPONSES, **_ISSUER, 413: {"description": "`too_large`"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def hand_over_photo(
    request: Request, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    image = await request.body()  # bounded by the upload limit of this path
    if not image:
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "the body is the photo")
    view = await run_in_threadpool(
        receiving.read_offer_photo, deployment, account_of(device), image
    )
    return answer(deployment, view.to_json(), 201)


@router.get(
    "/intakes/{intake_id}",
    summary="An offer under way",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def read_intake(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.get_intake(deployment, account_of(device), intake_id)
    return answer(deployment, view.to_json())


@router.delete(
    "/intakes/{intake_id}",
    status_code=204,
    summary="Cancel an offer under way",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def cancel(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> Response:
    receiving.cancel_intake(deployment, account_of(device), intake_id)
    return Response(status_code=204, headers={**NO_STORE})


@router.post(
    "/intakes/{intake_id}/accept",
    summary="Yes, with the transaction code: the key proofs' signing inputs, one per copy",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_ISSUER, 409: {"description": "`wrong_state`"}},
)
def accept(
    intake_id: str, body: AcceptIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    proofs = receiving.accept_offer(
        deployment,
        account_of(device),
        intake_id,
        tx_code=body.tx_code,
        device_keys=body.device_keys,
        configuration_id=body.configuration_id,
    )
    return answer(deployment, proofs.to_json())


@router.post(
    "/intakes/{intake_id}/proofs",
    summary="The phone's signatures: the credentials are requested, checked and stored",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_ISSUER, 409: {"description": "`wrong_state`"}},
)
def prove(
    intake_id: str, body: SignaturesIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    view = receiving.submit_proofs(
        deployment, account_of(device), intake_id, signatures=body.signatures
    )
    return answer(deployment, view.to_json())


@router.post(
    "/intakes/{intake_id}/poll",
    summary="Ask the agency again for a deferred credential",
    responses={**DPOP_RESPONSES, **_NOT_FOUND, **_ISSUER},
)
def poll(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.poll_intake(deployment, account_of(device), intake_id)
    return answer(deployment, view.to_json())


@router.get(
    "/credentials",
    summary="What the account holds, with display names, status and unused copies",
    responses=DPOP_RESPONSES,
)
def list_all(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    credentials = holding.list_credentials(deployment, account_of(device))
    return answer(deployment, {"credentials": credentials})


@router.get(
    "/credentials/{credential_id}",
    summary="One credential with its claims, labelled in Korean and English",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def show(credential_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    credential = holding.show_credential(deployment, account_of(device), credential_id)
    return answer(deployment, credential)


@router.delete(
    "/credentials/{credential_id}",
    status_code=204,
    summary="Delete one credential and all its copies",
    responses={**DPOP_RESPONSES, **_NOT_FOUND},
)
def delete(credential_id: str, device: AccountDep, deployment: DeploymentDep) -> Response:
    holding.delete_credential(deployment, account_of(device), credential_id)
    return Response(status_code=204, headers={**NO_STORE})


@router.get(
    "/accounts/me/export",
    summary="My data: everything the account holds, as JSON",
    responses=DPOP_RESPONSES,
)
def export(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    return answer(deployment, holding.export_account(deployment, account_of(device)))
