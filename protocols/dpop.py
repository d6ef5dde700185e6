"""OAuth 2.0 Demonstrating Proof of Possession (DPoP), RFC 9449 (September 2023).

A DPoP proof is a JWT the client signs with its own key for one HTTP request: it names the
method (`htm`), the target URI without query and fragment (`htu`), a creation time (`iat`), a
unique id (`jti`), the server's nonce when it asked for one, and the hash of the access token
when one is sent (`ath`). The key travels in the `jwk` header; its RFC 7638 thumbprint (`jkt`)
is what an account or a token is bound to.

Pure: no HTTP, no database, the time passed in as ``now``. ``verify_dpop_proof`` makes the
§4.3 checks a server owes every proof and returns what the service needs for the rest:

- the HTTP layer reads exactly one `DPoP` header (§4.3 points 1-2), hands the URI as the client
  addressed it (the service's public base URL and the raw path, never a Host header it did not
  check), and turns a ``DpopError`` into the error body or `WWW-Authenticate` challenge with
  a fresh `DPoP-Nonce` header (§8, §9) when the code is `use_dpop_nonce`;
- replay (§11.1) is the service's: the database keeps a unique row per ``(jkt, jti)`` until
  ``accepted_until`` (after that, the `iat` check refuses the proof anyway), and a second insert
  of the same pair is a replay.

Untrusted JOSE is read by ``keys.jws`` (strict base64url, I-JSON: duplicate members refused,
bounded size) and ``keys.jwk`` (public keys only, points on the curve). The algorithm is the
key's (ES256 for P-256, EdDSA for Ed25519), and the accepted set is the caller's policy:
`none` and MACs are never in it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Container, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from keys.encoding import b64url_encode, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError
from keys.jwk import Algorithm, PublicKey, Signer, public_key_from_jwk
from keys.jws import ALG, TYP, decode_compact, sign_compact, verify_with

__all__ = [
    "DPOP_HEADER",
    "DPOP_NONCE_HEADER",
    "DPOP_SCHEME",
    "DPOP_TYP",
    "MAX_JTI_LENGTH",
    "MAX_PROOF_LENGTH",
    "DpopError",
    "DpopErrorCode",
    "DpopFailure",
    "DpopPolicy",
    "DpopProof",
    "access_token_hash",
    "make_dpop_proof",
    "normalize_htu",
    "verify_dpop_proof",
]

DPOP_TYP = "dpop+jwt"  # §4.2, and §11.5: checked so that no other JWT passes as a proof
DPOP_HEADER = "DPoP"  # §4.1: the request header carrying the proof
DPOP_NONCE_HEADER = "DPoP-Nonce"  # §8: the response header carrying the server's nonce
DPOP_SCHEME = "DPoP"  # §7.1: `Authorization: DPoP <token>`
JWK = "jwk"
JTI, HTM, HTU, IAT, NONCE, ATH = "jti", "htm", "htu", "iat", "nonce", "ath"
_REQUIRED_CLAIMS = (JTI, HTM, HTU, IAT)  # §4.2

# A P-256 proof with a nonce and `ath` is under 1 KiB; 8 KiB bounds what one header can cost.
MAX_PROOF_LENGTH = 8 * 1024
# §11.1: a server tracking `jti` values rejects needlessly large ones. 96 random bits take 16
# base64url characters, a UUID 36.
MAX_JTI_LENGTH = 128
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DpopErrorCode(StrEnum):
    """What the client is told: RFC 9449 §12.2, and RFC 6750 §3.1 for a token's key binding."""

    INVALID_DPOP_PROOF = "invalid_dpop_proof"
    USE_DPOP_NONCE = "use_dpop_nonce"  # the HTTP layer adds a fresh `DPoP-Nonce` header
    # A valid proof, for another key than the token's (Figure 16). A code, not a secret:
    INVALID_TOKEN = "invalid_token"  # noqa: S105


class DpopFailure(StrEnum):
    """Why a proof was refused: for tests, logs and metrics; the client sees the code alone."""

    MALFORMED = "malformed"  # not a compact JWS of strict base64url and I-JSON
    TOO_LARGE = "too_large"
    WRONG_TOKEN_TYPE = "wrong_token_type"  # noqa: S105 - `typ` is not dpop+jwt
    UNSUPPORTED_HEADER = "unsupported_header"  # `crit`, `b64`/`zip`, a key named by reference
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"  # not in the policy: `none`, HS256, RS256
    ALGORITHM_KEY_MISMATCH = "algorithm_key_mismatch"  # `alg` is not the `jwk`'s algorithm
    MISSING_KEY = "missing_key"  # no `jwk` header
    INVALID_KEY = "invalid_key"  # private members, off-curve, other key types
    BAD_SIGNATURE = "bad_signature"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"  # wrong JSON type, over-long `jti`, `htu` not a URI
    METHOD_MISMATCH = "method_mismatch"
    URI_MISMATCH = "uri_mismatch"
    TOO_OLD = "too_old"  # `iat` before the window
    ISSUED_IN_FUTURE = "issued_in_future"  # `iat` beyond the allowed clock skew
    NONCE_MISSING = "nonce_missing"
    NONCE_STALE = "nonce_stale"  # a nonce the server does not (or no longer) accept
    ATH_MISSING = "ath_missing"
    ATH_MISMATCH = "ath_mismatch"
    ATH_UNEXPECTED = "ath_unexpected"  # §7: a proof for a token is not usable without it
    KEY_MISMATCH = "key_mismatch"  # the proof's key is not the one the token or account holds


_CODE_OF = {
    DpopFailure.NONCE_MISSING: DpopErrorCode.USE_DPOP_NONCE,
    DpopFailure.NONCE_STALE: DpopErrorCode.USE_DPOP_NONCE,
    DpopFailure.KEY_MISMATCH: DpopErrorCode.INVALID_TOKEN,
}


class DpopError(Exception):
    """A refused proof: ``code`` for the client, ``reason`` and ``detail`` for the logs."""

    def __init__(self, reason: DpopFailure, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.code = _CODE_OF.get(reason, DpopErrorCode.INVALID_DPOP_PROOF)
        self.detail = detail


# Every failure of the `keys` layer met while reading a proof, translated in this one place;
# the key-store and trust-list codes cannot arise here, so they propagate unchanged.
_FROM_KEY_ERROR: dict[KeyErrorCode, DpopFailure | None] = {
    KeyErrorCode.MALFORMED_BASE64: DpopFailure.MALFORMED,
    KeyErrorCode.MALFORMED_JSON: DpopFailure.MALFORMED,
    KeyErrorCode.DUPLICATE_MEMBER: DpopFailure.MALFORMED,
    KeyErrorCode.WRONG_JSON_TYPE: DpopFailure.MALFORMED,
    KeyErrorCode.MALFORMED_JWS: DpopFailure.MALFORMED,
    KeyErrorCode.TOO_LARGE: DpopFailure.TOO_LARGE,
    KeyErrorCode.CRITICAL_HEADER: DpopFailure.UNSUPPORTED_HEADER,
    KeyErrorCode.EMBEDDED_KEY: DpopFailure.UNSUPPORTED_HEADER,
    KeyErrorCode.WRONG_TOKEN_TYPE: DpopFailure.WRONG_TOKEN_TYPE,
    KeyErrorCode.UNSUPPORTED_ALGORITHM: DpopFailure.ALGORITHM_KEY_MISMATCH,
    KeyErrorCode.INVALID_KEY: DpopFailure.INVALID_KEY,
    KeyErrorCode.WEAK_KEY: DpopFailure.INVALID_KEY,
    KeyErrorCode.UNSUPPORTED_KEY: DpopFailure.INVALID_KEY,
    KeyErrorCode.BAD_SIGNATURE: DpopFailure.BAD_SIGNATURE,
    KeyErrorCode.UNKNOWN_KEY: None,
    KeyErrorCode.KEY_STORE: None,
    KeyErrorCode.WRONG_PASSPHRASE: None,
    KeyErrorCode.WEAK_PASSPHRASE: None,
    KeyErrorCode.TRUST_LIST_WRONG_SIGNER: None,
    KeyErrorCode.TRUST_LIST_EXPIRED: None,
    KeyErrorCode.TRUST_LIST_NOT_YET_VALID: None,
    KeyErrorCode.TRUST_LIST_ROLLBACK: None,
    KeyErrorCode.TRUST_LIST_INVALID: None,
}


def _from_key_error(exc: KeyManagementError) -> DpopError:
    reason = _FROM_KEY_ERROR[exc.code]
    if reason is None:
        raise exc
    return DpopError(reason, exc.detail)


@dataclass(frozen=True, slots=True)
class DpopPolicy:
    """The server's choices: accepted algorithms (§4.3 point 5) and the `iat` window (§11.1)."""

    algorithms: frozenset[Algorithm] = frozenset({Algorithm.ES256})
    max_age: int = 60  # seconds a proof is accepted after its `iat`
    clock_skew: int = 10  # seconds a client's clock may run ahead

    def __post_init__(self) -> None:
        if not self.algorithms or not all(isinstance(a, Algorithm) for a in self.algorithms):
            raise ValueError("algorithms must be a non-empty set of Algorithm members")
        if type(self.max_age) is not int or self.max_age <= 0:
            raise ValueError("max_age must be a positive number of seconds")
        if type(self.clock_skew) is not int or self.clock_skew < 0:
            raise ValueError("clock_skew must be a number of seconds, zero or more")


@dataclass(frozen=True, slots=True)
class DpopProof:
    """A verified proof: the key that signed it, and what the service needs against replay."""

    public_key: PublicKey
    jti: str
    issued_at: int
    accepted_until: int  # keep (jkt, jti) until then; the `iat` check refuses it afterwards
    nonce: str | None

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint of the proof's key (§6.1): what accounts are bound to."""
        return self.public_key.kid


def access_token_hash(access_token: str) -> str:
    """§4.2 `ath`: base64url of the SHA-256 of the token's ASCII encoding."""
    return b64url_encode(hashlib.sha256(access_token.encode("ascii")).digest())


_PERCENT_TRIPLET = re.compile(r"%([0-9A-Fa-f]{2})")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# Printable ASCII but space; `%` only as the start of a triplet (checked apart).
_URI_CHARACTERS = re.compile(r"[!-~]+")


def normalize_htu(uri: str) -> str:
    """The form two `htu` values are compared in (§4.3 point 9), query and fragment dropped.

    RFC 3986 §6.2.2 (lower-case scheme and host, upper-case percent-encoding hex, unreserved
    characters decoded, dot segments removed) and §6.2.3 for http(s) (no default port, an empty
    path is "/"). Raises ``ValueError`` for anything but an absolute http(s) URI.
    """
    if not _URI_CHARACTERS.fullmatch(uri) or uri.count("%") != len(_PERCENT_TRIPLET.findall(uri)):
        raise ValueError("not an ASCII URI with well-formed percent-encoding")
    parts = urlsplit(uri)
    port = parts.port  # ValueError when not a number in range
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError("not an absolute http or https URI")
    if "@" in parts.netloc:
        raise ValueError("user information in an http(s) URI")  # RFC 9110 §4.2.4
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port in (None, _DEFAULT_PORTS[parts.scheme]) else f"{host}:{port}"
    path = _remove_dot_segments(_PERCENT_TRIPLET.sub(_normal_triplet, parts.path))
    return urlunsplit((parts.scheme, netloc, path, "", ""))


def _normal_triplet(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else f"%{match.group(1).upper()}"


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for the absolute path of a URI with an authority; "" becomes "/"."""
    segments = path.split("/")[1:]
    kept: list[str] = []
    for segment in segments:
        if segment == "..":
            if kept:
                kept.pop()
        elif segment != ".":
            kept.append(segment)
    trailing = "/" if segments and segments[-1] in (".", "..") and kept else ""
    return "/" + "/".join(kept) + trailing


def verify_dpop_proof(
    proof: str,
    *,
    method: str,
    uri: str,
    now: int,
    policy: DpopPolicy,
    nonces: Container[str] | None = None,
    access_token: str | None = None,
    bound_jkt: str | None = None,
) -> DpopProof:
    """§4.3: check one proof for the request ``method`` ``uri``; raise ``DpopError`` if refused.

    ``nonces`` holds the nonces the server accepts now (the one it last gave, say, and the one
    before); ``None`` when it requires none (§8: one given means one required, §11.3).
    ``access_token`` is the token presented with the request, and ``bound_jkt`` the thumbprint
    of the key the token or the account is bound to: with a token, it is required (§4.3 point
    12). Replay of ``jti`` is the caller's check (see the module's docstring).
    """
    if access_token is not None and bound_jkt is None:
        raise ValueError("an access token is checked against the key it is bound to")
    expected_htu = normalize_htu(uri)  # the server's own URI: a ValueError is its bug
    key, claims = _verified_claims(proof, policy)
    jti, iat = _required_claims(claims)
    if claims[HTM] != method:  # §4.3 point 8: methods are case-sensitive (RFC 9110 §9.1)
        raise DpopError(DpopFailure.METHOD_MISMATCH, "htm is not the request method")
    try:
        claimed_htu = normalize_htu(claims[HTU])
    except ValueError as exc:
        raise DpopError(DpopFailure.INVALID_CLAIM, f"htu: {exc}") from None
    if claimed_htu != expected_htu:
        raise DpopError(DpopFailure.URI_MISMATCH, "htu is not the request URI")
    _check_ath(claims, access_token)
    nonce = _checked_nonce(claims, nonces)
    # Checked after the nonce: a client told to fetch a nonce retries with a fresh `iat` too.
    if iat < now - policy.max_age:
        raise DpopError(DpopFailure.TOO_OLD, f"iat is over {policy.max_age} s old")
    if iat > now + policy.clock_skew:
        raise DpopError(DpopFailure.ISSUED_IN_FUTURE, "iat is in the future")
    if bound_jkt is not None and key.kid != bound_jkt:  # thumbprints are public
        raise DpopError(DpopFailure.KEY_MISMATCH, "proof key is not the bound key")
    return DpopProof(key, jti, iat, iat + policy.max_age, nonce)


def _verified_claims(proof: str, policy: DpopPolicy) -> tuple[PublicKey, dict[str, Any]]:
    """§4.3 points 2 and 4-7: a well-formed JWT, `typ`, `alg`, a public `jwk` that signed it."""
    if not isinstance(proof, str):
        raise DpopError(DpopFailure.MALFORMED, "proof is not text")
    try:
        unverified = decode_compact(
            proof,
            expected_typ=DPOP_TYP,
            allow_key_reference=frozenset({JWK}),
            max_length=MAX_PROOF_LENGTH,
        )
    except KeyManagementError as exc:
        raise _from_key_error(exc) from None
    header = unverified.unverified_header
    if header[ALG] not in {algorithm.value for algorithm in policy.algorithms}:
        raise DpopError(DpopFailure.UNSUPPORTED_ALGORITHM, "alg is not accepted")  # not echoed
    key = _header_key(header)
    if key.algorithm != header[ALG]:
        raise DpopError(DpopFailure.ALGORITHM_KEY_MISMATCH, f"alg is not {key.algorithm.value}")
    try:
        return key, json_loads_object(verify_with(unverified, key))
    except KeyManagementError as exc:
        raise _from_key_error(exc) from None


def _header_key(header: Mapping[str, Any]) -> PublicKey:
    if JWK not in header:
        raise DpopError(DpopFailure.MISSING_KEY, "no jwk header")
    try:
        # Refuses private members (§4.3 point 7), other curves, off-curve and weak points.
        return public_key_from_jwk(header[JWK])
    except KeyManagementError as exc:
        raise _from_key_error(exc) from None


def _required_claims(claims: Mapping[str, Any]) -> tuple[str, int]:
    """§4.3 point 3 and the claims' JSON types; returns `jti` and `iat`."""
    missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
    if missing:
        raise DpopError(DpopFailure.MISSING_CLAIM, f"no {missing[0]} claim")
    jti, iat = claims[JTI], claims[IAT]
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_LENGTH:
        raise DpopError(DpopFailure.INVALID_CLAIM, f"jti is not a string of 1-{MAX_JTI_LENGTH}")
    if not isinstance(claims[HTM], str) or not isinstance(claims[HTU], str):
        raise DpopError(DpopFailure.INVALID_CLAIM, "htm or htu is not a string")
    if type(iat) is not int:  # bool and float are refused, not rounded
        raise DpopError(DpopFailure.INVALID_CLAIM, "iat is not an integer")
    return jti, iat


def _check_ath(claims: Mapping[str, Any], access_token: str | None) -> None:
    """§4.3 point 12: `ath` with a token; and none without (§7: not usable without it)."""
    ath = claims.get(ATH)
    if access_token is None:
        if ATH in claims:
            raise DpopError(DpopFailure.ATH_UNEXPECTED, "ath but no access token")
        return
    if ath is None:
        raise DpopError(DpopFailure.ATH_MISSING, "no ath for the access token")
    if not isinstance(ath, str):
        raise DpopError(DpopFailure.INVALID_CLAIM, "ath is not a string")
    try:
        expected = access_token_hash(access_token)
    except UnicodeEncodeError:
        raise DpopError(DpopFailure.ATH_MISMATCH, "access token is not ASCII") from None
    if not hmac.compare_digest(ath.encode(), expected.encode()):
        raise DpopError(DpopFailure.ATH_MISMATCH, "ath is not the access token's hash")


def _checked_nonce(claims: Mapping[str, Any], nonces: Container[str] | None) -> str | None:
    """§4.3 point 10 and §11.3: with a nonce required, a proof without one is refused."""
    nonce: str | None = None
    if NONCE in claims:
        nonce = claims[NONCE]
        if not isinstance(nonce, str) or not nonce:
            raise DpopError(DpopFailure.INVALID_CLAIM, "nonce is not a non-empty string")
    if nonces is None:
        return nonce
    if nonce is None:
        raise DpopError(DpopFailure.NONCE_MISSING, "the server requires a nonce")
    if nonce not in nonces:
        raise DpopError(DpopFailure.NONCE_STALE, "nonce is not one the server accepts now")
    return nonce


def make_dpop_proof(
    signer: Signer,
    *,
    method: str,
    uri: str,
    now: int,
    nonce: str | None = None,
    access_token: str | None = None,
    jti: str | None = None,
) -> str:
    """The client side of §4.2: a proof for one request, signed by ``signer``.

    ``uri`` is the request's target; its query and fragment are left out of `htu`. ``jti``
    defaults to 128 random bits (§4.2 asks 96 or more).
    """
    parts = urlsplit(uri)
    claims: dict[str, Any] = {
        JTI: jti if jti is not None else secrets.token_urlsafe(16),
        HTM: method,
        HTU: urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        IAT: now,
    }
    if nonce is not None:
        claims[NONCE] = nonce
    if access_token is not None:
        claims[ATH] = access_token_hash(access_token)
    header = {TYP: DPOP_TYP, JWK: signer.public_key.to_thumbprint_jwk()}
    return sign_compact(claims, signer, header)
