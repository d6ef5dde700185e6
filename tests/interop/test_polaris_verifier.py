"""polaris-oid4vp 1.0.0 (PyPI; an OpenID4VP 1.0 + HAIP verifier, OpenID-certified as such)
judging presentations our wallet code makes of credentials our issuer issued.

HAIP verifiers accept P-256 alone: a credential bound to an Ed25519 device key is refused,
which is why our issuer takes ES256 key proofs alone by default (docs/interop.md).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from polaris_oid4vp.sdjwt import verify_presentation
from polaris_oid4vp.status import StatedAuthority, decide_by_fetching

from keys.errors import KeyManagementError
from keys.jwk import Algorithm, Jwks
from tests._server import RunningIssuer
from tests._wallet import Wallet
from tests.interop.conftest import REGISTRY, make_offer
from verifier import sd_jwt_vc as vc
from wallet_api.presentation import build_presentation

RESIDENT = "resident_register_extract"
AUD, NONCE = "x509_hash:counter.bank.example", "polaris-nonce-1"
DISCLOSED = ("name", "birth_date")


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def _present(issuer: RunningIssuer, http: httpx.Client, algorithm: Algorithm) -> str:
    offer = make_offer(issuer, RESIDENT)
    wallet = Wallet(http, time.time, algorithm=algorithm)
    (credential,), _ = wallet.obtain(offer["credential_offer_reference_uri"], offer["tx_code"])
    (key,) = wallet.keys
    return build_presentation(
        credential, DISCLOSED, holder_key=key, audience=AUD, nonce=NONCE, now=int(time.time())
    )


def _issuer_jwks(issuer: RunningIssuer, http: httpx.Client) -> list[dict[str, Any]]:
    """The agency's keys as any verifier finds them: its JWT VC Issuer Metadata."""
    document = http.get(f"{issuer.public_url}{vc.WELL_KNOWN_JWT_VC_ISSUER}/agencies/mois").json()
    assert document["issuer"] == issuer.issuer_id()
    return list(document["jwks"]["keys"])


def _status_resolver(jwks: list[dict[str, Any]], http: httpx.Client) -> Any:
    """Polaris asks its user who may sign status lists: the agency's own keys, by `kid`."""
    keys = Jwks.from_dict({"keys": jwks})

    def verify(signing_input: bytes, signature: bytes, header: dict[str, Any]) -> bool:
        key = keys.get(str(header.get("kid")))
        if key is None:
            return False
        try:
            key.verify(signature, signing_input)
        except KeyManagementError:
            return False
        return True

    def resolve(*, uri: str, idx: int, issuer: str | None) -> dict[str, Any]:
        authority = StatedAuthority().state(
            credential_issuer=issuer, status_uri=uri, verify=verify,
            why="the agency's keys, from its JWT VC Issuer Metadata",
        )  # fmt: skip
        verdict = decide_by_fetching(
            index=idx,
            expected_uri=uri,
            authority=authority,
            credential_issuer=issuer,
            fetch=lambda url: http.get(url).content,
        )
        return dict(verdict)

    return resolve


def test_a_haip_verifier_accepts_our_es256_presentation(
    issuer: RunningIssuer, http: httpx.Client
) -> None:
    jwks = _issuer_jwks(issuer, http)
    verdict = verify_presentation(
        _present(issuer, http, Algorithm.ES256),
        expected_nonce=NONCE, expected_audience=AUD, issuer_jwks=jwks,
        expected_vct=REGISTRY.get(RESIDENT).vct, status_resolver=_status_resolver(jwks, http),
    )  # fmt: skip
    assert verdict.authentic, (verdict.code, verdict.reason)
    assert {name: verdict.claims[name] for name in DISCLOSED} == {
        name: REGISTRY.get(RESIDENT).examples[0][name] for name in DISCLOSED
    }
    assert verdict.revocation["state"] == "checked", verdict.revocation
    assert verdict.revocation["status"] == 0


def test_a_haip_verifier_refuses_an_ed25519_bound_credential(
    issuer: RunningIssuer, http: httpx.Client
) -> None:
    """Issued only because this deployment chose EdDSA too (tests/interop/conftest.py)."""
    verdict = verify_presentation(
        _present(issuer, http, Algorithm.EDDSA),
        expected_nonce=NONCE, expected_audience=AUD, issuer_jwks=_issuer_jwks(issuer, http),
    )  # fmt: skip
    assert not verdict.authentic
    assert verdict.code == "kb_cnf", (verdict.code, verdict.reason)
    assert "P-256" in verdict.reason


def test_a_haip_verifier_holds_our_presentation_to_its_nonce(
    issuer: RunningIssuer, http: httpx.Client
) -> None:
    verdict = verify_presentation(
        _present(issuer, http, Algorithm.ES256),
        expected_nonce="another-request", expected_audience=AUD,
        issuer_jwks=_issuer_jwks(issuer, http),
    )  # fmt: skip
    assert (verdict.authentic, verdict.code) == (False, "nonce")
