"""`jwt` key proofs (Appendix F.1), checked as Appendix F.4 "Verifying Proof" requires.

Unlike a credential, a key proof names its own key: the `jwk` header *is* the key the
credential will be bound to, and the proof shows possession of it. So here, and only here,
``decode_compact`` is asked to admit a `jwk` header. Only `jwk` binding is supported: `kid`
(DIDs) and `x5c` are refused, and so is a `key_attestation` we would not read (F.1: the
issuer SHOULD issue for attested keys; ignoring it would quietly issue fewer).

`aud` must be the issuer identifier as a string: F.1 types it as a string, and a one-element
array is a second spelling we have no wallet asking for.

The nonce is returned, not checked: the service consumes it in the database, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keys.encoding import b64url_encode, json_dumps, json_loads_object
from keys.errors import KeyManagementError
from keys.jwk import Algorithm, PublicKey, Signer, public_key_from_jwk
from keys.jws import ALG, KID, TYP, decode_compact, verify_with
from protocols.oid4vci.constants import PROOF_TYP
from protocols.oid4vci.errors import CredentialErrorCode, CredentialRequestError

__all__ = [
    "MAX_PROOF_LENGTH",
    "KeyProof",
    "jwt_proof_signing_input",
    "make_jwt_proof",
    "verify_jwt_proof",
]

# A key proof is a small header, a JWK and four claims: 8 KiB is generous.
MAX_PROOF_LENGTH = 8 * 1024
_JWK = "jwk"
# F.1 headers we do not support; `x5c` and other key references decode_compact refuses itself.
_REFUSED_HEADERS = frozenset({KID, "key_attestation", "trust_chain"})


@dataclass(frozen=True, slots=True)
class KeyProof:
    """A verified key proof: the key to bind the credential to, and what the proof claimed."""

    holder_key: PublicKey
    nonce: str | None
    issued_at: int


def _invalid(detail: str) -> CredentialRequestError:
    return CredentialRequestError(CredentialErrorCode.INVALID_PROOF, detail)


def _holder_key(header: Mapping[str, Any], algorithms: frozenset[Algorithm]) -> PublicKey:
    """F.4: an accepted asymmetric `alg`, a public key in `jwk`, and the two agree."""
    refused = _REFUSED_HEADERS & header.keys()
    if refused:
        raise _invalid(f"unsupported proof header {sorted(refused)[0]}")
    if _JWK not in header:
        raise _invalid("proof header has no jwk")  # F.1: we support jwk binding only
    alg = header[ALG]
    if alg not in {algorithm.value for algorithm in algorithms}:
        # F.1: never none or a MAC; F.4: acceptable per local policy. The value is not echoed.
        raise _invalid("proof alg is not accepted")
    jwk = header[_JWK]
    if not isinstance(jwk, dict):
        raise _invalid("proof jwk is not an object")
    try:
        # Refuses private members (F.4), off-curve and small-order points, other curves.
        key = public_key_from_jwk(jwk)
    except KeyManagementError as exc:
        raise _invalid(f"proof jwk refused ({exc.code})") from None
    if key.algorithm != alg:
        raise _invalid("proof alg does not fit its jwk")  # the algorithm is the key's
    return key


def _check_claims(
    claims: dict[str, Any], *, audience: str, now: int, max_age: int, clock_skew: int
) -> tuple[str | None, int]:
    """F.1 claims, and F.4's window on the creation time; returns the nonce and `iat`."""
    aud = claims.get("aud")
    if not isinstance(aud, str) or aud != audience:
        raise _invalid("proof aud is not this issuer")  # F.1: the issuer identifier, a string
    iat = claims.get("iat")
    if type(iat) is not int:  # bool and float are refused, not rounded
        raise _invalid("proof iat is missing or not an integer")
    if iat < now - max_age:
        raise _invalid("proof iat is too old")
    if iat > now + clock_skew:
        raise _invalid("proof iat is in the future")
    exp = claims.get("exp")
    if "exp" in claims and (type(exp) is not int or exp <= now - clock_skew):
        raise _invalid("proof exp is not an integer in the future")
    nonce = claims.get("nonce")
    if nonce is not None and (not isinstance(nonce, str) or not nonce):
        raise _invalid("proof nonce is not a non-empty string")
    if not isinstance(claims.get("iss", ""), str):
        raise _invalid("proof iss is not a string")
    return nonce, iat


def verify_jwt_proof(
    jwt: str,
    *,
    audience: str,
    algorithms: frozenset[Algorithm],
    now: int,
    max_age: int,
    clock_skew: int,
) -> KeyProof:
    """Appendix F.4: verify one `jwt` key proof; raise ``invalid_proof`` on any failure.

    ``audience`` is the Credential Issuer Identifier; ``algorithms`` those advertised in
    ``proof_signing_alg_values_supported``; ``iat`` must lie in [now - max_age, now + skew].
    """
    if not isinstance(jwt, str):
        raise _invalid("proof is not a string")
    try:
        # F.1: explicitly typed; keys.encoding refuses non-canonical base64url and duplicate
        # members; decode_compact refuses `crit` and every key reference but `jwk`.
        unverified = decode_compact(
            jwt,
            expected_typ=PROOF_TYP,
            allow_key_reference=frozenset({_JWK}),
            max_length=MAX_PROOF_LENGTH,
        )
    except KeyManagementError as exc:
        raise _invalid(f"proof is not a well-formed key proof JWT ({exc.code})") from None
    key = _holder_key(unverified.unverified_header, algorithms)
    try:
        # F.1: signed by the key in the header, with that key's one algorithm.
        payload = verify_with(unverified, key)
    except KeyManagementError as exc:
        raise _invalid(f"proof does not verify ({exc.code})") from None
    try:
        claims = json_loads_object(payload)
    except KeyManagementError as exc:
        raise _invalid(f"proof payload is not a JSON object ({exc.code})") from None
    nonce, iat = _check_claims(
        claims, audience=audience, now=now, max_age=max_age, clock_skew=clock_skew
    )
    return KeyProof(holder_key=key, nonce=nonce, issued_at=iat)


def jwt_proof_signing_input(
    holder_key: PublicKey, *, audience: str, nonce: str | None, now: int
) -> bytes:
    """The bytes a holder key signs for a `jwt` proof (F.1): what a wallet service hands the
    phone, whose key never leaves it. The algorithm is the key's own."""
    claims: dict[str, Any] = {"aud": audience, "iat": now}
    if nonce is not None:
        claims["nonce"] = nonce
    header = {TYP: PROOF_TYP, _JWK: holder_key.to_thumbprint_jwk(), ALG: holder_key.algorithm.value}
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(claims))}"
    return signing_input.encode("ascii")


def make_jwt_proof(signer: Signer, *, audience: str, nonce: str | None, now: int) -> str:
    """The wallet side of F.1: a proof of possession of ``signer`` for ``audience``."""
    signing_input = jwt_proof_signing_input(
        signer.public_key, audience=audience, nonce=nonce, now=now
    )
    return f"{signing_input.decode('ascii')}.{b64url_encode(signer.sign(signing_input))}"
