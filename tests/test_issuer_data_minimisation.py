"""What the issuer keeps of a citizen: claims only while an offer can still be issued.

(After issuance: `test_issuance_wipes_the_offer_claims_and_keeps_none` in
test_issuer_protocol_errors.py.)
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from issuer.models import AccessToken, OfferState
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import create_offer, offer_row, post_token, rows, token_form

world, client = _issuer_client.world, _issuer_client.client  # fixtures


def test_an_offer_never_redeemed_loses_its_claims_after_expiry(
    client: TestClient, world: IssuerWorld
) -> None:
    stale = create_offer(client, world, tx_code=False)
    world.clock.advance(world.settings.pre_authorized_code_seconds)
    create_offer(client, world)  # any later offer sweeps the stale ones
    row = offer_row(world, stale["offer_id"])
    assert (row.state, row.sealed_claims) == (OfferState.DEAD, None)


def test_a_redeemed_offer_whose_token_expired_unused_is_kept_sealed_then_loses_its_claims(
    client: TestClient, world: IssuerWorld
) -> None:
    # Stuck, not dead: the agency can still re-offer it (test_issuer_redelivery); only as
    # long as an unfinished issuance is kept at all.
    redeemed = create_offer(client, world, tx_code=False)
    assert post_token(client, token_form(redeemed)).status_code == 200
    world.clock.advance(world.settings.access_token_seconds)
    create_offer(client, world)
    row = offer_row(world, redeemed["offer_id"])
    assert (row.state, row.sealed_claims is not None) == (OfferState.REDEEMED, True)
    world.clock.advance(world.settings.deferred_token_seconds - world.settings.access_token_seconds)
    create_offer(client, world)
    row = offer_row(world, redeemed["offer_id"])
    assert (row.state, row.sealed_claims) == (OfferState.DEAD, None)


def test_expired_access_tokens_are_dropped(client: TestClient, world: IssuerWorld) -> None:
    redeemed = create_offer(client, world, tx_code=False)
    assert post_token(client, token_form(redeemed)).status_code == 200
    assert len(rows(world, AccessToken)) == 1
    world.clock.advance(world.settings.access_token_seconds - 1)
    create_offer(client, world)
    assert len(rows(world, AccessToken)) == 1  # still usable
    world.clock.advance(1)
    create_offer(client, world)  # the sweep at every new offer
    assert rows(world, AccessToken) == []
