"""Random secrets handed to outsiders, and how we store them: never in the clear.

High-entropy values (pre-authorized codes, access tokens, nonces, transaction ids, admin
tokens; 256 bits) are stored as plain SHA-256: nothing to guess. Low-entropy values
(6-digit transaction codes) and citizens' identifiers are stored as HMAC-SHA256 under the
deployment's secret key, so a copy of the database alone does not reveal them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["keyed_hash", "new_numeric_code", "new_token", "token_hash"]

_TOKEN_BYTES = 32


def new_token(prefix: str = "") -> str:
    """A fresh URL-safe secret of 256 bits, with an optional readable prefix."""
    return prefix + secrets.token_urlsafe(_TOKEN_BYTES)


def new_numeric_code(length: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(length))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def keyed_hash(key: bytes, purpose: str, value: str) -> str:
    """HMAC-SHA256 of ``value``, domain-separated by ``purpose`` (one key, several uses)."""
    message = purpose.encode("ascii") + b"\x00" + value.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()
