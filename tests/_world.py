"""A small, real world for verifier tests: an issuer, a phone, a counter, a status list.

Real keys, real signatures, the bundled registry; time is injected (``NOW``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from credential_schemas import Registry
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_encode, json_dumps
from keys.jwk import Algorithm, Jwks, SigningKey
from keys.trust_list import TrustedIssuer
from verifier import Policy, TrustStore, Verifier
from verifier.sd_jwt import SD_ALG_KEY, SD_DIGESTS_KEY, SHA_256, SdJwt, encode_disclosure
from verifier.status_list import StatusList, build_status_list_token
from wallet_api.presentation import build_presentation

NOW = 1_800_000_000
ISSUER = "https://rr.issuer.jigap.example"
STATUS_URI = f"{ISSUER}/status/1"
COUNTER = "https://counter.bank.example"
NONCE = "n-0S6_WzA2Mj"
RESIDENT = "resident_register_extract"
REQUEST = ("name", "birth_date", "address")
_REGISTRY = Registry.load()


@dataclass
class World:
    issuer_key: SigningKey = field(default_factory=SigningKey.generate)
    holder_key: SigningKey = field(default_factory=SigningKey.generate)
    status_list: StatusList = field(default_factory=lambda: StatusList(1024))
    registry: Registry = _REGISTRY
    store: TrustStore = field(default_factory=TrustStore)

    def __post_init__(self) -> None:
        self.store.add_issuer(ISSUER, Jwks.of(self.issuer_key.public_key))
        self.publish_status(fetched_at=NOW)

    def trusted_issuer(self, valid_from: int, valid_until: int) -> TrustedIssuer:
        """This world's issuer as a trust list names it: its key, the extract only."""
        return TrustedIssuer(
            ISSUER,
            {"ko": "주민등록 발급기관", "en": "Resident register office"},
            Jwks.of(self.issuer_key.public_key),
            frozenset({self.registry.get(RESIDENT).vct}),
            valid_from,
            valid_until,
        )

    def publish_status(self, *, fetched_at: int = NOW, issued_at: int = NOW) -> None:
        token = build_status_list_token(
            self.status_list, STATUS_URI, self.issuer_key, now=issued_at, ttl=3600
        )
        self.store.add_status_list(STATUS_URI, token, fetched_at=fetched_at)

    def credential(
        self, type_id: str = RESIDENT, *, index: int = 7, now: int = NOW, **kwargs: Any
    ) -> str:
        credential_type = self.registry.get(type_id)
        return issue_sd_jwt_vc(
            credential_type,
            kwargs.pop("claims", credential_type.examples[0]),
            issuer_id=ISSUER,
            signing_key=kwargs.pop("signing_key", self.issuer_key),
            holder_key=kwargs.pop("holder_key", self.holder_key.public_key),
            status=StatusReference(STATUS_URI, index),
            now=now,
            **kwargs,
        ).compact

    def present(
        self,
        credential: str | None = None,
        claims: Collection[str] = REQUEST,
        *,
        nonce: str = NONCE,
        audience: str = COUNTER,
        now: int = NOW,
        holder_key: SigningKey | None = None,
    ) -> str:
        return build_presentation(
            credential or self.credential(),
            claims,
            holder_key=holder_key or self.holder_key,
            audience=audience,
            nonce=nonce,
            now=now,
        )

    def verifier(self, **policy: Any) -> Verifier:
        policy.setdefault("expected_nonce", NONCE)
        policy.setdefault("expected_audience", COUNTER)
        return Verifier(self.store, Policy(**policy), self.registry)

    def forged_credential(
        self,
        *,
        payload_changes: Mapping[str, Any] | None = None,
        header_changes: Mapping[str, Any] | None = None,
        disclosed: Mapping[str, Any] | None = None,
        plain: Mapping[str, Any] | None = None,
        drop: Collection[str] = (),
        key: SigningKey | None = None,
    ) -> str:
        """A credential signed by the issuer's key, with whatever payload a test needs."""
        disclosures = [
            encode_disclosure(name, value)
            for name, value in (disclosed or {"name": "홍길동", "birth_date": "1985-03-15"}).items()
        ]
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "iat": NOW - 60,
            "exp": NOW + 86400,
            "vct": self.registry.get(RESIDENT).vct,
            **(plain or {}),
            SD_DIGESTS_KEY: [d.digest for d in disclosures],
            SD_ALG_KEY: SHA_256,
            "cnf": {"jwk": self.holder_key.public_key.to_thumbprint_jwk()},
            "status": {"status_list": {"idx": 7, "uri": STATUS_URI}},
        }
        payload.update(payload_changes or {})
        for name in drop:
            payload.pop(name, None)
        signer = key or self.issuer_key
        header = {"typ": "dc+sd-jwt", "kid": signer.kid, "alg": signer.algorithm.value}
        header.update(header_changes or {})
        jwt = sign_raw({k: v for k, v in header.items() if v is not None}, payload, signer)
        return SdJwt(jwt, tuple(d.encoded for d in disclosures), None).serialize()


def sign_raw(header: Mapping[str, Any], payload: Mapping[str, Any], key: SigningKey) -> str:
    """A JWS with exactly ``header``: unlike ``sign_compact``, the header may lie about `alg`."""
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(payload))}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


def eddsa_world() -> World:
    return World(
        issuer_key=SigningKey.generate(Algorithm.EDDSA),
        holder_key=SigningKey.generate(Algorithm.EDDSA),
    )
