"""Accounts bound to the phone's device key: register, read, delete, recover (docs/wallet.md).

Every request is authenticated by its DPoP proof alone (``AccountDep``/``DeviceDep``): no
password, no bearer token. Answers carry the current ``DPoP-Nonce`` for the phone's next proof.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from protocols.dpop import DpopErrorCode
from servicekit.http_errors import NO_STORE
from wallet_api.accounts import delete_account, find_account, recover_account, register_account
from wallet_api.api.answers import DPOP_RESPONSES, answer
from wallet_api.api.deps import AccountDep, DeploymentDep, DeviceDep
from wallet_api.dpop_guard import DeviceProof, DpopRefusal, DpopRefusedError

router = APIRouter(prefix="/accounts", tags=["Accounts"])


class AccountOut(BaseModel):
    account_id: str
    created_at: int
    device_jkt: str
    device_bound_at: int


class BoundOut(AccountOut):
    recovery_code: str = Field(description="Shown this once; stored only as an HMAC")


class RecoveryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    account_id: str = Field(min_length=1, max_length=64)
    recovery_code: str = Field(min_length=1, max_length=64)


def _gone(device: DeviceProof) -> DpopRefusedError:
    # Re-bound or deleted between the proof's check and now: the key is no account's.
    del device
    return DpopRefusedError(DpopErrorCode.INVALID_DPOP_PROOF, DpopRefusal.UNKNOWN_KEY)


@router.post(
    "",
    status_code=201,
    summary="Register: the DPoP proof's key becomes the account's device key",
    response_model=BoundOut,
    responses={**DPOP_RESPONSES, 409: {"description": "`account_exists`"}},
)
def register(device: DeviceDep, deployment: DeploymentDep) -> JSONResponse:
    bound = register_account(deployment, device.proof.public_key)
    return answer(deployment, bound.to_json(), 201)


@router.get(
    "/me",
    summary="The account bound to this device key",
    response_model=AccountOut,
    responses=DPOP_RESPONSES,
)
def me(device: AccountDep, deployment: DeploymentDep) -> JSONResponse:
    account = find_account(deployment, device.jkt)
    if account is None:
        raise _gone(device)
    return answer(deployment, account.to_json())


@router.delete(
    "/me",
    status_code=204,
    summary="Delete the account and everything it holds",
    responses=DPOP_RESPONSES,
)
def delete_me(device: AccountDep, deployment: DeploymentDep) -> Response:
    if not delete_account(deployment, device.jkt):
        raise _gone(device)
    return Response(status_code=204, headers={**NO_STORE})


@router.post(
    "/recover",
    summary="A new device joins with the recovery code; the old device's binding ends",
    response_model=BoundOut,
    responses={
        **DPOP_RESPONSES,
        400: {"description": "`recovery_refused` (wrong code or no such account)"},
        403: {"description": "`recovery_locked`: too many wrong codes"},
        409: {"description": "`key_in_use`: the new key is already an account's"},
    },
)
def recover(body: RecoveryIn, device: DeviceDep, deployment: DeploymentDep) -> JSONResponse:
    bound = recover_account(
        deployment,
        account_id=body.account_id,
        code=body.recovery_code,
        new_key=device.proof.public_key,
    )
    return answer(deployment, bound.to_json())
