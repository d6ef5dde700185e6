"""Read-only transactions (servicekit.db.read_only): they cannot write, and on SQLite they neither
wait for a writer nor hold one up, whatever thread or dependency holds them open."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from issuer.db import migrate
from issuer.models import Agency, StatusListRecord
from issuer.services.trust import unexpired_credential_signed_by
from protocols.oid4vci import WELL_KNOWN_CREDENTIAL_ISSUER, WELL_KNOWN_OAUTH_AS
from servicekit.db import make_engine, read_only, session_scope
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import admin, create_offer, issue, rows


def _agency(slug: str) -> Agency:
    return Agency(slug=slug, name_ko=slug, name_en=slug, credential_types=[], created_at=0)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate(engine)
    with session_scope(engine) as session:
        session.add(_agency("mois"))
    yield engine
    engine.dispose()


def _slugs(engine: Engine) -> list[str]:
    with session_scope(read_only(engine), queue=False) as session:
        return list(session.exec(select(Agency.slug)))


def test_a_read_only_transaction_reads(engine: Engine) -> None:
    assert _slugs(engine) == ["mois"]


def test_a_read_only_transaction_cannot_write(engine: Engine) -> None:
    with (
        pytest.raises(DBAPIError, match=r"readonly|read-only|read only"),
        session_scope(read_only(engine), queue=False) as session,
    ):
        session.add(_agency("nhis"))
        session.flush()
    # ... and the pooled connection it used writes again for the next writer.
    with session_scope(engine) as session:
        session.add(_agency("nhis"))
    assert sorted(_slugs(engine)) == ["mois", "nhis"]


def test_readers_and_a_writer_do_not_wait_for_each_other(engine: Engine) -> None:
    """A writer holds its transaction open; a reader, meanwhile, reads what was committed
    without waiting. Then a reader holds its transaction open while a writer commits."""
    writing, reader_done = threading.Event(), threading.Event()

    def writer() -> None:
        with session_scope(engine, queue=False) as session:
            session.add(_agency("mpm"))
            session.flush()
            writing.set()
            reader_done.wait(timeout=10)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(timeout=10)
        started = time.monotonic()
        assert _slugs(engine) == ["mois"]  # the uncommitted row is not seen
        assert time.monotonic() - started < 1.0  # SQLite's busy handler would wait seconds
    finally:
        reader_done.set()
        thread.join(timeout=10)

    with session_scope(read_only(engine), queue=False) as reading:
        assert sorted(reading.exec(select(Agency.slug))) == ["mois", "mpm"]
        started = time.monotonic()
        with session_scope(engine) as session:
            session.add(_agency("nts"))
        assert time.monotonic() - started < 1.0
    assert sorted(_slugs(engine)) == ["mois", "mpm", "nts"]


# -- the routes ------------------------------------------------------------------------------

world, client = _issuer_client.world, _issuer_client.client  # fixtures


def test_routes_that_only_read_answer_while_a_writer_holds_the_database(
    client: TestClient, world: IssuerWorld
) -> None:
    """On SQLite a transaction that writes holds the one write lock; a route whose session took
    it too would wait in SQLite's busy handler (30 s), then fail. Those that only read do not."""
    issue(client, world)  # opens a status list
    [status_list] = rows(world, StatusListRecord)
    offer = create_offer(client, world)
    by_reference = parse_qs(urlsplit(offer["credential_offer_reference_uri"]).query)
    offer_url = urlsplit(by_reference["credential_offer_uri"][0]).path
    paths = [
        f"{WELL_KNOWN_CREDENTIAL_ISSUER}/agencies/mois",
        f"{WELL_KNOWN_OAUTH_AS}/agencies/mois",
        offer_url,
        "/agencies/mois/jwks.json",
        f"/admin/offers/{offer['offer_id']}",
        "/admin/credentials",
        "/admin/audit-events",
        # Documents signed and stored on first fetch, then served from the store.
        f"/agencies/mois/status-lists/{status_list.id}",
        "/trust-list.jwt",
    ]
    for path in paths:  # the first fetch may write: not while the lock is held below
        assert client.get(path, headers=admin(world)).status_code == 200, path
    with session_scope(world.deployment.engine, queue=False) as writing:
        writing.add(_agency("mpm"))
        writing.flush()
        for path in paths:
            started = time.monotonic()
            response = client.get(path, headers=admin(world))
            assert response.status_code == 200, (path, response.text)
            assert time.monotonic() - started < 5, path


def test_whether_a_key_still_signs_is_one_index_seek(tmp_path: Path) -> None:
    """The JWKS and trust-list question, asked of SQLite's planner: a search of the key-expiry
    index (covering: no table row read), not a scan of the agency's credentials."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.sqlite3'}")
    migrate(engine)
    query = unexpired_credential_signed_by(1, "kid", 1_767_268_800)
    compiled = query.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection:
        plan = " ".join(
            row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}")
        )
    engine.dispose()
    assert "USING COVERING INDEX ix_issuedcredential_key_expiry" in plan, plan
    assert "SCAN" not in plan, plan
