"""Issuance throughput of one resident-register extract.

Ours (``issue_sd_jwt_vc``: schema validation, derived claims, disclosures, one ES256
signature) against the reference ``SDJWTIssuer`` given the same claims, derived ones included,
as disclosable top-level claims (it validates nothing), and against one raw ECDSA P-256
signature over a signing input of the same size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.issuer import SDJWTIssuer

from bench.scenario import (
    ISSUED_AT,
    ISSUER_ID,
    RESIDENT_REGISTER,
    STATUS_INDEX,
    STATUS_URI,
    Parties,
    example_claims,
    with_derived_claims,
)
from bench.timing import Case
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.jwk import Algorithm, SigningKey
from verifier import sd_jwt_vc as vc

OURS = "ours, issue_sd_jwt_vc"
REFERENCE = "reference SDJWTIssuer"
RAW = "raw limit: 1 x ECDSA P-256 sign"

_PASSPHRASE = b"bench"  # only to carry a generated key from one library to the other


def _private_key(key: SigningKey) -> ec.EllipticCurvePrivateKey:
    loaded = serialization.load_pem_private_key(key.to_pem(_PASSPHRASE), _PASSPHRASE)
    assert isinstance(loaded, ec.EllipticCurvePrivateKey)
    return loaded


def cases(parties: Parties) -> list[Case]:
    resident = parties.registry.get(RESIDENT_REGISTER)
    issuer_key = parties.issuer_keys[Algorithm.ES256]
    holder_public = parties.holder_keys[Algorithm.ES256].public_key
    status = StatusReference(STATUS_URI, STATUS_INDEX)
    claims = example_claims(resident)

    def ours() -> object:
        return issue_sd_jwt_vc(
            resident,
            claims,
            issuer_id=ISSUER_ID,
            signing_key=issuer_key,
            holder_key=holder_public,
            status=status,
            now=ISSUED_AT,
        )

    issued = issue_sd_jwt_vc(
        resident,
        claims,
        issuer_id=ISSUER_ID,
        signing_key=issuer_key,
        holder_key=holder_public,
        status=status,
        now=ISSUED_AT,
    )
    expires_at = issued.expires_at
    private_key = _private_key(issuer_key)
    issuer_jwk = JWK.from_pyca(private_key)
    holder_jwk = JWK.from_pyca(_private_key(parties.holder_keys[Algorithm.ES256]).public_key())
    user_claims: dict[Any, Any] = {
        vc.ISS: ISSUER_ID,
        vc.IAT: ISSUED_AT,
        vc.EXP: expires_at,
        vc.VCT: resident.vct,
        vc.STATUS: status.to_claim(),
    }
    for name, value in with_derived_claims(resident).items():
        user_claims[SDObj(name)] = value
    header = {"typ": vc.CREDENTIAL_TYP, "kid": issuer_key.kid}

    def reference() -> str:
        issuance: str = SDJWTIssuer(
            user_claims,
            issuer_jwk,
            holder_key=holder_jwk,
            sign_alg="ES256",
            extra_header_parameters=header,
        ).sd_jwt_issuance
        return issuance

    return [
        Case(OURS, ours),
        Case(REFERENCE, reference),
        Case(RAW, _raw_sign(private_key, issued.sd_jwt.issuer_jwt)),
    ]


def _raw_sign(key: ec.EllipticCurvePrivateKey, issuer_jwt: str) -> Callable[[], bytes]:
    signing_input = issuer_jwt.rsplit(".", 1)[0].encode("ascii")
    algorithm = ec.ECDSA(hashes.SHA256())

    def run() -> bytes:
        return key.sign(signing_input, algorithm)

    return run
