"""The parties every benchmark shares: keys, a trust store, the registry and its examples.

Claims are the first valid example of each type's own file; the clock is fixed, so a run
measures the same work whatever day it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from credential_schemas import CredentialType, Registry
from issuer.credential import IssuedCredential, StatusReference, issue_sd_jwt_vc
from keys.jwk import Algorithm, Jwks, SigningKey
from verifier import Policy, TrustStore, Verifier
from verifier.status_list import StatusList, build_status_list_token
from wallet_api.presentation import build_presentation

NOW = 1_767_268_800  # 2026-01-01T12:00:00Z
ISSUED_AT = NOW - 3600
PRESENTED_AT = NOW - 5
ISSUER_ID = "https://gov.example.kr"
STATUS_URI = "https://gov.example.kr/status/1"
STATUS_INDEX = 4242
AUDIENCE = "https://bank.example.kr/counter/17"
NONCE = "n-0S6_WzA2Mj"
RESIDENT_REGISTER = "resident_register_extract"
# What a bank counter asks of a resident-register extract.
RESIDENT_REGISTER_REQUEST = ("name", "birth_date", "address")


@dataclass(frozen=True, slots=True)
class Parties:
    registry: Registry
    issuer_keys: Mapping[Algorithm, SigningKey]  # one issuer, one key of each algorithm
    holder_keys: Mapping[Algorithm, SigningKey]
    verifier: Verifier

    @classmethod
    def create(cls) -> Parties:
        registry = Registry.load()
        issuer_keys = {algorithm: SigningKey.generate(algorithm) for algorithm in Algorithm}
        holder_keys = {algorithm: SigningKey.generate(algorithm) for algorithm in Algorithm}
        store = TrustStore()
        store.add_issuer(ISSUER_ID, Jwks.of(*(key.public_key for key in issuer_keys.values())))
        status_token = build_status_list_token(
            StatusList(16 * 1024),
            STATUS_URI,
            issuer_keys[Algorithm.ES256],
            now=NOW - 600,
            ttl=24 * 3600,
        )
        store.add_status_list(STATUS_URI, status_token, fetched_at=NOW - 60)
        policy = Policy(expected_audience=AUDIENCE, expected_nonce=NONCE)
        return cls(registry, issuer_keys, holder_keys, Verifier(store, policy, registry))

    def issue(self, credential_type: CredentialType, algorithm: Algorithm) -> IssuedCredential:
        return issue_sd_jwt_vc(
            credential_type,
            example_claims(credential_type),
            issuer_id=ISSUER_ID,
            signing_key=self.issuer_keys[algorithm],
            holder_key=self.holder_keys[algorithm].public_key,
            status=StatusReference(STATUS_URI, STATUS_INDEX),
            now=ISSUED_AT,
        )

    def present(self, credential_type: CredentialType, algorithm: Algorithm) -> str:
        """A fresh credential of ``credential_type``, presented for its typical request."""
        return build_presentation(
            self.issue(credential_type, algorithm).compact,
            typical_request(credential_type),
            holder_key=self.holder_keys[algorithm],
            audience=AUDIENCE,
            nonce=NONCE,
            now=PRESENTED_AT,
        )


def example_claims(credential_type: CredentialType) -> dict[str, Any]:
    """The first valid example in the type's own file."""
    if credential_type.source is None:
        raise ValueError(f"{credential_type.id} was not loaded from a file")
    document = json.loads(credential_type.source.read_text("utf-8"))
    claims: dict[str, Any] = document["examples"]["valid"][0]
    return claims


def with_derived_claims(credential_type: CredentialType) -> dict[str, Any]:
    """The example's claims and those the issuer derives from them, on the fixed date."""
    claims = example_claims(credential_type)
    today = datetime.fromtimestamp(ISSUED_AT, UTC).date()
    return {**claims, **credential_type.derive(claims, today)}


def typical_request(credential_type: CredentialType) -> tuple[str, ...]:
    """Name, birth date and address of a resident-register extract; name and birth date of a
    type that has both; otherwise its first three selectively disclosable claims."""
    if credential_type.id == RESIDENT_REGISTER:
        return RESIDENT_REGISTER_REQUEST
    disclosable = [
        name
        for name in credential_type.claim_names
        if name in credential_type.selectively_disclosable
    ]
    if {"name", "birth_date"} <= set(disclosable):
        return ("name", "birth_date")
    return tuple(disclosable[:3])
