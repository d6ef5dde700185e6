"""DCQL, the Digital Credentials Query Language of OpenID for Verifiable Presentations 1.0 §6.

What a counter asks for: a list of credential queries (by format and, for SD-JWT VC, by
`vct`), each naming the claims it needs by path, and optionally which combinations of them
satisfy it. This module only parses a query into typed, checked values; it knows no wallet,
no registry and no HTTP. The query is outside data (a QR code, a request object): it is read
strictly, with bounds, and refused with ``InvalidDcqlError`` naming the first fault.

Only what an SD-JWT VC answer needs is accepted: format `dc+sd-jwt` (§B.3), `meta.vct_values`
(§B.3.5), claims paths (§7), `values` (§6.3), `claim_sets` (§6.1), `credential_sets` (§6.2).
`trusted_authorities` is refused rather than ignored: a wallet that skipped it would answer a
query the counter did not mean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "MAX_CLAIMS",
    "MAX_CREDENTIALS",
    "SD_JWT_VC_FORMAT",
    "ClaimQuery",
    "ClaimsPath",
    "CredentialQuery",
    "CredentialSetQuery",
    "DcqlQuery",
    "InvalidDcqlError",
    "parse_dcql_query",
]

SD_JWT_VC_FORMAT = "dc+sd-jwt"
# Far above any counter's question, far below a memory problem.
MAX_CREDENTIALS = 16
MAX_CLAIMS = 64
MAX_PATH_LENGTH = 8
MAX_VALUES = 32
MAX_OPTIONS = 16
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")  # §6.1 `id`: alphanumeric, '_' or '-'
_MAX_STRING = 256

PathElement = str | int | None  # §7.1: a name, an array index, or null for every element
ClaimsPath = tuple[PathElement, ...]
ClaimValue = str | int | bool


class InvalidDcqlError(ValueError):
    """A DCQL query that is malformed or asks for what this profile does not answer."""


@dataclass(frozen=True, slots=True)
class ClaimQuery:
    path: ClaimsPath
    id: str | None = None
    values: tuple[ClaimValue, ...] | None = None  # §6.3: the claim must equal one of them


@dataclass(frozen=True, slots=True)
class CredentialQuery:
    id: str
    vct_values: tuple[str, ...]
    claims: tuple[ClaimQuery, ...] | None  # None: the counter asks for no claim in particular
    claim_sets: tuple[tuple[str, ...], ...] | None = None  # §6.1: alternatives, by claim id
    multiple: bool = False
    require_cryptographic_holder_binding: bool = True


@dataclass(frozen=True, slots=True)
class CredentialSetQuery:
    options: tuple[tuple[str, ...], ...]  # each a set of credential query ids that satisfies
    required: bool = True


@dataclass(frozen=True, slots=True)
class DcqlQuery:
    credentials: tuple[CredentialQuery, ...]
    credential_sets: tuple[CredentialSetQuery, ...] | None = None

    def credential(self, query_id: str) -> CredentialQuery | None:
        return next((c for c in self.credentials if c.id == query_id), None)


def _fault(detail: str) -> InvalidDcqlError:
    return InvalidDcqlError(detail)


def _object(value: object, where: str, allowed: frozenset[str]) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fault(f"{where} is not an object")
    unknown = set(value) - allowed
    if unknown:
        raise _fault(f"{where}: {sorted(unknown)[0]!r} is not supported")
    return value


def _array(value: object, where: str, *, limit: int) -> Sequence[Any]:
    if not isinstance(value, list) or not value:
        raise _fault(f"{where} is not a non-empty array")
    if len(value) > limit:
        raise _fault(f"{where} has more than {limit} elements")
    return value


def _identifier(value: object, where: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise _fault(f"{where} is not an identifier (1-64 of A-Z a-z 0-9 _ -)")
    return value


def _boolean(query: Mapping[str, Any], name: str, where: str, default: bool) -> bool:
    value = query.get(name, default)
    if type(value) is not bool:
        raise _fault(f"{where}.{name} is not a boolean")
    return value


def _path(value: object, where: str) -> ClaimsPath:
    elements = _array(value, where, limit=MAX_PATH_LENGTH)
    path: list[PathElement] = []
    for element in elements:
        if (
            element is None
            or (isinstance(element, str) and 0 < len(element) <= _MAX_STRING)
            or (type(element) is int and element >= 0)
        ):
            path.append(element)
        else:
            raise _fault(f"{where}: {element!r} is not a name, an index or null")
    return tuple(path)


def _values(value: object, where: str) -> tuple[ClaimValue, ...]:
    values = _array(value, where, limit=MAX_VALUES)
    if not all(
        isinstance(v, bool | int) or (isinstance(v, str) and len(v) <= _MAX_STRING) for v in values
    ):
        raise _fault(f"{where} holds a value that is not a string, integer or boolean")
    return tuple(values)


def _claim(value: object, where: str) -> ClaimQuery:
    claim = _object(value, where, frozenset({"id", "path", "values"}))
    if "path" not in claim:
        raise _fault(f"{where}.path is missing")
    return ClaimQuery(
        path=_path(claim["path"], f"{where}.path"),
        id=_identifier(claim["id"], f"{where}.id") if "id" in claim else None,
        values=_values(claim["values"], f"{where}.values") if "values" in claim else None,
    )


_CREDENTIAL_MEMBERS = frozenset(
    {
        "id",
        "format",
        "meta",
        "claims",
        "claim_sets",
        "multiple",
        "require_cryptographic_holder_binding",
    }
)


def _credential(value: object, where: str) -> CredentialQuery:
    query = _object(value, where, _CREDENTIAL_MEMBERS)
    query_id = _identifier(query.get("id"), f"{where}.id")
    if query.get("format") != SD_JWT_VC_FORMAT:
        raise _fault(f"{where}.format is not {SD_JWT_VC_FORMAT!r}")
    meta = _object(query.get("meta"), f"{where}.meta", frozenset({"vct_values"}))
    vct_values = _array(meta.get("vct_values"), f"{where}.meta.vct_values", limit=MAX_VALUES)
    if not all(isinstance(v, str) and 0 < len(v) <= _MAX_STRING for v in vct_values):
        raise _fault(f"{where}.meta.vct_values holds a value that is not a type identifier")
    claims = None
    if "claims" in query:
        entries = _array(query["claims"], f"{where}.claims", limit=MAX_CLAIMS)
        claims = tuple(_claim(c, f"{where}.claims[{i}]") for i, c in enumerate(entries))
        ids = [c.id for c in claims if c.id is not None]
        if len(ids) != len(set(ids)):
            raise _fault(f"{where}.claims: an id is used twice")
    claim_sets = None
    if "claim_sets" in query:
        # §6.1: claim_sets MUST NOT be present without claims, and name claims by their ids.
        if claims is None or any(c.id is None for c in claims):
            raise _fault(f"{where}.claim_sets needs claims that each have an id")
        known = {c.id for c in claims}
        options = _array(query["claim_sets"], f"{where}.claim_sets", limit=MAX_OPTIONS)
        claim_sets = tuple(
            _option(option, f"{where}.claim_sets[{i}]", known) for i, option in enumerate(options)
        )
    return CredentialQuery(
        id=query_id,
        vct_values=tuple(vct_values),
        claims=claims,
        claim_sets=claim_sets,
        multiple=_boolean(query, "multiple", where, False),
        require_cryptographic_holder_binding=_boolean(
            query, "require_cryptographic_holder_binding", where, True
        ),
    )


def _option(value: object, where: str, known: set[str | None]) -> tuple[str, ...]:
    ids = tuple(
        _identifier(i, f"{where}[{n}]")
        for n, i in enumerate(_array(value, where, limit=MAX_CLAIMS))
    )
    missing = [i for i in ids if i not in known]
    if missing:
        raise _fault(f"{where} names {missing[0]!r}, which is not defined")
    return ids


def parse_dcql_query(value: object) -> DcqlQuery:
    """§6: the query object (already parsed from JSON) as typed values, or InvalidDcqlError."""
    query = _object(value, "dcql_query", frozenset({"credentials", "credential_sets"}))
    entries = _array(query.get("credentials"), "credentials", limit=MAX_CREDENTIALS)
    credentials = tuple(_credential(c, f"credentials[{i}]") for i, c in enumerate(entries))
    ids = [c.id for c in credentials]
    if len(ids) != len(set(ids)):
        raise _fault("credentials: an id is used twice")  # §6.1: ids MUST be unique
    credential_sets = None
    if "credential_sets" in query:
        sets = _array(query["credential_sets"], "credential_sets", limit=MAX_OPTIONS)
        parsed = []
        for i, entry in enumerate(sets):
            where = f"credential_sets[{i}]"
            credential_set = _object(entry, where, frozenset({"options", "required", "purpose"}))
            options = _array(credential_set.get("options"), f"{where}.options", limit=MAX_OPTIONS)
            parsed.append(
                CredentialSetQuery(
                    options=tuple(
                        _option(o, f"{where}.options[{n}]", set(ids)) for n, o in enumerate(options)
                    ),
                    required=_boolean(credential_set, "required", where, True),
                )
            )
        credential_sets = tuple(parsed)
    return DcqlQuery(credentials, credential_sets)
