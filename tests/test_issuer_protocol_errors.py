"""What a wallet gets wrong at the OID4VCI 1.0 endpoints, and the exact answer it gets:
token (§6.3), nonce (§7), credential (§8.3.1.2, RFC 6750 §3.1) and notification (§11.3).

Every test runs on SQLite and on PostgreSQL (the ``database_url`` fixture); the clock is the
world's, moved by the test, so expiry is exact to the second.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from issuer.models import IssuedCredential, Offer, OfferState
from keys.encoding import b64url_encode, json_dumps
from keys.jwk import SigningKey
from protocols.oid4vci import PROOF_TYP
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import (
    FAMILY,
    HEALTH,
    RESIDENT,
    RRN,
    bearer,
    create_offer,
    error_of,
    issue,
    issuer_id,
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
from tests._world import sign_raw

world, client = _issuer_client.world, _issuer_client.client  # fixtures

# --- Token endpoint (§6) -----------------------------------------------------------------------


def test_token_reused_pre_authorized_code(client: TestClient, world: IssuerWorld) -> None:
    # Once its credentials are issued (before that, a lost token answer may be asked for
    # again: test_issuer_redelivery.py).
    issued = issue(client, world)
    again = post_token(client, token_form(issued.offer, tx_code=issued.offer["tx_code"]))
    error_of(again, 400, "invalid_grant")


def test_token_expired_pre_authorized_code(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    world.clock.advance(world.settings.pre_authorized_code_seconds)  # expires_at <= now
    response = post_token(client, token_form(offer, tx_code=offer["tx_code"]))
    error_of(response, 400, "invalid_grant")


def test_token_one_second_before_expiry_still_works(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    world.clock.advance(world.settings.pre_authorized_code_seconds - 1)
    redeem(client, offer)


def test_token_unknown_pre_authorized_code(client: TestClient, world: IssuerWorld) -> None:
    form = token_form(create_offer(client, world, tx_code=False))
    form["pre-authorized_code"] = "not-a-code-we-issued"
    error_of(post_token(client, form), 400, "invalid_grant")


def test_token_unsupported_grant_type(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    for grant_type in ("authorization_code", "client_credentials", "password"):
        form = token_form(offer, tx_code=offer["tx_code"], grant_type=grant_type)
        error_of(post_token(client, form), 400, "unsupported_grant_type")
    redeem(client, offer)


def test_token_missing_tx_code_when_required(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    error_of(post_token(client, token_form(offer)), 400, "invalid_request")
    redeem(client, offer)  # a missing code is not a wrong guess: nothing was spent


def test_token_tx_code_given_when_not_required(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world, tx_code=False)
    error_of(post_token(client, token_form(offer, tx_code="123456")), 400, "invalid_request")


def test_token_wrong_tx_code_counts_down_then_kills_the_offer(
    client: TestClient, world: IssuerWorld
) -> None:
    offer = create_offer(client, world)
    right = str(offer["tx_code"])
    wrong = str((int(right) + 1) % 10**6).zfill(len(right))
    attempts = world.settings.tx_code_attempts
    for left in range(attempts - 1, -1, -1):
        body = error_of(post_token(client, token_form(offer, tx_code=wrong)), 400, "invalid_grant")
        row = offer_row(world, offer["offer_id"])
        assert row.tx_code_attempts_left == left
        if left:
            assert f"{left} attempts left" in body["error_description"]
            assert row.state == OfferState.OFFERED
    # The offer is dead: even the right code is refused now, and the claims are gone.
    error_of(post_token(client, token_form(offer, tx_code=right)), 400, "invalid_grant")
    row = offer_row(world, offer["offer_id"])
    assert row.state == OfferState.DEAD
    assert row.sealed_claims is None


def test_token_code_of_another_agency(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world, slug="mois")
    form = token_form(offer, tx_code=offer["tx_code"])
    error_of(post_token(client, form, slug="nhis"), 400, "invalid_grant")
    redeem(client, offer, "mois")  # and the code still works where it belongs


def test_token_response_is_not_cached(client: TestClient, world: IssuerWorld) -> None:
    offer = create_offer(client, world)
    response = post_token(client, token_form(offer, tx_code=offer["tx_code"]))
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == world.settings.access_token_seconds


# --- Nonce endpoint (§7) -----------------------------------------------------------------------


def test_nonce_is_fresh_and_not_cached(client: TestClient) -> None:
    first, second = client.post("/agencies/mois/nonce"), client.post("/agencies/mois/nonce")
    assert first.status_code == second.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    assert first.json()["c_nonce"] != second.json()["c_nonce"]


def test_nonce_unknown_agency(client: TestClient) -> None:
    error_of(client.post("/agencies/nosuch/nonce"), 404, "not_found")


# --- Credential endpoint (§8): nonces ----------------------------------------------------------


def test_credential_reused_nonce(client: TestClient, world: IssuerWorld) -> None:
    c_nonce = nonce(client)
    first = redeemed(client, world)
    assert post_credential(client, first.access_token, [proof(world, c_nonce)]).status_code == 200
    second = redeemed(client, world)
    response = post_credential(client, second.access_token, [proof(world, c_nonce)])
    error_of(response, 400, "invalid_nonce")


def test_credential_expired_nonce(client: TestClient, world: IssuerWorld) -> None:
    c_nonce = nonce(client)
    world.clock.advance(world.settings.nonce_seconds)
    grant = redeemed(client, world)  # a fresh access token; only the nonce is old
    response = post_credential(client, grant.access_token, [proof(world, c_nonce)])
    error_of(response, 400, "invalid_nonce")


def test_credential_nonce_of_another_agency(client: TestClient, world: IssuerWorld) -> None:
    c_nonce = nonce(client, "nhis")
    grant = redeemed(client, world)
    response = post_credential(client, grant.access_token, [proof(world, c_nonce)])
    error_of(response, 400, "invalid_nonce")


def test_credential_proof_without_nonce(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    response = post_credential(client, grant.access_token, [proof(world, None)])
    error_of(response, 400, "invalid_proof")


def test_credential_failed_request_does_not_spend_the_offer(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(client, world)
    bad = post_credential(client, grant.access_token, [proof(world, None)])
    error_of(bad, 400, "invalid_proof")
    good = post_credential(client, grant.access_token, [proof(world, nonce(client))])
    assert good.status_code == 200, good.text


# --- Credential endpoint (§8): key proofs (Appendix F) -----------------------------------------


def _forged(world: IssuerWorld, c_nonce: str, case: str) -> str:
    """A proof that is wrong in exactly the way ``case`` says."""
    key = SigningKey.generate()
    now = int(world.clock())
    claims: dict[str, Any] = {"aud": issuer_id(world), "iat": now, "nonce": c_nonce}
    header: dict[str, Any] = {"typ": PROOF_TYP, "alg": "ES256", "jwk": key.public_key.to_jwk()}
    if case == "wrong_audience":
        return proof(world, c_nonce, audience=issuer_id(world, "nhis"))
    if case == "stale_iat":
        return proof(world, c_nonce, now=now - world.settings.proof_max_age_seconds - 1)
    if case == "bad_signature":
        head, payload, signature = proof(world, c_nonce, key=key).split(".")
        flipped = "A" if signature[0] != "A" else "B"
        return f"{head}.{payload}.{flipped}{signature[1:]}"
    if case in ("alg_ES384", "alg_HS256", "alg_EdDSA_on_an_ec_key"):
        header["alg"] = {"alg_ES384": "ES384", "alg_HS256": "HS256"}.get(case, "EdDSA")
        return sign_raw(header, claims, key)
    if case == "alg_none":
        header["alg"] = "none"
        return f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(claims))}."
    if case == "wrong_typ":
        header["typ"] = "JWT"
        return sign_raw(header, claims, key)
    raise AssertionError(case)


PROOF_CASES = [
    "wrong_audience",
    "stale_iat",
    "bad_signature",
    "alg_ES384",
    "alg_HS256",
    "alg_EdDSA_on_an_ec_key",
    "alg_none",
    "wrong_typ",
]


@pytest.mark.parametrize("case", PROOF_CASES)
def test_credential_invalid_proof(client: TestClient, world: IssuerWorld, case: str) -> None:
    grant = redeemed(client, world)
    c_nonce = nonce(client)
    response = post_credential(client, grant.access_token, [_forged(world, c_nonce, case)])
    error_of(response, 400, "invalid_proof")
    # The refused proof spent neither the nonce nor the offer.
    retry = post_credential(client, grant.access_token, [proof(world, c_nonce)])
    assert retry.status_code == 200, retry.text


def test_credential_same_key_twice_in_a_batch(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    c_nonce, key, now = nonce(client), SigningKey.generate(), int(world.clock())
    proofs = [proof(world, c_nonce, key=key, now=now), proof(world, c_nonce, key=key, now=now - 1)]
    assert proofs[0] != proofs[1]
    error_of(post_credential(client, grant.access_token, proofs), 400, "invalid_proof")


def test_credential_same_proof_twice_in_a_batch(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    twice = [proof(world, nonce(client))] * 2
    error_of(post_credential(client, grant.access_token, twice), 400, "invalid_proof")


def test_credential_batch_larger_than_batch_size(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    c_nonce = nonce(client)
    proofs = [proof(world, c_nonce) for _ in range(world.settings.batch_size + 1)]
    response = post_credential(client, grant.access_token, proofs)
    error_of(response, 400, "invalid_credential_request")


def test_credential_batch_of_batch_size(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world, batch=world.settings.batch_size)
    assert len(set(issued.credentials)) == world.settings.batch_size


# --- Credential endpoint (§8): what is asked for -----------------------------------------------


@pytest.mark.parametrize("configuration_id", [HEALTH, "no_such_type"])
def test_credential_unknown_configuration(
    client: TestClient, world: IssuerWorld, configuration_id: str
) -> None:
    grant = redeemed(client, world)
    response = post_credential(
        client, grant.access_token, [proof(world, nonce(client))], configuration_id=configuration_id
    )
    error_of(response, 400, "unknown_credential_configuration")


def test_credential_configuration_not_covered_by_the_token(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(client, world)  # an offer of RESIDENT
    response = post_credential(
        client, grant.access_token, [proof(world, nonce(client))], configuration_id=FAMILY
    )
    error_of(response, 403, "insufficient_scope")
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope"'


def test_credential_identifier_is_unknown(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    response = client.post(
        "/agencies/mois/credential",
        json={"credential_identifier": "CivilEngineeringDegree-2023", "proofs": {"jwt": []}},
        headers=bearer(grant.access_token),
    )
    error_of(response, 400, "unknown_credential_identifier")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'["a", "list"]',
        b'{"credential_configuration_id": "a", "credential_configuration_id": "b"}',
        b"\xff\xfe",
        b'{"credential_configuration_id": "resident_register_extract",'
        b' "credential_identifier": "x"}',
    ],
    ids=["not_json", "array", "duplicate_member", "not_utf8", "both_selectors"],
)
def test_credential_malformed_body(client: TestClient, world: IssuerWorld, body: bytes) -> None:
    grant = redeemed(client, world)
    headers = {**bearer(grant.access_token), "Content-Type": "application/json"}
    response = client.post("/agencies/mois/credential", content=body, headers=headers)
    error_of(response, 400, "invalid_credential_request")


def test_credential_response_encryption_is_refused(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    response = client.post(
        "/agencies/mois/credential",
        json={
            "credential_configuration_id": RESIDENT,
            "proofs": {"jwt": [proof(world, nonce(client))]},
            "credential_response_encryption": {"enc": "A128GCM"},
        },
        headers=bearer(grant.access_token),
    )
    error_of(response, 400, "invalid_encryption_parameters")


def test_credential_second_request_after_success(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    response = post_credential(client, issued.access_token, [proof(world, nonce(client))])
    error_of(response, 400, "credential_request_denied")


# --- Credential endpoint: the access token (RFC 6750 §3.1) -------------------------------------


def _token_case(client: TestClient, world: IssuerWorld, case: str) -> str | None:
    if case == "missing":
        return None
    if case == "garbage":
        return "garbage"
    if case == "pre_authorized_code":
        offer = create_offer(client, world, tx_code=False)
        return str(token_form(offer)["pre-authorized_code"])
    if case == "admin_token":
        return world.tokens["mois"]
    if case == "expired":
        access_token = redeemed(client, world).access_token
        world.clock.advance(world.settings.access_token_seconds)
        return access_token
    if case == "another_agency":
        return redeemed(client, world, slug="nhis").access_token
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    ["missing", "garbage", "pre_authorized_code", "admin_token", "expired", "another_agency"],
)
def test_credential_invalid_access_token(client: TestClient, world: IssuerWorld, case: str) -> None:
    access_token = _token_case(client, world, case)
    response = post_credential(client, access_token, [proof(world, nonce(client))])
    error_of(response, 401, "invalid_token")
    # RFC 6750 §3.1: no token at all is answered with the bare challenge, no error code.
    challenge = "Bearer" if case == "missing" else 'Bearer error="invalid_token"'
    assert response.headers["www-authenticate"] == challenge


def test_credential_token_without_bearer_scheme(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    response = client.post(
        "/agencies/mois/credential",
        json={"credential_configuration_id": RESIDENT, "proofs": {"jwt": [proof(world, "n")]}},
        headers={"Authorization": f"Basic {grant.access_token}"},
    )
    error_of(response, 401, "invalid_token")


# --- Data minimisation after issuance ----------------------------------------------------------


def test_issuance_wipes_the_offer_claims_and_keeps_none(
    client: TestClient, world: IssuerWorld
) -> None:
    issued = issue(client, world, batch=2)
    offer = offer_row(world, issued.offer_id)
    assert offer.state == OfferState.ISSUED
    assert offer.sealed_claims is None
    records = [row for row in rows(world, IssuedCredential) if row.offer_id == issued.offer_id]
    assert len(records) == 2
    claims = world.deployment.registry.get(RESIDENT).examples[0]
    stored = " ".join(repr(value) for row in records for value in row.model_dump().values())
    for value in (claims["name"], RRN, claims["address"], claims["document_number"]):
        assert str(value) not in stored
    assert set(IssuedCredential.model_fields) == {
        "id",
        "agency_id",
        "offer_id",
        "credential_type",
        "status_list_id",
        "status_index",
        "status",
        "signing_kid",
        "subject_hash",
        "issued_at",
        "expires_at",
        "status_changed_at",
    }


def test_offers_keep_claims_only_until_issued(client: TestClient, world: IssuerWorld) -> None:
    waiting = create_offer(client, world)
    issue(client, world)
    kept = [row.id for row in rows(world, Offer) if row.sealed_claims is not None]
    assert kept == [waiting["offer_id"]]


# --- Notification endpoint (§11) ---------------------------------------------------------------


def _notify(client: TestClient, access_token: str, body: dict[str, Any]) -> Any:
    return client.post("/agencies/mois/notification", json=body, headers=bearer(access_token))


def test_notification_is_204_and_idempotent(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    for event in ("credential_accepted", "credential_accepted", "credential_deleted"):
        body = {"notification_id": issued.notification_id, "event": event}
        response = _notify(client, issued.access_token, body)
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert offer_row(world, issued.offer_id).notification_event == event


def test_notification_unknown_id(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    other = issue(client, world)
    for notification_id in ("no-such-id", other.notification_id):
        body = {"notification_id": notification_id, "event": "credential_accepted"}
        error_of(_notify(client, issued.access_token, body), 400, "invalid_notification_id")


@pytest.mark.parametrize(
    "body",
    [
        {"event": "credential_accepted"},
        {"notification_id": "N", "event": "CREDENTIAL_ACCEPTED"},
        {"notification_id": "N", "event": "credential_failure", "event_description": 'a "quote"'},
    ],
    ids=["no_id", "unknown_event", "bad_description"],
)
def test_notification_bad_request(
    client: TestClient, world: IssuerWorld, body: dict[str, Any]
) -> None:
    issued = issue(client, world)
    if body.get("notification_id") == "N":
        body = {**body, "notification_id": issued.notification_id}
    error_of(_notify(client, issued.access_token, body), 400, "invalid_notification_request")


def test_notification_needs_the_access_token(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    response = client.post(
        "/agencies/mois/notification",
        json={"notification_id": issued.notification_id, "event": "credential_accepted"},
    )
    error_of(response, 401, "invalid_token")
