"""The verdict: frozen, typed, and saying when the status it reports was known."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from verifier.errors import ErrorCode


class CredentialStatus(StrEnum):
    VALID = "valid"
    INVALID = "invalid"
    SUSPENDED = "suspended"
    UNKNOWN = "unknown"


_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class VerificationResult:
    valid: bool
    error: ErrorCode | None
    detail: str
    issuer: str | None = None
    credential_type: str | None = None  # registry id, e.g. "resident_register_extract"
    vct: str | None = None
    claims: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)  # disclosed, decoded
    holder_bound: bool = False
    status: CredentialStatus = CredentialStatus.UNKNOWN
    status_known_at: int | None = None  # when the status list behind ``status`` was fetched
    issued_at: int | None = None
    expires_at: int | None = None

    @classmethod
    def failure(cls, code: ErrorCode, detail: str) -> VerificationResult:
        return cls(valid=False, error=code, detail=detail)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, for `jigap verify check --json` and logs."""
        return {
            "valid": self.valid,
            "error": self.error.value if self.error else None,
            "detail": self.detail,
            "issuer": self.issuer,
            "credential_type": self.credential_type,
            "vct": self.vct,
            "claims": dict(self.claims),
            "holder_bound": self.holder_bound,
            "status": self.status.value,
            "status_known_at": self.status_known_at,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
        }
