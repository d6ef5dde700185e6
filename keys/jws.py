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

# Header parameters that change how the payload is read — RFC 7797 `b64` (an unencoded
# payload) and `zip` (a compressed one, JWE's parameter borrowed by some JWS profiles). We
# implement neither, so a token carrying one is refused whether or not `crit` lists it: a
# reader that ignored it would read other bytes than the signer meant.
READING_CHANGING_PARAMETERS = frozenset({"b64", "zip"})
# The JSON type of each registered header parameter (RFC 7515 §4.1, RFC 7519 §5.1): a value of
# another type is not that parameter, and a token carrying it is malformed, whatever else.
_STRING_PARAMETERS = frozenset({ALG, "jku", KID, "x5u", "x5t", "x5t#S256", TYP, "cty"})
_HEADER_TYPES: dict[str, type] = {
    **dict.fromkeys(_STRING_PARAMETERS, str),
    "jwk": dict,
    "x5c": list,
    CRIT: list,
}

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
    # Exactly two dots, found from both ends (`partition` searches at C speed where `split`
    # walks every character of the payload); the signing input falls out as one string.
    signing_text, _, signature_segment = token.rpartition(".")
    header_segment, second_dot, payload_segment = signing_text.partition(".")
    if not second_dot or "." in payload_segment:
        raise MalformedError(KeyErrorCode.MALFORMED_JWS, f"{token.count('.') + 1} parts, not 3")
    header, problem = _read_header(header_segment, expected_typ, allow_key_reference)
    payload = b64url_decode(payload_segment)
    signature = b64url_decode(signature_segment)
    if problem is not None:  # after the other parts' encoding, as each token is read in order
        raise MalformedError(problem.code, problem.detail)
    return UnverifiedJws(header, payload, signing_text.encode("ascii"), signature)


class _HeaderProblem(NamedTuple):
    """What is wrong with a header's form, raised by ``decode_compact`` in its turn."""

    code: KeyErrorCode
    detail: str


# All credentials of an issuer key share one header, all ES256 key-binding JWTs another: the
# parse and the verdict on a short header are remembered, keyed by its exact text and by what
# the caller expects (a pure function of those, so nothing else can match).
_MEMO_HEADER_LENGTH = 512


@functools.lru_cache(maxsize=512)
def _read_short_header(
    segment: str, expected_typ: str, allow_key_reference: frozenset[str]
) -> tuple[Mapping[str, Any], _HeaderProblem | None]:
    return _read_any_header(segment, expected_typ, allow_key_reference)


def _read_header(
    segment: str, expected_typ: str, allow_key_reference: frozenset[str]
) -> tuple[Mapping[str, Any], _HeaderProblem | None]:
    if len(segment) <= _MEMO_HEADER_LENGTH:
        return _read_short_header(segment, expected_typ, allow_key_reference)
    return _read_any_header(segment, expected_typ, allow_key_reference)


def _read_any_header(
    segment: str, expected_typ: str, allow_key_reference: frozenset[str]
) -> tuple[Mapping[str, Any], _HeaderProblem | None]:
    """The parsed header, and what is wrong with its form, if anything (raised by the caller)."""
    header = MappingProxyType(json_loads_object(b64url_decode(segment)))
    return header, _header_problem(header, expected_typ, allow_key_reference)


def _header_problem(
    header: Mapping[str, Any], expected_typ: str, allow_key_reference: frozenset[str]
) -> _HeaderProblem | None:
    for name, expected_type in _HEADER_TYPES.items():
        if name in header and type(header[name]) is not expected_type:
            return _HeaderProblem(
                KeyErrorCode.WRONG_JSON_TYPE, f"`{name}` is not a JSON {expected_type.__name__}"
            )
    if CRIT in header and not (header[CRIT] and all(type(n) is str for n in header[CRIT])):
        return _HeaderProblem(KeyErrorCode.WRONG_JSON_TYPE, "`crit` is not a list of names")
    if "x5c" in header and not all(type(c) is str for c in header["x5c"]):
        return _HeaderProblem(KeyErrorCode.WRONG_JSON_TYPE, "`x5c` is not a list of strings")
    changing = READING_CHANGING_PARAMETERS & header.keys()
    if changing:
        return _HeaderProblem(
            KeyErrorCode.CRITICAL_HEADER,
            f"header changes how the token is read: {sorted(changing)}",
        )
    if CRIT in header:
        # RFC 7515 §4.1.11: we understand no extension, so any `crit` makes the token invalid.
        return _HeaderProblem(KeyErrorCode.CRITICAL_HEADER, "`crit` header parameter present")
    embedded = (KEY_REFERENCE_PARAMETERS - allow_key_reference) & header.keys()
    if embedded:
        return _HeaderProblem(KeyErrorCode.EMBEDDED_KEY, f"token names its key: {sorted(embedded)}")
    if ALG not in header:
        return _HeaderProblem(KeyErrorCode.MALFORMED_JWS, "header has no `alg`")
    typ = header.get(TYP)
    if typ != expected_typ:
        return _HeaderProblem(
            KeyErrorCode.WRONG_TOKEN_TYPE, f"typ {typ!r}, expected {expected_typ!r}"
        )
    return None


def verify_with(jws: UnverifiedJws, key: PublicKey) -> bytes:
    """Check the signature with ``key``'s algorithm; return the now-verified payload."""
    if jws.unverified_header[ALG] != key.algorithm:  # a StrEnum: equal to its text
        raise SignatureError(
            KeyErrorCode.UNSUPPORTED_ALGORITHM,
            f"header alg {jws.unverified_header[ALG]!r} but key {key.kid} is {key.algorithm.value}",
        )
    key.verify(jws.signature, jws.signing_input)
    return jws.unverified_payload
