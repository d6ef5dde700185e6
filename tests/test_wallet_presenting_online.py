"""Submitting without visiting (OpenID4VP 1.0 cross-device, `direct_post`): the bank's website
shows a link to its signed request; the wallet fetches it from the bank's registered origin only,
the phone signs, and the wallet posts the answer to the bank's response URI, all over real HTTP
to a bank backend on loopback."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi import FastAPI

from keys.encoding import json_loads_object
from tests import _presenting, _two_services
from tests._presenting import (
    BANK,
    STORE,
    CounterBackend,
    Counters,
    refusal,
    register_counters,
    serve,
    serve_counter,
)
from tests._server import free_port
from tests._two_services import Pair
from verifier.openid4vp import RESPONSE_MODE_DIRECT_POST, PresentationRequest
from verifier_web.online import OnlineVerifier, bank_router, wallet_router

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures
online = _presenting.online  # fixture


@pytest.fixture
def bank(online: tuple[Counters, CounterBackend]) -> Iterator[tuple[Counters, CounterBackend]]:
    yield online


def _by_reference(
    counters: Counters, backend: CounterBackend, state: str = "session-42"
) -> tuple[PresentationRequest, str]:
    request = counters.request(
        response_mode=RESPONSE_MODE_DIRECT_POST, response_uri=counters.response_uri, state=state
    )
    backend.requests["r1"] = request.token
    request_uri = f"{counters.url}/requests/r1"
    return request, f"openid4vp://?client_id={BANK}&request_uri={quote(request_uri, safe='')}"


def test_a_request_by_reference_is_answered_at_the_banks_response_uri(
    bank: tuple[Counters, CounterBackend],
) -> None:
    counters, backend = bank
    backend.answer = "redirect_uri"
    phone = counters.holder(copies=2)
    request, link = _by_reference(counters, backend)

    shown = phone.present(link)
    assert backend.fetched == ["application/oauth-authz-req+jwt"]
    assert shown["response_mode"] == "direct_post" and shown["relying_party"]["id"] == BANK
    answer = phone.sign_presentation(shown["id"], phone.accept_presentation(shown["id"]))
    assert answer == {
        "id": shown["id"],
        "state": "submitted",
        "submitted": True,
        "redirect_uri": "https://bank.example/done#code=42",
    }
    [posted] = backend.posted
    assert posted["state"] == "session-42"
    vp_token = json_loads_object(posted["vp_token"].encode())
    [(query_id, [presentation])] = vp_token.items()
    assert query_id == request.credential_query.id
    verdict = counters.verifier().verify_answer(presentation, request, counters.now())
    assert verdict.valid, verdict.error
    assert [e["state"] for e in phone.presentations()] == ["submitted"]


def test_a_request_is_fetched_from_the_counters_registered_origin_only(
    bank: tuple[Counters, CounterBackend],
) -> None:
    counters, backend = bank
    phone = counters.holder(copies=1)
    with serve_counter() as (stranger_url, stranger):
        stranger.requests["r1"] = counters.request().token
        link = f"openid4vp://?client_id={BANK}&request_uri={stranger_url}/requests/r1"
        status, error, description = refusal(lambda: phone.present(link))
        assert (status, error) == (400, "untrusted_request")
        assert description.startswith("response_uri_not_registered")
        nobody = f"openid4vp://?client_id=counter.nobody.example&request_uri={stranger_url}/r"
        status, error, description = refusal(lambda: phone.present(nobody))
        assert description.startswith("unregistered_client")
        assert stranger.fetched == []  # the stranger was sent nothing
    assert backend.fetched == []


def test_a_link_naming_one_counter_cannot_carry_anothers_request(
    bank: tuple[Counters, CounterBackend],
) -> None:
    counters, backend = bank
    phone = counters.holder(copies=1)
    # The bank's own origin serves the store's request: the link says the bank is asking.
    backend.requests["r1"] = counters.request(STORE, "age_check").token
    link = f"openid4vp://?client_id={BANK}&request_uri={counters.url}/requests/r1"
    status, error, description = refusal(lambda: phone.present(link))
    assert (status, error, description.split(":")[0]) == (400, "untrusted_request", "malformed")
    for bad in (
        f"openid4vp://?request_uri={counters.url}/requests/r1",  # no client_id
        f"openid4vp://?client_id={BANK}",  # neither request nor request_uri
        f"openid4vp://?client_id={BANK}&request_uri=a&request_uri=b",
    ):
        assert refusal(lambda bad=bad: phone.present(bad))[:2] == (400, "untrusted_request")
    assert len(backend.fetched) == 1 and phone.presentations() == []


def test_a_counter_that_does_not_take_the_answer_can_be_sent_it_again(
    bank: tuple[Counters, CounterBackend],
) -> None:
    counters, backend = bank
    phone = counters.holder(copies=2)
    _, link = _by_reference(counters, backend)
    shown = phone.present(link)
    signing = phone.accept_presentation(shown["id"])
    for failure in ("error", "redirect"):
        backend.answer = failure
        assert refusal(lambda: phone.sign_presentation(shown["id"], signing))[:2] == (
            502,
            "counter_unavailable",
        )
        assert [e["state"] for e in phone.presentations()] == ["accepted"]
    backend.answer = "ok"
    assert phone.sign_presentation(shown["id"], signing)["submitted"] is True
    assert len(backend.posted) == 3  # a redirect is never followed: no request went elsewhere


def test_a_missing_request_by_reference_is_counter_unavailable(
    bank: tuple[Counters, CounterBackend],
) -> None:
    counters, _ = bank
    phone = counters.holder(copies=1)
    link = f"openid4vp://?client_id={BANK}&request_uri={counters.url}/requests/none"
    assert refusal(lambda: phone.present(link))[:2] == (502, "counter_unavailable")


def test_a_refusal_is_posted_as_access_denied(bank: tuple[Counters, CounterBackend]) -> None:
    counters, backend = bank
    phone = counters.holder(copies=1)
    _, link = _by_reference(counters, backend, state="session-7")
    shown = phone.present(link)
    assert phone.refuse(shown["id"]) == {
        "id": shown["id"],
        "state": "refused",
        "counter_told": True,
    }
    assert backend.posted == [{"error": "access_denied", "state": "session-7"}]
    [held] = phone.credentials()
    assert held["unused_copies"] == 1


def test_no_claim_nonce_or_token_reaches_a_log(
    bank: tuple[Counters, CounterBackend], caplog: pytest.LogCaptureFixture
) -> None:
    counters, backend = bank
    caplog.set_level(logging.DEBUG)
    phone = counters.holder(copies=3)
    held = phone.credential(phone.credentials()[0]["credential_id"])
    qr_request = counters.request()
    answered = phone.answer(qr_request.envelope)
    online_request, link = _by_reference(counters, backend)
    shown = phone.present(link)
    backend.answer = "error"  # the refusal is not delivered: one log line says so
    assert phone.refuse(shown["id"])["counter_told"] is False

    logged = "\n".join(repr(vars(record)) + record.getMessage() for record in caplog.records)
    assert "refusal not delivered" in logged
    never_logged = [
        *(str(c["value"]) for c in held["claims"] if isinstance(c["value"], str)),
        qr_request.nonce,
        online_request.nonce,
        qr_request.token,
        answered["envelope"],
    ]
    assert [s for s in never_logged if s in logged] == []


def test_the_banks_own_backend_receives_and_verifies_the_answer(pair: Pair) -> None:
    """verifier_web.online, the backend a bank installs (extra [web]), on a real socket: its
    page starts a transaction, the wallet answers the link, the page reads the verdict."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    register_counters(pair, [f"{url}/response"])
    counters = Counters(pair, url)
    phone = counters.holder(copies=2)  # before the bank's store is read: its status list too
    bank_backend = OnlineVerifier(
        verifier=counters.verifier(),
        signer=counters.signer(BANK),
        client_id=BANK,
        response_uri=f"{url}/response",
        request_base=url,
        clock=pair.issuer.clock,
    )
    app = FastAPI()
    app.include_router(wallet_router(bank_backend))
    app.include_router(bank_router(bank_backend))
    with serve(app, port):
        started = bank_backend.start("account_opening")
        shown = phone.present(started["wallet_link"])
        assert shown["purpose"]["en"] == "Identity check to open an account"
        answer = phone.sign_presentation(shown["id"], phone.accept_presentation(shown["id"]))
        assert answer["submitted"] is True
        report = bank_backend.report(started["transaction_id"])
        assert report is not None and report["status"] == "valid", report
        held = phone.credential(shown["credential"]["id"])["claims"]
        names = {row["name"]: row["value"] for row in held}
        assert report["result"]["claims"]["name"] == names["name"]

        declined = bank_backend.start("account_opening")
        refused = phone.present(declined["wallet_link"])
        assert phone.refuse(refused["id"])["counter_told"] is True
        report = bank_backend.report(declined["transaction_id"])
        assert report is not None
        assert (report["status"], report["error"]) == ("declined", "access_denied")
