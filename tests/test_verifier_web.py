"""A bank's web backend receiving certificates online (verifier_web.online, OpenID4VP 1.0 §8.2).

The bank's page starts a transaction, the wallet fetches the request by reference and posts
its answer to the registered response URI, the page reads the verdict. In-process first (each
refusal), then over real HTTP: uvicorn on loopback, httpx as the wallet and the bank's page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from keys.encoding import json_dumps
from tests._counter import (
    ANCHOR,
    ISSUER_KEY,
    NOW,
    RESPONSE_URI,
    STATUS_URI,
    WOORI,
    WOORI_KEY,
    Counter,
    trust_list_token,
)
from tests._presenting import serve
from tests._server import free_port
from verifier.openid4vp import RESPONSE_MODE_DIRECT_POST, read_request
from verifier.status_list import StatusList, StatusValue, build_status_list_token
from verifier.trust_store import ANCHOR_FILE, STATUS_LISTS_FILE, TRUST_LIST_FILE
from verifier_web.online import MAX_RESPONSE_BYTES, OnlineVerifier, bank_router, wallet_router

QUERY_ID = "resident_register_extract"  # the query's id: the type's registry id


class Clock:
    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now


def make_app(counter: Counter, clock: Clock, base: str, **options: Any) -> tuple[FastAPI, Any]:
    online = OnlineVerifier(
        counter.verifier,
        WOORI_KEY,
        client_id=WOORI,
        response_uri=RESPONSE_URI,
        request_base=f"{base}/oid4vp",
        clock=clock,
        **options,
    )
    app = FastAPI()
    app.include_router(wallet_router(online), prefix="/oid4vp")
    app.include_router(bank_router(online), prefix="/bank")
    return app, online


@pytest.fixture
def world() -> Iterator[tuple[TestClient, Counter, Clock]]:
    counter, clock = Counter(), Clock()
    app, _ = make_app(counter, clock, "http://testserver")
    with TestClient(app) as http:
        yield http, counter, clock


def start(http: Any, purpose_id: str = "account_opening") -> dict[str, Any]:
    response = http.post("/bank/transactions", json={"purpose_id": purpose_id})
    assert response.status_code == 200, response.text
    started: dict[str, Any] = response.json()
    return started


def fetch_request(http: Any, started: dict[str, Any], counter: Counter) -> Any:
    """What the wallet does with the link: fetch the request object and check it."""
    link = urlsplit(started["wallet_link"])
    assert link.scheme == "openid4vp"
    parameters = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert parameters == {"client_id": WOORI, "request_uri": started["request_uri"]}
    response = http.get(urlsplit(started["request_uri"]).path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/oauth-authz-req+jwt"
    return read_request(response.text, counter.store, now=NOW)


def post_answer(http: Any, request: Any, presentation: str, **extra: str) -> Any:
    form = {"vp_token": json.dumps({QUERY_ID: [presentation]}), "state": request.state, **extra}
    return http.post("/oid4vp/response", data=form)


def test_an_answer_posted_to_the_response_uri_is_verified_and_reported_once(
    world: tuple[TestClient, Counter, Clock],
) -> None:
    http, counter, _ = world
    started = start(http)
    request = fetch_request(http, started, counter)
    assert request.response_mode == RESPONSE_MODE_DIRECT_POST
    assert request.response_uri == RESPONSE_URI and request.state
    assert http.get(f"/bank/transactions/{started['transaction_id']}").json()["status"] == "pending"

    answer = counter.answer(audience=WOORI, nonce=request.nonce)
    posted = post_answer(http, request, answer)
    assert (posted.status_code, posted.json()) == (200, {})
    assert posted.headers["cache-control"] == "no-store"

    report = http.get(f"/bank/transactions/{started['transaction_id']}").json()
    assert report["status"] == "valid" and report["error"] is None
    assert set(report["result"]["claims"]) == {"name", "birth_date", "address"}
    # The claims are handed over once; the verdict stays until the request expires.
    again = http.get(f"/bank/transactions/{started['transaction_id']}").json()
    assert again == {"status": "valid", "error": None, "delivered": True}
    # The state is spent: the same answer cannot be posted twice.
    replay = post_answer(http, request, answer)
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_request"


def test_the_citizen_declining_and_a_wrong_answer_are_reported(
    world: tuple[TestClient, Counter, Clock],
) -> None:
    http, counter, _ = world
    declined = start(http)
    request = fetch_request(http, declined, counter)
    form = {"error": "access_denied", "state": request.state}
    assert http.post("/oid4vp/response", data=form).status_code == 200
    report = http.get(f"/bank/transactions/{declined['transaction_id']}").json()
    assert report == {"status": "declined", "error": "access_denied"}

    wrong = start(http)
    request = fetch_request(http, wrong, counter)
    other_nonce = counter.answer(audience=WOORI, nonce="another-nonce-of-22-chars")
    assert post_answer(http, request, other_nonce).status_code == 200  # received, not valid
    report = http.get(f"/bank/transactions/{wrong['transaction_id']}").json()
    assert report == {"status": "refused", "error": "nonce_mismatch"}


@pytest.mark.parametrize(
    ("vp_token", "why"),
    [
        ("not json", "not JSON"),
        (json.dumps(["x"]), "not an object"),
        (json.dumps({"another_query": ["x"]}), "another query's id"),
        (json.dumps({QUERY_ID: ["a", "b"]}), "two presentations"),
        (json.dumps({QUERY_ID: [7]}), "not a string"),
        ("[" * 10_000 + "]" * 10_000, "nested beyond the interpreter's recursion"),
        (f'{{"{QUERY_ID}": ["a"], "{QUERY_ID}": ["b"]}}', "a member twice"),
    ],
)
def test_a_vp_token_not_as_asked_is_refused(
    world: tuple[TestClient, Counter, Clock], vp_token: str, why: str
) -> None:
    http, counter, _ = world
    started = start(http)
    request = fetch_request(http, started, counter)
    response = http.post("/oid4vp/response", data={"vp_token": vp_token, "state": request.state})
    assert response.status_code == 400, why
    report = http.get(f"/bank/transactions/{started['transaction_id']}").json()
    assert report == {"status": "refused", "error": "malformed"}


def test_bad_response_bodies_are_refused_before_anything_is_read(
    world: tuple[TestClient, Counter, Clock],
) -> None:
    http, counter, _ = world
    request = fetch_request(http, start(http), counter)
    as_json = http.post("/oid4vp/response", json={"state": request.state})
    assert as_json.status_code == 415
    huge = {"vp_token": "x" * (MAX_RESPONSE_BYTES + 1), "state": request.state}
    assert http.post("/oid4vp/response", data=huge).status_code == 413
    repeated = f"state={request.state}&state={request.state}"
    headers = {"content-type": "application/x-www-form-urlencoded"}
    assert http.post("/oid4vp/response", content=repeated, headers=headers).status_code == 400
    unknown = http.post("/oid4vp/response", data={"state": "no-such-state", "vp_token": "{}"})
    assert unknown.status_code == 400 and unknown.json()["error"] == "invalid_request"
    many = "&".join(f"p{i}=1" for i in range(50))
    assert http.post("/oid4vp/response", content=many, headers=headers).status_code == 400
    # None of these spent the transaction's state: the real answer is still taken.
    answer = counter.answer(audience=WOORI, nonce=request.nonce)
    assert post_answer(http, request, answer).status_code == 200


def test_an_expired_request_is_no_longer_served_nor_answered(
    world: tuple[TestClient, Counter, Clock],
) -> None:
    http, counter, clock = world
    started = start(http)
    request = fetch_request(http, started, counter)
    clock.now = request.expires_at
    assert http.get(urlsplit(started["request_uri"]).path).status_code == 404
    answer = counter.answer(audience=WOORI, nonce=request.nonce)
    assert post_answer(http, request, answer).status_code == 400
    report = http.get(f"/bank/transactions/{started['transaction_id']}").json()
    assert report == {"status": "expired", "error": "request_expired"}
    clock.now = request.expires_at + 61  # then forgotten altogether
    assert http.get(f"/bank/transactions/{started['transaction_id']}").status_code == 404


def test_a_purpose_not_registered_and_too_many_pending_are_refused() -> None:
    counter, clock = Counter(), Clock()
    app, _ = make_app(counter, clock, "http://testserver", max_pending=2)
    with TestClient(app) as http:
        unknown = http.post("/bank/transactions", json={"purpose_id": "everything"})
        assert unknown.status_code == 400
        assert unknown.json()["error_description"] == "purpose_not_registered"
        start(http)
        start(http)
        full = http.post("/bank/transactions", json={"purpose_id": "account_opening"})
        assert (full.status_code, full.json()["error"]) == (503, "too_many_pending")
        assert http.get("/bank/transactions/unknown").status_code == 404


def test_the_whole_exchange_over_real_http() -> None:
    """The request fetched by its absolute request_uri, the answer posted, the verdict read."""
    counter, clock, port = Counter(), Clock(), free_port()
    app, _ = make_app(counter, clock, f"http://127.0.0.1:{port}")
    with serve(app, port) as base, httpx.Client(base_url=base, timeout=10) as http:
        started = start(http)
        fetched = httpx.get(started["request_uri"], timeout=10)
        assert fetched.status_code == 200
        request = read_request(fetched.text, counter.store, now=NOW)
        answer = counter.answer(audience=WOORI, nonce=request.nonce)
        assert post_answer(http, request, answer).status_code == 200
        report = http.get(f"/bank/transactions/{started['transaction_id']}").json()
        assert report["status"] == "valid"
        assert report["result"]["claims"]["name"] == "홍길동"


def _sync(trust_dir: Path, *, revoked: bool) -> None:
    """What `jigap verify sync` leaves: the anchor, the trust list, the status lists."""
    status = StatusList(1024)
    if revoked:
        status.set(7, StatusValue.INVALID)  # the index Counter's credentials carry
    token = build_status_list_token(status, STATUS_URI, ISSUER_KEY, now=NOW, ttl=3600)
    trust_dir.mkdir(exist_ok=True)
    (trust_dir / ANCHOR_FILE).write_bytes(json_dumps(ANCHOR.public_key.to_jwk()))
    (trust_dir / TRUST_LIST_FILE).write_text(trust_list_token())
    (trust_dir / STATUS_LISTS_FILE).write_text(
        json.dumps({STATUS_URI: {"token": token, "fetched_at": NOW + (1 if revoked else 0)}})
    )


def test_the_site_follows_each_sync_of_its_trust_store(tmp_path: Path) -> None:
    """A revocation synced is applied without a restart; a broken trust list decides nothing."""
    counter, clock, trust_dir = Counter(), Clock(), tmp_path / "trust"
    _sync(trust_dir, revoked=False)
    app, _ = make_app(counter, clock, "http://testserver", trust_dir=trust_dir)
    with TestClient(app) as http:

        def answered() -> dict[str, Any]:
            started = start(http)
            request = fetch_request(http, started, counter)
            answer = counter.answer(audience=WOORI, nonce=request.nonce)
            assert post_answer(http, request, answer).status_code == 200
            report: dict[str, Any] = http.get(
                f"/bank/transactions/{started['transaction_id']}"
            ).json()
            return report

        assert answered()["status"] == "valid"
        _sync(trust_dir, revoked=True)
        assert answered() == {"status": "refused", "error": "revoked"}
        (trust_dir / TRUST_LIST_FILE).write_text("not a trust list")
        broken = http.post("/bank/transactions", json={"purpose_id": "account_opening"})
        assert (broken.status_code, broken.json()["error"]) == (503, "trust_unavailable")
