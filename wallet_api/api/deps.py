"""Dependencies of the routes: the deployment, and the device behind a request's DPoP proof."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from protocols.dpop import DPOP_HEADER
from wallet_api.deployment import WalletDeployment
from wallet_api.dpop_guard import DeviceProof, check_proof

__all__ = ["AccountDep", "DeploymentDep", "DeviceDep"]


def _deployment(request: Request) -> WalletDeployment:
    deployment: WalletDeployment = request.app.state.deployment
    return deployment


DeploymentDep = Annotated[WalletDeployment, Depends(_deployment)]


def _raw_path(request: Request) -> str:
    # The path as the phone sent it, percent-encoding and all (RFC 9449 §4.3 point 9 compares
    # normalised forms; decoding it first would let two different URIs match).
    raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
    return bytes(raw).split(b"?", 1)[0].decode("latin-1")


def _proof(request: Request, deployment: WalletDeployment, *, account: bool) -> DeviceProof:
    return check_proof(
        deployment,
        request.headers.getlist(DPOP_HEADER),
        method=request.method,
        path=_raw_path(request),
        account_required=account,
    )


def _device(request: Request, deployment: DeploymentDep) -> DeviceProof:
    return _proof(request, deployment, account=False)


def _account(request: Request, deployment: DeploymentDep) -> DeviceProof:
    return _proof(request, deployment, account=True)


# A valid, unused proof with a current nonce, from any key: registration and recovery.
DeviceDep = Annotated[DeviceProof, Depends(_device)]
# The same, from the key an account is bound to now: every other request.
AccountDep = Annotated[DeviceProof, Depends(_account)]
