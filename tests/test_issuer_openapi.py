"""Every operation of the issuer's OpenAPI document, fuzzed by schemathesis: no 5xx.

The calls go in-process (ASGI) to a deployment on SQLite seeded with offers and issued
credentials, each call with an agency's admin token so that the admin routes get past
authentication. Examples per operation are bounded and generated derandomized, so a run is
repeatable.

Random values rarely name anything that exists, so the hooks below mix real values into what
schemathesis generates, and the fuzzing reaches the handlers behind the lookups: agency slugs,
ids of the seeded offers and credentials, and offer bodies with claims the type's schema
accepts (the other fields still fuzzed). The wallet endpoints that read their JSON body
themselves (credential, deferred credential, notification) declare no body in the document,
so their request objects (OID4VCI 1.0 §8.2, §9.1, §11.1) are added to the copy fuzzed here.

The document is read at collection, from an app over a deployment that is never connected to
(the routes do not depend on the data). schemathesis's lazy ``from_fixture`` loader would
avoid that, but it reads ``Function._nodeid``, which pytest 9 no longer has.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from credential_schemas import Registry
from issuer.api import create_app
from issuer.api.app import make_deployment
from issuer.cli import sample_agencies
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from tests._issuer import IssuerWorld, make_settings, seed
from tests._wallet import Wallet

MAX_EXAMPLES = 30
PUBLIC_URL = "http://127.0.0.1:8000"
AGENCY = "mois"
REGISTRY = Registry.load()
# The agency's types, and one of another agency's (refused: forbidden).
_TYPES = {agency["slug"]: agency["credential_types"] for agency in sample_agencies()}
OFFERED_TYPES = [*_TYPES[AGENCY], _TYPES["mpm"][0]]
# What the seeded deployment holds, filled by the `world` fixture before any generation.
KNOWN: dict[str, list[Any]] = {
    "slug": ["mois", "nhis"],
    "offer_id": [],
    "credential_id": [],
    "pre-authorized_code": [],
}

_STRINGS = {"type": "string"}
_BODIES = {
    # OID4VCI 1.0 §8.2 (credential request), §9.1 (deferred), §11.1 (notification).
    "/agencies/{slug}/credential": {
        "credential_configuration_id": _STRINGS,
        "credential_identifier": _STRINGS,
        "proof": {"type": "object", "properties": {"proof_type": _STRINGS, "jwt": _STRINGS}},
        "proofs": {"type": "object", "properties": {"jwt": {"type": "array", "items": _STRINGS}}},
    },
    "/agencies/{slug}/deferred_credential": {"transaction_id": _STRINGS},
    "/agencies/{slug}/notification": {
        "notification_id": _STRINGS,
        "event": {"enum": ["credential_accepted", "credential_failure", "credential_deleted"]},
        "event_description": _STRINGS,
    },
}


def served_document() -> dict[str, Any]:
    """The service's OpenAPI document; the in-memory database behind it is never opened."""
    deployment = make_deployment(
        make_settings("sqlite://", Path("unused"), PUBLIC_URL), run_migrations=False
    )
    document: dict[str, Any] = create_app(deployment=deployment).openapi()
    deployment.engine.dispose()
    return document


def with_wallet_bodies(document: dict[str, Any]) -> dict[str, Any]:
    fuzzed = copy.deepcopy(document)
    for path, properties in _BODIES.items():
        operation = fuzzed["paths"][path]["post"]
        assert "requestBody" not in operation, f"{path} now documents its body: use that"
        body = {"type": "object", "properties": properties}
        operation["requestBody"] = {"content": {"application/json": {"schema": body}}}
    return fuzzed


# The bulk upload's JSON lines go on the wire as text, as its CSV does.
schemathesis.serializer.alias(["application/x-ndjson", "application/jsonl"], "text/plain")
schema = schemathesis.openapi.from_dict(with_wallet_bodies(served_document()))
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


def real_names_too(_context: Any, parameters: dict[str, Any] | None) -> Any:
    """Each path parameter as generated, or a value the seeded deployment holds."""
    if not parameters:
        return st.just(parameters)
    choices = {
        name: st.one_of(st.sampled_from(KNOWN[name]), st.just(value))
        for name, value in parameters.items()
        if KNOWN.get(name)
    }
    return st.fixed_dictionaries(choices).map(lambda chosen: {**parameters, **chosen})


def valid_claims_too(_context: Any, body: Any) -> Any:
    """The generated offer body, or the same with claims its type's schema accepts."""
    if not isinstance(body, dict):
        return st.just(body)
    valid = st.sampled_from(OFFERED_TYPES).map(
        lambda type_id: {
            **body,
            "credential_type": type_id,
            "claims": REGISTRY.get(type_id).examples[0],
        }
    )
    return st.one_of(valid, st.just(body))


def real_codes_too(_context: Any, body: Any) -> Any:
    """The generated token request, or the same for a seeded offer's pre-authorized code."""
    if not isinstance(body, dict):
        return st.just(body)
    real = st.sampled_from(KNOWN["pre-authorized_code"]).map(
        lambda code: {**body, "grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
    )
    return st.one_of(real, st.just(body))


def real_types_too(_context: Any, query: dict[str, Any] | None) -> Any:
    """A generated `credential_type` filter or upload type, or a real one."""
    if not query or "credential_type" not in query:
        return st.just(query)
    types = st.one_of(st.sampled_from(OFFERED_TYPES), st.just(query["credential_type"]))
    return types.map(lambda type_id: {**query, "credential_type": type_id})


def valid_rows_too(_context: Any, body: Any) -> Any:
    """Generated bytes, or JSON lines of rows with claims the resident type accepts."""
    claims = REGISTRY.get("resident_register_extract").examples[0]
    rows = st.lists(st.just(json.dumps({"claims": claims})), min_size=1, max_size=3)
    return st.one_of(rows.map(lambda lines: "\n".join(lines).encode()), st.just(body))


# schemathesis's hook registry is untyped: registered by call, not as decorators.
_hook: Any = schema.hook
_hook("flatmap_path_parameters")(real_names_too)
_hook("flatmap_body").apply_to(method="POST", path="/admin/offers")(valid_claims_too)
_hook("flatmap_body").apply_to(method="POST", path="/agencies/{slug}/token")(real_codes_too)
_hook("flatmap_query")(real_types_too)
_hook("flatmap_body").apply_to(method="POST", path="/admin/offers/bulk")(valid_rows_too)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuerWorld]:
    directory = tmp_path_factory.mktemp("openapi")
    settings = make_settings(f"sqlite:///{directory / 'issuer.sqlite3'}", directory, PUBLIC_URL)
    world = seed(settings)
    yield world
    world.deployment.engine.dispose()


@pytest.fixture(scope="module")
def app(world: IssuerWorld) -> Iterator[FastAPI]:
    """The service, holding open offers (one awaiting approval) and issued credentials."""
    app = create_app(deployment=world.deployment)
    headers = {"Authorization": f"Bearer {world.tokens[AGENCY]}"}
    resident = world.deployment.registry.get("resident_register_extract")
    with TestClient(app) as client:

        def offer(**options: object) -> dict[str, Any]:
            body = {"credential_type": resident.id, "claims": resident.examples[0], **options}
            response = client.post("/admin/offers", json=body, headers=headers)
            assert response.status_code == 201, response.text
            return dict(response.json())

        issued = offer(tx_code=False)
        Wallet(client, world.clock).obtain(issued["credential_offer_uri"], None, batch=3)
        offers = [offer(), offer(tx_code=False), offer(approval_required=True), issued]
        KNOWN["offer_id"] = [created["offer_id"] for created in offers]
        KNOWN["pre-authorized_code"] = [
            created["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"]
            for created in offers
        ]
        listed = client.get("/admin/credentials", headers=headers).json()
        KNOWN["credential_id"] = [row["id"] for row in listed]
        assert len(KNOWN["credential_id"]) == 3
    yield app
    for name in ("offer_id", "credential_id", "pre-authorized_code"):
        KNOWN[name] = []


def test_the_document_fuzzed_is_the_one_served(app: FastAPI) -> None:
    assert with_wallet_bodies(app.openapi()) == schema.raw_schema


@schema.parametrize()
def test_no_operation_answers_with_a_server_error(
    case: Any, app: FastAPI, world: IssuerWorld
) -> None:
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {world.tokens[AGENCY]}"},
        checks=[not_a_server_error],
    )


# Values the generators above never produce (hypothesis's text has no lone surrogates, and its
# integers rarely pass 2**63), each of which was a 500.
_HOSTILE_OFFERS = [
    pytest.param({"credential_expires_at": 2**63}, "invalid_request", id="expiry-beyond-bigint"),
    pytest.param({"claims": {"name": "\ud800"}}, "invalid_claims", id="claim-lone-surrogate"),
]


@pytest.mark.parametrize(("change", "code"), _HOSTILE_OFFERS)
def test_hostile_offer_values_are_refused_with_their_code(
    app: FastAPI, world: IssuerWorld, change: dict[str, Any], code: str
) -> None:
    resident = REGISTRY.get("resident_register_extract")
    body: dict[str, Any] = {"credential_type": resident.id, "claims": resident.examples[0]}
    body.update({**change, "claims": {**body["claims"], **change.get("claims", {})}})
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/admin/offers",
            content=json.dumps(body).encode(),  # ensure_ascii: the surrogate as a \\u escape
            headers={
                "Authorization": f"Bearer {world.tokens[AGENCY]}",
                "Content-Type": "application/json",
            },
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
