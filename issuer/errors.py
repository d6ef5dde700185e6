"""The issuer service's own errors: each leaf carries a stable code and the HTTP status it gets.

    IssuerError                         error code, HTTP status, detail (for logs and clients)
    └── AdminError                      the agency admin API (400, 401, 403, 404, 409, 413)

The OAuth and OID4VCI errors (``OAuthError``, ``BearerTokenError``, ``CredentialRequestError``
…) are the protocol's, not the issuer's: they live in ``protocols.oid4vci.errors``, where a
wallet reads the same codes. ``api/errors.py`` renders both trees as
``{"error": code, "error_description": detail}`` from one handler per root: no layer below
``api/`` knows about HTTP exceptions. The detail is ASCII-only (OID4VCI 1.0 §8.3.1.2 restricts
``error_description``) and never carries a secret or a citizen's claim value.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["AdminError", "AdminErrorCode", "IssuerError"]


class AdminErrorCode(StrEnum):
    """The agency admin API (ours)."""

    UNAUTHENTICATED = "unauthenticated"  # 401: no token, or not one we issued
    FORBIDDEN = "forbidden"  # 403: the agency may not issue this type
    NOT_FOUND = "not_found"  # 404: unknown, or another agency's (never told apart)
    INVALID_REQUEST = "invalid_request"  # 400: a body that is not what the route takes
    INVALID_CLAIMS = "invalid_claims"  # 400: claims the type's schema refuses
    UNKNOWN_CREDENTIAL_TYPE = "unknown_credential_type"  # 400
    CONFLICT = "conflict"  # 409: e.g. unsuspending a revoked credential
    TOO_LARGE = "too_large"  # 413: an upload over its limit


class IssuerError(Exception):
    """Root of the service's errors; ``code`` and ``status`` decide the HTTP response."""

    code: StrEnum
    status: int = 400

    def __init__(self, code: StrEnum, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


_ADMIN_STATUS = {
    AdminErrorCode.UNAUTHENTICATED: 401,
    AdminErrorCode.FORBIDDEN: 403,
    AdminErrorCode.NOT_FOUND: 404,
    AdminErrorCode.CONFLICT: 409,
    AdminErrorCode.TOO_LARGE: 413,
}


class AdminError(IssuerError):
    def __init__(self, code: AdminErrorCode, detail: str) -> None:
        super().__init__(code, detail)
        self.status = _ADMIN_STATUS.get(code, 400)
