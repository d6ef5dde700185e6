"""The errors the OAuth and OID4VCI specs name: each leaf carries the spec's code and the HTTP
status the spec gives it, so that both sides read them the same way.

    ProtocolError                       error code, HTTP status, detail
    ├── OAuthError                      RFC 6749 §5.2 token endpoint errors (400)
    │   └── InvalidClientError          RFC 6749 invalid_client (401)
    ├── BearerTokenError                RFC 6750 §3.1 invalid_token (401), insufficient_scope (403)
    ├── CredentialRequestError          OID4VCI 1.0 §8.3.1.2 credential endpoint errors (400)
    └── NotificationError               OID4VCI 1.0 §11.3 notification endpoint errors (400)

The parsers of this package raise them; a service's HTTP layer renders each as
``{"error": code, "error_description": detail}``. The detail is ASCII-only (OID4VCI 1.0
§8.3.1.2 restricts ``error_description``) and never carries a secret or a citizen's claim
value. They live here, not in a service, because the codes are the contract: the issuer
answers with them and a wallet decides what to do next by them.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "BearerTokenError",
    "CredentialErrorCode",
    "CredentialRequestError",
    "InvalidClientError",
    "NotificationError",
    "NotificationErrorCode",
    "OAuthError",
    "OAuthErrorCode",
    "ProtocolError",
]


class OAuthErrorCode(StrEnum):
    """RFC 6749 §5.2, as OID4VCI 1.0 §6.3 clarifies them for the pre-authorized code."""

    INVALID_REQUEST = "invalid_request"
    INVALID_CLIENT = "invalid_client"
    INVALID_GRANT = "invalid_grant"
    UNSUPPORTED_GRANT_TYPE = "unsupported_grant_type"
    INVALID_TOKEN = "invalid_token"  # RFC 6750 §3.1, at the protected endpoints
    INSUFFICIENT_SCOPE = "insufficient_scope"  # RFC 6750 §3.1: a configuration not offered


class CredentialErrorCode(StrEnum):
    """OID4VCI 1.0 §8.3.1.2 and §9.3 (deferred)."""

    INVALID_CREDENTIAL_REQUEST = "invalid_credential_request"
    UNKNOWN_CREDENTIAL_CONFIGURATION = "unknown_credential_configuration"
    UNKNOWN_CREDENTIAL_IDENTIFIER = "unknown_credential_identifier"
    INVALID_PROOF = "invalid_proof"
    INVALID_NONCE = "invalid_nonce"
    INVALID_ENCRYPTION_PARAMETERS = "invalid_encryption_parameters"
    CREDENTIAL_REQUEST_DENIED = "credential_request_denied"
    INVALID_TRANSACTION_ID = "invalid_transaction_id"


class NotificationErrorCode(StrEnum):
    """OID4VCI 1.0 §11.3."""

    INVALID_NOTIFICATION_ID = "invalid_notification_id"
    INVALID_NOTIFICATION_REQUEST = "invalid_notification_request"


class ProtocolError(Exception):
    """Root of the specs' errors; ``code`` and ``status`` decide the HTTP response."""

    code: StrEnum
    status: int = 400

    def __init__(self, code: StrEnum, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class OAuthError(ProtocolError):
    def __init__(self, code: OAuthErrorCode, detail: str) -> None:
        super().__init__(code, detail)


class InvalidClientError(OAuthError):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(OAuthErrorCode.INVALID_CLIENT, detail)


class BearerTokenError(ProtocolError):
    """RFC 6750 §3.1: the access token is missing, expired, or not for this client (401),
    or does not cover what is asked (403)."""

    status = 401

    def __init__(
        self,
        detail: str,
        code: OAuthErrorCode = OAuthErrorCode.INVALID_TOKEN,
        *,
        token_given: bool = True,
    ) -> None:
        super().__init__(code, detail)
        # §3.1: a request with no token at all gets the challenge without an error code.
        self.token_given = token_given
        if code is OAuthErrorCode.INSUFFICIENT_SCOPE:
            self.status = 403


class CredentialRequestError(ProtocolError):
    def __init__(self, code: CredentialErrorCode, detail: str) -> None:
        super().__init__(code, detail)


class NotificationError(ProtocolError):
    def __init__(self, code: NotificationErrorCode, detail: str) -> None:
        super().__init__(code, detail)
