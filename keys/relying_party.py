"""Registered relying parties: who may ask a citizen's wallet for what, and why.

The trust list names counters (banks, telecom shops, agencies) beside issuers, as the EU
wallet's relying-party registration does. Each entry is what the operator approved::

    {"id": "counter.woori.example",              # OpenID4VP 1.0 §5.9.2 pre-registered client_id
     "name": {"ko": "우리은행", "en": "Woori Bank"},
     "jwks": RFC 7517 set,                        # the keys its request objects are signed with
     "valid_from": int, "valid_until": int,
     "response_uris": [https URL, ...],           # where it may receive answers online (§8.2)
     "purposes": [
       {"id": "account_opening",
        "name": {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"},
        "credentials": [{"vct": "urn:jigap:resident-register-extract:1",
                         "claims": [["name"], ["birth_date"], ["address"]]}],
        "one_way_seconds": 60}]}                  # optional: a preset answered without a request

A purpose is the "why"; its claims, as DCQL claims path pointers (OpenID4VP 1.0 §7), are the
most the relying party may ask for it. A registered path covers itself and everything below
it; ``null`` covers every element of an array. A purpose with ``one_way_seconds`` is also a
preset: a phone may answer it with no request (a counter with no screen), and the counter
accepts the answer for that many seconds after the phone signed it.

The identifier holds no ``:``, so an OpenID4VP wallet reads it as a pre-registered client
(§5.9.2): the registration is this entry, delivered inside the signed trust list.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from keys.errors import KeyErrorCode, KeyManagementError, TrustListError
from keys.jwk import Jwks

__all__ = [
    "MAX_PURPOSES",
    "MAX_RELYING_PARTIES",
    "ClaimsPath",
    "Purpose",
    "RegisteredCredential",
    "RelyingParty",
    "path_covers",
    "relying_party_from_entry",
]

MAX_RELYING_PARTIES = 5000
MAX_PURPOSES = 32
MAX_REGISTERED_CREDENTIALS = 8
MAX_REGISTERED_CLAIMS = 64
MAX_PATH_LENGTH = 8  # as verifier.dcql
MAX_RESPONSE_URIS = 8
MIN_ONE_WAY_SECONDS, MAX_ONE_WAY_SECONDS = 10, 300
_MAX_NAME = 200
_MAX_PATH_ELEMENT = 256

# A DNS-style name: no ':' (a client identifier prefix, §5.9.1), nothing to escape in a URL.
_RELYING_PARTY_ID = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,98}[a-z0-9])?")
_PURPOSE_ID = re.compile(r"[a-z0-9_]{1,64}")
_LANGUAGES = ("ko", "en")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

ID, NAME, JWKS, VALID_FROM, VALID_UNTIL = "id", "name", "jwks", "valid_from", "valid_until"
RESPONSE_URIS, PURPOSES, CREDENTIALS, VCT, CLAIMS = (
    "response_uris",
    "purposes",
    "credentials",
    "vct",
    "claims",
)
ONE_WAY_SECONDS = "one_way_seconds"
_ENTRY_MEMBERS = frozenset({ID, NAME, JWKS, VALID_FROM, VALID_UNTIL, RESPONSE_URIS, PURPOSES})
_PURPOSE_MEMBERS = frozenset({ID, NAME, CREDENTIALS})
_PURPOSE_OPTIONAL = frozenset({ONE_WAY_SECONDS})
_CREDENTIAL_MEMBERS = frozenset({VCT, CLAIMS})

PathElement = str | int | None
ClaimsPath = tuple[PathElement, ...]


def path_covers(registered: ClaimsPath, requested: ClaimsPath) -> bool:
    """Whether asking for ``requested`` stays within ``registered``.

    ``registered`` must be a prefix of ``requested``, element by element: a name matches the
    same name, an index the same index, and ``null`` any index or ``null``. Asking for a
    whole object when only one of its members is registered is asking for more.
    """
    if len(registered) > len(requested):
        return False
    for allowed, asked in zip(registered, requested, strict=False):
        if allowed is None:
            if isinstance(asked, str):
                return False
        elif allowed != asked or type(allowed) is not type(asked):
            return False
    return True


@dataclass(frozen=True, slots=True)
class RegisteredCredential:
    vct: str
    claims: tuple[ClaimsPath, ...]

    def allows(self, path: ClaimsPath) -> bool:
        return any(path_covers(registered, path) for registered in self.claims)

    def to_entry(self) -> dict[str, Any]:
        return {VCT: self.vct, CLAIMS: [list(path) for path in self.claims]}


@dataclass(frozen=True, slots=True)
class Purpose:
    id: str
    names: Mapping[str, str]
    credentials: tuple[RegisteredCredential, ...]
    one_way_seconds: int | None = None

    def registration_for(self, vct: str) -> RegisteredCredential | None:
        return next((c for c in self.credentials if c.vct == vct), None)

    def allows(self, vct: str, path: ClaimsPath) -> bool:
        """Whether this purpose lets its relying party ask for ``path`` of a ``vct``."""
        registration = self.registration_for(vct)
        return registration is not None and registration.allows(path)

    def to_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            ID: self.id,
            NAME: dict(sorted(self.names.items())),
            CREDENTIALS: [c.to_entry() for c in self.credentials],
        }
        if self.one_way_seconds is not None:
            entry[ONE_WAY_SECONDS] = self.one_way_seconds
        return entry


@dataclass(frozen=True, slots=True)
class RelyingParty:
    id: str
    names: Mapping[str, str]
    jwks: Jwks
    valid_from: int
    valid_until: int
    response_uris: tuple[str, ...]
    purposes: tuple[Purpose, ...]

    def is_current(self, at: int) -> bool:
        return self.valid_from <= at < self.valid_until

    def purpose(self, purpose_id: str) -> Purpose | None:
        return next((p for p in self.purposes if p.id == purpose_id), None)

    def purpose_named(self, names: Mapping[str, str]) -> Purpose | None:
        """The registered purpose whose Korean and English names are exactly ``names``."""
        return next((p for p in self.purposes if dict(p.names) == dict(names)), None)

    def to_entry(self) -> dict[str, Any]:
        keys = [self.jwks.keys[kid].to_jwk() for kid in sorted(self.jwks.keys)]
        return {
            ID: self.id,
            NAME: dict(sorted(self.names.items())),
            JWKS: {"keys": keys},
            VALID_FROM: self.valid_from,
            VALID_UNTIL: self.valid_until,
            RESPONSE_URIS: list(self.response_uris),
            PURPOSES: [p.to_entry() for p in self.purposes],
        }


def relying_party_from_entry(entry: object) -> RelyingParty:
    """Read one relying-party entry (as in the list, or in the operator's input file)."""
    if not isinstance(entry, dict):
        raise _invalid("relying party entry is not an object")
    party_id = entry.get(ID)
    if not isinstance(party_id, str) or not _RELYING_PARTY_ID.fullmatch(party_id):
        raise _invalid(f"relying party id {party_id!r} is not a lower-case DNS-style name")
    where = f"relying party {party_id}"
    _require_members(entry, _ENTRY_MEMBERS, frozenset(), where)
    try:
        jwks = Jwks.from_dict(entry[JWKS])
    except KeyManagementError as exc:
        raise _invalid(f"{where}: jwks: {exc.detail}") from exc
    valid_from = _integer(entry[VALID_FROM], f"{where}: valid_from")
    valid_until = _integer(entry[VALID_UNTIL], f"{where}: valid_until")
    if valid_from >= valid_until:
        raise _invalid(f"{where}: valid_from is not before valid_until")
    uris = _list(entry[RESPONSE_URIS], f"{where}: response_uris", MAX_RESPONSE_URIS, empty=True)
    for uri in uris:
        if not isinstance(uri, str) or not _is_response_uri(uri):
            raise _invalid(f"{where}: response uri {uri!r} is not an https URL")
    if len(set(uris)) != len(uris):
        raise _invalid(f"{where}: a response uri is listed twice")
    purposes = tuple(
        _purpose(p, where) for p in _list(entry[PURPOSES], f"{where}: purposes", MAX_PURPOSES)
    )
    if len({p.id for p in purposes}) != len(purposes):
        raise _invalid(f"{where}: a purpose id is used twice")
    if len({tuple(sorted(p.names.items())) for p in purposes}) != len(purposes):
        raise _invalid(f"{where}: two purposes have the same name")  # requests name them
    return RelyingParty(
        party_id,
        _names(entry[NAME], where),
        jwks,
        valid_from,
        valid_until,
        tuple(uris),
        purposes,
    )


def _purpose(entry: object, where: str) -> Purpose:
    if not isinstance(entry, dict):
        raise _invalid(f"{where}: a purpose is not an object")
    purpose_id = entry.get(ID)
    if not isinstance(purpose_id, str) or not _PURPOSE_ID.fullmatch(purpose_id):
        raise _invalid(f"{where}: purpose id {purpose_id!r} is not 1-64 of a-z 0-9 _")
    where = f"{where}, purpose {purpose_id}"
    _require_members(entry, _PURPOSE_MEMBERS, _PURPOSE_OPTIONAL, where)
    credentials = tuple(
        _registered_credential(c, where)
        for c in _list(entry[CREDENTIALS], f"{where}: credentials", MAX_REGISTERED_CREDENTIALS)
    )
    if len({c.vct for c in credentials}) != len(credentials):
        raise _invalid(f"{where}: a credential type is registered twice")
    one_way = entry.get(ONE_WAY_SECONDS)
    if one_way is not None:
        one_way = _integer(one_way, f"{where}: {ONE_WAY_SECONDS}")
        if not MIN_ONE_WAY_SECONDS <= one_way <= MAX_ONE_WAY_SECONDS:
            raise _invalid(
                f"{where}: {ONE_WAY_SECONDS} must be {MIN_ONE_WAY_SECONDS} to {MAX_ONE_WAY_SECONDS}"
            )
    return Purpose(purpose_id, _names(entry[NAME], where), credentials, one_way)


def _registered_credential(entry: object, where: str) -> RegisteredCredential:
    if not isinstance(entry, dict):
        raise _invalid(f"{where}: a registered credential is not an object")
    _require_members(entry, _CREDENTIAL_MEMBERS, frozenset(), where)
    vct = entry[VCT]
    if not isinstance(vct, str) or not 0 < len(vct) <= _MAX_PATH_ELEMENT:
        raise _invalid(f"{where}: vct is not a type identifier")
    paths = tuple(
        _path(p, f"{where} ({vct})")
        for p in _list(entry[CLAIMS], f"{where}: claims of {vct}", MAX_REGISTERED_CLAIMS)
    )
    if len(set(paths)) != len(paths):
        raise _invalid(f"{where}: a claim of {vct} is registered twice")
    return RegisteredCredential(vct, paths)


def _path(value: object, where: str) -> ClaimsPath:
    elements = _list(value, f"{where}: claims path", MAX_PATH_LENGTH)
    for element in elements:
        is_name = isinstance(element, str) and 0 < len(element) <= _MAX_PATH_ELEMENT
        is_index = type(element) is int and element >= 0
        if not (element is None or is_name or is_index):
            raise _invalid(f"{where}: {element!r} is not a claim name, an index or null")
    if not isinstance(elements[0], str):
        raise _invalid(f"{where}: a claims path starts with a claim name")
    return tuple(elements)


def _names(value: object, where: str) -> Mapping[str, str]:
    if not isinstance(value, dict) or value.keys() != set(_LANGUAGES):
        raise _invalid(f"{where}: name must hold exactly {list(_LANGUAGES)}")
    if not all(isinstance(t, str) and t.strip() and len(t) <= _MAX_NAME for t in value.values()):
        raise _invalid(f"{where}: a name is empty, too long or not text")
    return MappingProxyType(dict(value))


def _list(value: object, where: str, limit: int, *, empty: bool = False) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit or (not value and not empty):
        least = 0 if empty else 1
        raise _invalid(f"{where} must be a list of {least} to {limit}")
    return value


def _integer(value: object, where: str) -> int:
    if type(value) is not int or value < 0:
        raise _invalid(f"{where} is not a non-negative integer")
    return value


def _require_members(
    obj: Mapping[str, Any], required: frozenset[str], optional: frozenset[str], where: str
) -> None:
    missing, unknown = sorted(required - obj.keys()), sorted(obj.keys() - required - optional)
    if missing or unknown:
        raise _invalid(f"{where}: missing {missing}, unknown {unknown}")


def _is_response_uri(value: str) -> bool:
    if "#" in value or not value.isprintable() or " " in value or len(value) > 2048:
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port
    except ValueError:
        return False
    # As issuer identifiers (keys.trust_list): https, or http on this machine for development.
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    )
    return secure and bool(parts.hostname) and "@" not in parts.netloc


def _invalid(detail: str) -> TrustListError:
    return TrustListError(KeyErrorCode.TRUST_LIST_INVALID, detail)
