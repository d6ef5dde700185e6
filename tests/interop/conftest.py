"""One jigap issuer over real HTTP for the interop tests of a worker (SQLite, loopback).

It takes EdDSA key proofs as well as ES256 (a deployment's choice; HAIP's default is ES256
alone: tests/test_haip_algorithms.py) so that the wallet library can try both, and its
credentials carry `vct#integrity` so that type metadata is checked as the SD-JWT VC draft says.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from credential_schemas import Registry
from jigap_cli import app as jigap
from keys.jwk import SigningKey
from tests._server import RunningIssuer, issuer_on_backend
from tests.interop._node import node
from verifier import TrustStore

REGISTRY = Registry.load()


@pytest.fixture(scope="session")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    settings = {"PROOF_ALGORITHMS": "ES256,EdDSA", "VCT_INTEGRITY": "1"}
    with issuer_on_backend(
        "sqlite", tmp_path_factory.mktemp("interop"), extra_settings=settings
    ) as running:
        yield running


def make_offer(
    issuer: RunningIssuer, type_id: str, *, slug: str = "mois", **options: Any
) -> dict[str, Any]:
    """An offer through the agency's admin API, as its operator makes it."""
    response = httpx.post(
        f"{issuer.public_url}/admin/offers",
        json={
            "credential_type": type_id,
            "claims": REGISTRY.get(type_id).examples[0],
            "subject": "interop-citizen-1",  # some types hold no number to derive it from
            **options,
        },
        headers=issuer.admin(slug),
        timeout=30.0,
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.fixture(scope="session")
def js() -> str:
    """Node.js with the pinned packages (requested first, so a skip comes before any server)."""
    return node()


def synced_store(issuer: RunningIssuer, directory: Path) -> TrustStore:
    """What a counter holds after `jigap verify sync` against the running issuer."""
    anchor = directory / "anchor.jwk"
    anchor.write_text(json.dumps(issuer.anchor_jwk()))
    arguments = ["verify", "sync", issuer.trust_list_url, "--into", str(directory / "trust")]
    result = CliRunner().invoke(jigap, [*arguments, "--anchor", str(anchor)])
    assert result.exit_code == 0, result.output
    return TrustStore.load(directory / "trust")


def holder_key(private_jwk: dict[str, str]) -> SigningKey:
    """A private JWK a Node script made, as our signing key (to present what it received)."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    from keys.encoding import b64url_decode

    d = b64url_decode(private_jwk["d"])
    if private_jwk["kty"] == "OKP":
        return SigningKey.from_private_key(ed25519.Ed25519PrivateKey.from_private_bytes(d))
    return SigningKey.from_private_key(
        ec.derive_private_key(int.from_bytes(d, "big"), ec.SECP256R1())
    )
