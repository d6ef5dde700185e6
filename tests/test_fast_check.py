"""The compiled claim checks never accept what jsonschema refuses, and do serve the examples."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from credential_schemas import Registry
from credential_schemas.fast_check import compile_check, compile_object_check
from credential_schemas.formats import build_format_checker

REGISTRY = Registry.load()
FORMATS = build_format_checker()
TYPES = {t.id: t for t in REGISTRY.types}

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["1985-03-15", "2024-02-30", "850315-1012348", ""]),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def _mutations(example: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    names = [*sorted(example), "unknown_claim"]
    return st.dictionaries(st.sampled_from(names), json_values, max_size=4).map(
        lambda changes: {**example, **changes}
    )


@pytest.mark.parametrize("type_id", sorted(TYPES))
def test_examples_take_the_fast_path(type_id: str) -> None:
    credential_type = TYPES[type_id]
    for example in credential_type.examples:
        assert credential_type._issuance_check is not None
        assert credential_type._issuance_check(example)


@pytest.mark.parametrize("type_id", sorted(TYPES))
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_fast_check_never_accepts_what_jsonschema_refuses(
    type_id: str, data: st.DataObject
) -> None:
    credential_type = TYPES[type_id]
    claims = data.draw(_mutations(credential_type.examples[0]))
    for check, validator in (
        (credential_type._issuance_check, credential_type._issuance_validator),
        (credential_type._disclosed_check, credential_type._disclosed_validator),
    ):
        if check is not None and check(claims):
            assert validator.is_valid(claims)


@given(json_values)
def test_leaf_checks_agree_with_jsonschema(value: Any) -> None:
    for schema in (
        {"type": "string", "minLength": 1, "maxLength": 5, "pattern": "^[a-z]+$"},
        {"type": "string", "format": "date"},
        {"type": "string", "enum": ["a", "b"]},
        {"type": "integer", "minimum": 0, "maximum": 10},
        {"type": "boolean"},
        {"type": "array", "items": {"type": "string"}, "maxItems": 2},
    ):
        check = compile_check(schema, FORMATS)
        assert check is not None
        if check(value):
            assert Draft202012Validator(schema, format_checker=FORMATS).is_valid(value)


def test_unknown_keywords_leave_the_decision_to_jsonschema() -> None:
    assert compile_check({"type": "array", "uniqueItems": True}, FORMATS) is None
    assert compile_check({"type": "number"}, FORMATS) is None
    assert compile_object_check({"type": "object", "additionalProperties": True}, FORMATS) is None
