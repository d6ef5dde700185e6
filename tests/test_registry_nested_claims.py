"""The registry's data model for tables, households and amounts: nested disclosures (elements
and members with disclosures of their own), derived counts, amounts in won, typical
presentations, and what a verifier accepts of a partly disclosed element."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from credential_schemas import ClaimsError, Registry, RegistryErrorCode, TypeFileError
from credential_schemas.type_file import MAX_DISCLOSURES
from verifier import sd_jwt

Doc = dict[str, Any]

# A small household type: the members' table with each element and two of its members
# disclosed one by one; the relation is shown with its element; a derived count; an amount.
HOUSEHOLD: Doc = {
    "id": "household_sample",
    "version": 1,
    "vct": "urn:jigap:household-sample:1",
    "display": {"ko": "세대 예시", "en": "Household sample"},
    "validity_days": 30,
    "decoy_digests": 0,
    "always_disclosed": ["household_members"],
    "nested_disclosures": [
        "household_members[]",
        "household_members[].name",
        "household_members[].birth_date",
    ],
    "typical_presentation": [["household_size"], ["household_members", None, "relation"]],
    "claim_labels": {
        "name": {"ko": "성명", "en": "Name"},
        "monthly_rent": {"ko": "월세", "en": "Monthly rent"},
        "household_members": {"ko": "세대원", "en": "Household members"},
        "household_members[].relation": {"ko": "관계", "en": "Relation"},
        "household_members[].name": {"ko": "성명", "en": "Name"},
        "household_members[].birth_date": {"ko": "생년월일", "en": "Date of birth"},
        "household_size": {"ko": "세대원 수", "en": "Household size"},
    },
    "claims_schema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 100},
            "monthly_rent": {"type": "integer", "minimum": 0, "maximum": 10**10, "unit": "KRW"},
            "household_members": {
                "type": "array",
                "minItems": 1,
                "maxItems": 10,
                "items": {
                    "type": "object",
                    "properties": {
                        "relation": {"type": "string", "enum": ["self", "spouse", "child"]},
                        "name": {"type": "string", "minLength": 1, "maxLength": 100},
                        "birth_date": {"type": "string", "format": "date"},
                    },
                    "required": ["relation", "name", "birth_date"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["name", "household_members"],
        "additionalProperties": False,
    },
    "derived": [{"name": "household_size", "rule": "count", "source": "household_members"}],
    "examples": {
        "valid": [
            {
                "name": "홍길동",
                "monthly_rent": 650000,
                "household_members": [
                    {"relation": "self", "name": "홍길동", "birth_date": "1985-03-15"},
                    {"relation": "spouse", "name": "김영희", "birth_date": "1987-09-17"},
                ],
            }
        ],
        "invalid": [
            {
                "claims": {"name": "홍길동", "household_members": [{"relation": "self"}]},
                "why": "at issuance every member is whole",
                "code": "missing_required_claim",
            }
        ],
    },
}
EXAMPLE: Doc = HOUSEHOLD["examples"]["valid"][0]


def load(tmp_path: Path, doc: Doc) -> Registry:
    path = tmp_path / "types" / doc["id"] / "v1.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return Registry.load(tmp_path / "types")


def changed(mutate: Callable[[Doc], object]) -> Doc:
    doc = copy.deepcopy(HOUSEHOLD)
    mutate(doc)
    return doc


@pytest.fixture
def household(tmp_path: Path) -> Any:
    return load(tmp_path, HOUSEHOLD).get("household_sample")


def test_the_type_says_what_has_a_disclosure_of_its_own(household: Any) -> None:
    assert household.is_selectively_disclosable("household_members[]")
    assert household.is_selectively_disclosable("household_members[].name")
    assert not household.is_selectively_disclosable("household_members[].relation")
    assert not household.is_selectively_disclosable("household_members")  # always disclosed
    assert household.is_selectively_disclosable("name")
    assert household.typical_presentation == (
        ("household_size",),
        ("household_members", None, "relation"),
    )
    assert household.unit("monthly_rent") == "KRW"
    assert household.unit("name") is None
    assert household.claim_label("household_members[].relation", "en") == "Relation"


def test_a_derived_count_is_the_number_of_elements(household: Any) -> None:
    assert household.derive(EXAMPLE, date(2026, 1, 1)) == {"household_size": 2}
    household.validate_disclosed({"household_size": 2})
    for wrong in (True, -1, "2"):
        with pytest.raises(ClaimsError) as caught:
            household.validate_disclosed({"household_size": wrong})
        assert caught.value.code is RegistryErrorCode.SCHEMA_VIOLATION
    with pytest.raises(ClaimsError) as caught:
        household.derive({"household_members": "two"}, date(2026, 1, 1))
    assert caught.value.detail == "/household_members: not an array"


@pytest.mark.parametrize(
    "disclosed",
    [
        pytest.param({"household_members": []}, id="no-element-shown-below-minItems"),
        pytest.param({"household_members": [{"relation": "spouse"}]}, id="relation-only"),
        pytest.param(
            {"household_members": [{"relation": "self", "name": "홍길동"}]},
            id="relation-and-name",
        ),
    ],
)
def test_a_verifier_accepts_an_element_shown_in_part(household: Any, disclosed: Doc) -> None:
    household.validate_disclosed(disclosed)


@pytest.mark.parametrize(
    ("disclosed", "code"),
    [
        pytest.param(
            {"household_members": [{"name": "홍길동"}]},
            RegistryErrorCode.MISSING_REQUIRED_CLAIM,
            id="relation-comes-with-its-element",
        ),
        pytest.param(
            {"household_members": [{"relation": "self", "birth_date": "1985-02-30"}]},
            RegistryErrorCode.SCHEMA_VIOLATION,
            id="a-shown-member-is-still-checked",
        ),
        pytest.param(
            {"household_members": [{"relation": "cousin"}]},
            RegistryErrorCode.SCHEMA_VIOLATION,
            id="enum-still-checked",
        ),
        pytest.param(
            {"household_members": [{"relation": "self", "nickname": "길동이"}]},
            RegistryErrorCode.SCHEMA_VIOLATION,
            id="undeclared-member",
        ),
        pytest.param(
            {"household_members": [{"relation": "self"}] * 11},
            RegistryErrorCode.SCHEMA_VIOLATION,
            id="maxItems-still-checked",
        ),
        pytest.param(
            {"monthly_rent": 650000.5}, RegistryErrorCode.SCHEMA_VIOLATION, id="won-are-whole"
        ),
    ],
)
def test_what_is_shown_of_an_element_is_checked(
    household: Any, disclosed: Doc, code: RegistryErrorCode
) -> None:
    with pytest.raises(ClaimsError) as caught:
        household.validate_disclosed(disclosed)
    assert caught.value.code is code


def test_issuance_still_requires_whole_elements(household: Any) -> None:
    with pytest.raises(ClaimsError) as caught:
        household.validate({"name": "홍길동", "household_members": [{"relation": "self"}]})
    assert caught.value.code is RegistryErrorCode.MISSING_REQUIRED_CLAIM


def test_the_compiled_fast_path_covers_nested_types(household: Any) -> None:
    """Partial elements are expressed by the schema itself, so the compiled checks still
    apply (verification speed) and agree with jsonschema on every case above."""
    assert household._disclosed_check is not None
    assert household._issuance_check is not None
    assert household._disclosed_check({"household_members": [{"relation": "self"}]})
    assert not household._disclosed_check({"household_members": [{"name": "홍길동"}]})


def test_the_disclosure_bound_is_the_verifiers() -> None:
    assert MAX_DISCLOSURES == sd_jwt.MAX_DISCLOSURES


def set_members(**changes: Any) -> Callable[[Doc], object]:
    return lambda d: d["claims_schema"]["properties"]["household_members"].update(changes)


REFUSED = [
    pytest.param(
        lambda d: d["nested_disclosures"].append("name"),
        "nested_disclosures names name",
        id="top-level-claim-in-nested",
    ),
    pytest.param(
        lambda d: d["nested_disclosures"].append("household_members[].nickname"),
        "nested_disclosures names household_members[].nickname",
        id="unknown-member",
    ),
    pytest.param(
        lambda d: d["nested_disclosures"].append("name[]"),
        "nested_disclosures names name[]",
        id="elements-of-a-string",
    ),
    pytest.param(
        set_members(maxItems=30),
        "would carry 93 disclosures, over the 64",
        id="too-many-disclosures",
    ),
    pytest.param(
        lambda d: d["derived"][0].update({"source": "name"}),
        "source 'name' is not an array",
        id="count-of-a-string",
    ),
    pytest.param(
        lambda d: d["derived"][0].update({"years": 3}),
        "meta-schema",
        id="count-with-years",
    ),
    pytest.param(
        lambda d: d["derived"].append({"name": "adult", "rule": "age_at_least", "source": "x"}),
        "meta-schema",
        id="age-without-years",
    ),
    pytest.param(
        lambda d: d["claims_schema"]["properties"]["name"].update({"unit": "KRW"}),
        "meta-schema",
        id="unit-on-a-string",
    ),
    pytest.param(
        lambda d: d["claims_schema"]["properties"]["monthly_rent"].update({"unit": "USD"}),
        "meta-schema",
        id="unit-not-won",
    ),
    pytest.param(
        lambda d: d["typical_presentation"].append(["household_members", None, "nickname"]),
        "typical_presentation names ['household_members', None, 'nickname']",
        id="typical-unknown-claim",
    ),
    pytest.param(
        lambda d: d["typical_presentation"].append([]),
        "meta-schema",
        id="typical-empty-path",
    ),
]


@pytest.mark.parametrize(("mutate", "fragment"), REFUSED)
def test_broken_nested_declarations_are_refused(
    tmp_path: Path, mutate: Callable[[Doc], object], fragment: str
) -> None:
    with pytest.raises(TypeFileError) as caught:
        load(tmp_path, changed(mutate))
    assert caught.value.code is RegistryErrorCode.INVALID_TYPE_FILE
    assert fragment in caught.value.detail
