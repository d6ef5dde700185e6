"""The agency admin API (`/admin/…`): who may call it, what it refuses, what one agency may
see of another's (nothing), status changes, the audit log, and offers as QR codes.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from credential_schemas import Registry
from issuer.models import MAX_BIG_ROW_ID, MAX_ROW_ID, AgencyToken, AuditEvent
from issuer.tokens import token_hash
from protocols.oid4vci import CREDENTIAL_OFFER_SCHEME
from servicekit.db import session_scope
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import (
    FAMILY,
    HEALTH,
    RESIDENT,
    RRN,
    admin,
    create_offer,
    error_of,
    issue,
    redeemed,
    rows,
)
from verifier.qr_image import read_qr_image, render_svg

world, client = _issuer_client.world, _issuer_client.client  # fixtures
REGISTRY = Registry.load()

# --- Authentication ----------------------------------------------------------------------------

ROUTES = [
    ("GET", "/admin/credentials"),
    ("GET", "/admin/credentials/1"),
    ("POST", "/admin/credentials/1/revoke"),
    ("POST", "/admin/offers"),
    ("GET", "/admin/offers/x"),
    ("GET", "/admin/offers/x/qr"),
    ("POST", "/admin/offers/x/approve"),
    ("GET", "/admin/audit-events"),
]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer jgat_not-a-token-we-issued", "Basic {mois}", "Bearer {at}"],
    ids=["none", "unknown", "basic_scheme", "oid4vci_access_token"],
)
def test_admin_refuses_without_a_valid_token(
    client: TestClient, world: IssuerWorld, authorization: str | None
) -> None:
    access_token = redeemed(client, world).access_token if "{at}" in str(authorization) else ""
    headers = {}
    if authorization is not None:
        headers["Authorization"] = authorization.format(mois=world.tokens["mois"], at=access_token)
    for method, path in ROUTES:
        body = {"credential_type": RESIDENT, "claims": {}} if method == "POST" else None
        response = client.request(method, path, headers=headers, json=body)
        error_of(response, 401, "unauthenticated")
        assert response.headers["www-authenticate"] == "Bearer"


def test_admin_refuses_a_revoked_token(client: TestClient, world: IssuerWorld) -> None:
    assert client.get("/admin/credentials", headers=admin(world)).status_code == 200
    with session_scope(world.deployment.engine) as session:
        token = session.exec(
            select(AgencyToken).where(AgencyToken.token_hash == token_hash(world.tokens["mois"]))
        ).one()
        token.revoked_at = int(world.clock())
        session.add(token)
    error_of(client.get("/admin/credentials", headers=admin(world)), 401, "unauthenticated")
    assert client.get("/admin/credentials", headers=admin(world, "nhis")).status_code == 200


# --- Creating offers: what is refused ----------------------------------------------------------


def _post_offer(client: TestClient, world: IssuerWorld, body: Any, slug: str = "mois") -> Any:
    return client.post("/admin/offers", json=body, headers=admin(world, slug))


def _claims(**changes: Any) -> dict[str, Any]:
    """The first RESIDENT example with members changed (or, given None, removed)."""
    example = dict(REGISTRY.get(RESIDENT).examples[0])
    for name, value in changes.items():
        if value is None:
            example.pop(name)
        else:
            example[name] = value
    return example


@pytest.mark.parametrize(
    "claims",
    [
        _claims(name=None),
        _claims(resident_registration_number="850315-1012349"),  # check digit
        _claims(unexpected_claim="some value"),
        _claims(birth_date=19850315),
    ],
    ids=["missing_name", "rrn_checksum", "extra_claim", "wrong_type"],
)
def test_offer_claims_failing_the_schema(
    client: TestClient, world: IssuerWorld, claims: dict[str, Any]
) -> None:
    response = _post_offer(client, world, {"credential_type": RESIDENT, "claims": claims})
    body = error_of(response, 400, "invalid_claims")
    # The reason names the claim, never a citizen's value.
    for value in claims.values():
        assert not (isinstance(value, str) and value in body["error_description"]), value
    assert rows(world, AuditEvent) == []  # nothing happened, nothing recorded


@pytest.mark.parametrize(("slug", "type_id"), [("mois", HEALTH), ("nhis", RESIDENT)])
def test_offer_of_a_type_the_agency_may_not_issue(
    client: TestClient, world: IssuerWorld, slug: str, type_id: str
) -> None:
    claims = world.deployment.registry.get(type_id).examples[0]
    body = {"credential_type": type_id, "claims": claims, "subject": RRN}
    error_of(_post_offer(client, world, body, slug), 403, "forbidden")


def test_offer_of_an_unknown_type(client: TestClient, world: IssuerWorld) -> None:
    for type_id in ("no_such_type", "", "RESIDENT_REGISTER_EXTRACT"):
        body = {"credential_type": type_id, "claims": _claims()}
        error_of(_post_offer(client, world, body), 400, "unknown_credential_type")


@pytest.mark.parametrize(
    "body",
    [
        {"credential_type": RESIDENT, "claims": _claims(), "holder": "x"},
        {"credential_type": RESIDENT},
        {"credential_type": RESIDENT, "claims": _claims(), "tx_code": "yes please"},
        {"credential_type": RESIDENT, "claims": _claims(), "credential_expires_at": 1},
        ["not", "an", "object"],
    ],
    ids=["unknown_member", "no_claims", "tx_code_not_bool", "expiry_in_the_past", "array"],
)
def test_offer_malformed_request(client: TestClient, world: IssuerWorld, body: Any) -> None:
    error_of(_post_offer(client, world, body), 400, "invalid_request")


def test_offer_without_a_subject(client: TestClient, world: IssuerWorld) -> None:
    # The health-insurance claims hold no resident registration number: `subject` is needed.
    body = {"credential_type": HEALTH, "claims": REGISTRY.get(HEALTH).examples[0]}
    error_of(_post_offer(client, world, body, "nhis"), 400, "invalid_request")
    created = _post_offer(client, world, {**body, "subject": RRN}, "nhis")
    assert created.status_code == 201, created.text


def test_offer_body_not_json(client: TestClient, world: IssuerWorld) -> None:
    response = client.post(
        "/admin/offers",
        content=b"{not json",
        headers={**admin(world), "Content-Type": "application/json"},
    )
    error_of(response, 400, "invalid_request")


def test_offer_created(client: TestClient, world: IssuerWorld) -> None:
    created = create_offer(client, world)
    assert set(created) == {
        "offer_id",
        "credential_offer",
        "credential_offer_uri",
        "credential_offer_reference_uri",
        "tx_code",
        "expires_at",
    }
    assert created["expires_at"] == world.clock() + world.settings.pre_authorized_code_seconds
    assert len(created["tx_code"]) == world.settings.tx_code_length
    shown = client.get(f"/admin/offers/{created['offer_id']}", headers=admin(world))
    assert shown.status_code == 200
    assert shown.json()["state"] == "offered"
    assert "claims" not in shown.json()


# --- Agency isolation --------------------------------------------------------------------------


def test_another_agencys_offer_is_not_found(client: TestClient, world: IssuerWorld) -> None:
    theirs = create_offer(client, world, slug="mois", approval_required=True)["offer_id"]
    nhis = admin(world, "nhis")
    for suffix, method in (("", "GET"), ("/qr", "GET"), ("/approve", "POST"), ("/deny", "POST")):
        foreign = client.request(method, f"/admin/offers/{theirs}{suffix}", headers=nhis)
        missing = client.request(method, f"/admin/offers/no-such-offer{suffix}", headers=nhis)
        # Indistinguishable from an offer that does not exist.
        assert error_of(foreign, 404, "not_found") == error_of(missing, 404, "not_found")
    still = client.get(f"/admin/offers/{theirs}", headers=admin(world, "mois"))
    assert still.json()["approval"] == "pending"


def test_another_agencys_credential_is_not_found(client: TestClient, world: IssuerWorld) -> None:
    issue(client, world, slug="mois")
    (theirs,) = client.get("/admin/credentials", headers=admin(world, "mois")).json()
    missing_id = theirs["id"] + 1000
    nhis = admin(world, "nhis")
    for suffix, method in (("", "GET"), ("/revoke", "POST"), ("/suspend", "POST")):
        foreign = client.request(method, f"/admin/credentials/{theirs['id']}{suffix}", headers=nhis)
        missing = client.request(method, f"/admin/credentials/{missing_id}{suffix}", headers=nhis)
        assert error_of(foreign, 404, "not_found") == error_of(missing, 404, "not_found")
    mine = client.get(f"/admin/credentials/{theirs['id']}", headers=admin(world, "mois"))
    assert mine.json()["status"] == "valid"


def test_lists_show_only_the_agencys_own(client: TestClient, world: IssuerWorld) -> None:
    issue(client, world, slug="mois", batch=2)
    issue(client, world, slug="nhis")
    mois = client.get("/admin/credentials", headers=admin(world, "mois")).json()
    nhis = client.get("/admin/credentials", headers=admin(world, "nhis")).json()
    assert [c["credential_type"] for c in mois] == [RESIDENT, RESIDENT]
    assert [c["credential_type"] for c in nhis] == [HEALTH]
    # Even by the citizen's own number, and by the other agency's type.
    by_subject = client.get("/admin/credentials", params={"subject": RRN}, headers=admin(world))
    assert len(by_subject.json()) == 2
    nhis_by_type = client.get(
        "/admin/credentials", params={"credential_type": RESIDENT}, headers=admin(world, "nhis")
    )
    assert nhis_by_type.json() == []
    mois_events = client.get("/admin/audit-events", headers=admin(world, "mois")).json()
    nhis_events = client.get("/admin/audit-events", headers=admin(world, "nhis")).json()
    # Each agency's offers and the credentials issued from them (one event a credential).
    assert [e["action"] for e in mois_events] == ["offer.create"] + ["credential.issue"] * 2
    assert [e["action"] for e in nhis_events] == ["offer.create", "credential.issue"]
    assert not {e["id"] for e in mois_events} & {e["id"] for e in nhis_events}


# --- Listing credentials -----------------------------------------------------------------------


def test_list_filters_by_subject_and_type(client: TestClient, world: IssuerWorld) -> None:
    registry = world.deployment.registry
    other = registry.get(RESIDENT).examples[1]
    issue(client, world)  # RESIDENT for RRN
    issue(client, world, claims=other)  # RESIDENT for someone else
    issue(client, world, type_id=FAMILY)  # FAMILY for RRN

    def listed(**params: str) -> list[tuple[str, int]]:
        response = client.get("/admin/credentials", params=params, headers=admin(world))
        assert response.status_code == 200, response.text
        return [(c["credential_type"], c["id"]) for c in response.json()]

    everything = listed()
    assert [t for t, _ in everything] == [RESIDENT, RESIDENT, FAMILY]
    assert listed(subject=RRN) == [everything[0], everything[2]]
    assert listed(subject=other["resident_registration_number"]) == [everything[1]]
    assert listed(subject=RRN, credential_type=FAMILY) == [everything[2]]
    assert listed(credential_type=RESIDENT) == everything[:2]
    assert listed(subject="000101-3000003") == []


def test_list_pages_by_after_id(client: TestClient, world: IssuerWorld) -> None:
    issue(client, world, batch=5)
    everything = client.get("/admin/credentials", headers=admin(world)).json()
    ids = [c["id"] for c in everything]
    assert ids == sorted(ids) and len(ids) == 5
    pages, after = [], 0
    while True:
        params = {"after_id": str(after), "limit": "2"}
        page = client.get("/admin/credentials", params=params, headers=admin(world)).json()
        if not page:
            break
        pages.append([c["id"] for c in page])
        after = page[-1]["id"]
    assert pages == [ids[0:2], ids[2:4], ids[4:5]]
    assert everything[0].keys() == {
        "id",
        "credential_type",
        "status",
        "status_list_id",
        "status_index",
        "signing_kid",
        "issued_at",
        "expires_at",
        "status_changed_at",
    }


def test_list_refuses_bad_paging(client: TestClient, world: IssuerWorld) -> None:
    for params in ({"limit": "0"}, {"limit": "1001"}, {"after_id": "-1"}, {"limit": "many"}):
        response = client.get("/admin/credentials", params=params, headers=admin(world))
        error_of(response, 400, "invalid_request")


def test_ids_beyond_their_column_are_refused(client: TestClient, world: IssuerWorld) -> None:
    # Credential and audit ids are BIGINT: an id past it must be refused, not sent to a query.
    beyond = MAX_BIG_ROW_ID + 1
    for method, path in (
        ("GET", f"/admin/credentials/{beyond}"),
        ("POST", f"/admin/credentials/{beyond}/suspend"),
        ("GET", "/admin/credentials/99999999999999999999999"),
        ("GET", f"/admin/credentials?after_id={beyond}"),
        ("GET", f"/admin/audit-events?after_id={beyond}"),
        ("GET", f"/agencies/mois/status-lists/{MAX_ROW_ID + 1}"),  # an INTEGER id
    ):
        error_of(client.request(method, path, headers=admin(world)), 400, "invalid_request")
    for largest in (f"/admin/credentials/{MAX_BIG_ROW_ID}", f"/admin/credentials/{2**31}"):
        error_of(client.get(largest, headers=admin(world)), 404, "not_found")


# --- Status changes ----------------------------------------------------------------------------

# (action, expected HTTP status, status afterwards)
TRANSITIONS: dict[str, list[tuple[str, int, str]]] = {
    "revoke_is_final": [
        ("revoke", 200, "invalid"),
        ("revoke", 409, "invalid"),
        ("suspend", 409, "invalid"),
        ("unsuspend", 409, "invalid"),
    ],
    "suspend_and_back": [
        ("unsuspend", 409, "valid"),
        ("suspend", 200, "suspended"),
        ("suspend", 409, "suspended"),
        ("unsuspend", 200, "valid"),
        ("suspend", 200, "suspended"),
        ("revoke", 200, "invalid"),
        ("unsuspend", 409, "invalid"),
    ],
}


@pytest.mark.parametrize("steps", list(TRANSITIONS.values()), ids=list(TRANSITIONS))
def test_status_transitions(
    client: TestClient, world: IssuerWorld, steps: list[tuple[str, int, str]]
) -> None:
    issue(client, world)
    (credential,) = client.get("/admin/credentials", headers=admin(world)).json()
    url = f"/admin/credentials/{credential['id']}"
    for number, (action, status, after) in enumerate(steps):
        world.clock.advance(10)
        response = client.post(f"{url}/{action}", headers=admin(world))
        if status == 200:
            assert response.status_code == 200, response.text
            assert response.json()["status"] == after
            assert response.json()["status_changed_at"] == world.clock()
        else:
            error_of(response, status, "conflict")
        assert client.get(url, headers=admin(world)).json()["status"] == after, number


def test_unknown_status_action(client: TestClient, world: IssuerWorld) -> None:
    issue(client, world)
    (credential,) = client.get("/admin/credentials", headers=admin(world)).json()
    response = client.post(f"/admin/credentials/{credential['id']}/delete", headers=admin(world))
    error_of(response, 400, "invalid_request")


# --- The audit log -----------------------------------------------------------------------------


def test_every_change_is_audited_in_order(client: TestClient, world: IssuerWorld) -> None:
    issued = issue(client, world)
    (credential,) = client.get("/admin/credentials", headers=admin(world)).json()
    cid = str(credential["id"])
    approved = create_offer(client, world, approval_required=True)["offer_id"]
    denied = create_offer(client, world, approval_required=True)["offer_id"]
    steps = [
        (f"/admin/offers/{approved}/approve", None),
        (f"/admin/offers/{denied}/deny", None),
        (f"/admin/credentials/{cid}/suspend", {"reason": "lost phone"}),
        (f"/admin/credentials/{cid}/unsuspend", None),
        (f"/admin/credentials/{cid}/revoke", {"reason": "deceased"}),
    ]
    for path, body in steps:
        world.clock.advance(1)
        response = client.post(path, json=body, headers=admin(world))
        assert response.status_code == 200, response.text
    # A refused change leaves no event.
    assert client.post(f"/admin/credentials/{cid}/revoke", headers=admin(world)).status_code == 409

    events = client.get("/admin/audit-events", headers=admin(world)).json()
    assert [(e["action"], e["target"]) for e in events] == [
        ("offer.create", issued.offer_id),
        ("credential.issue", cid),  # by the wallet, not by an agency token
        ("offer.create", approved),
        ("offer.create", denied),
        ("offer.approve", approved),
        ("offer.deny", denied),
        ("credential.suspend", cid),
        ("credential.unsuspend", cid),
        ("credential.revoke", cid),
    ]
    ids, times = [e["id"] for e in events], [e["at"] for e in events]
    assert ids == sorted(ids) and times == sorted(times)
    assert events[-1]["at"] == world.clock()
    assert events[6]["detail"] == {"reason": "lost phone"}
    # What and where, never a claim: the type and the status slot.
    assert events[1]["detail"] == {
        "credential_type": RESIDENT,
        "status_list_id": credential["status_list_id"],
        "status_index": credential["status_index"],
    }
    assert events[1]["token_id"] is None
    assert events[0]["detail"] == {
        "credential_type": RESIDENT,
        "tx_code": True,
        "approval_required": False,
    }
    assert len({e["token_id"] for e in events if e["action"] != "credential.issue"}) == 1
    # Paging through the log gives the same events.
    tail = client.get(
        "/admin/audit-events", params={"after_id": ids[2], "limit": 2}, headers=admin(world)
    )
    assert [e["id"] for e in tail.json()] == ids[3:5]
    # No claim value reaches the log.
    assert "홍길동" not in str(events) and RRN not in str(events)


@pytest.mark.parametrize(
    "statement",
    ["UPDATE auditevent SET action = 'offer.nothing'", "DELETE FROM auditevent"],
    ids=["update", "delete"],
)
def test_audit_log_is_append_only_in_the_database(
    client: TestClient, world: IssuerWorld, statement: str
) -> None:
    create_offer(client, world)
    engine = world.deployment.engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text(statement))
    (event,) = rows(world, AuditEvent)
    assert event.action == "offer.create"
    # Appending still works.
    create_offer(client, world)
    assert len(rows(world, AuditEvent)) == 2


# --- Offers as QR codes ------------------------------------------------------------------------


def test_offer_qr_png_decodes_to_the_offer_uri(client: TestClient, world: IssuerWorld) -> None:
    created = create_offer(client, world)
    response = client.get(f"/admin/offers/{created['offer_id']}/qr", headers=admin(world))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "no-store"
    uri = read_qr_image(response.content)
    assert uri == created["credential_offer_reference_uri"]
    assert uri.startswith(CREDENTIAL_OFFER_SCHEME)


def test_offer_qr_svg(client: TestClient, world: IssuerWorld) -> None:
    created = create_offer(client, world)
    response = client.get(
        f"/admin/offers/{created['offer_id']}/qr", params={"format": "svg"}, headers=admin(world)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("image/svg+xml")
    # The rendering is deterministic: the same picture as the offer URI's own QR code.
    assert response.text == render_svg(created["credential_offer_reference_uri"])
    assert response.text.lstrip().startswith("<?xml") or "<svg" in response.text


def test_offer_qr_of_a_redeemed_offer(client: TestClient, world: IssuerWorld) -> None:
    grant = redeemed(client, world)
    response = client.get(f"/admin/offers/{grant.offer_id}/qr", headers=admin(world))
    error_of(response, 409, "conflict")


def test_offer_qr_unknown_format(client: TestClient, world: IssuerWorld) -> None:
    created = create_offer(client, world)
    response = client.get(
        f"/admin/offers/{created['offer_id']}/qr", params={"format": "gif"}, headers=admin(world)
    )
    error_of(response, 400, "invalid_request")


def test_an_offer_by_reference_is_public_only_while_open(
    client: TestClient, world: IssuerWorld
) -> None:
    grant = redeemed(client, world, tx_code=False)
    reference = f"/agencies/mois/credential-offers/{grant.offer_id}"
    error_of(client.get(reference), 404, "not_found")
    fresh = create_offer(client, world)
    shown = client.get(f"/agencies/mois/credential-offers/{fresh['offer_id']}")
    assert shown.status_code == 200
    assert shown.json() == fresh["credential_offer"]
    error_of(client.get(f"/agencies/nhis/credential-offers/{fresh['offer_id']}"), 404, "not_found")
