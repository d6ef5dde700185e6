"""Receiving and holding credentials (docs/wallet.md): offers handed over, the phone's
signatures, and what the account holds. Each handler calls one service function."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from protocols.dpop import DPOP_NONCE_HEADER
from servicekit.http_errors import NO_STORE
from wallet_api import holding, receiving
from wallet_api.api.deps import AccountDep, DeploymentDep
from wallet_api.deployment import WalletDeployment
from wallet_api.dpop_guard import DeviceProof, current_nonce
from wallet_api.errors import WalletError, WalletErrorCode

__all__ = ["MAX_PHOTO_BYTES", "PHOTO_PATH", "router"]

router = APIRouter(tags=["Credentials"])

_DPOP: dict[int | str, dict[str, Any]] = {
    401: {"description": "`invalid_dpop_proof`, or `use_dpop_nonce` with a `DPoP-Nonce` header"}
}
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


def _answer(deployment: WalletDeployment, body: Any, status: int = 200) -> JSONResponse:
    headers = {**NO_STORE, DPOP_NONCE_HEADER: current_nonce(deployment)}
    return JSONResponse(body, status_code=status, headers=headers)


def _account_id(device: DeviceProof) -> str:
    assert device.account_id is not None  # noqa: S101 - AccountDep requires one
    return device.account_id


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
    responses={**_DPOP, **_ISSUER},
)
def hand_over(body: OfferIn, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.read_offer(deployment, _account_id(device), offer_uri=body.offer_uri)
    return _answer(deployment, view.to_json(), 201)


@router.post(
    PHOTO_PATH,
    status_code=201,
    summary="Hand over a photo of the offer's QR code (PNG or JPEG body)",
    responses={**_DPOP, **_ISSUER, 413: {"description": "`too_large`"}},
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
        receiving.read_offer_photo, deployment, _account_id(device), image
    )
    return _answer(deployment, view.to_json(), 201)


@router.get(
    "/intakes/{intake_id}",
    summary="An offer under way",
    responses={**_DPOP, **_NOT_FOUND},
)
def read_intake(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.get_intake(deployment, _account_id(device), intake_id)
    return _answer(deployment, view.to_json())


@router.delete(
    "/intakes/{intake_id}",
    status_code=204,
    summary="Cancel an offer under way",
    responses={**_DPOP, **_NOT_FOUND},
)
def cancel(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> Response:
    receiving.cancel_intake(deployment, _account_id(device), intake_id)
    return Response(status_code=204, headers={**NO_STORE})


@router.post(
    "/intakes/{intake_id}/accept",
    summary="Yes, with the transaction code: the key proofs' signing inputs, one per copy",
    responses={**_DPOP, **_NOT_FOUND, **_ISSUER, 409: {"description": "`wrong_state`"}},
)
def accept(
    intake_id: str, body: AcceptIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    proofs = receiving.accept_offer(
        deployment,
        _account_id(device),
        intake_id,
        tx_code=body.tx_code,
        device_keys=body.device_keys,
        configuration_id=body.configuration_id,
    )
    return _answer(deployment, proofs.to_json())


@router.post(
    "/intakes/{intake_id}/proofs",
    summary="The phone's signatures: the credentials are requested, checked and stored",
    responses={**_DPOP, **_NOT_FOUND, **_ISSUER, 409: {"description": "`wrong_state`"}},
)
def prove(
    intake_id: str, body: SignaturesIn, device: AccountDep, deployment: DeploymentDep
) -> JSONResponse:
    view = receiving.submit_proofs(
        deployment, _account_id(device), intake_id, signatures=body.signatures
    )
    return _answer(deployment, view.to_json())


@router.post(
    "/intakes/{intake_id}/poll",
    summary="Ask the agency again for a deferred credential",
    responses={**_DPOP, **_NOT_FOUND, **_ISSUER},
)
def poll(intake_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    view = receiving.poll_intake(deployment, _account_id(device), intake_id)
    return _answer(deployment, view.to_json())


@router.get(
    "/credentials",
    summary="What the account holds, with display names, status and unused copies",
    responses=_DPOP,
)
def list_all(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    credentials = holding.list_credentials(deployment, _account_id(device))
    return _answer(deployment, {"credentials": credentials})


@router.get(
    "/credentials/{credential_id}",
    summary="One credential with its claims, labelled in Korean and English",
    responses={**_DPOP, **_NOT_FOUND},
)
def show(credential_id: str, device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    credential = holding.show_credential(deployment, _account_id(device), credential_id)
    return _answer(deployment, credential)


@router.delete(
    "/credentials/{credential_id}",
    status_code=204,
    summary="Delete one credential and all its copies",
    responses={**_DPOP, **_NOT_FOUND},
)
def delete(credential_id: str, device: AccountDep, deployment: DeploymentDep) -> Response:
    holding.delete_credential(deployment, _account_id(device), credential_id)
    return Response(status_code=204, headers={**NO_STORE})


@router.get(
    "/accounts/me/export",
    summary="My data: everything the account holds, as JSON",
    responses=_DPOP,
)
def export(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    return _answer(deployment, holding.export_account(deployment, _account_id(device)))
