"""Resident registration numbers (주민등록번호) and the ``kr-rrn`` JSON Schema format.

Accepted form: ``YYMMDD-GNNNNNN`` with the hyphen, ASCII digits only. Credentials carry one
spelling of a number so that a verifier compares strings, never normalises them; the hyphen
form is the one printed on every certificate.

- ``G`` gives the century (and whether the holder is a foreign resident):
  9, 0 → 1800s; 1, 2 → 1900s; 3, 4 → 2000s; 5, 6 → 1900s (foreigner); 7, 8 → 2000s (foreigner).
- ``YYMMDD`` in that century must be a real calendar date.
- The last digit is a check digit, ``(11 - Σ wᵢ·dᵢ mod 11) mod 10`` with weights
  2,3,4,5,6,7,8,9,2,3,4,5 — but only for people born before 2020-10-05. Numbers assigned
  since the October 2020 reform have random trailing digits, and the number carries no
  assignment date, so the birth date is the only available proxy.

Known limits of that proxy (accepted for now, see ``CHECK_DIGIT_CUTOFF``): a number re-issued
after October 2020 to someone born earlier (a number changed after a leak, or a birth
registered late) has no valid check digit and is refused. The same checksum is applied to
foreign residents' numbers (G 5-8).
"""

from __future__ import annotations

import re
from datetime import date

from credential_schemas.errors import ClaimsError, RegistryErrorCode

__all__ = [
    "BIRTH_DATE_CLAIM",
    "CHECK_DIGIT_CUTOFF",
    "RRN_CLAIM",
    "RRN_FORMAT",
    "SEX_CLAIM",
    "birth_date_from_rrn",
    "check_birth_date_matches_rrn",
    "rrn_check_digit",
    "validate_rrn",
]

RRN_FORMAT = "kr-rrn"
# Claim names the cross-field check looks for, at any level of a credential's claims.
RRN_CLAIM = "resident_registration_number"
BIRTH_DATE_CLAIM = "birth_date"
SEX_CLAIM = "sex"
# The seventh digit's parity gives the registered sex: odd male, even female (9 and 0, for the
# 1800s, follow the same rule).
_SEX_BY_PARITY = ("female", "male")

# First birth date whose number may have been assigned under the 2020-10-05 rules.
CHECK_DIGIT_CUTOFF = date(2020, 10, 5)

_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)
# [0-9] rather than \d: \d also matches non-ASCII digits such as "٣".
_RRN_PATTERN = re.compile(r"[0-9]{6}-[0-9]{7}")
_CENTURY_BY_DIGIT = {
    "9": 1800,
    "0": 1800,
    "1": 1900,
    "2": 1900,
    "3": 2000,
    "4": 2000,
    "5": 1900,
    "6": 1900,
    "7": 2000,
    "8": 2000,
}


def _invalid(detail: str) -> ClaimsError:
    # The value itself is never put in the message: it is personal data.
    return ClaimsError(RegistryErrorCode.INVALID_RRN, detail)


def rrn_check_digit(first_twelve_digits: str) -> int:
    """The check digit for the twelve digits before it (hyphen removed)."""
    if len(first_twelve_digits) != len(_WEIGHTS) or not first_twelve_digits.isascii():
        raise ValueError("expected twelve ASCII digits")
    total = sum(w * int(d) for w, d in zip(_WEIGHTS, first_twelve_digits, strict=True))
    return (11 - total % 11) % 10


def birth_date_from_rrn(rrn: str, *, today: date | None = None) -> date:
    """Validate ``rrn`` and return the birth date it encodes.

    With ``today``, a birth date after it is refused too (a 3/4/7/8 digit can put a 1900s
    date in the 2000s, and such dates fall after the check-digit cutoff). The ``kr-rrn``
    schema format has no clock and does not do this; the birth_date cross-check does catch
    the case whenever the credential carries both claims.

    Raises ``ClaimsError`` with code ``INVALID_RRN``.
    """
    if not isinstance(rrn, str) or _RRN_PATTERN.fullmatch(rrn) is None:
        raise _invalid("not of the form YYMMDD-GNNNNNN")
    century = _CENTURY_BY_DIGIT[rrn[7]]  # every digit 0-9 is assigned a century
    try:
        born = date(century + int(rrn[0:2]), int(rrn[2:4]), int(rrn[4:6]))
    except ValueError:
        raise _invalid("the birth date it encodes does not exist") from None
    if today is not None and born > today:
        raise _invalid("the birth date it encodes is in the future")
    if born < CHECK_DIGIT_CUTOFF:
        digits = rrn[:6] + rrn[7:]
        if rrn_check_digit(digits[:12]) != int(digits[12]):
            raise _invalid("wrong check digit")
    return born


def validate_rrn(rrn: str, *, today: date | None = None) -> None:
    """Raise ``ClaimsError`` (``INVALID_RRN``) unless ``rrn`` is a possible number."""
    birth_date_from_rrn(rrn, today=today)


def check_birth_date_matches_rrn(birth_date: str | date, rrn: str) -> None:
    """Raise unless ``birth_date`` (``YYYY-MM-DD`` or a date) is the one ``rrn`` encodes.

    ``INVALID_RRN`` if the number itself is invalid, ``INCONSISTENT_CLAIMS`` if the two
    disagree (including a ``birth_date`` string that is not a date).
    """
    encoded = birth_date_from_rrn(rrn)
    # Compared as text: "YYYY-MM-DD" is the only spelling the schemas accept.
    given = birth_date.isoformat() if isinstance(birth_date, date) else birth_date
    if given != encoded.isoformat():
        raise ClaimsError(
            RegistryErrorCode.INCONSISTENT_CLAIMS,
            "birth_date differs from the date in the resident registration number",
        )


def check_sex_matches_rrn(sex: str, rrn: str) -> None:
    """Raise ``INCONSISTENT_CLAIMS`` unless ``sex`` ("male"/"female") is the one ``rrn`` encodes.

    Checked after ``birth_date_from_rrn`` has accepted the number's form.
    """
    birth_date_from_rrn(rrn)
    if sex in _SEX_BY_PARITY and sex != _SEX_BY_PARITY[int(rrn[7]) % 2]:
        raise ClaimsError(
            RegistryErrorCode.INCONSISTENT_CLAIMS,
            "sex differs from the one in the resident registration number",
        )
