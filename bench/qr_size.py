"""QR size per certificate type: the plain SD-JWT text against the compact envelope; and the
counter's request object against its request envelope.

For each type of the registry, a fresh ES256 credential of its first valid example is
presented for a typical request (``scenario.typical_request``), with a KB-JWT. Salts, keys and
signatures are random, so the envelope's compressed size varies by a few characters from one
credential to the next: each row reports the largest of ``samples`` presentations.

The request row is a bank counter's signed request object (OpenID4VP 1.0 §5, as
docs/counter-request.md profiles it) for the resident-register extract's typical claims. Only
its pool (``kid``, nonce, signature: 112 bytes) is random, so its size is the same every run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from bench.scenario import (
    NOW,
    RESIDENT_REGISTER,
    RESIDENT_REGISTER_REQUEST,
    Parties,
    typical_request,
)
from keys.encoding import b64url_encode
from keys.jwk import Algorithm, SigningKey
from keys.jws import sign_compact
from verifier import encode_envelope
from verifier.qr_image import qr_version
from verifier.request_envelope import encode_request_envelope

ERROR_CORRECTION = "M"
# The acceptance point: a resident-register extract envelope a counter scanner reads easily.
MAX_ENVELOPE_VERSION = 25

REQUEST_ROW = f"counter request for {RESIDENT_REGISTER}"
# The development deployment's sample bank and purpose (issuer/sample_relying_parties.json).
COUNTER_CLIENT_ID = "counter.bank.example"
COUNTER_PURPOSE = {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"}
REQUEST_LIFETIME = 300


@dataclass(frozen=True, slots=True)
class QrSize:
    credential_type: str
    request: tuple[str, ...]
    plain_length: int
    plain_version: int
    envelope_length: int
    envelope_version: int


def measure_sizes(parties: Parties, *, samples: int) -> list[QrSize]:
    """One row per certificate type's presentation, then the counter's request."""
    rows = []
    for credential_type in sorted(parties.registry.types, key=lambda t: t.id):
        presentations = [parties.present(credential_type, Algorithm.ES256) for _ in range(samples)]
        plain = max(presentations, key=len)
        envelope = max((encode_envelope(p) for p in presentations), key=len)
        rows.append(_row(credential_type.id, typical_request(credential_type), plain, envelope))
    requests = [counter_request(SigningKey.generate(Algorithm.ES256)) for _ in range(samples)]
    envelope = max((encode_request_envelope(r) for r in requests), key=len)
    rows.append(_row(REQUEST_ROW, RESIDENT_REGISTER_REQUEST, max(requests, key=len), envelope))
    return rows


def counter_request(signer: SigningKey) -> str:
    """The request object a bank counter shows for a resident-register extract: name, birth
    date and address, why in Korean and English, answered as a QR (response mode jigap_qr).

    Built here, its members in the order verifier.openid4vp.sign_request writes them, so that
    the size does not wait for the verifier's own request builder.
    """
    payload: dict[str, Any] = {
        "client_id": COUNTER_CLIENT_ID,
        "response_type": "vp_token",
        "response_mode": "jigap_qr",
        "aud": "https://self-issued.me/v2",
        "nonce": b64url_encode(secrets.token_bytes(16)),
        "iat": NOW,
        "exp": NOW + REQUEST_LIFETIME,
        "purpose": COUNTER_PURPOSE,
        "dcql_query": {
            "credentials": [
                {
                    "id": RESIDENT_REGISTER,
                    "format": "dc+sd-jwt",
                    "meta": {"vct_values": ["urn:jigap:resident-register-extract:1"]},
                    "claims": [{"path": [claim]} for claim in RESIDENT_REGISTER_REQUEST],
                }
            ]
        },
    }
    return sign_compact(payload, signer, {"typ": "oauth-authz-req+jwt", "kid": signer.kid})


def _row(label: str, request: tuple[str, ...], plain: str, envelope: str) -> QrSize:
    return QrSize(
        label,
        request,
        len(plain),
        qr_version(plain, ERROR_CORRECTION),
        len(envelope),
        qr_version(envelope, ERROR_CORRECTION),
    )
