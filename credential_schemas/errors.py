"""Errors of the certificate registry.

    SchemaRegistryError          every failure carries a ``RegistryErrorCode``
     ├── TypeFileError           a type file or directory refused at load; ``path`` names it
     │                             INVALID_TYPE_FILE, DUPLICATE_TYPE
     ├── UnknownNameError        a type id, version or claim name the registry does not hold
     │                             UNKNOWN_TYPE, UNKNOWN_CLAIM
     └── ClaimsError             claims that do not satisfy a certificate type
                                   SCHEMA_VIOLATION, MISSING_REQUIRED_CLAIM, INVALID_RRN,
                                   INCONSISTENT_CLAIMS

Callers match on ``code``, never on the message. ``detail`` is for logs and operators: it names
claims by JSON pointer (``/address_history/0/moved_in``) and never repeats a claim's value, so
that no resident registration number ends up in a log.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path


class RegistryErrorCode(StrEnum):
    # Loading type files
    INVALID_TYPE_FILE = "invalid_type_file"  # unreadable, bad JSON, fails meta-schema or a rule
    DUPLICATE_TYPE = "duplicate_type"  # two type files claim the same vct
    # Looking things up
    UNKNOWN_TYPE = "unknown_type"
    UNKNOWN_CLAIM = "unknown_claim"
    # Checking claims against a type
    SCHEMA_VIOLATION = "schema_violation"  # wrong type, format, enum, size, unexpected claim
    MISSING_REQUIRED_CLAIM = "missing_required_claim"
    INVALID_RRN = "invalid_rrn"  # a resident registration number that cannot exist
    INCONSISTENT_CLAIMS = "inconsistent_claims"  # e.g. birth_date disagrees with the RRN


class SchemaRegistryError(Exception):
    """Root of the registry's errors; ``code`` says what went wrong."""

    code: RegistryErrorCode
    detail: str
    path: Path | None

    def __init__(self, code: RegistryErrorCode, detail: str, *, path: Path | None = None) -> None:
        where = f"{path}: " if path is not None else ""
        super().__init__(f"{where}{code}: {detail}")
        self.code = code
        self.detail = detail
        self.path = path


class TypeFileError(SchemaRegistryError):
    """A type file (or the directory holding it) that must not be loaded."""


class UnknownNameError(SchemaRegistryError):
    """A name the registry does not hold; raised instead of ``KeyError``."""


class ClaimsError(SchemaRegistryError):
    """Claims refused by a certificate type (issuance) or by its disclosed-claims check."""
