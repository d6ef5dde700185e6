"""What the issuer keeps of a citizen: claims only while an offer can still be issued."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from issuer.api import create_app
from issuer.db import session_scope
from issuer.models import IssuedCredential, Offer, OfferState
from issuer.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from tests._issuer import IssuerWorld, make_settings, seed
from tests._wallet import Wallet

RESIDENT = "resident_register_extract"


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[IssuerWorld]:
    world = seed(make_settings(database_url, tmp_path / "data", "http://127.0.0.1:8000"))
    yield world
    world.deployment.engine.dispose()


@pytest.fixture
def client(world: IssuerWorld) -> Iterator[TestClient]:
    with TestClient(create_app(deployment=world.deployment)) as http:
        yield http


def _offer(client: TestClient, world: IssuerWorld) -> dict[str, Any]:
    claims = world.deployment.registry.get(RESIDENT).examples[0]
    response = client.post(
        "/admin/offers",
        json={"credential_type": RESIDENT, "claims": claims, "tx_code": False},
        headers={"Authorization": f"Bearer {world.tokens['mois']}"},
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _offer_row(world: IssuerWorld, offer_id: str) -> Offer:
    with session_scope(world.deployment.engine) as session:
        offer = session.get(Offer, offer_id)
        assert offer is not None
        return offer


def test_issuance_wipes_the_claims_and_keeps_only_metadata(
    client: TestClient, world: IssuerWorld
) -> None:
    created = _offer(client, world)
    assert _offer_row(world, created["offer_id"]).claims is not None
    Wallet(client, world.clock).obtain(created["credential_offer_uri"], None)
    assert _offer_row(world, created["offer_id"]).claims is None
    with session_scope(world.deployment.engine) as session:
        stored = session.exec(select(IssuedCredential)).one()
    kept = stored.model_dump()
    claims = world.deployment.registry.get(RESIDENT).examples[0]
    for value in claims.values():
        if isinstance(value, str):
            assert value not in {str(v) for v in kept.values()}
    assert len(kept["subject_hash"]) == 64  # an HMAC, not the registration number


def test_an_offer_never_redeemed_loses_its_claims_after_expiry(
    client: TestClient, world: IssuerWorld
) -> None:
    stale = _offer(client, world)
    world.clock.advance(world.settings.pre_authorized_code_seconds)
    _offer(client, world)  # any later offer sweeps the stale ones
    row = _offer_row(world, stale["offer_id"])
    assert (row.state, row.claims) == (OfferState.DEAD, None)


def test_a_redeemed_offer_whose_token_expired_unused_loses_its_claims(
    client: TestClient, world: IssuerWorld
) -> None:
    redeemed = _offer(client, world)
    code = redeemed["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
    token = client.post(
        "/agencies/mois/token",
        data={
            "grant_type": PRE_AUTHORIZED_CODE_GRANT,
            "pre-authorized_code": code["pre-authorized_code"],
        },
    )
    assert token.status_code == 200
    world.clock.advance(world.settings.access_token_seconds - 1)
    _offer(client, world)
    assert _offer_row(world, redeemed["offer_id"]).claims is not None  # still usable
    world.clock.advance(1)
    _offer(client, world)
    row = _offer_row(world, redeemed["offer_id"])
    assert (row.state, row.claims) == (OfferState.DEAD, None)
