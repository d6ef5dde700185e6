"""A small, real scheme for the counter's request tests: a trust list naming one issuer and three
registered counters, a status list, a phone; real keys and signatures, time injected (``NOW``).

- ``counter.woori.example``: purposes ``account_opening`` (name, birth date, address),
  ``age_check`` (a 60 s one-way preset of ``age_over_19``) and ``move_in_dates`` (only the
  ``moved_in`` member of each ``address_history`` element); one registered response URI;
- ``counter.kb.example``: ``account_opening`` under the same names, its own key;
- ``counter.closed.example``: registered, but its registration ended before ``NOW``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credential_schemas import Registry
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads_object
from keys.jwk import Algorithm, Jwks, PublicKey, SigningKey
from keys.relying_party import relying_party_from_entry
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from verifier import TrustStore, Verifier
from verifier.status_list import StatusList, build_status_list_token
from wallet_api.presentation import build_presentation

NOW = 1_800_000_000
DAY = 86_400
ISSUER = "https://rr.issuer.jigap.example"
STATUS_URI = f"{ISSUER}/status/1"
WOORI, KB, CLOSED = "counter.woori.example", "counter.kb.example", "counter.closed.example"
RESPONSE_URI = "https://verify.woori.example/oid4vp/response"
RESIDENT = "urn:jigap:resident-register-extract:1"
HEALTH = "urn:jigap:health-insurance-eligibility:1"
REQUESTED = ("name", "birth_date", "address")
ACCOUNT_OPENING = {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"}
AGE_CHECK = {"ko": "만 19세 이상 확인", "en": "Age check: 19 or over"}
REGISTRY = Registry.load()
# Keys are slow to make and hold no state: one set for the module.
ANCHOR, ISSUER_KEY, HOLDER_KEY = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
WOORI_KEY, KB_KEY = SigningKey.generate(), SigningKey.generate(Algorithm.EDDSA)
CLOSED_KEY = SigningKey.generate()


def party_entry(
    party_id: str, key: PublicKey, purposes: list[dict[str, Any]], **dates: int
) -> dict[str, Any]:
    return {
        "id": party_id,
        "name": {"ko": party_id, "en": party_id},
        "jwks": {"keys": [key.to_jwk()]},
        "valid_from": dates.get("valid_from", NOW - DAY),
        "valid_until": dates.get("valid_until", NOW + 365 * DAY),
        "response_uris": [RESPONSE_URI] if party_id == WOORI else [],
        "purposes": purposes,
    }


OPENING_PURPOSE: dict[str, Any] = {
    "id": "account_opening",
    "name": ACCOUNT_OPENING,
    "credentials": [{"vct": RESIDENT, "claims": [["name"], ["birth_date"], ["address"]]}],
}
AGE_CHECK_PURPOSE: dict[str, Any] = {
    "id": "age_check",
    "name": AGE_CHECK,
    "credentials": [{"vct": RESIDENT, "claims": [["age_over_19"]]}],
    "one_way_seconds": 60,
}
PARTIES = [
    party_entry(
        WOORI,
        WOORI_KEY.public_key,
        [
            OPENING_PURPOSE,
            AGE_CHECK_PURPOSE,
            {
                "id": "first_address",
                "name": {"ko": "최초 주소 확인", "en": "First address on record"},
                "credentials": [{"vct": RESIDENT, "claims": [["address_history", 0]]}],
            },
            {
                "id": "move_in_dates",
                "name": {"ko": "전입일 확인", "en": "Move-in dates"},
                "credentials": [
                    {"vct": RESIDENT, "claims": [["address_history", None, "moved_in"]]}
                ],
            },
        ],
    ),
    party_entry(KB, KB_KEY.public_key, [OPENING_PURPOSE]),
    party_entry(CLOSED, CLOSED_KEY.public_key, [OPENING_PURPOSE], valid_until=NOW - 60),
]


def trust_list_token(
    parties: Sequence[Mapping[str, Any]] = PARTIES, issuer_id: str = ISSUER
) -> str:
    """The trust list, signed by ``ANCHOR``: the issuer and ``parties``."""
    issuer = TrustedIssuer(
        id=issuer_id,
        names={"ko": "주민등록 발급기관", "en": "Resident register office"},
        jwks=Jwks.of(ISSUER_KEY.public_key),
        credential_types=frozenset({RESIDENT, HEALTH}),
        valid_from=NOW - 30 * DAY,
        valid_until=NOW + 365 * DAY,
    )
    relying = {p["id"]: relying_party_from_entry(p) for p in parties}
    token = sign_trust_list(
        TrustList(
            "https://trust.jigap.example", 1, NOW - 60, NOW + 7 * DAY, {issuer_id: issuer}, relying
        ),
        ANCHOR,
    )
    return token


def status_list_token() -> str:
    return build_status_list_token(StatusList(1024), STATUS_URI, ISSUER_KEY, now=NOW, ttl=3600)


def trust_store(
    parties: Sequence[Mapping[str, Any]] = PARTIES, issuer_id: str = ISSUER
) -> TrustStore:
    token = trust_list_token(parties, issuer_id)
    store = TrustStore.from_trust_list(token, ANCHOR.public_key, now=NOW)
    store.add_status_list(STATUS_URI, status_list_token(), fetched_at=NOW)
    return store


@dataclass
class Counter:
    """The scheme above as one counter sees it, and the phone that answers it."""

    store: TrustStore = field(default_factory=trust_store)

    @property
    def verifier(self) -> Verifier:
        return Verifier(self.store, registry=REGISTRY)

    def credential(self, type_id: str = "resident_register_extract", **claims: Any) -> str:
        credential_type = REGISTRY.get(type_id)
        return issue_sd_jwt_vc(
            credential_type,
            {**credential_type.examples[0], **claims},
            issuer_id=ISSUER,
            signing_key=ISSUER_KEY,
            holder_key=HOLDER_KEY.public_key,
            status=StatusReference(STATUS_URI, 7),
            now=NOW - DAY,
        ).compact

    def answer(
        self,
        *,
        audience: str,
        nonce: str,
        claims: Sequence[str] = REQUESTED,
        now: int = NOW,
        credential: str | None = None,
    ) -> str:
        """The phone's answer: the credential with ``claims`` disclosed and a KB-JWT."""
        return build_presentation(
            credential or self.credential(),
            claims,
            holder_key=HOLDER_KEY,
            audience=audience,
            nonce=nonce,
            now=now,
        )


def payload_of(token: str) -> dict[str, Any]:
    return json_loads_object(b64url_decode(token.split(".")[1]))


def header_of(token: str) -> dict[str, Any]:
    return json_loads_object(b64url_decode(token.split(".")[0]))


def sign_raw(header: Mapping[str, Any], payload: bytes | Mapping[str, Any], key: SigningKey) -> str:
    """A JWS with exactly ``header`` and ``payload`` (any bytes): the header may lie."""
    body = payload if isinstance(payload, bytes) else json_dumps(payload)
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(body)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"
