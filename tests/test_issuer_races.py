"""Races for one thing, over real HTTP against `jigap issuer serve --workers 2`: one winner.

Each test releases tens of real clients (threads, one connection each, spread over the two
worker processes) by a barrier at the step that races, and then reads the database:

- one access token, many credential requests at once (a wallet that timed out and retried):
  exactly one credential set is issued, nobody gets a 500;
- the right transaction code racing wrong ones: if the right one got a token, the token gets
  the credential (a wrong try only counts against an offer still waiting for its code);
- first issuances of an agency at once open exactly one status list between them.

SQLite serialises writers, so it passes these without the fixes; PostgreSQL does not.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import httpx
import pytest
from sqlmodel import Session, col, select

from credential_schemas import Registry
from issuer.models import Agency, AuditEvent, IssuedCredential, Offer, StatusListRecord
from keys.encoding import b64url_decode, json_loads_object
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from servicekit.db import make_engine
from tests._server import BACKENDS, RunningIssuer, issuer_on_backend
from tests._wallet import Wallet
from verifier.sd_jwt import split_compact

pytestmark = pytest.mark.slow

REGISTRY = Registry.load()
RESIDENT = "resident_register_extract"  # mois
# Agencies no other test here issues for: their first issuances.
FIRST_ISSUANCES = [("nhis", "health_insurance_eligibility"), ("mpm", "civil_servant_id")]
RACERS = 16
ROUNDS = 3
# Whether the right code comes first is up to the race: try it often. One right code and five
# wrong ones: more than the three attempts an offer allows, few enough for the right to win.
TX_CODE_ROUNDS, TX_CODE_RACERS = 30, 6
BATCH = 5  # proofs a request: a longer transaction, a wider window for the race
WAIT_SECONDS = 60.0
T = TypeVar("T")


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningIssuer]:
    with issuer_on_backend(
        request.param, tmp_path_factory.mktemp(request.param), workers=2
    ) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=WAIT_SECONDS, limits=httpx.Limits(max_connections=RACERS)) as client:
        yield client


def at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """``action(i)`` for i < count, each in its own thread, released together by a barrier."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait(timeout=WAIT_SECONDS)
        return action(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(run, i) for i in range(count)]
        return [future.result(timeout=WAIT_SECONDS) for future in futures]


def make_offer(
    server: RunningIssuer, http: httpx.Client, *, slug: str, type_id: str, tx_code: bool
) -> dict[str, Any]:
    response = http.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": type_id, "claims": REGISTRY.get(type_id).examples[0]}
        | {"tx_code": tx_code, "subject": "racer"},
        headers=server.admin(slug),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def redeemed(
    server: RunningIssuer, http: httpx.Client, wallet: Wallet, *, slug: str, type_id: str
) -> tuple[str, str]:
    """A fresh offer's id and the access token its code was exchanged for."""
    created = make_offer(server, http, slug=slug, type_id=type_id, tx_code=False)
    token = wallet.token(wallet.receive_offer(created["credential_offer_uri"]), None)
    assert token.status_code == 200, token.text
    return str(created["offer_id"]), str(token.json()["access_token"])


def rows_of(server: RunningIssuer, query: Any) -> list[Any]:
    engine = make_engine(server.database_url)
    try:
        with Session(engine) as session:
            return list(session.exec(query))
    finally:
        engine.dispose()


def status_slot(credential: str) -> tuple[int, int]:
    jwt = split_compact(credential).issuer_jwt
    reference = json_loads_object(b64url_decode(jwt.split(".")[1]))["status"]["status_list"]
    return int(str(reference["uri"]).rsplit("/", 1)[1]), int(reference["idx"])


def retry(
    wallet: Wallet, metadata: dict[str, Any], access_token: str, proofs: list[list[str]], i: int
) -> Any:
    """The ``i``-th request of a wallet retrying with one access token and a new proof."""
    return wallet.credential(metadata, access_token, RESIDENT, proofs[i])


def assert_no_server_error(responses: list[httpx.Response]) -> None:
    errors = [(r.status_code, r.text) for r in responses if r.status_code >= 500]
    assert not errors, errors


def test_one_access_token_racing_itself_gets_one_credential_set(
    server: RunningIssuer, http: httpx.Client
) -> None:
    wallet = Wallet(http, time.time)
    metadata = wallet.metadata(server.issuer_id("mois"))
    for _ in range(ROUNDS):
        offer_id, access_token = redeemed(server, http, wallet, slug="mois", type_id=RESIDENT)
        # Each retry with its own nonce and key: only the access token is shared.
        proofs = [
            wallet.proofs(metadata["credential_issuer"], wallet.nonce(metadata))
            for _ in range(RACERS)
        ]

        responses = at_once(
            RACERS,
            functools.partial(retry, wallet, metadata, access_token, proofs),
        )

        assert_no_server_error(responses)
        held = rows_of(
            server, select(IssuedCredential).where(IssuedCredential.offer_id == offer_id)
        )
        assert len(held) == 1, f"{len(held)} credential sets issued for one offer"
        # Whoever was answered with a credential holds the one the database recorded.
        answered = [r.json()["credentials"] for r in responses if r.status_code == 200]
        assert answered
        for credentials in answered:
            assert [status_slot(c["credential"]) for c in credentials] == [
                (held[0].status_list_id, held[0].status_index)
            ]
        # The issuance is in the audit log once, without the claims.
        events = rows_of(
            server,
            select(AuditEvent).where(
                AuditEvent.action == "credential.issue", AuditEvent.target == str(held[0].id)
            ),
        )
        assert len(events) == 1
        assert events[0].token_id is None


def test_the_right_transaction_code_racing_wrong_ones_keeps_its_token_good(
    server: RunningIssuer, http: httpx.Client
) -> None:
    wallet = Wallet(http, time.time)
    metadata = wallet.metadata(server.issuer_id("mois"))
    token_endpoint = f"{server.issuer_id('mois')}/token"
    # More wrong tries than the offer allows (3): unchecked, they kill a redeemed offer.
    for _ in range(TX_CODE_ROUNDS):
        created = make_offer(server, http, slug="mois", type_id=RESIDENT, tx_code=True)
        code = created["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
        right = created["tx_code"]
        wrong_code = f"{(int(right) + 1) % 10 ** len(right):0{len(right)}d}"
        forms = [
            {
                "grant_type": PRE_AUTHORIZED_CODE_GRANT,
                "pre-authorized_code": code["pre-authorized_code"],
                "tx_code": right if i == 0 else wrong_code,
            }
            for i in range(TX_CODE_RACERS)
        ]

        responses = at_once(
            TX_CODE_RACERS,
            lambda i: http.post(token_endpoint, data=forms[i]),  # noqa: B023
        )

        assert_no_server_error(responses)
        granted = [r for r in responses if r.status_code == 200]
        assert len(granted) <= 1
        assert all(
            r.status_code == 400 and r.json()["error"] == "invalid_grant"
            for r in responses
            if r.status_code != 200
        )
        state = rows_of(server, select(Offer.state).where(Offer.id == created["offer_id"]))
        if not granted:  # the wrong tries used up the attempts first: the offer is dead
            assert state == ["dead"]
            continue
        assert state == ["redeemed"]
        proofs = wallet.proofs(metadata["credential_issuer"], wallet.nonce(metadata))
        issued = wallet.credential(metadata, granted[0].json()["access_token"], RESIDENT, proofs)
        assert issued.status_code == 200, issued.text


@pytest.mark.parametrize(("slug", "type_id"), FIRST_ISSUANCES)
def test_first_issuances_at_once_open_one_status_list(
    server: RunningIssuer, http: httpx.Client, slug: str, type_id: str
) -> None:
    wallet = Wallet(http, time.time)
    metadata = wallet.metadata(server.issuer_id(slug))
    grants = [redeemed(server, http, wallet, slug=slug, type_id=type_id)[1] for _ in range(RACERS)]
    proofs = [
        wallet.proofs(metadata["credential_issuer"], wallet.nonce(metadata), BATCH) for _ in grants
    ]

    responses = at_once(
        RACERS, lambda i: wallet.credential(metadata, grants[i], type_id, proofs[i])
    )

    assert [r.status_code for r in responses] == [200] * RACERS, [r.text for r in responses]
    (agency_id,) = rows_of(server, select(Agency.id).where(Agency.slug == slug))
    lists = rows_of(
        server, select(StatusListRecord.id).where(col(StatusListRecord.agency_id) == agency_id)
    )
    assert len(lists) == 1, f"{len(lists)} status lists opened for {RACERS * BATCH} credentials"


# --- the agency's decisions: each taken on the row as it is -------------------------------------


def issued_credential_id(server: RunningIssuer, http: httpx.Client) -> int:
    wallet = Wallet(http, time.time)
    created = make_offer(server, http, slug="mois", type_id=RESIDENT, tx_code=False)
    wallet.obtain(created["credential_offer_uri"], None)
    (row,) = rows_of(
        server, select(IssuedCredential.id).where(IssuedCredential.offer_id == created["offer_id"])
    )
    return int(row)


def test_revoke_racing_unsuspend_never_revives_a_revoked_credential(
    server: RunningIssuer, http: httpx.Client
) -> None:
    for _ in range(ROUNDS):
        credential = f"{server.public_url}/admin/credentials/{issued_credential_id(server, http)}"
        suspended = http.post(f"{credential}/suspend", headers=server.admin())
        assert suspended.status_code == 200, suspended.text
        actions = ["revoke", "unsuspend"] * (RACERS // 2)

        responses = at_once(
            RACERS,
            lambda i: http.post(f"{credential}/{actions[i]}", headers=server.admin()),  # noqa: B023
        )

        assert_no_server_error(responses)
        done = [
            action for action, r in zip(actions, responses, strict=True) if r.status_code == 200
        ]
        assert all(r.status_code in (200, 409) for r in responses)
        # In any order one after the other: one revoke, perhaps one unsuspend before it.
        assert done.count("revoke") == 1 and done.count("unsuspend") <= 1, done
        assert http.get(credential, headers=server.admin()).json()["status"] == "invalid"


def test_approve_racing_deny_decides_once(server: RunningIssuer, http: httpx.Client) -> None:
    response = http.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": RESIDENT, "claims": REGISTRY.get(RESIDENT).examples[0]}
        | {"approval_required": True},
        headers=server.admin(),
    )
    assert response.status_code == 201, response.text
    offer = f"{server.public_url}/admin/offers/{response.json()['offer_id']}"
    actions = ["approve", "deny"] * (RACERS // 2)

    responses = at_once(
        RACERS, lambda i: http.post(f"{offer}/{actions[i]}", headers=server.admin())
    )

    assert_no_server_error(responses)
    decided = [r.json() for r in responses if r.status_code == 200]
    assert len(decided) == 1, decided
    assert sorted({r.status_code for r in responses}) == [200, 409]
    final = http.get(offer, headers=server.admin()).json()
    assert final["approval"] == decided[0]["approval"]
    events = rows_of(
        server,
        select(AuditEvent.action).where(AuditEvent.target == response.json()["offer_id"]),
    )
    decision = {"approved": "offer.approve", "denied": "offer.deny"}[decided[0]["approval"]]
    assert sorted(events) == sorted(["offer.create", decision])
