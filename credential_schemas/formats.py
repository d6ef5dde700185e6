"""The JSON Schema ``format`` values claims schemas may use, checked as assertions.

Only the formats listed here exist for the registry: the checker starts empty instead of
inheriting jsonschema's defaults, whose strictness depends on which optional packages happen
to be installed. The meta-schema lists the same names; a test keeps the two in step.
"""

from __future__ import annotations

import re
from datetime import date

from jsonschema import FormatChecker

from credential_schemas.errors import ClaimsError
from credential_schemas.rrn import RRN_FORMAT, validate_rrn

__all__ = ["DATE_FORMAT", "FORMATS", "build_format_checker", "parse_date"]

DATE_FORMAT = "date"
FORMATS = frozenset({DATE_FORMAT, RRN_FORMAT})

# date.fromisoformat alone also takes "20240101" and "2024-W01-1" (Python 3.11+);
# credentials use exactly one spelling.
_DATE_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: str) -> date:
    """Parse a ``YYYY-MM-DD`` date; ``ValueError`` for anything else."""
    if _DATE_PATTERN.fullmatch(value) is None:
        raise ValueError("not a YYYY-MM-DD date")
    return date.fromisoformat(value)


def _is_date(instance: object) -> bool:
    # Non-strings are the "type" keyword's business, as JSON Schema formats require.
    if isinstance(instance, str):
        parse_date(instance)
    return True


def _is_rrn(instance: object) -> bool:
    if isinstance(instance, str):
        validate_rrn(instance)
    return True


def build_format_checker() -> FormatChecker:
    """A fresh checker with exactly the registry's formats (nothing global is mutated)."""
    checker = FormatChecker(formats=())
    checker.checks(DATE_FORMAT, raises=ValueError)(_is_date)
    # ClaimsError travels as the ValidationError's cause, carrying INVALID_RRN and the reason.
    checker.checks(RRN_FORMAT, raises=ClaimsError)(_is_rrn)
    return checker
