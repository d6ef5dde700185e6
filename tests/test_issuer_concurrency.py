"""Several worker processes, one database: what must be unique is unique, nothing is lost.

`jigap issuer serve --workers 4` on one fresh PostgreSQL schema, with many wallets at once
(threads, each flow over real HTTP): every issued credential gets its own status-list slot,
every slot a credential names is the one its database row holds, and none is lost or doubled.
Then the one-time values: N requests racing for one pre-authorized code, or one `c_nonce`,
get exactly one success; the same races on SQLite (WAL, BEGIN IMMEDIATE) with 2 workers.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import Session, select

from credential_schemas import Registry
from issuer.models import IssuedCredential
from issuer.services.redelivery import MAX_TOKEN_ANSWERS
from keys.encoding import b64url_decode, json_loads_object
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from servicekit.db import make_engine
from tests._server import RunningIssuer, backend_database_url, running_issuer
from tests._wallet import Wallet
from verifier.sd_jwt import split_compact

pytestmark = pytest.mark.slow

REGISTRY = Registry.load()
RESIDENT = "resident_register_extract"
WALLETS, BATCH, THREADS = 60, 5, 12
RACERS = 12
WAIT_SECONDS = 120.0
T = TypeVar("T")


@pytest.fixture(scope="module")
def postgresql_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    directory = tmp_path_factory.mktemp("postgresql")
    with (
        backend_database_url("postgresql", directory) as database_url,
        running_issuer(directory / "data", database_url, workers=4) as running,
    ):
        yield running


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    directory = tmp_path_factory.mktemp("sqlite")
    with (
        backend_database_url("sqlite", directory) as database_url,
        running_issuer(directory / "data", database_url, workers=2) as running,
    ):
        yield running


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("sqlite"),
    ]
)
def server(request: pytest.FixtureRequest) -> RunningIssuer:
    """A server with several workers: PostgreSQL with 4, SQLite with 2."""
    running: RunningIssuer = request.getfixturevalue(f"{request.param}_server")
    return running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    # One connection per thread: uvicorn's workers accept them in turn, so requests spread.
    limits = httpx.Limits(max_connections=max(THREADS, RACERS))
    with httpx.Client(timeout=60.0, limits=limits) as client:
        yield client


def create_offer(server: RunningIssuer, http: httpx.Client, *, tx_code: bool) -> dict[str, Any]:
    response = http.post(
        f"{server.public_url}/admin/offers",
        json={
            "credential_type": RESIDENT,
            "claims": REGISTRY.get(RESIDENT).examples[0],
            "tx_code": tx_code,
        },
        headers=server.admin(),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """``action(i)`` for i < count, each in its own thread, released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait(timeout=WAIT_SECONDS)
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        return [future.result(timeout=WAIT_SECONDS) for future in futures]


def status_slot(credential: str) -> tuple[str, int]:
    jwt = split_compact(credential).issuer_jwt
    reference = json_loads_object(b64url_decode(jwt.split(".")[1]))["status"]["status_list"]
    return str(reference["uri"]), int(reference["idx"])


@pytest.mark.postgres
def test_many_wallets_at_once_get_distinct_slots_and_none_is_lost(
    postgresql_server: RunningIssuer, http: httpx.Client
) -> None:
    server = postgresql_server

    def one_wallet(_: int) -> tuple[str, list[str]]:
        created = create_offer(server, http, tx_code=True)
        wallet = Wallet(http, time.time)
        credentials, _body = wallet.obtain(
            created["credential_offer_uri"], created["tx_code"], batch=BATCH
        )
        assert len(credentials) == BATCH
        return created["offer_id"], credentials

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        received = dict(
            future.result(timeout=WAIT_SECONDS)
            for future in [pool.submit(one_wallet, i) for i in range(WALLETS)]
        )
    assert len(received) == WALLETS

    engine = make_engine(server.database_url)
    try:
        with Session(engine) as session:
            rows = list(session.exec(select(IssuedCredential)))
    finally:
        engine.dispose()

    slots = [(row.status_list_id, row.status_index) for row in rows]
    assert len(rows) == WALLETS * BATCH  # none lost, none doubled
    assert len(set(slots)) == len(slots)
    status_lists = f"{server.issuer_id()}/status-lists/"
    for offer_id, credentials in received.items():
        # Each credential names a slot that a row of its own offer holds, and vice versa.
        named = set()
        for credential in credentials:
            uri, index = status_slot(credential)
            assert uri.startswith(status_lists)
            named.add((int(uri.removeprefix(status_lists)), index))
        held = {slot for slot, row in zip(slots, rows, strict=True) if row.offer_id == offer_id}
        assert named == held
        assert len(held) == BATCH


def test_one_pre_authorized_code_is_redeemed_once(
    server: RunningIssuer, http: httpx.Client
) -> None:
    created = create_offer(server, http, tx_code=True)
    grant = created["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
    form = {
        "grant_type": PRE_AUTHORIZED_CODE_GRANT,
        "pre-authorized_code": grant["pre-authorized_code"],
        "tx_code": created["tx_code"],
    }
    token_endpoint = f"{server.issuer_id()}/token"

    responses = at_once(RACERS, lambda _: http.post(token_endpoint, data=form))

    outcomes = Counter(
        "token" if r.status_code == 200 else (r.status_code, r.json()["error"]) for r in responses
    )
    # Redeemed once. A racer after the winner reads as a wallet whose token answer was lost:
    # it gets the same token again, a bounded number of times (test_issuer_redelivery.py).
    tokens = {r.json()["access_token"] for r in responses if r.status_code == 200}
    assert len(tokens) == 1
    assert 1 <= outcomes["token"] <= 1 + MAX_TOKEN_ANSWERS
    assert outcomes[(400, "invalid_grant")] == RACERS - outcomes["token"]


def test_one_c_nonce_is_used_once(server: RunningIssuer, http: httpx.Client) -> None:
    issuer_id = server.issuer_id()
    wallet = Wallet(http, time.time)
    metadata = wallet.metadata(issuer_id)
    access_tokens = []
    for _ in range(RACERS):  # each request with its own offer and access token
        offer = wallet.receive_offer(
            create_offer(server, http, tx_code=False)["credential_offer_uri"]
        )
        token = wallet.token(offer, None)
        assert token.status_code == 200, token.text
        access_tokens.append(token.json()["access_token"])
    nonce = wallet.nonce(metadata)
    proofs = [wallet.proofs(issuer_id, nonce) for _ in range(RACERS)]

    responses = at_once(
        RACERS, lambda i: wallet.credential(metadata, access_tokens[i], RESIDENT, proofs[i])
    )

    outcomes = Counter(
        "credential" if r.status_code == 200 else (r.status_code, r.json()["error"])
        for r in responses
    )
    assert outcomes == {"credential": 1, (400, "invalid_nonce"): RACERS - 1}
    # A refused request left nothing behind: with a fresh nonce, its token still works.
    loser = next(i for i, r in enumerate(responses) if r.status_code != 200)
    retry = wallet.credential(
        metadata, access_tokens[loser], RESIDENT, wallet.proofs(issuer_id, wallet.nonce(metadata))
    )
    assert retry.status_code == 200, retry.text


def test_the_servers_run_the_workers_asked_for(server: RunningIssuer) -> None:
    started = Path(server.log).read_text("utf-8").count("Started server process")
    assert started == (4 if "postgresql" in server.database_url else 2)
