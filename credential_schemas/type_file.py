"""Reading one type file: bounded, strict JSON, the meta-schema, then the rules it cannot express.

A type file is input from outside like any other: it is accepted whole or refused with a
``TypeFileError`` naming the file and the first problem found. Nothing is half-loaded.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, NoReturn

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError, best_match
from jsonschema.protocols import Validator

from credential_schemas.credential_type import (
    HIDDEN_CHARACTERS,
    LANGUAGES,
    CredentialType,
    iter_claim_paths,
)
from credential_schemas.derived import AGE_AT_LEAST, COUNT, DerivedClaim
from credential_schemas.disclosure import disclosed_schema, most_disclosures, nested_paths
from credential_schemas.errors import ClaimsError, RegistryErrorCode, TypeFileError
from credential_schemas.fast_check import compile_object_check
from credential_schemas.formats import DATE_FORMAT, build_format_checker

__all__ = [
    "MAX_DISCLOSURES",
    "MAX_JSON_DEPTH",
    "MAX_TYPE_FILE_BYTES",
    "META_SCHEMA_PATH",
    "RULE_CHECKS",
    "build_type",
    "check_meta_schema",
    "check_naming",
    "example_failures",
    "load_type_file",
    "read_json_file",
]

MAX_TYPE_FILE_BYTES = 256 * 1024
# Deep enough for any sensible claims schema; shallow enough that neither the JSON parser
# nor the recursive schema checks can hit Python's recursion limit.
MAX_JSON_DEPTH = 32
META_SCHEMA_PATH = Path(__file__).parent / "meta-schema.json"
# What an SD-JWT may carry (verifier.sd_jwt.MAX_DISCLOSURES; a test keeps the two equal): a
# type whose fullest credential would need more could be issued but never read back.
MAX_DISCLOSURES = 64


class _DuplicateMemberError(ValueError):
    pass


def _refuse(path: Path, detail: str) -> NoReturn:
    raise TypeFileError(RegistryErrorCode.INVALID_TYPE_FILE, detail, path=path)


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # json.loads silently keeps the last of two equal names; two readers could then
    # disagree on what the file says.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateMemberError(key)
        out[key] = value
    return out


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _depth(value: Any) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(node, dict):
            stack.extend((v, level + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, level + 1) for v in node)
    return deepest


def read_json_file(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``: at most 256 KiB, UTF-8, no duplicate names, no NaN."""
    try:
        if not path.is_file():
            _refuse(path, "not a regular file")
        with path.open("rb") as stream:
            raw = stream.read(MAX_TYPE_FILE_BYTES + 1)
    except OSError as error:
        _refuse(path, f"cannot be read: {error.strerror or error}")
    if len(raw) > MAX_TYPE_FILE_BYTES:
        _refuse(path, f"larger than {MAX_TYPE_FILE_BYTES} bytes")
    try:
        document = json.loads(
            raw.decode("utf-8"),
            object_pairs_hook=_object_without_duplicates,
            parse_constant=_refuse_constant,
        )
    except UnicodeDecodeError:
        _refuse(path, "not UTF-8")
    except json.JSONDecodeError as error:
        _refuse(path, f"bad JSON: {error.msg} at line {error.lineno} column {error.colno}")
    except _DuplicateMemberError as error:
        _refuse(path, f"bad JSON: duplicate member name {str(error)[:60]!r}")
    except ValueError as error:
        _refuse(path, f"bad JSON: {error}")
    except RecursionError:
        _refuse(path, "bad JSON: nested too deeply")
    if not isinstance(document, dict):
        _refuse(path, "bad JSON: the top level is not an object")
    if _depth(document) > MAX_JSON_DEPTH:
        _refuse(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
    return document


@functools.cache
def _meta_validator() -> Validator:
    # Read on first load rather than at import: importing the package does no I/O.
    schema = read_json_file(META_SCHEMA_PATH)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker(formats=["regex"]))


def _object_schemas(schema: Mapping[str, Any], top: str) -> Iterator[tuple[str, Any]]:
    yield top, schema
    for path in iter_claim_paths(schema):
        sub = path.schema
        while sub.get("type") == "array":
            sub = sub["items"]
        if sub.get("type") == "object":
            yield path.name, sub


def check_naming(path: Path, doc: Mapping[str, Any], type_id: str, version: int) -> None:
    """The file's id, version and vct agree with where it lies (``<type_id>/v<version>.json``)."""
    if doc["id"] != type_id:
        _refuse(path, f"id {doc['id']!r} differs from its directory name {type_id!r}")
    if doc["version"] != version:
        _refuse(path, f"version {doc['version']} differs from its file name v{version}.json")
    if not doc["vct"].endswith(f":{version}"):
        _refuse(path, f"vct {doc['vct']!r} does not end with the version :{version}")


def _check_schema(path: Path, doc: Mapping[str, Any]) -> None:
    schema = doc["claims_schema"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as error:
        _refuse(path, f"claims_schema is not valid JSON Schema: {error.message[:200]}")
    for where, sub in _object_schemas(schema, "(top level)"):
        for name in sub.get("required", ()):
            if name not in sub["properties"]:
                _refuse(path, f"claims_schema requires undeclared claim {name!r} in {where}")


def _check_derived(path: Path, doc: Mapping[str, Any]) -> None:
    properties = doc["claims_schema"]["properties"]
    derived_names: list[str] = []
    for rule in doc["derived"]:
        name, source = rule["name"], rule["source"]
        if name in properties or name in derived_names:
            _refuse(path, f"derived claim {name!r} is declared twice")
        if source not in properties:
            _refuse(path, f"derived claim {name!r} has no source claim {source!r}")
        if rule["rule"] == AGE_AT_LEAST and properties[source].get("format") != DATE_FORMAT:
            _refuse(path, f"derived claim {name!r}: source {source!r} is not a date")
        if rule["rule"] == COUNT and properties[source].get("type") != "array":
            _refuse(path, f"derived claim {name!r}: source {source!r} is not an array")
        derived_names.append(name)


def _check_dates(path: Path, doc: Mapping[str, Any]) -> None:
    properties = doc["claims_schema"]["properties"]
    for pair in doc.get("date_order", ()):
        for role in ("earlier", "later"):
            name = pair[role]
            if name not in properties or properties[name].get("format") != DATE_FORMAT:
                _refuse(path, f"date_order: {role} claim {name!r} is not a top-level date claim")
        if pair["earlier"] == pair["later"]:
            _refuse(path, f"date_order: {pair['earlier']!r} is ordered against itself")


def _check_labels(path: Path, doc: Mapping[str, Any]) -> None:
    """A Korean and an English label for every claim path and derived claim, none extra
    (both languages are the meta-schema's: ``localized``)."""
    derived_names = [rule["name"] for rule in doc["derived"]]
    expected = [p.name for p in iter_claim_paths(doc["claims_schema"])] + derived_names
    labels = doc["claim_labels"]
    missing = [n for n in expected if n not in labels]
    if missing:
        _refuse(path, f"claim_labels has no label for {', '.join(missing)}")
    unknown = sorted(set(labels) - set(expected))
    if unknown:
        _refuse(path, f"claim_labels names unknown claim {', '.join(unknown)}")


def _check_disclosure(path: Path, doc: Mapping[str, Any]) -> None:
    schema = doc["claims_schema"]
    derived_names = [rule["name"] for rule in doc["derived"]]
    always = set(doc["always_disclosed"])
    unknown = sorted(always - set(schema["properties"]) - set(derived_names))
    if unknown:
        _refuse(path, f"always_disclosed names unknown claim {', '.join(unknown)}")
    nested = doc.get("nested_disclosures", [])
    unknown = sorted(set(nested) - set(nested_paths(schema)))
    if unknown:
        _refuse(
            path,
            f"nested_disclosures names {', '.join(unknown)}: no nested member or array element"
            " of claims_schema (top-level claims are selective unless in always_disclosed)",
        )
    most = most_disclosures(schema, frozenset(nested), always)
    most += sum(1 for name in derived_names if name not in always)
    if most > MAX_DISCLOSURES:
        _refuse(
            path,
            f"a credential with every array at its maxItems would carry {most} disclosures,"
            f" over the {MAX_DISCLOSURES} an SD-JWT may: lower maxItems or disclose less apart",
        )


RuleCheck = Callable[[Path, Mapping[str, Any]], None]
# What the meta-schema cannot say, in the order the loader applies it; each raises
# TypeFileError. Named for `jigap schemas check`, which reports each one.
RULE_CHECKS: tuple[tuple[str, RuleCheck], ...] = (
    ("schema", _check_schema),
    ("derived claims", _check_derived),
    ("date order", _check_dates),
    ("display and labels", _check_labels),
    ("disclosure", _check_disclosure),
)


def _check_typical(path: Path, built: CredentialType) -> None:
    for claims_path in built.typical_presentation:
        if not built.has_claim(claims_path):
            _refuse(path, f"typical_presentation names {list(claims_path)}, no claim of the type")


def _metadata(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``vct`` and ``credential_metadata`` (display; claims by path) of an OID4VCI 1.0
    credential configuration, as the Credential Issuer Metadata section defines them."""
    labels = doc["claim_labels"]

    def display(names: Mapping[str, str]) -> list[dict[str, str]]:
        return [{"name": names[lang], "locale": lang} for lang in LANGUAGES]

    required = doc["claims_schema"]["required"]
    claims = [
        {"path": p.segments, "mandatory": p.mandatory, "display": display(labels[p.name])}
        for p in iter_claim_paths(doc["claims_schema"])
    ]
    claims += [
        {
            "path": [r["name"]],
            "mandatory": r["source"] in required,
            "display": display(labels[r["name"]]),
        }
        for r in doc["derived"]
    ]
    return {
        "vct": doc["vct"],
        "credential_metadata": {"display": display(doc["display"]), "claims": claims},
    }


def _build(path: Path, doc: Mapping[str, Any]) -> CredentialType:
    schema = doc["claims_schema"]
    derived = tuple(
        DerivedClaim(r["name"], r["rule"], r["source"], r.get("years")) for r in doc["derived"]
    )
    nested = frozenset(doc.get("nested_disclosures", ()))
    # Verifier side: any subset of the top-level claims, derived ones included, and of the
    # nested claims that have disclosures of their own.
    disclosed = disclosed_schema(schema, nested)
    disclosed["properties"] |= {d.name: d.value_schema for d in derived}
    checker = build_format_checker()
    claim_names = (*schema["properties"], *(d.name for d in derived))
    always = frozenset(doc["always_disclosed"])
    return CredentialType(
        id=doc["id"],
        version=doc["version"],
        vct=doc["vct"],
        claim_names=claim_names,
        always_disclosed=always,
        selectively_disclosable=frozenset(claim_names) - always,
        validity=timedelta(days=doc["validity_days"]),
        decoys=doc["decoy_digests"],
        derived=derived,
        date_order=tuple((p["earlier"], p["later"]) for p in doc.get("date_order", ())),
        nested_disclosures=nested,
        typical_presentation=tuple(tuple(p) for p in doc.get("typical_presentation", ())),
        examples=tuple(copy.deepcopy(claims) for claims in doc["examples"]["valid"]),
        source=path,
        _display=MappingProxyType(dict(doc["display"])),
        _labels=MappingProxyType(
            {k: MappingProxyType(dict(v)) for k, v in doc["claim_labels"].items()}
        ),
        _units=MappingProxyType(
            {p.name: p.schema["unit"] for p in iter_claim_paths(schema) if "unit" in p.schema}
        ),
        _issuance_validator=Draft202012Validator(schema, format_checker=checker),
        _disclosed_validator=Draft202012Validator(disclosed, format_checker=checker),
        _issuance_check=compile_object_check(schema, checker, HIDDEN_CHARACTERS),
        _disclosed_check=compile_object_check(disclosed, checker, HIDDEN_CHARACTERS),
        _metadata=_metadata(doc),
    )


def example_failures(doc: Mapping[str, Any], built: CredentialType) -> list[str]:
    """Every valid example refused and every invalid one accepted or refused with another code."""
    failures = []
    for index, claims in enumerate(doc["examples"]["valid"]):
        try:
            built.validate(claims)
        except ClaimsError as error:
            failures.append(f"examples.valid[{index}] is refused: {error.code}: {error.detail}")
    for index, case in enumerate(doc["examples"]["invalid"]):
        try:
            built.validate(case["claims"])
        except ClaimsError as error:
            if error.code != case["code"]:
                failures.append(
                    f"examples.invalid[{index}] fails with {error.code}, not {case['code']}"
                    f" ({error.detail})"
                )
        else:
            failures.append(f"examples.invalid[{index}] is accepted: {case['why'][:100]}")
    return failures


def check_meta_schema(path: Path, doc: Mapping[str, Any]) -> None:
    error = best_match(_meta_validator().iter_errors(doc))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        _refuse(path, f"does not follow the meta-schema at {where}: {error.message[:200]}")


def build_type(path: Path, doc: Mapping[str, Any]) -> CredentialType:
    """The type of a file that passed the meta-schema and ``RULE_CHECKS``; its typical
    presentation must name claims of it."""
    built = _build(path, doc)
    _check_typical(path, built)
    return built


def load_type_file(path: Path, *, type_id: str, version: int) -> CredentialType:
    """Load ``<type_id>/v<version>.json``; ``TypeFileError`` names the file and the problem."""
    doc = read_json_file(path)
    check_meta_schema(path, doc)
    check_naming(path, doc, type_id, version)
    for _, check in RULE_CHECKS:
        check(path, doc)
    built = build_type(path, doc)
    failures = example_failures(doc, built)
    if failures:
        _refuse(path, failures[0])
    return built
