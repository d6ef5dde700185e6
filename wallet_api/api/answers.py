"""What every DPoP-authenticated route answers with: no-store, and the next DPoP nonce."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from protocols.dpop import DPOP_NONCE_HEADER
from servicekit.http_errors import NO_STORE
from wallet_api.deployment import WalletDeployment
from wallet_api.dpop_guard import DeviceProof, current_nonce

__all__ = ["DPOP_RESPONSES", "account_of", "answer"]

DPOP_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "`invalid_dpop_proof`, or `use_dpop_nonce` with a `DPoP-Nonce` header"}
}


def answer(deployment: WalletDeployment, body: Any, status: int = 200) -> JSONResponse:
    """``body`` as JSON, never cached, with the nonce the phone's next proof must carry."""
    headers = {**NO_STORE, DPOP_NONCE_HEADER: current_nonce(deployment)}
    return JSONResponse(body, status_code=status, headers=headers)


def account_of(device: DeviceProof) -> str:
    """The account behind a proof that ``AccountDep`` accepted."""
    assert device.account_id is not None  # noqa: S101 - AccountDep requires one
    return device.account_id
