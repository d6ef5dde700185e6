"""Verification throughput of one resident-register-extract presentation.

The same presentation (name, birth date and address disclosed, with a KB-JWT) goes through
our verifier as plain SD-JWT text and as a QR envelope, through the reference
implementation's ``SDJWTVerifier``, and through the raw limit: the two signature checks alone
(issuer JWT, KB-JWT) with ``cryptography``, on the same signing inputs, DER signatures and
public keys prepared beforehand. Whatever our verifier spends beyond that limit is parsing,
digests, policy and schema.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from bench.scenario import AUDIENCE, NONCE, NOW, RESIDENT_REGISTER, Parties
from bench.timing import Case
from keys import encoding
from keys.encoding import b64url_decode
from keys.jwk import Algorithm, PublicKey
from verifier import encode_envelope
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import split_compact

OURS_PLAIN = "ours, plain SD-JWT"
OURS_ENVELOPE = "ours, QR envelope"
OURS_STRICT_JSON = "ours, plain, strict JSON parser only"
REFERENCE = "reference sd-jwt 0.10.4"
RAW_ES256 = "raw limit: 2 x ECDSA P-256 verify"
FLOOR = "floor: parse, digests, 2 signatures, no checks"
RAW_ES256_FRESH_HOLDER = "raw, holder key built from its coordinates each time"
OURS_EDDSA = "ours, plain SD-JWT (EdDSA)"
RAW_EDDSA = "raw limit: 2 x Ed25519 verify"

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


@dataclass(frozen=True, slots=True)
class SignedPart:
    """A JWS reduced to what a raw signature check needs."""

    signing_input: bytes
    signature: bytes  # as the JWS carries it: r || s for ES256


def _signed_parts(presentation: str) -> tuple[SignedPart, SignedPart]:
    sd_jwt = split_compact(presentation)
    assert sd_jwt.kb_jwt is not None
    parts = []
    for token in (sd_jwt.issuer_jwt, sd_jwt.kb_jwt):
        header, payload, signature = token.split(".")
        parts.append(SignedPart(f"{header}.{payload}".encode("ascii"), b64url_decode(signature)))
    return parts[0], parts[1]


def _crypto_key(key: PublicKey) -> ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey:
    """The ``cryptography`` object for a public JWK, loaded once, outside the timed loop."""
    jwk = key.to_thumbprint_jwk()
    if key.algorithm is Algorithm.ES256:
        point = b"\x04" + b64url_decode(jwk["x"]) + b64url_decode(jwk["y"])
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))


def _raw_es256(
    issuer: ec.EllipticCurvePublicKey, holder: ec.EllipticCurvePublicKey, presentation: str
) -> Callable[[], None]:
    issuer_part, kb_part = _signed_parts(presentation)

    def der(signature: bytes) -> bytes:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        return encode_dss_signature(r, s)

    issuer_der, kb_der = der(issuer_part.signature), der(kb_part.signature)
    issuer_input, kb_input = issuer_part.signing_input, kb_part.signing_input

    def run() -> None:
        issuer.verify(issuer_der, issuer_input, _ECDSA_SHA256)
        holder.verify(kb_der, kb_input, _ECDSA_SHA256)

    return run


def _raw_es256_fresh_holder(
    issuer: ec.EllipticCurvePublicKey, holder: ec.EllipticCurvePublicKey, presentation: str
) -> Callable[[], None]:
    """The raw limit as a verifier meets it: the holder's key comes with each presentation,
    so it is built (and checked on the curve) from its coordinates every time, and OpenSSL's
    first verification with a new key object costs more than with a warm one."""
    issuer_part, kb_part = _signed_parts(presentation)
    point = holder.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)

    def der(signature: bytes) -> bytes:
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        return encode_dss_signature(r, s)

    issuer_der, kb_der = der(issuer_part.signature), der(kb_part.signature)
    issuer_input, kb_input = issuer_part.signing_input, kb_part.signing_input
    curve = ec.SECP256R1()

    def run() -> None:
        issuer.verify(issuer_der, issuer_input, _ECDSA_SHA256)
        fresh = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
        fresh.verify(kb_der, kb_input, _ECDSA_SHA256)

    return run


def _raw_ed25519(
    issuer: ed25519.Ed25519PublicKey, holder: ed25519.Ed25519PublicKey, presentation: str
) -> Callable[[], None]:
    issuer_part, kb_part = _signed_parts(presentation)

    def run() -> None:
        issuer.verify(issuer_part.signature, issuer_part.signing_input)
        holder.verify(kb_part.signature, kb_part.signing_input)

    return run


def _floor(issuer: ec.EllipticCurvePublicKey, presentation: str) -> Callable[[], object]:
    """What any CPython verifier must do at the least: split, decode, parse (with orjson, the
    fastest parser at hand), hash, load the holder key, check both signatures. It checks
    nothing else (not even the disclosures against the digests): the ceiling our strict
    verifier is measured against."""

    def decode(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    def der(signature: bytes) -> bytes:
        return encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )

    def run() -> object:
        parts = presentation.split("~")
        jwt, disclosures, kb_jwt = parts[0], parts[1:-1], parts[-1]
        header, payload, signature = jwt.split(".")
        orjson.loads(decode(header))
        claims = orjson.loads(decode(payload))
        issuer.verify(der(decode(signature)), f"{header}.{payload}".encode(), _ECDSA_SHA256)
        digests = {
            hashlib.sha256(d.encode()).digest(): orjson.loads(decode(d)) for d in disclosures
        }
        jwk = claims["cnf"]["jwk"]
        point = b"\x04" + decode(jwk["x"]) + decode(jwk["y"])
        holder = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        kb_header, kb_payload, kb_signature = kb_jwt.split(".")
        orjson.loads(decode(kb_header))
        orjson.loads(decode(kb_payload))
        signing_input = f"{kb_header}.{kb_payload}".encode()
        holder.verify(der(decode(kb_signature)), signing_input, _ECDSA_SHA256)
        hashlib.sha256(presentation[: -len(kb_jwt)].encode()).digest()
        return digests

    return run


def _reference(parties: Parties, presentation: str) -> Callable[[], dict[str, Any]]:
    issuer_jwk = JWK.from_json(json.dumps(parties.issuer_keys[Algorithm.ES256].public_key.to_jwk()))

    def key_for(_unverified_issuer: str, _unverified_header: dict[str, Any]) -> JWK:
        return issuer_jwk

    def run() -> dict[str, Any]:
        verifier = SDJWTVerifier(presentation, key_for, expected_aud=AUDIENCE, expected_nonce=NONCE)
        payload: dict[str, Any] = verifier.get_verified_payload()
        return payload

    return run


def _ours(parties: Parties, text: str) -> Callable[[], object]:
    verifier = parties.verifier

    def run() -> object:
        return verifier.verify(text, now=NOW)

    return run


class _OrjsonRefused:
    """Stands in for orjson inside ``keys.encoding`` so that every document goes to the strict
    parser: the row shows what the fast path for compact JSON saves, in the same run."""

    JSONDecodeError = orjson.JSONDecodeError
    JSONEncodeError = orjson.JSONEncodeError
    OPT_STRICT_INTEGER = orjson.OPT_STRICT_INTEGER

    @staticmethod
    def loads(_data: bytes) -> object:
        raise orjson.JSONDecodeError("fast path off for this row", "", 0)


def _ours_strict_json(parties: Parties, text: str) -> Callable[[], object]:
    verifier = parties.verifier
    module = vars(encoding)

    def run() -> object:
        module["orjson"] = _OrjsonRefused
        try:
            return verifier.verify(text, now=NOW)
        finally:
            module["orjson"] = orjson

    return run


def _check_agreement(parties: Parties, presentation: str, envelope: str) -> None:
    """Every row verifies the same thing, and accepts it: a benchmark of failures is no use."""
    plain = parties.verifier.verify(presentation, now=NOW)
    packed = parties.verifier.verify(envelope, now=NOW)
    strict = _ours_strict_json(parties, presentation)()
    if not (plain.valid and packed.valid and strict == plain):
        raise RuntimeError(f"our verifier refuses the benchmark input: {plain.error}")
    theirs = _reference(parties, presentation)()
    theirs_claims = {k: v for k, v in theirs.items() if k not in vc.REGISTERED_CLAIMS}
    if not dict(plain.claims) == dict(packed.claims) == theirs_claims:
        raise RuntimeError("ours and the reference disclose different claims")


def es256_cases(parties: Parties) -> list[Case]:
    resident = parties.registry.get(RESIDENT_REGISTER)
    presentation = parties.present(resident, Algorithm.ES256)
    envelope = encode_envelope(presentation)
    _check_agreement(parties, presentation, envelope)
    issuer = _crypto_key(parties.issuer_keys[Algorithm.ES256].public_key)
    holder = _crypto_key(parties.holder_keys[Algorithm.ES256].public_key)
    assert isinstance(issuer, ec.EllipticCurvePublicKey)
    assert isinstance(holder, ec.EllipticCurvePublicKey)
    return [
        Case(OURS_PLAIN, _ours(parties, presentation)),
        Case(OURS_ENVELOPE, _ours(parties, envelope)),
        Case(OURS_STRICT_JSON, _ours_strict_json(parties, presentation)),
        Case(REFERENCE, _reference(parties, presentation)),
        Case(RAW_ES256, _raw_es256(issuer, holder, presentation)),
        Case(RAW_ES256_FRESH_HOLDER, _raw_es256_fresh_holder(issuer, holder, presentation)),
        Case(FLOOR, _floor(issuer, presentation)),
    ]


def eddsa_cases(parties: Parties) -> list[Case]:
    resident = parties.registry.get(RESIDENT_REGISTER)
    presentation = parties.present(resident, Algorithm.EDDSA)
    if not parties.verifier.verify(presentation, now=NOW).valid:
        raise RuntimeError("our verifier refuses the EdDSA benchmark input")
    issuer = _crypto_key(parties.issuer_keys[Algorithm.EDDSA].public_key)
    holder = _crypto_key(parties.holder_keys[Algorithm.EDDSA].public_key)
    assert isinstance(issuer, ed25519.Ed25519PublicKey)
    assert isinstance(holder, ed25519.Ed25519PublicKey)
    return [
        Case(OURS_EDDSA, _ours(parties, presentation)),
        Case(RAW_EDDSA, _raw_ed25519(issuer, holder, presentation)),
    ]
