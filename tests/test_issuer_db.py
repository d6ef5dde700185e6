"""Read-only transactions (issuer.db.read_only): they cannot write, and on SQLite they neither
wait for a writer nor hold one up, whatever thread or dependency holds them open."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import select

from issuer.db import make_engine, migrate, read_only, session_scope
from issuer.models import Agency


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
