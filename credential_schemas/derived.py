"""Derived claims: values the issuer computes from other claims, declared as data.

A type file lists them, e.g.
``{"name": "age_over_19", "rule": "age_at_least", "source": "birth_date", "years": 19}`` (a
boolean) or ``{"name": "household_size", "rule": "count", "source": "household_members"}`` (an
integer: the elements of an array, so that "how many" is one disclosure, not every element);
the rules themselves are a closed set implemented here once. The meta-schema lists the same
rule names; a test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import MAXYEAR, date
from typing import Any

from credential_schemas.formats import parse_date

__all__ = ["AGE_AT_LEAST", "COUNT", "RULES", "DerivedClaim", "age_at_least", "anniversary"]

AGE_AT_LEAST = "age_at_least"
COUNT = "count"
RULES = frozenset({AGE_AT_LEAST, COUNT})


def anniversary(born: date, years: int) -> date | None:
    """The day a person born on ``born`` reaches ``years`` full years (만 나이).

    Civil Act (민법) arts. 158 and 160: age counts the day of birth, so the years are complete
    at the end of the day before the anniversary; someone born 2007-11-27 is 19 from
    2026-11-27. When the anniversary month has no such day (born 29 February, target year not
    a leap year), the period ends on the last day of February and the age is reached on
    1 March. ``None`` when the anniversary lies beyond the calendar ``date`` can represent.
    """
    year = born.year + years
    if year > MAXYEAR:
        return None
    try:
        return born.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 3, 1)


def age_at_least(born: date, today: date, years: int) -> bool:
    """Whether someone born on ``born`` is at least ``years`` old on ``today``."""
    reached = anniversary(born, years)
    return reached is not None and today >= reached


@dataclass(frozen=True, slots=True)
class DerivedClaim:
    """One derived claim of a type: ``name`` computed by ``rule`` from ``source``."""

    name: str
    rule: str
    source: str
    years: int | None = None  # age_at_least only

    @property
    def value_schema(self) -> dict[str, Any]:
        """The JSON Schema of the claim's value, as a verifier checks it once disclosed."""
        if self.rule == COUNT:
            return {"type": "integer", "minimum": 0}
        return {"type": "boolean"}

    def compute(self, source_value: Any, today: date) -> bool | int:
        """The claim's value; ``ValueError`` if ``source_value`` is not what the rule reads
        (a ``YYYY-MM-DD`` date, an array)."""
        if self.rule == COUNT:
            if type(source_value) is not list:
                raise ValueError("not an array")
            return len(source_value)
        if type(source_value) is not str or self.years is None:
            raise ValueError("not a date")
        return age_at_least(parse_date(source_value), today, self.years)
