"""Each account sees and acts on only its own records: every other account's ids, tried on
every route of the wallet that takes an id, get exactly the answer an id that does not exist
gets, and leave the other account's records as they were.

The routes are read from the app itself, so a route added later is tried too; one that takes
a body the table below has no sample for fails the test until one is added.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.routing import Route

from tests import _two_services
from tests._presenting import Counters, register_counters
from tests._two_services import Pair
from wallet_api.holder.client import WalletClient
from wallet_api.models import METADATA, Account

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures

# Headers that differ from one answer to the next whatever the id (each request its own id).
_VOLATILE_HEADERS = frozenset({"date", "dpop-nonce", "x-request-id"})


@dataclass
class Holder:
    """A phone with an account holding a credential and offers under way in each state."""

    phone: WalletClient
    account_id: str
    credential_ids: list[str]
    intakes: dict[str, str]  # state -> intake id
    tx_code: str | None  # of the offer still waiting for the citizen's yes
    presentations: dict[str, str]  # state -> presentation id

    @property
    def ids(self) -> list[str]:
        return [
            self.account_id,
            *self.credential_ids,
            *self.intakes.values(),
            *self.presentations.values(),
        ]


def _holder(pair: Pair) -> Holder:
    phone = pair.phone()
    account_id = phone.register().account_id
    done = pair.receive(phone, copies=4)
    offered_offer = pair.offer()
    offered = phone.hand_over(offered_offer["credential_offer_reference_uri"])
    # Accepted, the signing inputs handed out, the signatures not sent.
    signing_offer = pair.offer()
    signing = phone.hand_over(signing_offer["credential_offer_reference_uri"])
    keys = [key.to_jwk() for key in phone.keys.create_keys(1)]
    phone.call(
        "POST",
        f"/intakes/{signing['intake_id']}/accept",
        json={"tx_code": signing_offer["tx_code"], "device_keys": keys},
    )
    deferred_offer = pair.offer(approval_required=True)
    deferred = phone.receive(
        deferred_offer["credential_offer_reference_uri"],
        tx_code=deferred_offer["tx_code"],
        copies=1,
    )
    assert (done["state"], deferred["state"]) == ("done", "deferred")
    intakes = {
        "done": done["intake_id"],
        "offered": offered["intake_id"],
        "signing": signing["intake_id"],
        "deferred": deferred["intake_id"],
    }
    assert phone.intake(intakes["signing"])["state"] == "signing"
    # Presentations asked (shown), accepted (a copy taken, not signed) and answered.
    register_counters(pair, [])
    counters = Counters(pair)
    asked = phone.present(counters.request().envelope)
    accepted = phone.present(counters.request().envelope)
    phone.accept_presentation(accepted["id"])
    answered = phone.answer(counters.request().envelope)
    presentations = {"asked": asked["id"], "accepted": accepted["id"], "answered": answered["id"]}
    return Holder(
        phone, account_id, done["received"], intakes, offered_offer["tx_code"], presentations
    )


@dataclass(frozen=True)
class IdRoute:
    method: str
    path: str  # the template, e.g. /intakes/{intake_id}
    params: tuple[str, ...]
    body_model: str | None  # the name of the JSON body's schema, if it takes one

    def to(self, record_id: str) -> str:
        return self.path.format(**dict.fromkeys(self.params, record_id))


def _id_routes(pair: Pair) -> list[IdRoute]:
    """Every route of the wallet with a path parameter: its OpenAPI operations, and any route
    it leaves out of them (this FastAPI's ``app.routes`` shows included routers only as
    such; the schema is built from every route they hold)."""
    app = pair.wallet_http.app
    assert isinstance(app, FastAPI)
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            params = tuple(p["name"] for p in operation.get("parameters", []) if p["in"] == "path")
            if not params:
                continue
            schema = operation.get("requestBody", {}).get("content", {})
            ref = schema.get("application/json", {}).get("schema", {}).get("$ref")
            body_model = ref.rsplit("/", 1)[-1] if ref else None
            if schema and body_model is None:
                pytest.fail(f"{method} {path}: a body this test cannot fill")
            found.append(IdRoute(method.upper(), path, params, body_model))
    for route in app.routes:  # the documentation's own routes (/openapi.json, /docs, ...)
        if isinstance(route, Route) and not route.include_in_schema and route.param_convertors:
            pytest.fail(f"{route.path}: an id route outside the schema; add it here")
    # Deleting last: were isolation broken, the other routes would still meet the records.
    return sorted(found, key=lambda r: (r.method == "DELETE", r.path, r.method))


def _sample_bodies(victim: Holder, intruder: Holder) -> dict[str, Any]:
    """A body each route with one accepts, by its model: what would act on the record if the
    route let it be reached (the victim's own transaction code; a key of the intruder's)."""
    [key] = intruder.phone.keys.create_keys(1)
    return {
        "AcceptIn": {"tx_code": victim.tx_code, "device_keys": [key.to_jwk()]},
        "SignaturesIn": {"signatures": ["A" * 86]},
        "AnswerFormatIn": {"format": "text"},
        "SignatureIn": {"signature": "A" * 86},
    }


def _body_for(route: IdRoute, samples: dict[str, Any]) -> Any:
    if route.body_model is None:
        return None
    if route.body_model not in samples:
        pytest.fail(f"{route.path}: no sample {route.body_model}; add one to _sample_bodies")
    return samples[route.body_model]


def _answer(phone: WalletClient, method: str, path: str, body: Any) -> tuple[int, Any, Any]:
    response = phone.send(method, path, json=body)
    headers = {k: v for k, v in response.headers.items() if k.lower() not in _VOLATILE_HEADERS}
    content = response.json() if response.content else None
    return response.status_code, content, headers


def _records(pair: Pair, account_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row of the account in every wallet table (the tables read from the metadata)."""
    records: dict[str, list[dict[str, Any]]] = {}
    with pair.wallet.engine.connect() as connection:
        for table in METADATA.sorted_tables:
            if "account_id" in table.c:
                query = table.select().where(table.c.account_id == account_id)
            elif table.name == Account.__tablename__:
                query = table.select().where(table.c.id == account_id)
            else:
                continue
            key = next(iter(table.primary_key.columns))
            records[table.name] = [
                dict(r._mapping) for r in connection.execute(query.order_by(key))
            ]
    return records


def test_another_accounts_ids_are_answered_as_ids_that_do_not_exist(pair: Pair) -> None:
    victim, intruder = _holder(pair), _holder(pair)
    before = _records(pair, victim.account_id)
    assert before["wallet_credentials"] and len(before["wallet_intakes"]) == 4
    routes = _id_routes(pair)
    assert {route.path for route in routes} >= {
        "/intakes/{intake_id}", "/intakes/{intake_id}/accept", "/intakes/{intake_id}/proofs",
        "/intakes/{intake_id}/poll", "/credentials/{credential_id}",
        "/presentations/{presentation_id}", "/presentations/{presentation_id}/accept",
        "/presentations/{presentation_id}/signature", "/presentations/{presentation_id}/refuse",
    }  # fmt: skip
    samples = _sample_bodies(victim, intruder)
    tried = 0
    for route in routes:
        body = _body_for(route, samples)
        nowhere = _answer(intruder.phone, route.method, route.to(uuid.uuid4().hex), body)
        assert nowhere[0] == 404, (route, nowhere)
        for record_id in victim.ids:
            answer = _answer(intruder.phone, route.method, route.to(record_id), body)
            assert answer == nowhere, (route, record_id)
            tried += 1
    assert tried == len(routes) * len(victim.ids)
    assert _records(pair, victim.account_id) == before
    # What the victim sees is unchanged too, and its own ids still answer it.
    for state, intake_id in victim.intakes.items():
        assert victim.phone.intake(intake_id)["state"] == state
    [held] = victim.phone.credentials()
    assert held["credential_id"] in victim.credential_ids and held["unused_copies"] == 2
    states = {e["id"]: e["state"] for e in victim.phone.presentations()}
    assert states == {i: state for state, i in victim.presentations.items()}


def test_lists_and_the_export_hold_nothing_of_another_account(pair: Pair) -> None:
    victim, intruder = _holder(pair), _holder(pair)
    listed = intruder.phone.credentials()
    assert [c["credential_id"] for c in listed] == intruder.credential_ids
    exported = repr(intruder.phone.export())
    for record_id in victim.ids:
        assert record_id not in exported
    for copy in _records(pair, victim.account_id)["wallet_credential_copies"]:
        assert copy["id"] not in exported and copy["holder_jkt"] not in exported
