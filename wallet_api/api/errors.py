"""Where the wallet's refusals become HTTP answers: ``{"error", "error_description"}``.

A refused DPoP proof is 401 with ``WWW-Authenticate: DPoP error="…", algs="ES256"`` (RFC 9449
§7.1, §12.2) and a current ``DPoP-Nonce`` (§8, §9): the client's next proof can carry it. The
description names the reason (a closed set), never the proof or a claim of it.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from protocols.dpop import DPOP_NONCE_HEADER
from servicekit.http_errors import error_response, install_service_error_handlers
from servicekit.telemetry import route_template
from wallet_api.dpop_guard import DpopRefusedError, current_nonce
from wallet_api.errors import WalletError
from wallet_api.metrics import DPOP_REFUSALS

__all__ = ["ACCEPTED_ALGORITHMS", "install_error_handlers"]

ACCEPTED_ALGORITHMS = "ES256"
_logger = logging.getLogger("jigap.wallet.dpop")


async def _wallet_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, WalletError)  # noqa: S101 - registered for it only
    return error_response(exc.status, str(exc.code), exc.detail)


def _dpop_refused(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DpopRefusedError)  # noqa: S101
    _logger.info(
        "DPoP proof refused",
        extra={
            "event": "dpop_refused",
            "reason": str(exc.reason),
            "route": route_template(request.scope),
        },
    )
    DPOP_REFUSALS.labels(reason=str(exc.reason)).inc()
    deployment = request.app.state.deployment
    challenge = f'DPoP error="{exc.code}", algs="{ACCEPTED_ALGORITHMS}"'
    return error_response(
        401,
        str(exc.code),
        f"DPoP proof refused: {exc.reason}",
        {"WWW-Authenticate": challenge, DPOP_NONCE_HEADER: current_nonce(deployment)},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(WalletError, _wallet_error)
    # Sync: Starlette runs it in a thread, since it reads (and may write) the nonce table.
    app.add_exception_handler(DpopRefusedError, _dpop_refused)
    install_service_error_handlers(app, logger_name="jigap.wallet.errors")
