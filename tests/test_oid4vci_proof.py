"""`jwt` key proofs (OID4VCI 1.0 final, Appendix F.1 and F.4): what passes, and every refusal."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from keys.encoding import b64url_decode, b64url_encode, json_dumps
from keys.jwk import Algorithm, SigningKey
from protocols.oid4vci import PROOF_TYP, KeyProof, make_jwt_proof, verify_jwt_proof
from protocols.oid4vci.errors import CredentialErrorCode, CredentialRequestError

NOW = 1_800_000_000
AUDIENCE = "https://rr.issuer.jigap.example"
NONCE = "wKI4LT17ac15ES9bw8ac4"
MAX_AGE = 300
SKEW = 60
DESCRIPTION_CHARSET = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]*")

# Appendix F.1's example proof (1.0 final text), unwrapped: an ES256 key in `jwk`.
SPEC_PROOF = (
    "eyJ0eXAiOiJvcGVuaWQ0dmNpLXByb29mK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2Ijoi"
    "UC0yNTYiLCJ4IjoiblVXQW9BdjNYWml0aDhFN2kxOU9kYXhPTFlGT3dNLVoyRXVNMDJUaXJUNCIsInkiOiJIc2tIVThC"
    "alVpMVU5WHFpN1N3bWo4Z3dBS18weGtjRGpFV183MVNvc0VZIn19.eyJhdWQiOiJodHRwczovL2NyZWRlbnRpYWwtaXNz"
    "dWVyLmV4YW1wbGUuY29tIiwiaWF0IjoxNzAxOTYwNDQ0LCJub25jZSI6IkxhclJHU2JtVVBZdFJZTzZCUTR5bjgifQ.-a3"
    "EDsxClUB4O3LeDD5DVGEnNMT01FCQW4P6-2-BNBqc_Zxf0Qw4CWayLEpqkAomlkLb9zioZoipdP-jvh1WlA"
)

ES = SigningKey.generate(Algorithm.ES256)
ED = SigningKey.generate(Algorithm.EDDSA)
_EC_PRIVATE = ec.generate_private_key(ec.SECP256R1())
ES_WITH_D = SigningKey.from_private_key(_EC_PRIVATE)


def verify(token: str, algorithms: frozenset[Algorithm] = frozenset(Algorithm)) -> KeyProof:
    return verify_jwt_proof(
        token, audience=AUDIENCE, algorithms=algorithms, now=NOW, max_age=MAX_AGE, clock_skew=SKEW
    )


def forge(
    key: SigningKey = ES,
    *,
    header: dict[str, Any] | None = None,
    claims: dict[str, Any] | bytes | None = None,
    signature: bytes | None = None,
) -> str:
    """A proof with any header and claims, signed by ``key`` unless a signature is given."""
    if header is None:
        header = {"typ": PROOF_TYP, "alg": key.algorithm.value, "jwk": key.public_key.to_jwk()}
    if claims is None:
        claims = {"aud": AUDIENCE, "iat": NOW, "nonce": NONCE}
    payload = claims if isinstance(claims, bytes) else json_dumps(claims)
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(payload)}"
    sig = key.sign(signing_input.encode()) if signature is None else signature
    return f"{signing_input}.{b64url_encode(sig)}"


def header(key: SigningKey = ES, **changes: Any) -> dict[str, Any]:
    base = {"typ": PROOF_TYP, "alg": key.algorithm.value, "jwk": key.public_key.to_jwk()}
    return {name: value for name, value in (base | changes).items() if value is not None}


def claims(**changes: Any) -> dict[str, Any]:
    base = {"aud": AUDIENCE, "iat": NOW, "nonce": NONCE}
    return {name: value for name, value in (base | changes).items() if value is not None}


# --- accepted --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [ES, ED], ids=["ES256", "EdDSA"])
def test_wallet_proof_verifies(key: SigningKey) -> None:
    proof = verify(make_jwt_proof(key, audience=AUDIENCE, nonce=NONCE, now=NOW))
    assert proof == KeyProof(holder_key=key.public_key, nonce=NONCE, issued_at=NOW)
    assert proof.holder_key.algorithm is key.algorithm


def test_proof_without_nonce_returns_none() -> None:
    # Refusing it (§8.3.1.2 (3)) is the service's decision, with the nonce it consumes.
    assert verify(make_jwt_proof(ED, audience=AUDIENCE, nonce=None, now=NOW)).nonce is None


def test_spec_example_proof_verifies() -> None:
    proof = verify_jwt_proof(
        SPEC_PROOF,
        audience="https://credential-issuer.example.com",
        algorithms=frozenset({Algorithm.ES256}),
        now=1701960444,
        max_age=MAX_AGE,
        clock_skew=SKEW,
    )
    assert proof.nonce == "LarRGSbmUPYtRYO6BQ4yn8"
    assert (
        proof.holder_key.to_thumbprint_jwk()["x"] == "nUWAoAv3XZith8E7i19OdaxOLYFOwM-Z2EuM02TirT4"
    )


@pytest.mark.parametrize(
    "iat", [NOW - MAX_AGE, NOW + SKEW], ids=["oldest-accepted", "latest-accepted"]
)
def test_iat_window_bounds_are_inclusive(iat: int) -> None:
    assert verify(forge(claims=claims(iat=iat))).issued_at == iat


def test_optional_members_that_fit() -> None:
    # F.1: `iss` is a string when present; an `exp` still ahead is fine; unknown claims ignored.
    token = forge(claims=claims(iss="wallet", exp=NOW + 60, jti="x"))
    assert verify(token).holder_key == ES.public_key
    minimal_jwk = forge(header=header(jwk=ES.public_key.to_thumbprint_jwk()))
    assert verify(minimal_jwk).holder_key == ES.public_key


# --- refused ---------------------------------------------------------------------------------


def _private_jwk() -> dict[str, Any]:
    d = _EC_PRIVATE.private_numbers().private_value.to_bytes(32, "big")
    return ES_WITH_D.public_key.to_thumbprint_jwk() | {"d": b64url_encode(d)}


def _off_curve_jwk() -> dict[str, Any]:
    jwk = ES.public_key.to_thumbprint_jwk()
    y = int.from_bytes(b64url_decode(jwk["y"]), "big") ^ 1
    return jwk | {"y": b64url_encode(y.to_bytes(32, "big"))}


def _small_order_jwk() -> dict[str, Any]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes([1]) + bytes(31))}


def _flip(token: str, part: int) -> str:
    parts = token.split(".")
    raw = bytearray(b64url_decode(parts[part]))
    raw[-1] ^= 1
    parts[part] = b64url_encode(bytes(raw))
    return ".".join(parts)


_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _non_canonical(token: str) -> str:
    # The last character of a 64-byte signature (86 chars) carries 4 unused bits: set one.
    head, _, signature = token.rpartition(".")
    last = _B64URL[_B64URL.index(signature[-1]) | 1]
    return f"{head}.{signature[:-1]}{last}"


def _duplicate_typ() -> str:
    text = json_dumps(header())[:-1] + b',"typ":"openid4vci-proof+jwt"}'
    signing_input = f"{b64url_encode(text)}.{b64url_encode(json_dumps(claims()))}"
    return f"{signing_input}.{b64url_encode(ES.sign(signing_input.encode()))}"


Case = Callable[[], str]
REFUSALS: list[Any] = [
    # Header: explicit typing (F.1), algorithm (F.1, F.4), the key and only the key (F.1, F.4).
    pytest.param(lambda: forge(header=header(typ="JWT")), "wrong_token_type", id="typ-jwt"),
    pytest.param(lambda: forge(header=header(typ=None)), "wrong_token_type", id="typ-missing"),
    pytest.param(
        lambda: forge(header=header(alg="none"), signature=b""),
        "alg is not accepted",
        id="alg-none",
    ),
    pytest.param(
        lambda: forge(header=header(alg="HS256"), signature=b"\0" * 32),
        "alg is not accepted",
        id="alg-hs256",
    ),
    pytest.param(lambda: forge(header=header(alg="RS256")), "alg is not accepted", id="alg-rs256"),
    pytest.param(lambda: forge(header=header(alg=None)), "malformed_jws", id="alg-missing"),
    pytest.param(
        lambda: forge(ED, header=header(ED, alg="ES256")),
        "does not fit",
        id="es256-header-ed25519-key",
    ),
    pytest.param(
        lambda: forge(ES, header=header(ES, alg="EdDSA")),
        "does not fit",
        id="eddsa-header-p256-key",
    ),
    pytest.param(
        lambda: forge(header=header(jwk=None, kid="did:example:123#1")), "header kid", id="kid-only"
    ),
    pytest.param(lambda: forge(header=header(kid=ES.kid)), "header kid", id="kid-with-jwk"),
    pytest.param(
        lambda: forge(header=header(jwk=None, x5c=["MIIB"])), "embedded_key", id="x5c-only"
    ),
    pytest.param(lambda: forge(header=header(x5c=["MIIB"])), "embedded_key", id="x5c-with-jwk"),
    pytest.param(
        lambda: forge(header=header(jku="https://attacker.example/jwks")), "embedded_key", id="jku"
    ),
    pytest.param(
        lambda: forge(header=header(key_attestation="eyJ")),
        "header key_attestation",
        id="key-attestation",
    ),
    pytest.param(lambda: forge(header=header(jwk=None)), "no jwk", id="jwk-missing"),
    pytest.param(lambda: forge(header=header(jwk="eyJ")), "(wrong_json_type)", id="jwk-not-object"),
    pytest.param(
        lambda: forge(ES_WITH_D, header=header(ES_WITH_D, jwk=_private_jwk())),
        "invalid_key",
        id="private-d-in-jwk",
    ),
    pytest.param(
        lambda: forge(header=header(jwk=_off_curve_jwk())), "invalid_key", id="off-curve-key"
    ),
    pytest.param(
        lambda: forge(ED, header=header(ED, jwk=_small_order_jwk())),
        "weak_key",
        id="small-order-key",
    ),
    pytest.param(
        lambda: forge(header=header(jwk=ES.public_key.to_jwk() | {"alg": "EdDSA"})),
        "invalid_key",
        id="jwk-alg-mismatch",
    ),
    pytest.param(lambda: forge(header=header(crit=["exp"], exp=1)), "critical_header", id="crit"),
    # The signature (F.1): by the header's key, over these bytes.
    pytest.param(lambda: _flip(forge(), 2), "bad_signature", id="bad-signature"),
    pytest.param(lambda: _flip(forge(ED), 2), "bad_signature", id="bad-signature-eddsa"),
    pytest.param(
        lambda: forge(ES, header=header(SigningKey.generate())), "bad_signature", id="other-key"
    ),
    pytest.param(lambda: forge(signature=b""), "bad_signature", id="empty-signature"),
    # Claims (F.1) and the creation-time window (F.4).
    pytest.param(lambda: forge(claims=claims(aud="https://other.example")), "aud", id="wrong-aud"),
    pytest.param(lambda: forge(claims=claims(aud=None)), "aud", id="aud-missing"),
    pytest.param(lambda: forge(claims=claims(aud=[AUDIENCE])), "aud", id="aud-array"),
    pytest.param(lambda: forge(claims=claims(iat=NOW - MAX_AGE - 1)), "too old", id="stale-iat"),
    pytest.param(
        lambda: forge(claims=claims(iat=NOW + SKEW + 1)), "in the future", id="future-iat"
    ),
    pytest.param(lambda: forge(claims=claims(iat=str(NOW))), "iat", id="iat-string"),
    pytest.param(lambda: forge(claims=claims(iat=NOW + 0.5)), "iat", id="iat-float"),
    pytest.param(lambda: forge(claims=claims(iat=True)), "iat", id="iat-bool"),
    pytest.param(lambda: forge(claims=claims(iat=None)), "iat", id="iat-missing"),
    pytest.param(lambda: forge(claims=claims(exp=NOW - SKEW)), "exp", id="expired"),
    pytest.param(lambda: forge(claims=claims(exp="later")), "exp", id="exp-string"),
    pytest.param(lambda: forge(claims=claims(nonce=1234)), "nonce", id="nonce-number"),
    pytest.param(lambda: forge(claims=claims(nonce="")), "nonce", id="nonce-empty"),
    pytest.param(lambda: forge(claims=claims(iss=7)), "iss", id="iss-number"),
    pytest.param(lambda: forge(claims=b"[1]"), "wrong_json_type", id="payload-array"),
    pytest.param(
        lambda: forge(claims=b'{"aud":"a","aud":"b"}'),
        "duplicate_member",
        id="payload-duplicate-member",
    ),
    pytest.param(lambda: forge(claims=b"\xff"), "malformed_json", id="payload-not-utf8"),
    # Form: strict base64url and JSON (keys.encoding), bounded length, three parts.
    pytest.param(lambda: _non_canonical(forge()), "malformed_base64", id="non-canonical-base64url"),
    pytest.param(lambda: forge() + "=", "malformed_base64", id="padded-base64url"),
    pytest.param(lambda: forge()[:-1] + "+", "malformed_base64", id="standard-base64-character"),
    pytest.param(_duplicate_typ, "duplicate_member", id="header-duplicate-member"),
    pytest.param(lambda: forge(header=header(pad="x" * 8 * 1024)), "too_large", id="oversize"),
    pytest.param(lambda: forge().rpartition(".")[0], "malformed_jws", id="two-parts"),
    pytest.param(lambda: forge() + ".x", "malformed_jws", id="four-parts"),
    pytest.param(lambda: "", "malformed_jws", id="empty"),
]


@pytest.mark.parametrize(("make", "reason"), REFUSALS)
def test_refused_proofs_are_invalid_proof(make: Case, reason: str) -> None:
    with pytest.raises(CredentialRequestError) as caught:
        verify(make())
    assert caught.value.code is CredentialErrorCode.INVALID_PROOF
    assert reason in caught.value.detail  # refused for the reason the case is about
    # §8.3.1.2: the description is restricted ASCII and never repeats the nonce.
    assert DESCRIPTION_CHARSET.fullmatch(caught.value.detail)
    assert NONCE not in caught.value.detail


def test_algorithm_outside_the_policy_is_refused() -> None:
    # F.1: alg MUST be one of proof_signing_alg_values_supported.
    with pytest.raises(CredentialRequestError) as caught:
        verify(
            make_jwt_proof(ED, audience=AUDIENCE, nonce=NONCE, now=NOW),
            frozenset({Algorithm.ES256}),
        )
    assert caught.value.code is CredentialErrorCode.INVALID_PROOF


def test_non_string_proof_is_refused() -> None:
    with pytest.raises(CredentialRequestError) as caught:
        verify(None)  # type: ignore[arg-type]
    assert caught.value.code is CredentialErrorCode.INVALID_PROOF


def test_the_wallet_proof_header_carries_only_the_public_key() -> None:
    token = make_jwt_proof(ES_WITH_D, audience=AUDIENCE, nonce=None, now=NOW)
    unverified_header = b64url_decode(token.split(".")[0])
    assert b'"d"' not in unverified_header
    assert b'"typ":"openid4vci-proof+jwt"' in unverified_header
