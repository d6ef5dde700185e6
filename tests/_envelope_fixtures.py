"""Realistic SD-JWT presentations for the QR envelope tests, signed with real keys.

There is no jigap issuer in the tree yet, so the resident-register extract is assembled here by
hand, in the shape RFC 9901 and SD-JWT VC give it: an ES256 issuer JWT with twelve `_sd`
digests, three disclosures and a KB-JWT. The salts, nonce and keys are random (as they are in
production, and as deflate sees them); nothing here is meant to verify against a trust store.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from keys.encoding import b64url_encode

RESIDENT_REGISTER_VCT = "urn:jigap:resident-register-extract:1"
RESIDENT_REGISTER_CLAIMS: dict[str, Any] = {
    "name": "홍길동",
    "resident_registration_number": "900101-1234567",
    "birth_date": "1990-01-01",
    "sex": "male",
    "address": "서울특별시 종로구 세종대로 209 (세종로)",
    "address_history": ["부산광역시 해운대구 센텀중앙로 79"],
    "household_head": "홍판서",
    "relationship_to_head": "자",
    "issue_office": "서울특별시 종로구 청운효자동 주민센터",
    "document_number": "2025-0412-7788",
    "age_over_19": True,
    "age_over_65": False,
}
DISCLOSED = ("name", "birth_date", "address")


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def salt() -> str:
    return b64url_encode(secrets.token_bytes(16))


def disclosure(*elements: Any) -> str:
    return b64url_encode(compact_json(list(elements)))


def digest(text: str) -> str:
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def _es256(key: ec.EllipticCurvePrivateKey, signing_input: str) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_jws(header: dict[str, Any], payload: dict[str, Any], key: object) -> str:
    signing_input = f"{b64url_encode(compact_json(header))}.{b64url_encode(compact_json(payload))}"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        signature = _es256(key, signing_input)
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        signature = key.sign(signing_input.encode("ascii"))
    else:  # pragma: no cover - fixture misuse
        raise TypeError(key)
    return f"{signing_input}.{b64url_encode(signature)}"


def _ec_jwk(key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def resident_register_presentation(
    *, disclosed: tuple[str, ...] = DISCLOSED, key_binding: bool = True, now: int = 1_760_000_000
) -> str:
    """The acceptance case: a resident-register extract disclosing ``disclosed``, with a KB-JWT."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    holder_key = ec.generate_private_key(ec.SECP256R1())
    disclosures = {
        claim: disclosure(salt(), claim, value) for claim, value in RESIDENT_REGISTER_CLAIMS.items()
    }
    payload = {
        "iss": "https://rr.jigap.go.kr",
        "iat": now - 86_400,
        "exp": now + 90 * 86_400,
        "vct": RESIDENT_REGISTER_VCT,
        "cnf": {"jwk": _ec_jwk(holder_key)},
        "status": {"status_list": {"idx": 12345, "uri": "https://rr.jigap.go.kr/status/1"}},
        "_sd_alg": "sha-256",
        # RFC 9901 §4.2.4.1: digests sorted so that their order leaks nothing.
        "_sd": sorted(digest(d) for d in disclosures.values()),
    }
    header = {"alg": "ES256", "typ": "dc+sd-jwt", "kid": digest(secrets.token_hex(8))}
    issuer_jwt = sign_jws(header, payload, issuer_key)
    presented = issuer_jwt + "~" + "".join(disclosures[c] + "~" for c in disclosed)
    if not key_binding:
        return presented
    kb_payload = {
        "iat": now,
        "aud": "https://counter.example-bank.co.kr",
        "nonce": salt(),
        "sd_hash": digest(presented),
    }
    return presented + sign_jws({"typ": "kb+jwt", "alg": "ES256"}, kb_payload, holder_key)


def eddsa_presentation(disclosures: list[str], *, key_binding: bool = True) -> str:
    """An EdDSA-signed SD-JWT with an OKP holder key: other header and key spellings."""
    issuer_key = ed25519.Ed25519PrivateKey.generate()
    holder_key = ed25519.Ed25519PrivateKey.generate()
    holder_x = holder_key.public_key().public_bytes_raw()
    payload = {
        "iss": "https://nts.jigap.go.kr",
        "iat": 1_760_000_000,
        "vct": "urn:jigap:income-certificate:1",
        "cnf": {"jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(holder_x)}},
        "_sd": sorted(digest(d) for d in disclosures),
    }
    issuer_jwt = sign_jws({"alg": "EdDSA", "typ": "dc+sd-jwt"}, payload, issuer_key)
    presented = issuer_jwt + "~" + "".join(d + "~" for d in disclosures)
    if not key_binding:
        return presented
    kb_payload = {"iat": 1_760_000_100, "aud": "x", "nonce": salt(), "sd_hash": digest(presented)}
    return presented + sign_jws({"typ": "kb+jwt", "alg": "EdDSA"}, kb_payload, holder_key)
