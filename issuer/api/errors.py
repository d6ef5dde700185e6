"""One place where errors become HTTP responses: ``{"error", "error_description"}``.

``IssuerError`` carries its own code and status. FastAPI's own failures (a body that does not
match the route's model, an unknown path) are given the same shape, so that a client parses
one error format everywhere. Nothing else is caught: a programming error stays a 500 and is
logged with its traceback, not dressed up as a client error.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from issuer.errors import AdminError, BearerTokenError, IssuerError

__all__ = ["error_response", "install_error_handlers"]

NO_STORE = {"Cache-Control": "no-store"}
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


async def _issuer_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IssuerError)  # noqa: S101 - registered for this class only
    headers = None
    if isinstance(exc, BearerTokenError):
        challenge = f'Bearer error="{exc.code}"' if exc.token_given else "Bearer"  # RFC 6750 §3
        headers = {"WWW-Authenticate": challenge}
    elif isinstance(exc, AdminError) and exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(exc.status, str(exc.code), exc.detail, headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)  # noqa: S101
    first = exc.errors()[0] if exc.errors() else {}
    where = ".".join(str(part) for part in first.get("loc", ()))
    return error_response(400, "invalid_request", f"{where}: {first.get('msg', 'invalid')}")


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)  # noqa: S101
    code = _HTTP_CODES.get(exc.status_code, "invalid_request")
    return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(IssuerError, _issuer_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
