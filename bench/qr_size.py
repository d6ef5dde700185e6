"""QR size per certificate type: the plain SD-JWT text against the compact envelope.

For each type of the registry, a fresh ES256 credential of its first valid example is
presented for a typical request (``scenario.typical_request``), with a KB-JWT. Salts, keys and
signatures are random, so the envelope's compressed size varies by a few characters from one
credential to the next: each row reports the largest of ``samples`` presentations.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.scenario import Parties, typical_request
from keys.jwk import Algorithm
from verifier import encode_envelope
from verifier.qr_image import qr_version

ERROR_CORRECTION = "M"
# The acceptance point: a resident-register extract envelope a counter scanner reads easily.
MAX_ENVELOPE_VERSION = 25


@dataclass(frozen=True, slots=True)
class QrSize:
    credential_type: str
    request: tuple[str, ...]
    plain_length: int
    plain_version: int
    envelope_length: int
    envelope_version: int


def measure_sizes(parties: Parties, *, samples: int) -> list[QrSize]:
    rows = []
    for credential_type in sorted(parties.registry.types, key=lambda t: t.id):
        presentations = [parties.present(credential_type, Algorithm.ES256) for _ in range(samples)]
        plain = max(presentations, key=len)
        envelope = max((encode_envelope(p) for p in presentations), key=len)
        rows.append(
            QrSize(
                credential_type.id,
                typical_request(credential_type),
                len(plain),
                qr_version(plain, ERROR_CORRECTION),
                len(envelope),
                qr_version(envelope, ERROR_CORRECTION),
            )
        )
    return rows
