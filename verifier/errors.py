"""The verifier's closed set of reasons.

    VerificationError        raised inside the verifier; carries one ``ErrorCode``
     └── (no subclasses)     the code is the whole story; ``detail`` is for the operator's log

``Verifier.verify`` is the one public boundary that turns a ``VerificationError`` into a
frozen ``VerificationResult``. What reaches a phone or the public is the code alone.
"""

from __future__ import annotations

from enum import StrEnum

from keys.errors import KeyErrorCode, KeyManagementError


class ErrorCode(StrEnum):
    # The input itself
    MALFORMED = "malformed"  # not base45/base64url/JSON/JWS/SD-JWT as it claims to be
    TOO_LARGE = "too_large"  # over a length, decompression, count or depth limit
    UNSUPPORTED_FORMAT = "unsupported_format"  # unknown envelope version or token format
    WRONG_TOKEN_TYPE = "wrong_token_type"  # a token of one kind used as another (`typ`)
    CRITICAL_HEADER = "critical_header"  # `crit`, or `b64`/`zip`: extensions we do not read
    # Signatures and keys
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"  # not allowed by the key or the policy
    BAD_SIGNATURE = "bad_signature"
    INVALID_KEY = "invalid_key"  # off-curve, small-order, private, or of an unknown type
    UNTRUSTED_KEY_REFERENCE = "untrusted_key_reference"  # jwk/jku/x5u/x5c named by the token
    UNKNOWN_KEY = "unknown_key"  # a `kid` the trust store does not hold for that issuer
    MISSING_KID = "missing_kid"  # no `kid`, and the issuer or the policy requires one
    # Trust
    UNKNOWN_ISSUER = "unknown_issuer"
    ISSUER_NOT_AUTHORISED = "issuer_not_authorised"  # not this type, or not at this time/at iat
    CREDENTIAL_TYPE_NOT_ACCEPTED = "credential_type_not_accepted"  # policy does not accept it
    UNKNOWN_CREDENTIAL_TYPE = "unknown_credential_type"  # vct not in the registry
    # Time
    MISSING_EXP = "missing_exp"  # no `exp`, and the issuer or the policy requires one
    MISSING_IAT = "missing_iat"  # no `iat` (signed or disclosed), and one is required
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    # Status
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    STATUS_UNKNOWN = "status_unknown"  # no status list held for the credential's reference
    STATUS_STALE = "status_stale"  # the held status list is older than the policy allows
    STATUS_LIST_INVALID = "status_list_invalid"  # cannot be used (index out, fetched in future)
    # Selective disclosure (RFC 9901)
    DISCLOSURE_UNREFERENCED = "disclosure_unreferenced"
    DISCLOSURE_DUPLICATED = "disclosure_duplicated"
    DISCLOSURE_BAD_DIGEST = "disclosure_bad_digest"  # malformed/repeated digest, wrong _sd_alg
    DISCLOSURE_RESERVED_NAME = "disclosure_reserved_name"  # `_sd`, `...`, clash, never-disclosed
    # Holder binding (RFC 9901 §4.3)
    KEY_BINDING_MISSING = "key_binding_missing"
    KEY_BINDING_INVALID = "key_binding_invalid"
    NONCE_MISMATCH = "nonce_mismatch"
    AUDIENCE_MISMATCH = "audience_mismatch"
    PRESENTATION_TOO_OLD = "presentation_too_old"
    # Content
    SCHEMA_VIOLATION = "schema_violation"
    MISSING_REQUIRED_CLAIM = "missing_required_claim"
    # Answering a request (verifier.counter)
    NOT_REQUESTED = "not_requested"  # a disclosure the request (or preset) did not ask for
    REQUEST_EXPIRED = "request_expired"  # the answer came after the request's `exp`


class VerificationError(Exception):
    """A presentation, token or trust input the verifier refuses, and why."""

    def __init__(self, code: ErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


# Every failure of the `keys` layer, translated in this one place. Codes that cannot arise
# while reading a presentation (key stores, the trust list, checked when the store is built)
# map to None: they propagate unchanged.
_FROM_KEY_ERROR: dict[KeyErrorCode, ErrorCode | None] = {
    KeyErrorCode.MALFORMED_BASE64: ErrorCode.MALFORMED,
    KeyErrorCode.MALFORMED_JSON: ErrorCode.MALFORMED,
    KeyErrorCode.DUPLICATE_MEMBER: ErrorCode.MALFORMED,
    KeyErrorCode.WRONG_JSON_TYPE: ErrorCode.MALFORMED,
    KeyErrorCode.MALFORMED_JWS: ErrorCode.MALFORMED,
    KeyErrorCode.TOO_LARGE: ErrorCode.TOO_LARGE,
    KeyErrorCode.CRITICAL_HEADER: ErrorCode.CRITICAL_HEADER,
    KeyErrorCode.EMBEDDED_KEY: ErrorCode.UNTRUSTED_KEY_REFERENCE,
    KeyErrorCode.WRONG_TOKEN_TYPE: ErrorCode.WRONG_TOKEN_TYPE,
    KeyErrorCode.UNSUPPORTED_ALGORITHM: ErrorCode.UNSUPPORTED_ALGORITHM,
    KeyErrorCode.INVALID_KEY: ErrorCode.INVALID_KEY,
    KeyErrorCode.WEAK_KEY: ErrorCode.INVALID_KEY,
    KeyErrorCode.UNSUPPORTED_KEY: ErrorCode.INVALID_KEY,
    KeyErrorCode.BAD_SIGNATURE: ErrorCode.BAD_SIGNATURE,
    KeyErrorCode.UNKNOWN_KEY: ErrorCode.UNKNOWN_KEY,
    KeyErrorCode.KEY_STORE: None,
    KeyErrorCode.WRONG_PASSPHRASE: None,
    KeyErrorCode.WEAK_PASSPHRASE: None,
    KeyErrorCode.TRUST_LIST_WRONG_SIGNER: None,
    KeyErrorCode.TRUST_LIST_EXPIRED: None,
    KeyErrorCode.TRUST_LIST_NOT_YET_VALID: None,
    KeyErrorCode.TRUST_LIST_ROLLBACK: None,
    KeyErrorCode.TRUST_LIST_INVALID: None,
}


def from_key_error(exc: KeyManagementError) -> VerificationError:
    """The verifier's reason for a failure of the `keys` layer."""
    code = _FROM_KEY_ERROR[exc.code]
    if code is None:
        raise exc
    return VerificationError(code, exc.detail)
