"""A transaction PostgreSQL aborts for a deadlock (40P01) or a serialization failure (40001)
is run again, once, whole: the citizen's request succeeds instead of failing.

The faults are the database's own: a trigger raises the SQLSTATE the first N times a
credential row is inserted (a sequence counts, since a sequence is not rolled back with the
transaction that advanced it), and a real deadlock between two transactions is left to
PostgreSQL to detect.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from issuer.api import create_app
from issuer.models import AuditEvent, IssuedCredential, Offer
from servicekit.db import is_transaction_conflict, retrying, session_scope
from tests._issuer import IssuerWorld, fresh_postgres_schema, postgres_url
from tests._issuer_client import (
    RESIDENT,
    admin,
    create_offer,
    issue,
    nonce,
    post_credential,
    proof,
    redeemed,
    rows,
    world,
)

__all__ = ["world"]  # a fixture

pytestmark = pytest.mark.postgres


@pytest.fixture
def database_url() -> Iterator[str]:
    """PostgreSQL only (its SQLSTATEs), in place of conftest's two backends."""
    if postgres_url() is None:
        pytest.skip("JIGAP_TEST_DATABASE_URL is not set")
    yield from fresh_postgres_schema()


@pytest.fixture
def pg_world(world: IssuerWorld) -> IssuerWorld:
    return world


@pytest.fixture
def client(pg_world: IssuerWorld) -> Iterator[TestClient]:
    app = create_app(deployment=pg_world.deployment)
    # What a database failure becomes over HTTP is the error layer's business: here, a 5xx.
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def fail_inserts(engine: Engine, table: str, *, sqlstate: str, times: int) -> None:
    """Make the first ``times`` INSERTs into ``table`` fail with ``sqlstate``."""
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE fault_count"))
        connection.execute(
            text(f"""
            CREATE FUNCTION fault() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF nextval('fault_count') <= {times} THEN
                    RAISE EXCEPTION 'injected' USING ERRCODE = '{sqlstate}';
                END IF;
                RETURN NEW;
            END $$""")
        )
        trigger = f"CREATE TRIGGER fault BEFORE INSERT ON {table} FOR EACH ROW"
        connection.execute(text(trigger + " EXECUTE FUNCTION fault()"))


def faults_fired(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT last_value FROM fault_count")).scalar_one())


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlocked_issuance_is_run_again_and_succeeds(
    client: TestClient, pg_world: IssuerWorld, sqlstate: str
) -> None:
    fail_inserts(pg_world.deployment.engine, "issuedcredential", sqlstate=sqlstate, times=1)

    issued = issue(client, pg_world, batch=2)  # asserts the 200

    assert faults_fired(pg_world.deployment.engine) == 3  # the first try, then two inserts
    held = rows(pg_world, IssuedCredential)
    assert len(held) == len(issued.credentials) == 2  # nothing of the first try is left
    assert len([e for e in rows(pg_world, AuditEvent) if e.action == "credential.issue"]) == 2


def test_a_second_deadlock_in_a_row_is_given_up_with_nothing_half_done(
    client: TestClient, pg_world: IssuerWorld
) -> None:
    fail_inserts(pg_world.deployment.engine, "issuedcredential", sqlstate="40P01", times=2)
    grant = redeemed(client, pg_world)
    c_nonce = nonce(client)

    response = post_credential(client, grant.access_token, [proof(pg_world, c_nonce)])

    assert response.status_code >= 500
    assert faults_fired(pg_world.deployment.engine) == 2  # tried twice, not more
    assert rows(pg_world, IssuedCredential) == []
    offer = next(o for o in rows(pg_world, Offer) if o.id == grant.offer_id)
    assert offer.state == "redeemed"  # the citizen can still try again
    retry = post_credential(client, grant.access_token, [proof(pg_world, nonce(client))])
    assert retry.status_code == 200, retry.text


def test_other_database_errors_are_not_run_again(pg_world: IssuerWorld) -> None:
    engine = pg_world.deployment.engine
    attempts = []

    @retrying
    def divide_by_zero() -> None:
        attempts.append(1)
        with session_scope(engine) as session:
            session.connection().execute(text("SELECT 1/0"))

    with pytest.raises(DBAPIError) as raised:
        divide_by_zero()
    assert not is_transaction_conflict(raised.value)
    assert len(attempts) == 1


def test_a_real_deadlock_is_detected_and_its_victim_run_again(pg_world: IssuerWorld) -> None:
    engine = pg_world.deployment.engine
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE pair (id int PRIMARY KEY, v int)"))
        connection.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    both_hold_one, one_committed = threading.Barrier(2), threading.Event()
    attempts: list[int] = []
    bump = text("UPDATE pair SET v = v + 1 WHERE id = :id")

    @retrying
    def cross(first: int, second: int) -> None:
        attempts.append(first)
        first_try = attempts.count(first) == 1
        if not first_try:  # the victim's second try: after the winner, so as not to meet again
            one_committed.wait(timeout=30)
        with session_scope(engine) as session:
            session.connection().execute(bump, {"id": first})
            if first_try:  # the first tries meet halfway, each holding the row the other needs
                both_hold_one.wait(timeout=30)
            session.connection().execute(bump, {"id": second})
        one_committed.set()

    threads = [threading.Thread(target=cross, args=pair) for pair in [(1, 2), (2, 1)]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # PostgreSQL aborted one of the two (after deadlock_timeout); run again, it went through.
    assert sorted(attempts) in ([1, 1, 2], [1, 2, 2])
    with engine.connect() as connection:
        assert connection.execute(text("SELECT sum(v) FROM pair")).scalar_one() == 4


def test_a_deadlocked_admin_write_is_run_again(client: TestClient, pg_world: IssuerWorld) -> None:
    fail_inserts(pg_world.deployment.engine, "auditevent", sqlstate="40P01", times=1)

    create_offer(client, pg_world)  # asserts the 201

    assert faults_fired(pg_world.deployment.engine) == 2
    assert len(rows(pg_world, Offer)) == 1
    assert [e.action for e in rows(pg_world, AuditEvent)] == ["offer.create"]


def test_a_deadlocked_bulk_row_is_run_again(client: TestClient, pg_world: IssuerWorld) -> None:
    fail_inserts(pg_world.deployment.engine, "offer", sqlstate="40001", times=1)
    claims = pg_world.deployment.registry.get(RESIDENT).examples[0]
    upload = "\n".join([json.dumps({"claims": claims})] * 2).encode()

    response = client.post(
        "/admin/offers/bulk",
        params={"credential_type": RESIDENT},
        content=upload,
        headers=admin(pg_world) | {"Content-Type": "application/x-ndjson"},
    )

    assert response.status_code == 200, response.text
    *answered, summary = [json.loads(line) for line in response.text.splitlines()]
    assert [("offer_id" in row, row["row"]) for row in answered] == [(True, 1), (True, 2)]
    assert summary["summary"]["created"] == 2
    assert faults_fired(pg_world.deployment.engine) == 3
    assert len(rows(pg_world, Offer)) == 2
