"""The one error shape of both services' HTTP answers: ``{"error", "error_description"}``.

A service renders its own errors with ``error_response`` (codes from OAuth, OID4VCI or its
own closed enums). ``install_service_error_handlers`` gives FastAPI's own failures (a body that
does not match the route's model, an unknown path) the same shape, so that a client parses one
error format everywhere, and answers a database that cannot answer now
(``servicekit.db.UNAVAILABLE``: unreachable, restarting, locked, a deadlock victim) with
``503 temporarily_unavailable`` and ``Retry-After``: the client's request may well succeed in a
moment. Nothing else is caught: a programming error stays a 500 and is logged with its
traceback, not dressed up as a client error.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from servicekit.db import UNAVAILABLE, describe_unavailable
from servicekit.telemetry import route_template

__all__ = [
    "NO_STORE",
    "RETRY_AFTER_SECONDS",
    "ServiceErrorCode",
    "error_response",
    "install_service_error_handlers",
]


class ServiceErrorCode(StrEnum):
    """The service itself, whatever the route."""

    # RFC 6749 §5.2's name for a request that is not what the endpoint takes; 400.
    INVALID_REQUEST = "invalid_request"
    # RFC 6749 §4.1.2.1's name for "temporarily unable to handle the request"; 503.
    TEMPORARILY_UNAVAILABLE = "temporarily_unavailable"


NO_STORE = {"Cache-Control": "no-store"}
RETRY_AFTER_SECONDS = 5
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _ascii(text: str) -> str:
    # OID4VCI 1.0 §8.3.1.2: error_description is %x20-21 / %x23-5B / %x5D-7E only.
    return "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "?" for c in text)


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": code, "error_description": _ascii(detail)[:300]},
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error_response(
        400, ServiceErrorCode.INVALID_REQUEST, f"{where}: {first.get('msg', 'invalid')}"
    )


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, ServiceErrorCode.INVALID_REQUEST)
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def install_service_error_handlers(app: FastAPI, *, logger_name: str) -> None:
    """The handlers every service has; ``logger_name`` is where a database outage is logged
    (``jigap.issuer.errors``), one line naming the route, never the statement."""
    logger = logging.getLogger(logger_name)

    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, DBAPIError) and not (
            isinstance(exc, UNAVAILABLE) or exc.connection_invalidated
        ):
            raise exc  # a statement refused for what it says: a bug, and a 500 with its traceback
        logger.warning(
            describe_unavailable(exc),
            extra={"event": "database_unavailable", "route": route_template(request.scope)},
        )
        return error_response(
            503,
            ServiceErrorCode.TEMPORARILY_UNAVAILABLE,
            "the service cannot reach its database now; retry later",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    for unavailable in (*UNAVAILABLE, DBAPIError):
        app.add_exception_handler(unavailable, database_unavailable)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
