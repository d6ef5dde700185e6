"""Counters for the presenting tests: relying parties registered with the in-process issuer's
trust operator (so the trust list the wallet syncs names them), each with its own signing key,
and a counter's own verifier (the library a bank installs) over the same trust list.

- ``counter.bank.example``: ``account_opening`` (name, birth date, address), ``move_in``
  (every address-history element's address), ``health_check`` (a health-insurance type the
  phone does not hold), response URIs on the loopback counter when one is served;
- ``counter.store.example``: ``age_check``, a 60 s one-way preset of ``age_over_19``;
- ``counter.gone.example``: registered, its registration over by the time it asks.

``serve_counter`` runs a bank's web backend on a real loopback socket (FastAPI under uvicorn,
in a thread): it serves requests by reference and records the answers posted to it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from issuer.services.relying_parties import register_relying_party
from keys.jwk import SigningKey
from keys.jws import KID, TYP, decode_compact, sign_compact
from tests._server import free_port
from tests._two_services import Pair
from verifier import Policy, TrustStore, Verifier
from verifier.openid4vp import REQUEST_TYP, PresentationRequest
from wallet_api.holder.client import WalletApiError, WalletClient

BANK, STORE, GONE = "counter.bank.example", "counter.store.example", "counter.gone.example"
RESIDENT_VCT = "urn:jigap:resident-register-extract:1"
HEALTH_VCT = "urn:jigap:health-insurance-eligibility:1"
ACCOUNT_OPENING = {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"}
AGE_CHECK = {"ko": "만 19세 이상 확인", "en": "Age check: 19 or over"}
REQUESTED = [["name"], ["birth_date"], ["address"]]
_YEAR = 365 * 86_400
_KEYS = {party: SigningKey.generate() for party in (BANK, STORE, GONE)}  # slow to make: once


def _purpose(
    purpose_id: str, names: dict[str, str], vct: str, claims: list[Any], **more: Any
) -> dict[str, Any]:
    return {
        "id": purpose_id,
        "name": names,
        "credentials": [{"vct": vct, "claims": claims}],
        **more,
    }


def entries(now: int, response_uris: list[str]) -> list[dict[str, Any]]:
    def party(party_id: str, purposes: list[Any], until: int = now + _YEAR) -> dict[str, Any]:
        return {
            "id": party_id,
            "name": {"ko": f"{party_id} (ko)", "en": party_id},
            "jwks": {"keys": [_KEYS[party_id].public_key.to_jwk()]},
            "valid_from": now - 60,
            "valid_until": until,
            "response_uris": response_uris if party_id == BANK else [],
            "purposes": purposes,
        }

    return [
        party(
            BANK,
            [
                _purpose("account_opening", ACCOUNT_OPENING, RESIDENT_VCT, REQUESTED),
                _purpose(
                    "move_in",
                    {"ko": "전입 주소 확인", "en": "Addresses moved into"},
                    RESIDENT_VCT,
                    [["address_history", None, "address"]],
                ),
                _purpose(
                    "health_check",
                    {"ko": "건강보험 자격 확인", "en": "Health insurance eligibility"},
                    HEALTH_VCT,
                    [["name"]],
                ),
            ],
        ),
        party(
            STORE,
            [_purpose("age_check", AGE_CHECK, RESIDENT_VCT, [["age_over_19"]], one_way_seconds=60)],
        ),
        party(
            GONE,
            [_purpose("account_opening", ACCOUNT_OPENING, RESIDENT_VCT, REQUESTED)],
            until=now + 120,
        ),
    ]


@dataclass
class Counters:
    pair: Pair
    url: str | None = None  # the bank's web backend, when served

    @property
    def response_uri(self) -> str:
        assert self.url is not None
        return f"{self.url}/response"

    def now(self) -> int:
        return int(self.pair.issuer.clock())

    def verifier(self) -> Verifier:
        """The counter's library over the trust list (and status lists) the wallet synced."""
        store = TrustStore.load(self.pair.wallet.settings.trust_dir, now=self.now())
        return Verifier(store, Policy())

    def request(
        self, client_id: str = BANK, purpose_id: str = "account_opening", **options: Any
    ) -> PresentationRequest:
        return self.verifier().make_request(
            signer=_KEYS[client_id],
            client_id=client_id,
            purpose_id=purpose_id,
            now=self.now(),
            **options,
        )

    def signer(self, client_id: str = BANK) -> SigningKey:
        return _KEYS[client_id]

    def forged(self, key: SigningKey | None = None, **changes: Any) -> str:
        """The bank's account-opening request with ``changes`` to its payload (a member None:
        left out), signed by ``key`` (the bank's own by default)."""
        honest = self.request(BANK).token
        payload = {
            **decode_compact(honest, expected_typ=REQUEST_TYP).unverified_claims(),
            **changes,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        signer = key or _KEYS[BANK]
        return sign_compact(payload, signer, {TYP: REQUEST_TYP, KID: signer.kid})

    def holder(self, copies: int = 3) -> WalletClient:
        """A phone with a resident-register extract in ``copies`` copies."""
        phone = self.pair.registered_phone()
        self.pair.receive(phone, copies=copies)
        return phone


def register_counters(pair: Pair, response_uris: list[str]) -> None:
    now = int(pair.issuer.clock())
    for entry in entries(now, response_uris):
        register_relying_party(pair.issuer.deployment, entry)
    pair.wallet.trust.refresh(force=True)


@pytest.fixture
def counters(pair: Pair) -> Counters:
    register_counters(pair, [])
    return Counters(pair)


def refusal(call: Any) -> tuple[int, str, str]:
    """The status, code and description of the holder client's ``WalletApiError``."""
    with pytest.raises(WalletApiError) as refused:
        call()
    return refused.value.status, refused.value.error, refused.value.description


# -- a bank's web backend on loopback ----------------------------------------------------------


@dataclass
class CounterBackend:
    """What the bank's server holds and was sent; ``answer`` is what its response URI does."""

    requests: dict[str, str] = field(default_factory=dict)  # id -> request object
    posted: list[dict[str, str]] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)  # Accept headers of request fetches
    answer: str = "ok"  # "ok", "redirect_uri", "error" (500), "redirect" (302), "silent"
    released: threading.Event = field(default_factory=threading.Event)


def _counter_app(backend: CounterBackend) -> FastAPI:
    app = FastAPI()

    @app.get("/requests/{request_id}")
    def by_reference(request_id: str, request: Request) -> Response:
        backend.fetched.append(request.headers.get("accept", ""))
        token = backend.requests.get(request_id)
        if token is None:
            return Response(status_code=404)
        return Response(token, media_type="application/oauth-authz-req+jwt")

    @app.post("/response")
    async def response(request: Request) -> Response:
        form = await request.form()
        backend.posted.append({k: str(v) for k, v in form.items()})
        if backend.answer == "error":
            return Response(status_code=500)
        if backend.answer == "redirect":
            return Response(status_code=302, headers={"Location": "https://elsewhere.example/"})
        if backend.answer == "silent":
            backend.released.wait(30)
        if backend.answer == "redirect_uri":
            return JSONResponse({"redirect_uri": "https://bank.example/done#code=42"})
        return JSONResponse({})

    return app


@contextlib.contextmanager
def serve(app: FastAPI, port: int) -> Iterator[str]:
    """``app`` under uvicorn at ``http://127.0.0.1:port``, in a thread, until the block ends."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30  # an upper bound on a loaded machine
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the counter's backend did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def serve_counter() -> Iterator[tuple[str, CounterBackend]]:
    """The bank's backend at ``http://127.0.0.1:PORT`` until the block ends."""
    backend = CounterBackend()
    try:
        with serve(_counter_app(backend), free_port()) as url:
            yield url, backend
    finally:
        backend.released.set()


@pytest.fixture
def online(pair: Pair) -> Iterator[tuple[Counters, CounterBackend]]:
    """Counters whose bank receives answers at a loopback response URI."""
    with serve_counter() as (url, backend):
        register_counters(pair, [f"{url}/response"])
        yield Counters(pair, url), backend
