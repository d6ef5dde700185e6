"""JWS compact serialisation (RFC 7515 §7.1), strict.

Decoding and signature checking are separate steps: ``decode_compact`` reads a token without
trusting it (its fields are *unverified*), ``verify_with`` checks it against a key the caller
chose. The algorithm is the key's; a header naming another is refused (RFC 8725 §3.1).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads_object
from keys.errors import KeyErrorCode, MalformedError, SignatureError
from keys.jwk import PublicKey, Signer

ALG = "alg"
TYP = "typ"
KID = "kid"
CRIT = "crit"
# Header parameters by which a token names its own key (RFC 7515 §4.1.2-4.1.6). A verifier that
# takes trust from its store refuses them; a protocol that needs one (an OID4VCI proof carries
# `jwk`) asks for it explicitly.
KEY_REFERENCE_PARAMETERS = frozenset({"jwk", "jku", "x5u", "x5c", "x5t", "x5t#S256"})

MAX_TOKEN_LENGTH = 64 * 1024


class UnverifiedJws(NamedTuple):
    """A parsed JWS whose signature has not been checked yet."""

    unverified_header: Mapping[str, Any]
    unverified_payload: bytes
    signing_input: bytes
    signature: bytes

    def unverified_claims(self) -> dict[str, Any]:
        return json_loads_object(self.unverified_payload)


def sign_compact(payload: bytes | Mapping[str, Any], key: Signer, header: Mapping[str, Any]) -> str:
    """Sign with the key's own algorithm; ``header`` adds `typ`, `kid` and the like."""
    payload_bytes = payload if isinstance(payload, bytes) else json_dumps(payload)
    protected = b64url_encode(json_dumps({**header, ALG: key.algorithm.value}))
    signing_input = f"{protected}.{b64url_encode(payload_bytes)}".encode("ascii")
    return f"{signing_input.decode('ascii')}.{b64url_encode(key.sign(signing_input))}"


def decode_compact(
    token: str,
    *,
    expected_typ: str,
    allow_key_reference: frozenset[str] = frozenset(),
    max_length: int = MAX_TOKEN_LENGTH,
) -> UnverifiedJws:
    """Parse ``token`` and check its header's form; the signature is not checked here."""
    if len(token) > max_length:
        raise MalformedError(KeyErrorCode.TOO_LARGE, f"token over {max_length} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise MalformedError(KeyErrorCode.MALFORMED_JWS, f"{len(parts)} parts, not 3")
    header = _parse_header(parts[0])
    payload = b64url_decode(parts[1])
    signature = b64url_decode(parts[2])
    if CRIT in header:
        # RFC 7515 §4.1.11: we understand no extension, so any `crit` makes the token invalid.
        raise MalformedError(KeyErrorCode.CRITICAL_HEADER, "`crit` header parameter present")
    embedded = not KEY_REFERENCE_PARAMETERS.isdisjoint(header) and (
        (KEY_REFERENCE_PARAMETERS - allow_key_reference) & header.keys()
    )
    if embedded:
        raise MalformedError(KeyErrorCode.EMBEDDED_KEY, f"token names its key: {sorted(embedded)}")
    if not isinstance(header.get(ALG), str):
        raise MalformedError(KeyErrorCode.MALFORMED_JWS, "header has no `alg`")
    if header.get(TYP) != expected_typ:
        raise MalformedError(
            KeyErrorCode.WRONG_TOKEN_TYPE, f"typ {header.get(TYP)!r}, expected {expected_typ!r}"
        )
    if KID in header and not isinstance(header[KID], str):
        raise MalformedError(KeyErrorCode.WRONG_JSON_TYPE, "`kid` is not a string")
    signing_input = token[: len(parts[0]) + 1 + len(parts[1])].encode("ascii")
    return UnverifiedJws(header, payload, signing_input, signature)


# All credentials of an issuer key share one header, all ES256 key-binding JWTs another: the
# parse of a short header is remembered (keyed by its exact text, so nothing else can match).
_MEMO_HEADER_LENGTH = 512


@functools.lru_cache(maxsize=512)
def _parse_short_header(segment: str) -> Mapping[str, Any]:
    return MappingProxyType(json_loads_object(b64url_decode(segment)))


def _parse_header(segment: str) -> Mapping[str, Any]:
    if len(segment) <= _MEMO_HEADER_LENGTH:
        return _parse_short_header(segment)
    return MappingProxyType(json_loads_object(b64url_decode(segment)))


def verify_with(jws: UnverifiedJws, key: PublicKey) -> bytes:
    """Check the signature with ``key``'s algorithm; return the now-verified payload."""
    if jws.unverified_header[ALG] != key.algorithm:  # a StrEnum: equal to its text
        raise SignatureError(
            KeyErrorCode.UNSUPPORTED_ALGORITHM,
            f"header alg {jws.unverified_header[ALG]!r} but key {key.kid} is {key.algorithm.value}",
        )
    key.verify(jws.signature, jws.signing_input)
    return jws.unverified_payload
