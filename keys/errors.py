"""Errors of the ``keys`` package.

    KeyManagementError            every failure below carries a ``KeyErrorCode``
     ├── MalformedError           bytes that are not the strict encoding they claim to be
     ├── InvalidKeyError          a key that must not be used (off-curve, small-order, unsupported)
     ├── SignatureError           a signature that does not verify, or an algorithm the key forbids
     ├── KeyStoreError            a key store that cannot give the key asked for
     └── TrustListError           a trust list that must not be relied on

Callers match on ``code``, never on the message; ``detail`` is for logs and operators.
"""

from __future__ import annotations

from enum import StrEnum


class KeyErrorCode(StrEnum):
    MALFORMED_BASE64 = "malformed_base64"
    MALFORMED_JSON = "malformed_json"
    DUPLICATE_MEMBER = "duplicate_member"
    WRONG_JSON_TYPE = "wrong_json_type"
    MALFORMED_JWS = "malformed_jws"
    TOO_LARGE = "too_large"
    CRITICAL_HEADER = "critical_header"
    EMBEDDED_KEY = "embedded_key"
    WRONG_TOKEN_TYPE = "wrong_token_type"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    INVALID_KEY = "invalid_key"
    WEAK_KEY = "weak_key"
    UNSUPPORTED_KEY = "unsupported_key"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    KEY_STORE = "key_store"
    WRONG_PASSPHRASE = "wrong_passphrase"
    WEAK_PASSPHRASE = "weak_passphrase"  # a new key store's passphrase is too short
    TRUST_LIST_WRONG_SIGNER = "trust_list_wrong_signer"
    TRUST_LIST_EXPIRED = "trust_list_expired"
    TRUST_LIST_NOT_YET_VALID = "trust_list_not_yet_valid"
    TRUST_LIST_ROLLBACK = "trust_list_rollback"
    TRUST_LIST_INVALID = "trust_list_invalid"


class KeyManagementError(Exception):
    """Root of the package's errors; ``code`` says what went wrong."""

    code: KeyErrorCode

    def __init__(self, code: KeyErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class MalformedError(KeyManagementError):
    pass


class InvalidKeyError(KeyManagementError):
    pass


class SignatureError(KeyManagementError):
    pass


class KeyStoreError(KeyManagementError):
    pass


class TrustListError(KeyManagementError):
    pass
