"""Issuance is all or nothing for the citizen: a failure at each step, injected in-process.

Whatever fails between redeeming the code and the answer reaching the wallet (the signer,
the database, a lost answer), the wallet can retry with what it holds, or the offer is in a
state the agency sees and re-offers. Over a real server, killed: test_issuer_redelivery_http.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

from issuer.api import create_app
from issuer.models import AccessToken, IssuedCredential, OfferState
from issuer.services.deployment import FaultPoint
from issuer.services.redelivery import MAX_REDELIVERIES, MAX_TOKEN_ANSWERS
from keys.jwk import SigningKey
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import (
    RRN,
    Redeemed,
    admin,
    create_offer,
    error_of,
    nonce,
    offer_row,
    post_credential,
    post_token,
    proof,
    redeem,
    redeemed,
    rows,
    token_form,
)

world = _issuer_client.world  # fixture


class InjectedFaultError(Exception):
    pass


class Faults:
    """A ``Deployment.fault_hook``: fails at the planned points, as often as planned."""

    def __init__(self) -> None:
        self.plan: dict[FaultPoint, Exception] = {}

    def fail_once(self, point: FaultPoint, error: Exception | None = None) -> None:
        self.plan[point] = error or InjectedFaultError(point)

    def __call__(self, point: FaultPoint) -> None:
        error = self.plan.pop(point, None)
        if error is not None:
            raise error


@pytest.fixture
def faults(world: IssuerWorld) -> Faults:
    hook = Faults()
    world.deployment.fault_hook = hook
    return hook


@pytest.fixture
def client(world: IssuerWorld) -> Iterator[TestClient]:
    # An injected fault answers 500, as it would to a wallet (not raised into the test).
    app = create_app(deployment=world.deployment)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def _ask(client: TestClient, world: IssuerWorld, grant: Redeemed, keys: list[SigningKey]) -> Any:
    """One credential request of ``grant``'s token, a fresh nonce, proofs by ``keys``."""
    c_nonce = nonce(client)
    return post_credential(
        client, grant.access_token, [proof(world, c_nonce, key=key) for key in keys]
    )


def _credentials(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["credential"] for item in response.json()["credentials"]]


def _audit(client: TestClient, world: IssuerWorld, action: str) -> list[dict[str, Any]]:
    response = client.get("/admin/audit-events", headers=admin(world))
    assert response.status_code == 200, response.text
    return [event for event in response.json() if event["action"] == action]


# --- the credential endpoint ------------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [FaultPoint.SIGNING, FaultPoint.STORING],
    ids=["signer-fails", "database-fails-before-commit"],
)
def test_a_failure_before_the_commit_leaves_the_offer_ready_for_a_retry(
    client: TestClient,
    world: IssuerWorld,
    faults: Faults,
    point: FaultPoint,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="jigap.issuer.events")

    def issuance_lines() -> int:
        return sum(getattr(r, "event", None) == "credentials_issued" for r in caplog.records)

    grant = redeemed(client, world)
    keys = [SigningKey.generate()]
    error = (
        OperationalError("COMMIT", {}, Exception("injected"))
        if point is FaultPoint.STORING
        else None
    )
    faults.fail_once(point, error)
    assert _ask(client, world, grant, keys).status_code >= 500
    # Nothing half done: no credential recorded, the offer redeemed with its claims.
    assert rows(world, IssuedCredential) == []
    offer = offer_row(world, grant.offer_id)
    assert (offer.state, offer.sealed_claims is not None) == (OfferState.REDEEMED, True)
    assert issuance_lines() == 0  # what was rolled back is not logged as issued
    # The wallet retries with the token it holds, and a fresh nonce.
    assert len(_credentials(_ask(client, world, grant, keys))) == 1
    assert len(rows(world, IssuedCredential)) == 1
    assert issuance_lines() == 1


def test_a_lost_credential_answer_is_delivered_again_bounded_and_audited(
    client: TestClient, world: IssuerWorld, faults: Faults
) -> None:
    grant = redeemed(client, world)
    keys = [SigningKey.generate(), SigningKey.generate()]
    faults.fail_once(FaultPoint.CREDENTIAL_ANSWER)  # committed, then the answer is lost
    assert _ask(client, world, grant, keys).status_code == 500
    assert offer_row(world, grant.offer_id).state == OfferState.ISSUED
    issued = rows(world, IssuedCredential)
    assert len(issued) == 2

    first = _ask(client, world, grant, keys)  # same token, new nonce, same keys
    again = _credentials(first)
    assert len(again) == 2
    # The same credentials (not new ones), and the notification id they were issued with.
    assert rows(world, IssuedCredential) == issued
    assert first.json()["notification_id"] == offer_row(world, grant.offer_id).notification_id
    for _ in range(MAX_REDELIVERIES - 1):
        assert _credentials(_ask(client, world, grant, keys)) == again
    error_of(_ask(client, world, grant, keys), 400, "credential_request_denied")

    events = _audit(client, world, "credential.redeliver")
    assert len(events) == MAX_REDELIVERIES
    assert {event["target"] for event in events} == {grant.offer_id}
    assert all(event["detail"] == {"credentials": 2} for event in events)  # never a claim
    assert RRN not in str(events)


def test_delivery_again_only_to_the_token_and_the_keys_it_was_issued_to(
    client: TestClient, world: IssuerWorld, faults: Faults
) -> None:
    grant = redeemed(client, world)
    keys = [SigningKey.generate()]
    faults.fail_once(FaultPoint.CREDENTIAL_ANSWER)
    assert _ask(client, world, grant, keys).status_code == 500

    other = redeemed(client, world)  # another citizen's valid token gets its own offer only
    assert len(_credentials(_ask(client, world, other, keys))) == 1
    error_of(_ask(client, world, grant, [SigningKey.generate()]), 400, "credential_request_denied")
    stranger = Redeemed(grant.offer, "not-the-token", grant.slug)
    assert _ask(client, world, stranger, keys).status_code == 401
    no_token = post_credential(client, None, [proof(world, nonce(client), key=keys[0])])
    assert no_token.status_code == 401
    assert len(_credentials(_ask(client, world, grant, keys))) == 1  # its holder still can


def test_credentials_kept_for_a_retry_are_dropped_when_the_token_expires(
    client: TestClient, world: IssuerWorld, faults: Faults
) -> None:
    grant = redeemed(client, world)
    keys = [SigningKey.generate()]
    faults.fail_once(FaultPoint.CREDENTIAL_ANSWER)
    assert _ask(client, world, grant, keys).status_code == 500
    assert [row.sealed_credentials is not None for row in rows(world, AccessToken)] == [True]
    world.clock.advance(world.settings.access_token_seconds)
    nonce(client)  # every nonce sweeps expired tokens
    assert rows(world, AccessToken) == []
    error_of(_ask(client, world, grant, keys), 401, "invalid_token")


# --- the token endpoint -----------------------------------------------------------------------


def test_a_lost_token_answer_is_answered_again_with_a_token_that_works(
    client: TestClient, world: IssuerWorld, faults: Faults
) -> None:
    offer = create_offer(client, world)
    faults.fail_once(FaultPoint.TOKEN_ANSWER)  # redeemed and committed; the answer is lost
    assert post_token(client, token_form(offer, tx_code=offer["tx_code"])).status_code == 500
    assert offer_row(world, offer["offer_id"]).state == OfferState.REDEEMED

    world.clock.advance(world.settings.access_token_seconds)  # even after the token expired
    nonce(client)  # and was swept
    assert rows(world, AccessToken) == []
    again = post_token(client, token_form(offer, tx_code=offer["tx_code"]))
    assert again.status_code == 200, again.text
    assert again.json()["expires_in"] == world.settings.access_token_seconds
    grant = Redeemed(offer, again.json()["access_token"], "mois")
    # The first token, never seen, is the same one: there is one token per offer.
    assert redeem(client, offer) == grant.access_token
    assert len(_credentials(_ask(client, world, grant, [SigningKey.generate()]))) == 1
    # Issued: the code is spent for good.
    error_of(post_token(client, token_form(offer, tx_code=offer["tx_code"])), 400, "invalid_grant")
    assert len(_audit(client, world, "token.answer_again")) == 2


def test_answers_again_are_bounded_and_wrong_codes_spend_them_without_killing_the_offer(
    client: TestClient, world: IssuerWorld
) -> None:
    offer = create_offer(client, world)
    token = redeem(client, offer)
    wrong = "0" * world.settings.tx_code_length
    wrong = wrong if wrong != offer["tx_code"] else "1" * len(wrong)
    error_of(post_token(client, token_form(offer, tx_code=wrong)), 400, "invalid_grant")
    assert offer_row(world, offer["offer_id"]).state == OfferState.REDEEMED  # not killed
    for _ in range(MAX_TOKEN_ANSWERS - 1):
        assert redeem(client, offer) == token
    # No answer left: a used code, whether the transaction code is right or not.
    error_of(post_token(client, token_form(offer, tx_code=offer["tx_code"])), 400, "invalid_grant")
    error_of(post_token(client, token_form(offer, tx_code=wrong)), 400, "invalid_grant")
    grant = Redeemed(offer, token, "mois")
    assert len(_credentials(_ask(client, world, grant, [SigningKey.generate()]))) == 1


def test_no_answer_again_once_the_code_itself_expired(
    client: TestClient, world: IssuerWorld
) -> None:
    offer = create_offer(client, world)
    redeem(client, offer)
    world.clock.advance(world.settings.pre_authorized_code_seconds)
    error_of(post_token(client, token_form(offer, tx_code=offer["tx_code"])), 400, "invalid_grant")


# --- stuck offers: seen and re-offered by the agency ------------------------------------------


def _listed(client: TestClient, world: IssuerWorld, query: str) -> list[dict[str, Any]]:
    response = client.get(f"/admin/offers?{query}", headers=admin(world))
    assert response.status_code == 200, response.text
    return list(response.json())


def test_a_stuck_offer_is_listed_and_re_offered_and_the_citizen_finishes(
    client: TestClient, world: IssuerWorld, faults: Faults
) -> None:
    grant = redeemed(client, world)
    create_offer(client, world)  # another, still offered
    faults.fail_once(FaultPoint.SIGNING)
    assert _ask(client, world, grant, [SigningKey.generate()]).status_code == 500
    # While its token is valid the wallet may still finish: not stuck, not re-offered.
    assert [o["offer_id"] for o in _listed(client, world, "state=redeemed")] == [grant.offer_id]
    assert _listed(client, world, "stuck=true") == []
    refused = client.post(f"/admin/offers/{grant.offer_id}/reoffer", headers=admin(world))
    error_of(refused, 409, "conflict")

    world.clock.advance(world.settings.access_token_seconds + 60)
    create_offer(client, world)  # the sweep at every new offer keeps it (sealed)
    [stuck] = _listed(client, world, "stuck=true")
    assert (stuck["offer_id"], stuck["state"], stuck["stuck"]) == (grant.offer_id, "redeemed", True)
    assert stuck["age_seconds"] == world.settings.access_token_seconds + 60
    assert stuck["redeemed_at"] is not None
    assert len(_listed(client, world, "state=offered")) == 2

    response = client.post(f"/admin/offers/{grant.offer_id}/reoffer", headers=admin(world))
    assert response.status_code == 201, response.text
    fresh = response.json()
    assert fresh["offer_id"] != grant.offer_id and fresh["tx_code"]
    old = offer_row(world, grant.offer_id)
    assert (old.state, old.sealed_claims) == (OfferState.DEAD, None)
    error_of(
        post_token(client, token_form(grant.offer, tx_code=grant.offer["tx_code"])),
        400,
        "invalid_grant",
    )
    again = client.post(f"/admin/offers/{grant.offer_id}/reoffer", headers=admin(world))
    error_of(again, 409, "conflict")
    [event] = _audit(client, world, "offer.reoffer")
    assert event["target"] == grant.offer_id
    assert event["detail"]["new_offer_id"] == fresh["offer_id"]

    # The citizen finishes with the fresh offer: same claims, same subject.
    regrant = Redeemed(fresh, redeem(client, fresh), "mois")
    assert len(_credentials(_ask(client, world, regrant, [SigningKey.generate()]))) == 1
    [credential] = rows(world, IssuedCredential)
    assert credential.subject_hash == old.subject_hash
    assert credential.offer_id == fresh["offer_id"]


def test_only_a_stuck_offer_of_ones_own_agency_is_re_offered(
    client: TestClient, world: IssuerWorld
) -> None:
    offered = create_offer(client, world)
    error_of(
        client.post(f"/admin/offers/{offered['offer_id']}/reoffer", headers=admin(world)),
        409,
        "conflict",
    )
    stuck = redeemed(client, world)
    world.clock.advance(world.settings.access_token_seconds)
    other = client.post(f"/admin/offers/{stuck.offer_id}/reoffer", headers=admin(world, "nhis"))
    error_of(other, 404, "not_found")
    assert _listed(client, world, "stuck=true")[0]["offer_id"] == stuck.offer_id
    nhis = client.get("/admin/offers?stuck=true", headers=admin(world, "nhis"))
    assert nhis.json() == []
    error_of(client.get("/admin/offers?state=lost", headers=admin(world)), 400, "invalid_request")
    error_of(client.get("/admin/offers"), 401, "unauthenticated")


def test_a_lost_deferred_answer_is_delivered_again_bounded_then_dropped(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(client, world, approval_required=True)
    deferred = _ask(client, world, grant, [SigningKey.generate()])
    assert deferred.status_code == 202, deferred.text
    transaction = {"transaction_id": deferred.json()["transaction_id"]}
    world.clock.advance(86_400)  # the agency approves the next day
    assert client.post(f"/admin/offers/{grant.offer_id}/approve", headers=admin(world)).is_success

    def poll() -> Any:
        return client.post(
            "/agencies/mois/deferred_credential",
            json=transaction,
            headers={"Authorization": f"Bearer {grant.access_token}"},
        )

    first = _credentials(poll())  # suppose this answer was lost
    for _ in range(MAX_REDELIVERIES):
        assert _credentials(poll()) == first
    error_of(poll(), 400, "credential_request_denied")
    assert len(_audit(client, world, "credential.redeliver")) == MAX_REDELIVERIES
    # Kept no longer than a fresh token lives, though this one had been kept for days.
    world.clock.advance(world.settings.access_token_seconds)
    nonce(client)
    assert rows(world, AccessToken) == []
