"""Deferred issuance (OID4VCI 1.0 §9): an offer the agency must approve first.

The credential endpoint answers 202 with a `transaction_id`; the wallet polls the deferred
credential endpoint, which answers 202 while the approval is pending, the credentials once
the agency approves (then the transaction id is spent), `credential_request_denied` if it
denies.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from issuer.models import DeferredIssuance, IssuedCredential, OfferState
from keys.jwk import SigningKey
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import (
    Redeemed,
    admin,
    bearer,
    error_of,
    nonce,
    offer_row,
    post_credential,
    proof,
    redeemed,
    rows,
)
from verifier.sd_jwt import split_compact

world, client = _issuer_client.world, _issuer_client.client  # fixtures


def _deferred(client: TestClient, world: IssuerWorld, keys: int = 1) -> tuple[Redeemed, str]:
    """An approval-required offer, redeemed and asked for: its grant and transaction id."""
    grant = redeemed(client, world, approval_required=True)
    c_nonce = nonce(client)
    proofs = [proof(world, c_nonce, key=SigningKey.generate()) for _ in range(keys)]
    response = post_credential(client, grant.access_token, proofs)
    assert response.status_code == 202, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"transaction_id", "interval"}
    assert body["interval"] == world.settings.deferred_interval_seconds
    return grant, str(body["transaction_id"])


def _poll(client: TestClient, grant: Redeemed, transaction_id: str) -> Any:
    return client.post(
        "/agencies/mois/deferred_credential",
        json={"transaction_id": transaction_id},
        headers=bearer(grant.access_token),
    )


def _decide(client: TestClient, world: IssuerWorld, offer_id: str, verb: str) -> Any:
    return client.post(f"/admin/offers/{offer_id}/{verb}", headers=admin(world))


def test_credential_endpoint_defers(client: TestClient, world: IssuerWorld) -> None:
    grant, _ = _deferred(client, world)
    assert rows(world, IssuedCredential) == []
    assert offer_row(world, grant.offer_id).sealed_claims is not None  # kept until it is decided


def test_deferred_endpoint_is_202_while_pending(client: TestClient, world: IssuerWorld) -> None:
    grant, transaction_id = _deferred(client, world)
    for _ in range(2):
        world.clock.advance(world.settings.deferred_interval_seconds)
        response = _poll(client, grant, transaction_id)
        assert response.status_code == 202, response.text
        assert response.json() == {
            "transaction_id": transaction_id,
            "interval": world.settings.deferred_interval_seconds,
        }


def test_deferral_outlives_the_access_token_lifetime(
    client: TestClient, world: IssuerWorld
) -> None:
    grant, transaction_id = _deferred(client, world)
    world.clock.advance(world.settings.access_token_seconds * 10)
    assert _poll(client, grant, transaction_id).status_code == 202
    world.clock.advance(world.settings.deferred_token_seconds)
    error_of(_poll(client, grant, transaction_id), 401, "invalid_token")


def test_approved_deferral_returns_the_credentials_once(
    client: TestClient, world: IssuerWorld
) -> None:
    grant, transaction_id = _deferred(client, world, keys=2)
    world.clock.advance(3600)
    approved = _decide(client, world, grant.offer_id, "approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["approval"] == "approved"

    response = _poll(client, grant, transaction_id)
    assert response.status_code == 200, response.text
    body = response.json()
    credentials = [item["credential"] for item in body["credentials"]]
    assert len(set(credentials)) == 2
    assert body["notification_id"]
    for credential in credentials:
        assert split_compact(credential).disclosures  # a real SD-JWT VC
    offer = offer_row(world, grant.offer_id)
    assert offer.state == OfferState.ISSUED
    assert offer.sealed_claims is None
    assert len(rows(world, IssuedCredential)) == 2

    # Polled again (its answer was lost): the same credentials, not new ones
    # (bounds and audit: test_issuer_redelivery.py).
    again = _poll(client, grant, transaction_id)
    assert (again.status_code, again.json()) == (200, body)
    assert len(rows(world, IssuedCredential)) == 2
    notified = client.post(
        "/agencies/mois/notification",
        json={"notification_id": body["notification_id"], "event": "credential_accepted"},
        headers=bearer(grant.access_token),
    )
    assert notified.status_code == 204


def test_denied_deferral(client: TestClient, world: IssuerWorld) -> None:
    grant, transaction_id = _deferred(client, world)
    denied = _decide(client, world, grant.offer_id, "deny")
    assert denied.status_code == 200, denied.text
    assert denied.json()["approval"] == "denied"
    error_of(_poll(client, grant, transaction_id), 400, "credential_request_denied")
    offer = offer_row(world, grant.offer_id)
    assert offer.state == OfferState.DEAD
    assert offer.sealed_claims is None
    assert rows(world, IssuedCredential) == []
    # A denial is final: the transaction is spent.
    error_of(_poll(client, grant, transaction_id), 400, "invalid_transaction_id")


def test_denied_before_the_credential_request(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world, approval_required=True)
    assert _decide(client, world, grant.offer_id, "deny").status_code == 200
    response = post_credential(client, grant.access_token, [proof(world, nonce(client))])
    error_of(response, 400, "credential_request_denied")


def test_approved_before_the_credential_request(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world, approval_required=True)
    assert _decide(client, world, grant.offer_id, "approve").status_code == 200
    response = post_credential(client, grant.access_token, [proof(world, nonce(client))])
    assert response.status_code == 200, response.text  # nothing left to wait for
    assert len(response.json()["credentials"]) == 1
    assert rows(world, DeferredIssuance) == []


def test_unknown_transaction_id(client: TestClient, world: IssuerWorld) -> None:
    grant, _ = _deferred(client, world)
    error_of(_poll(client, grant, "no-such-transaction"), 400, "invalid_transaction_id")


def test_transaction_id_of_another_offer(client: TestClient, world: IssuerWorld) -> None:
    first, _ = _deferred(client, world)
    _, theirs = _deferred(client, world)
    error_of(_poll(client, first, theirs), 400, "invalid_transaction_id")


def test_deferred_request_needs_the_access_token(client: TestClient, world: IssuerWorld) -> None:
    _, transaction_id = _deferred(client, world)
    response = client.post(
        "/agencies/mois/deferred_credential", json={"transaction_id": transaction_id}
    )
    error_of(response, 401, "invalid_token")
    assert response.headers["www-authenticate"] == "Bearer"  # RFC 6750 §3.1: no token given


def test_deferred_request_malformed_body(client: TestClient, world: IssuerWorld) -> None:
    grant, _ = _deferred(client, world)
    for body in (b"{", b"[]", b'{"transaction_id": 7}', b"{}"):
        response = client.post(
            "/agencies/mois/deferred_credential",
            content=body,
            headers={**bearer(grant.access_token), "Content-Type": "application/json"},
        )
        error_of(response, 400, "invalid_credential_request")


def test_credential_endpoint_again_while_deferred(client: TestClient, world: IssuerWorld) -> None:
    grant, _ = _deferred(client, world)
    response = post_credential(client, grant.access_token, [proof(world, nonce(client))])
    error_of(response, 400, "credential_request_denied")
    assert len(rows(world, DeferredIssuance)) == 1


def test_deciding_twice_is_a_conflict(client: TestClient, world: IssuerWorld) -> None:
    grant, _ = _deferred(client, world)
    assert _decide(client, world, grant.offer_id, "approve").status_code == 200
    for verb in ("approve", "deny"):
        error_of(_decide(client, world, grant.offer_id, verb), 409, "conflict")


def test_an_offer_without_approval_cannot_be_decided(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(client, world)
    error_of(_decide(client, world, grant.offer_id, "approve"), 409, "conflict")


def test_an_approval_after_the_validity_ended_issues_nothing(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(
        client, world, approval_required=True, credential_expires_at=int(world.clock()) + 600
    )
    response = post_credential(client, grant.access_token, [proof(world, nonce(client))])
    assert response.status_code == 202, response.text
    transaction_id = response.json()["transaction_id"]
    world.clock.advance(600)
    assert _decide(client, world, grant.offer_id, "approve").status_code == 200
    error_of(_poll(client, grant, transaction_id), 400, "credential_request_denied")
    assert rows(world, IssuedCredential) == []
    row = offer_row(world, grant.offer_id)
    assert (row.state, row.sealed_claims) == (OfferState.DEAD, None)
