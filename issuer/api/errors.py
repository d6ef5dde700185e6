"""One place where the issuer's errors become HTTP responses: ``{"error", "error_description"}``.

``IssuerError`` and the protocol's ``ProtocolError`` carry their own code and status; each
refused protocol request is counted by route and code. Everything else every service answers
the same way (FastAPI's own failures, 503 for a database that cannot answer now) comes from
``servicekit.http_errors``, which the wallet service installs too.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from issuer import observability
from issuer.errors import AdminError, IssuerError
from protocols.oid4vci.errors import BearerTokenError, ProtocolError
from servicekit.http_errors import error_response, install_service_error_handlers
from servicekit.telemetry import route_template

__all__ = ["install_error_handlers"]


async def _issuer_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IssuerError | ProtocolError)  # noqa: S101 - registered for these only
    if not isinstance(exc, AdminError):
        observability.protocol_refused(route_template(request.scope), str(exc.code))
    headers = None
    if isinstance(exc, BearerTokenError):
        challenge = f'Bearer error="{exc.code}"' if exc.token_given else "Bearer"  # RFC 6750 §3
        headers = {"WWW-Authenticate": challenge}
    elif isinstance(exc, AdminError) and exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(exc.status, str(exc.code), exc.detail, headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IssuerError, _issuer_error)
    app.add_exception_handler(ProtocolError, _issuer_error)
    install_service_error_handlers(app, logger_name="jigap.issuer.errors")
