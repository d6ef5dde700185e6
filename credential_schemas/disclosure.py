"""Which parts of a credential have disclosures of their own, and what that means for checks.

A type file says it in two members: ``always_disclosed`` (top-level claims in the clear; every
other top-level claim is selectively disclosable) and ``nested_disclosures`` (label paths below
the top level with a disclosure of their own: ``household_members[]`` each element of an array,
``household_members[].name`` that member of each element, ``spouse.name``). Nested values not
named are shown whenever their parent is, as one with it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from typing import Any

from credential_schemas.credential_type import iter_claim_paths

__all__ = ["disclosed_schema", "most_disclosures", "nested_paths"]


def nested_paths(schema: Mapping[str, Any]) -> Iterator[str]:
    """Every label path below the top level that may get a disclosure of its own: members of
    nested objects (``spouse.name``, ``household_members[].name``) and array elements
    (``household_members[]``, ``x[][]``)."""
    for path in iter_claim_paths(schema):
        if "." in path.name:
            yield path.name
        sub, name = path.schema, path.name
        while sub.get("type") == "array":
            sub, name = sub["items"], f"{name}[]"
            yield name


def most_disclosures(schema: Mapping[str, Any], nested: frozenset[str], always: Set[str]) -> int:
    """How many disclosures the fullest credential carries: every array at its ``maxItems``,
    one disclosure per selectively disclosable claim, member and element (derived claims not
    counted: they are no part of the schema)."""
    return _most(schema, "", nested, always)


def disclosed_schema(schema: Mapping[str, Any], nested: frozenset[str]) -> dict[str, Any]:
    """The claims schema as a verifier applies it to what a presentation disclosed: any subset
    of the top-level claims; a nested member with a disclosure of its own may be withheld (no
    longer required); an array whose elements are disclosed one by one may show fewer than
    ``minItems``. Everything shown is checked as at issuance: types, formats, bounds."""
    out = _partial(schema, "", nested)
    out.pop("required", None)
    return out


def _most(schema: Mapping[str, Any], at: str, nested: frozenset[str], always: Set[str]) -> int:
    """Disclosures of a value at label path ``at`` ("" the top level) when every array holds
    its ``maxItems`` elements: one per selectively disclosable member or element, recursively."""
    kind = schema.get("type")
    if kind == "object":
        total = 0
        for name, sub in schema["properties"].items():
            member = f"{at}.{name}" if at else name
            selective = member in nested if at else name not in always
            total += int(selective) + _most(sub, member, nested, always)
        return total
    if kind == "array":
        element = f"{at}[]"
        each = int(element in nested) + _most(schema["items"], element, nested, always)
        return int(schema["maxItems"]) * each
    return 0


def _partial(schema: Mapping[str, Any], at: str, nested: frozenset[str]) -> dict[str, Any]:
    """``schema`` as a verifier checks what was disclosed of a value at label path ``at``: a
    member with a disclosure of its own may be withheld (no longer required), and an array
    whose elements are disclosed one by one may show fewer than ``minItems``."""
    out = dict(schema)
    kind = schema.get("type")
    if kind == "object":
        properties = schema["properties"]
        members = {name: (f"{at}.{name}" if at else name, sub) for name, sub in properties.items()}
        out["properties"] = {
            name: _partial(sub, member, nested) for name, (member, sub) in members.items()
        }
        if "required" in schema:
            out["required"] = [n for n in schema["required"] if members[n][0] not in nested]
    elif kind == "array":
        element = f"{at}[]"
        out["items"] = _partial(schema["items"], element, nested)
        if element in nested:
            out.pop("minItems", None)
    return out
