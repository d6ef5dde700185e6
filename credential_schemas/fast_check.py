"""Plain-Python checks compiled from the simple claim schemas, for the hot paths.

jsonschema dispatches every keyword through generic machinery; for the small closed subset of
JSON Schema that claim schemas use, a compiled predicate answers the same question in a few
Python operations. The contract is one-sided: a check may refuse what jsonschema accepts
(then jsonschema decides, and names the error) but must never accept what it refuses. A
schema with any keyword not understood here compiles to ``None``: jsonschema alone decides.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jsonschema import FormatChecker

Check = Callable[[Any], bool]

# Annotation-only in draft 2020-12 (§7.3 of the validation vocabulary for content keywords).
_ANNOTATIONS = frozenset(
    {"title", "description", "examples", "$comment", "contentEncoding", "contentMediaType"}
)
_STRING = frozenset({"type", "minLength", "maxLength", "pattern", "format", "enum"}) | _ANNOTATIONS
# `unit` is the registry's own annotation (what an integer counts, e.g. KRW), never asserted.
_INTEGER = frozenset({"type", "minimum", "maximum", "unit"}) | _ANNOTATIONS
_BOOLEAN = frozenset({"type"}) | _ANNOTATIONS
_ARRAY = frozenset({"type", "items", "minItems", "maxItems"}) | _ANNOTATIONS
_OBJECT = frozenset({"type", "properties", "required", "additionalProperties"}) | _ANNOTATIONS


def compile_check(
    schema: Mapping[str, Any], formats: FormatChecker, forbidden: re.Pattern[str] | None = None
) -> Check | None:
    """A predicate equivalent to or stricter than ``schema``; None when not understood.

    ``forbidden`` makes every string that contains a match fail too (the registry's rule
    against hidden characters), so that the caller need not walk the strings again.
    """
    kind = schema.get("type")
    if kind == "string" and schema.keys() <= _STRING:
        return _string_check(schema, formats, forbidden)
    if kind == "integer" and schema.keys() <= _INTEGER:
        low, high = schema.get("minimum"), schema.get("maximum")
        if not all(bound is None or type(bound) is int for bound in (low, high)):
            return None
        return lambda v: (
            type(v) is int and (low is None or v >= low) and (high is None or v <= high)
        )
    if kind == "boolean" and schema.keys() <= _BOOLEAN:
        return lambda v: type(v) is bool
    if kind == "array" and schema.keys() <= _ARRAY:
        return _array_check(schema, formats, forbidden)
    if kind == "object" and schema.keys() <= _OBJECT:
        return compile_object_check(schema, formats, forbidden)
    return None


def compile_object_check(
    schema: Mapping[str, Any], formats: FormatChecker, forbidden: re.Pattern[str] | None = None
) -> Check | None:
    if schema.get("additionalProperties", False) is not False:
        return None  # only the closed objects claim schemas use
    properties: dict[str, Check] = {}
    for name, sub in schema.get("properties", {}).items():
        check = compile_check(sub, formats, forbidden)
        if check is None:
            return None
        properties[name] = check
    required = tuple(schema.get("required", ()))

    def check_object(value: Any) -> bool:
        if type(value) is not dict or any(name not in value for name in required):
            return False
        for name, item in value.items():
            check = properties.get(name)
            if check is None or not check(item):
                return False
        return True

    return check_object


def _string_check(
    schema: Mapping[str, Any], formats: FormatChecker, forbidden: re.Pattern[str] | None
) -> Check | None:
    shortest = schema.get("minLength", 0)
    longest = schema.get("maxLength")
    pattern = re.compile(schema["pattern"]) if "pattern" in schema else None
    allowed = schema.get("enum")
    if allowed is not None and not all(isinstance(a, str) for a in allowed):
        return None
    allowed_set = frozenset(allowed) if allowed is not None else None
    # The format's own function, as FormatChecker.conforms would call it, without its layers.
    conforms, raises = formats.checkers[schema["format"]] if "format" in schema else (None, ())

    def check_string(value: Any) -> bool:
        if type(value) is not str:
            return False
        # len() counts code points, as JSON Schema's length keywords do.
        if len(value) < shortest or (longest is not None and len(value) > longest):
            return False
        if pattern is not None and pattern.search(value) is None:  # jsonschema uses search
            return False
        if allowed_set is not None and value not in allowed_set:
            return False
        if forbidden is not None and forbidden.search(value) is not None:
            return False
        if conforms is None:
            return True
        try:
            return bool(conforms(value))
        except raises:
            return False

    return check_string


def _array_check(
    schema: Mapping[str, Any], formats: FormatChecker, forbidden: re.Pattern[str] | None
) -> Check | None:
    items = compile_check(schema["items"], formats, forbidden) if "items" in schema else None
    if "items" in schema and items is None:
        return None
    fewest, most = schema.get("minItems", 0), schema.get("maxItems")

    def check_array(value: Any) -> bool:
        if type(value) is not list or len(value) < fewest:
            return False
        if most is not None and len(value) > most:
            return False
        return items is None or all(items(item) for item in value)

    return check_array
