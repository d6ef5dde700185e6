"""The issuance flow in-process (FastAPI TestClient) on SQLite and PostgreSQL."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._wallet import Wallet

world, client = _issuer_client.world, _issuer_client.client  # fixtures


def offer(client: TestClient, world: IssuerWorld, **options: object) -> dict[str, object]:
    credential_type = world.deployment.registry.get("resident_register_extract")
    response = client.post(
        "/admin/offers",
        json={
            "credential_type": credential_type.id,
            "claims": credential_type.examples[0],
            **options,
        },
        headers={"Authorization": f"Bearer {world.tokens['mois']}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_a_wallet_obtains_a_credential(client: TestClient, world: IssuerWorld) -> None:
    created = offer(client, world)
    wallet = Wallet(client, world.clock)
    credentials, body = wallet.obtain(str(created["credential_offer_uri"]), str(created["tx_code"]))
    assert len(credentials) == 1
    assert body["notification_id"]


def test_a_batch_by_reference(client: TestClient, world: IssuerWorld) -> None:
    created = offer(client, world, tx_code=False)
    wallet = Wallet(client, world.clock)
    credentials, _ = wallet.obtain(str(created["credential_offer_reference_uri"]), None, batch=10)
    assert len(set(credentials)) == 10
