"""A counter's world in real time, on disk: what `jigap verify sync` would have left in a trust
store directory, the bank's registration and key, a trusted agency and one nobody trusts.

The counter app runs on the real clock (the clerk's browser does), so this world is made
``now``: a trust list naming the agency and ``counter.bank.example`` (account opening, two-way;
an age check, a one-way preset), and the agency's status list, in which ``REVOKED_INDEX`` is
revoked. Answers are made with the wallet's own ``build_presentation`` and put in our QR
envelope, as a phone shows them.
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass, field
from pathlib import Path

from credential_schemas import Registry
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.relying_party import relying_party_from_entry
from keys.store import write_atomically
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._counter import AGE_CHECK_PURPOSE, OPENING_PURPOSE
from verifier.envelope import encode_envelope
from verifier.openid4vp import read_request
from verifier.status_list import StatusList, build_status_list_token
from verifier.trust_store import ANCHOR_FILE, TRUST_LIST_FILE, TrustStore
from wallet_api.presentation import build_presentation

BANK = "counter.bank.example"
AGENCY = "https://rr.issuer.jigap.example"
STRANGER = "https://rr.stranger.example"
STATUS_URI = f"{AGENCY}/status/1"
RESIDENT = "resident_register_extract"
VALID_INDEX, REVOKED_INDEX = 7, 8
OPENING = ("name", "birth_date", "address")
DAY = 86_400
REGISTRY = Registry.load()
# The bank's registration: the purposes of the counter tests' own scheme (tests/_counter.py).
PURPOSES = [OPENING_PURPOSE, AGE_CHECK_PURPOSE]


@dataclass
class DeskWorld:
    """The trust store directory ``trust_dir`` and everyone in it, made at ``now``."""

    trust_dir: Path
    now: int = field(default_factory=lambda: int(time.time()))
    anchor: SigningKey = field(default_factory=SigningKey.generate)
    agency_key: SigningKey = field(default_factory=SigningKey.generate)
    stranger_key: SigningKey = field(default_factory=SigningKey.generate)
    bank_key: SigningKey = field(default_factory=SigningKey.generate)
    holder_key: SigningKey = field(default_factory=SigningKey.generate)

    def __post_init__(self) -> None:
        self.trust_dir.mkdir(parents=True, exist_ok=True)
        self.write_trust_list()
        self.write_status_list(fetched_at=self.now)

    def write_trust_list(self, *, sequence: int = 1, expires_in: int = 7 * DAY) -> None:
        agency = TrustedIssuer(
            id=AGENCY,
            names={"ko": "행정안전부", "en": "Ministry of the Interior and Safety"},
            jwks=Jwks.of(self.agency_key.public_key),
            credential_types=frozenset({"urn:jigap:resident-register-extract:1"}),
            valid_from=self.now - 30 * DAY,
            valid_until=self.now + 365 * DAY,
        )
        bank = relying_party_from_entry(
            {
                "id": BANK,
                "name": {"ko": "지갑은행", "en": "Jigap Bank"},
                "jwks": {"keys": [self.bank_key.public_key.to_jwk()]},
                "valid_from": self.now - DAY,
                "valid_until": self.now + 365 * DAY,
                "response_uris": [],
                "purposes": PURPOSES,
            }
        )
        trust_list = TrustList(
            "https://trust.jigap.example",
            sequence,
            self.now - 60,
            self.now + expires_in,
            {AGENCY: agency},
            {BANK: bank},
        )
        token = sign_trust_list(trust_list, self.anchor)
        write_atomically(self.trust_dir / ANCHOR_FILE, json_dumps(self.anchor.public_key.to_jwk()))
        write_atomically(self.trust_dir / TRUST_LIST_FILE, token.encode("ascii"))

    def status_list_token(self, *, issued_at: int) -> str:
        """The agency's status list, ``REVOKED_INDEX`` revoked, as its URL serves it."""
        statuses = StatusList(1024)
        statuses.set(REVOKED_INDEX, 1)
        return build_status_list_token(
            statuses, STATUS_URI, self.agency_key, now=issued_at, ttl=3600
        )

    def write_status_list(self, *, fetched_at: int) -> None:
        token = self.status_list_token(issued_at=fetched_at)
        store = TrustStore.load(self.trust_dir, now=self.now)
        store.add_status_list(STATUS_URI, token, fetched_at=fetched_at)
        store.save_status_lists(self.trust_dir)

    def credential(self, *, index: int = VALID_INDEX, stranger: bool = False) -> str:
        credential_type = REGISTRY.get(RESIDENT)
        return issue_sd_jwt_vc(
            credential_type,
            credential_type.examples[0],
            issuer_id=STRANGER if stranger else AGENCY,
            signing_key=self.stranger_key if stranger else self.agency_key,
            holder_key=self.holder_key.public_key,
            status=StatusReference(STATUS_URI, index),
            now=self.now - DAY,
        ).compact

    def answer(
        self,
        request_text: str,
        *,
        claims: tuple[str, ...] = OPENING,
        credential: str | None = None,
    ) -> str:
        """The phone's answer QR text to the counter's request QR text."""
        store = TrustStore.load(self.trust_dir, now=int(time.time()))
        request = read_request(request_text, store, now=int(time.time()))
        return self._envelope(credential, claims, request.nonce)

    def preset_answer(self, *, credential: str | None = None) -> str:
        """A one-way answer to the age check, with the phone's own nonce."""
        return self._envelope(credential, ("age_over_19",), "chosen-by-the-phone")

    def _envelope(self, credential: str | None, claims: tuple[str, ...], nonce: str) -> str:
        presentation = build_presentation(
            credential or self.credential(),
            claims,
            holder_key=self.holder_key,
            audience=BANK,
            nonce=nonce,
            now=int(time.time()),
        )
        return encode_envelope(presentation)


def camera_frame(text: str, *, width: int = 1280, height: int = 720, quality: int = 80) -> bytes:
    """A webcam's view of a phone showing ``text`` as a QR code: the code in the middle of a
    grey frame, as JPEG (what the page sends)."""
    from PIL import Image

    from verifier.qr_image import render_png

    rendered = Image.open(io.BytesIO(render_png(text, box_size=4)))
    side = min(height - 40, max(rendered.size[0], 560))
    code = rendered.convert("L").resize((side, side), Image.Resampling.NEAREST)
    frame = Image.new("L", (width, height), 110)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    out = io.BytesIO()
    frame.convert("RGB").save(out, format="JPEG", quality=quality)
    return out.getvalue()
