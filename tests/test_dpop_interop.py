"""DPoP interop: proofs made by PyJWT and by jwcrypto pass our checks, and ours pass theirs.

A phone app signs its proofs with whatever JOSE library its platform has; the server must accept
every correct proof and refuse the same mistakes whichever library made them.
"""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from jwcrypto import jwk as jwcrypto_jwk
from jwcrypto import jws as jwcrypto_jws
from jwcrypto import jwt as jwcrypto_jwt

from keys.jwk import Algorithm, SigningKey
from protocols.dpop import (
    DPOP_TYP,
    DpopError,
    DpopFailure,
    DpopPolicy,
    access_token_hash,
    make_dpop_proof,
    verify_dpop_proof,
)

NOW = 1_700_000_000
URI = "https://wallet.example.kr/v1/credentials"
TOKEN = "session-token-of-the-account"
NONCE = "server-nonce-1"
POLICY = DpopPolicy(algorithms=frozenset(Algorithm))


def _claims(**extra: Any) -> dict[str, Any]:
    return {"jti": "interop-jti-0001", "htm": "POST", "htu": URI, "iat": NOW, **extra}


def _verify(proof: str, **request: Any) -> str:
    """The proof's jkt, after every check a server makes."""
    return verify_dpop_proof(proof, method="POST", uri=URI, now=NOW, policy=POLICY, **request).jkt


def _pyjwt_proof(private_key: Any, algorithm: str, *, header: dict[str, Any] | None = None) -> str:
    algorithms = jwt.get_algorithm_by_name(algorithm)
    public_jwk = algorithms.to_jwk(private_key.public_key(), as_dict=True)
    headers = {"typ": DPOP_TYP, "jwk": public_jwk, **(header or {})}
    claims = _claims(nonce=NONCE, ath=access_token_hash(TOKEN))
    return jwt.encode(claims, private_key, algorithm=algorithm, headers=headers)


def _jwcrypto_proof(key: Any, algorithm: str, *, jwk_member: dict[str, Any] | None = None) -> str:
    public_jwk = key.export_public(as_dict=True) if jwk_member is None else jwk_member
    token = jwcrypto_jwt.JWT(
        header={"typ": DPOP_TYP, "alg": algorithm, "jwk": public_jwk},
        claims=_claims(nonce=NONCE, ath=access_token_hash(TOKEN)),
    )
    token.make_signed_token(key)
    serialized: str = token.serialize()
    return serialized


def _expected_jkt(proof: str) -> str:
    """The RFC 7638 thumbprint of the proof's `jwk`, as jwcrypto computes it."""
    thumbprint: str = jwcrypto_jwk.JWK(**jwt.get_unverified_header(proof)["jwk"]).thumbprint()
    return thumbprint


FULL_REQUEST = {"nonces": {NONCE}, "access_token": TOKEN}


@pytest.mark.parametrize(
    ("private_key", "algorithm"),
    [
        (ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
    ],
    ids=["es256", "eddsa"],
)
def test_pyjwt_proofs_are_accepted(private_key: Any, algorithm: str) -> None:
    proof = _pyjwt_proof(private_key, algorithm)
    jkt = _expected_jkt(proof)
    assert _verify(proof, **FULL_REQUEST, bound_jkt=jkt) == jkt


@pytest.mark.parametrize(
    ("kty", "curve", "algorithm"),
    [("EC", "P-256", "ES256"), ("OKP", "Ed25519", "EdDSA")],
    ids=["es256", "eddsa"],
)
def test_jwcrypto_proofs_are_accepted(kty: str, curve: str, algorithm: str) -> None:
    key = jwcrypto_jwk.JWK.generate(kty=kty, crv=curve)
    proof = _jwcrypto_proof(key, algorithm)
    assert _verify(proof, **FULL_REQUEST, bound_jkt=key.thumbprint()) == key.thumbprint()


def test_a_pyjwt_hs256_proof_is_refused() -> None:
    proof = jwt.encode(
        _claims(),
        "a shared secret of thirty-two bytes or more",
        algorithm="HS256",
        headers={"typ": DPOP_TYP, "jwk": {"kty": "oct", "k": "c2VjcmV0"}},
    )
    with pytest.raises(DpopError) as refused:
        _verify(proof)
    assert refused.value.reason is DpopFailure.UNSUPPORTED_ALGORITHM


def test_a_pyjwt_proof_without_the_dpop_typ_is_refused() -> None:
    proof = _pyjwt_proof(ec.generate_private_key(ec.SECP256R1()), "ES256", header={"typ": "JWT"})
    with pytest.raises(DpopError) as refused:
        _verify(proof, **FULL_REQUEST, bound_jkt=_expected_jkt(proof))
    assert refused.value.reason is DpopFailure.WRONG_TOKEN_TYPE


def test_a_jwcrypto_proof_carrying_the_private_key_is_refused() -> None:
    key = jwcrypto_jwk.JWK.generate(kty="EC", crv="P-256")
    proof = _jwcrypto_proof(key, "ES256", jwk_member=key.export_private(as_dict=True))
    with pytest.raises(DpopError) as refused:
        _verify(proof, **FULL_REQUEST, bound_jkt=key.thumbprint())
    assert refused.value.reason is DpopFailure.INVALID_KEY


@pytest.mark.parametrize("algorithm", list(Algorithm), ids=lambda a: a.value)
def test_our_proofs_verify_with_pyjwt_and_jwcrypto(algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    proof = make_dpop_proof(
        key, method="POST", uri=URI + "?x=1", now=NOW, nonce=NONCE, access_token=TOKEN
    )
    header = jwt.get_unverified_header(proof)
    assert header["typ"] == DPOP_TYP
    claims = jwt.decode(
        proof,
        key=jwt.PyJWK(header["jwk"]),
        algorithms=[algorithm.value],
        options={"require": ["jti", "iat"]},
    )
    assert claims == {
        "jti": claims["jti"],
        "htm": "POST",
        "htu": URI,
        "iat": NOW,
        "nonce": NONCE,
        "ath": access_token_hash(TOKEN),
    }
    verifier = jwcrypto_jws.JWS()
    verifier.deserialize(proof)
    verifier.verify(jwcrypto_jwk.JWK(**header["jwk"]), alg=algorithm.value)
    assert jwcrypto_jwk.JWK(**header["jwk"]).thumbprint() == key.kid  # RFC 7638 both ways
