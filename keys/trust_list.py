"""The signed trust list: which issuers a verifier trusts, for which credential types, when.

A JWS (RFC 7515) with ``typ`` ``jigap-trust-list+jwt``, signed by the trust operator's anchor
key, whose public half every verifier pins. Its payload::

    {"iss": operator, "iat": int, "exp": int, "sequence": int,
     "issuers": [{"id": https URL, "name": {"ko": str, "en": str}, "jwks": RFC 7517 set,
                  "credential_types": [vct, ...], "valid_from": int, "valid_until": int}],
     "relying_parties": [...]}

``relying_parties`` (keys.relying_party) is optional and omitted when empty, so that a list
signed before counters were registered keeps its digest.

``sequence`` grows with every publication; a verifier keeps the highest it has accepted and
refuses anything lower (rollback). A list with the *same* sequence is accepted only if its
content is identical (same ``digest``) to the one held: re-downloading the current list is
normal, two different lists under one number are not. Without a held digest, an equal
sequence is refused, because identity cannot be shown.

A key belongs to one issuer: the same key (RFC 7638 thumbprint, which is its ``kid``) under two
issuers is refused, and every key must allow checking signatures (``use`` "sig", ``key_ops``
with "verify", when present; keys.jwk).

The format is ours, so parsing is closed: unknown members are refused, numbers are JSON
integers (never strings, never booleans), times are epoch seconds, and ``exp`` and
``valid_until`` are exclusive.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from keys.encoding import b64url_encode, json_dumps, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, SignatureError, TrustListError
from keys.jwk import Jwks, PublicKey, Signer
from keys.jws import KID, TYP, decode_compact, sign_compact, verify_with
from keys.relying_party import MAX_RELYING_PARTIES, RelyingParty, relying_party_from_entry

__all__ = [
    "MAX_CREDENTIAL_TYPES",
    "MAX_ISSUERS",
    "MAX_TRUST_LIST_LENGTH",
    "TRUST_LIST_CLOCK_SKEW",
    "TRUST_LIST_TYP",
    "TrustList",
    "TrustedIssuer",
    "check_trust_list",
    "sign_trust_list",
    "trusted_issuer_from_entry",
    "verify_trust_list",
]

TRUST_LIST_TYP = "jigap-trust-list+jwt"
ISS, IAT, EXP, SEQUENCE, ISSUERS = "iss", "iat", "exp", "sequence", "issuers"
RELYING_PARTIES = "relying_parties"
ID, NAME, JWKS, CREDENTIAL_TYPES = "id", "name", "jwks", "credential_types"
VALID_FROM, VALID_UNTIL = "valid_from", "valid_until"
NAME_LANGUAGES = ("ko", "en")
_CLAIMS = frozenset({ISS, IAT, EXP, SEQUENCE, ISSUERS})
_OPTIONAL_CLAIMS = frozenset({RELYING_PARTIES})
_ENTRY_MEMBERS = frozenset({ID, NAME, JWKS, CREDENTIAL_TYPES, VALID_FROM, VALID_UNTIL})

MAX_ISSUERS = 1000
MAX_CREDENTIAL_TYPES = 300  # the programme plans 300 certificate types in all
# 1,000 issuers with a few keys each; far above any real list, far below a memory problem.
MAX_TRUST_LIST_LENGTH = 8 * 1024 * 1024
# Counter clocks drift; a list issued this far in the verifier's future is still accepted.
TRUST_LIST_CLOCK_SKEW = 300
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class TrustedIssuer:
    id: str
    names: Mapping[str, str]
    jwks: Jwks
    credential_types: frozenset[str]
    valid_from: int
    valid_until: int

    def may_issue(self, vct: str, at: int) -> bool:
        """Whether the list lets this issuer issue ``vct`` at ``at`` (``valid_until`` excluded)."""
        return vct in self.credential_types and self.valid_from <= at < self.valid_until

    def to_entry(self) -> dict[str, Any]:
        """The entry as signed; sorted, so that equal content gives equal bytes."""
        keys = [self.jwks.keys[kid].to_jwk() for kid in sorted(self.jwks.keys)]
        return {
            ID: self.id,
            NAME: dict(sorted(self.names.items())),
            JWKS: {"keys": keys},
            CREDENTIAL_TYPES: sorted(self.credential_types),
            VALID_FROM: self.valid_from,
            VALID_UNTIL: self.valid_until,
        }


@dataclass(frozen=True, slots=True)
class TrustList:
    operator: str
    sequence: int
    issued_at: int
    expires_at: int
    issuers: Mapping[str, TrustedIssuer]
    relying_parties: Mapping[str, RelyingParty] = field(default_factory=dict)

    def to_claims(self) -> dict[str, Any]:
        claims: dict[str, Any] = {
            ISS: self.operator,
            IAT: self.issued_at,
            EXP: self.expires_at,
            SEQUENCE: self.sequence,
            ISSUERS: [self.issuers[issuer_id].to_entry() for issuer_id in sorted(self.issuers)],
        }
        if self.relying_parties:
            parties = self.relying_parties
            claims[RELYING_PARTIES] = [parties[rp].to_entry() for rp in sorted(parties)]
        return claims

    @property
    def digest(self) -> str:
        """SHA-256 of the canonical claims: equal for identical content, whatever the token."""
        return b64url_encode(hashlib.sha256(json_dumps(self.to_claims())).digest())


def check_trust_list(trust_list: TrustList) -> None:
    """Raise ``TrustListError`` if a verifier would refuse ``trust_list`` as malformed."""
    _trust_list_from_claims(trust_list.to_claims())


def sign_trust_list(trust_list: TrustList, anchor: Signer) -> str:
    """Sign ``trust_list``; a list a verifier would refuse as malformed is refused here."""
    check_trust_list(trust_list)
    return sign_compact(trust_list.to_claims(), anchor, {TYP: TRUST_LIST_TYP, KID: anchor.kid})


def verify_trust_list(
    token: str,
    anchor: PublicKey,
    *,
    now: int,
    held_sequence: int | None = None,
    held_digest: str | None = None,
) -> TrustList:
    """Check ``token`` against the pinned ``anchor`` and the list held so far; raise or return.

    Raises ``KeyManagementError``: from ``decode_compact`` for the token's form (including
    ``WRONG_TOKEN_TYPE`` and ``EMBEDDED_KEY``), ``TrustListError`` for everything else.
    """
    jws = decode_compact(token, expected_typ=TRUST_LIST_TYP, max_length=MAX_TRUST_LIST_LENGTH)
    # The anchor is pinned, so a token naming any other key is refused before any crypto.
    if jws.unverified_header.get(KID) != anchor.kid:
        raise TrustListError(KeyErrorCode.TRUST_LIST_WRONG_SIGNER, "kid is not the anchor's")
    try:
        payload = verify_with(jws, anchor)
    except SignatureError as exc:
        raise TrustListError(KeyErrorCode.TRUST_LIST_WRONG_SIGNER, exc.detail) from exc
    try:
        claims = json_loads_object(payload)
    except KeyManagementError as exc:
        raise _invalid(f"payload: {exc.detail}") from exc
    trust_list = _trust_list_from_claims(claims)
    if now >= trust_list.expires_at:
        raise TrustListError(KeyErrorCode.TRUST_LIST_EXPIRED, f"expired at {trust_list.expires_at}")
    if trust_list.issued_at > now + TRUST_LIST_CLOCK_SKEW:
        raise TrustListError(
            KeyErrorCode.TRUST_LIST_NOT_YET_VALID, f"issued at {trust_list.issued_at}"
        )
    if held_sequence is not None:
        if trust_list.sequence < held_sequence:
            raise TrustListError(
                KeyErrorCode.TRUST_LIST_ROLLBACK,
                f"sequence {trust_list.sequence} is older than the held {held_sequence}",
            )
        if trust_list.sequence == held_sequence and trust_list.digest != held_digest:
            raise TrustListError(
                KeyErrorCode.TRUST_LIST_ROLLBACK,
                f"sequence {held_sequence} held, with content not shown identical",
            )
    return trust_list


def trusted_issuer_from_entry(entry: object) -> TrustedIssuer:
    """Read one issuer entry (as in the list, or in the operator's input file)."""
    if not isinstance(entry, dict):
        raise _invalid("issuer entry is not an object")
    issuer_id = entry.get(ID)
    if not isinstance(issuer_id, str) or not _is_issuer_identifier(issuer_id):
        raise _invalid(f"issuer id {issuer_id!r} is not an https URL without query or fragment")
    where = f"issuer {issuer_id}"
    _require_members(entry, _ENTRY_MEMBERS, where)
    names = entry[NAME]
    if not isinstance(names, dict) or names.keys() != set(NAME_LANGUAGES):
        raise _invalid(f"{where}: name must hold exactly {list(NAME_LANGUAGES)}")
    if not all(isinstance(text, str) and text.strip() for text in names.values()):
        raise _invalid(f"{where}: a name is empty or not text")
    try:
        jwks = Jwks.from_dict(entry[JWKS])
    except KeyManagementError as exc:
        raise _invalid(f"{where}: jwks: {exc.detail}") from exc
    types = entry[CREDENTIAL_TYPES]
    if not isinstance(types, list) or not 0 < len(types) <= MAX_CREDENTIAL_TYPES:
        raise _invalid(f"{where}: credential_types must list 1 to {MAX_CREDENTIAL_TYPES}")
    if not all(isinstance(vct, str) and vct for vct in types) or len(set(types)) != len(types):
        raise _invalid(f"{where}: credential_types must be distinct, non-empty strings")
    valid_from = _integer(entry, VALID_FROM, where)
    valid_until = _integer(entry, VALID_UNTIL, where)
    if valid_from >= valid_until:
        raise _invalid(f"{where}: valid_from is not before valid_until")
    return TrustedIssuer(
        issuer_id,
        MappingProxyType(dict(names)),
        jwks,
        frozenset(types),
        valid_from,
        valid_until,
    )


def _trust_list_from_claims(claims: Mapping[str, Any]) -> TrustList:
    _require_members(claims, _CLAIMS, "trust list", optional=_OPTIONAL_CLAIMS)
    operator = claims[ISS]
    if not isinstance(operator, str) or not operator:
        raise _invalid("iss is not a non-empty string")
    issued_at = _integer(claims, IAT, "trust list")
    expires_at = _integer(claims, EXP, "trust list")
    sequence = _integer(claims, SEQUENCE, "trust list")
    if issued_at >= expires_at:
        raise _invalid("iat is not before exp")
    entries = claims[ISSUERS]
    if not isinstance(entries, list) or len(entries) > MAX_ISSUERS:
        raise _invalid(f"issuers must be a list of at most {MAX_ISSUERS}")
    issuers: dict[str, TrustedIssuer] = {}
    key_holders: dict[str, str] = {}
    for entry in entries:
        issuer = trusted_issuer_from_entry(entry)
        if issuer.id in issuers:
            raise _invalid(f"issuer {issuer.id} listed twice")
        issuers[issuer.id] = issuer
        # A `kid` is the key's RFC 7638 thumbprint (keys.jwk), so one check covers both: a key
        # under two issuers would let either sign as the other, and a status list or credential
        # naming it could not say whose it is.
        for kid in issuer.jwks.keys:
            holder = key_holders.setdefault(kid, issuer.id)
            if holder != issuer.id:
                raise _invalid(f"key {kid} is listed under {holder} and {issuer.id}")
    parties = _relying_parties(claims.get(RELYING_PARTIES, []), key_holders)
    return TrustList(
        operator,
        sequence,
        issued_at,
        expires_at,
        MappingProxyType(issuers),
        MappingProxyType(parties),
    )


def _relying_parties(entries: object, key_holders: dict[str, str]) -> dict[str, RelyingParty]:
    if not isinstance(entries, list) or len(entries) > MAX_RELYING_PARTIES:
        raise _invalid(f"relying_parties must be a list of at most {MAX_RELYING_PARTIES}")
    parties: dict[str, RelyingParty] = {}
    for entry in entries:
        party = relying_party_from_entry(entry)
        if party.id in parties:
            raise _invalid(f"relying party {party.id} listed twice")
        parties[party.id] = party
        # One key, one holder, across issuers and relying parties alike: a counter's key
        # must never sign a credential, nor an agency's key a request.
        for kid in party.jwks.keys:
            holder = key_holders.setdefault(kid, party.id)
            if holder != party.id:
                raise _invalid(f"key {kid} is listed under {holder} and {party.id}")
    return parties


def _require_members(
    obj: Mapping[str, Any],
    members: frozenset[str],
    where: str,
    optional: frozenset[str] = frozenset(),
) -> None:
    missing, unknown = sorted(members - obj.keys()), sorted(obj.keys() - members - optional)
    if missing or unknown:
        raise _invalid(f"{where}: missing {missing}, unknown {unknown}")


def _integer(obj: Mapping[str, Any], name: str, where: str) -> int:
    value = obj[name]
    # `type() is int` and not isinstance: JSON `true` arrives as a bool, a subclass of int.
    if type(value) is not int or value < 0:
        raise _invalid(f"{where}: {name} is not a non-negative integer")
    return value


def _is_issuer_identifier(value: str) -> bool:
    # The OID4VCI 1.0 Credential Issuer Identifier, as an OpenID Connect Core issuer identifier:
    # https, a host, optionally a port and a path, no query, no fragment (and no user info).
    if "?" in value or "#" in value or not value.isprintable() or " " in value:
        return False
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    # http is admitted on a loopback host only (as RFC 8252 §7.3 does for redirect URIs): a
    # development deployment on this machine; no network path leads to it from elsewhere.
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    )
    return secure and bool(parts.hostname) and "@" not in parts.netloc


def _invalid(detail: str) -> TrustListError:
    return TrustListError(KeyErrorCode.TRUST_LIST_INVALID, detail)
