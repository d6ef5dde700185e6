"""A database that cannot answer gives ``503 temporarily_unavailable`` with ``Retry-After``, as
JSON, over real HTTP to `jigap issuer serve`; and the service recovers when it comes back.

The outage is one the test controls: on SQLite another connection holds the file's write lock
(``BEGIN EXCLUSIVE``) while the server's busy timeout is short; on PostgreSQL the server
reaches its database through a small TCP proxy on loopback that the test closes and reopens
(the shared PostgreSQL server is not the test's to stop).
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from credential_schemas import Registry
from servicekit.db import UNAVAILABLE, make_engine, scratch_postgres_schema
from tests._issuer import postgres_url
from tests._server import RunningIssuer, running_issuer

RESIDENT = "resident_register_extract"
CLAIMS = Registry.load().get(RESIDENT).examples[0]
_CHUNK = 65_536


def make_offer(server: RunningIssuer) -> httpx.Response:
    return httpx.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": RESIDENT, "claims": CLAIMS},
        headers=server.admin(),
        timeout=30.0,
    )


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "temporarily_unavailable"
    assert response.json()["error_description"]
    assert int(response.headers["retry-after"]) > 0


# -- SQLite: the file locked by another process's transaction ---------------------------------


def test_a_locked_sqlite_file_answers_503_then_recovers(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    database = data_dir / "issuer.sqlite3"
    with running_issuer(
        data_dir, f"sqlite:///{database}", extra_settings={"DATABASE_BUSY_SECONDS": "0.5"}
    ) as server:
        locker = sqlite3.connect(database, isolation_level=None, timeout=5)
        try:
            locker.execute("BEGIN EXCLUSIVE")
            assert_unavailable(make_offer(server))
        finally:
            locker.execute("ROLLBACK")
            locker.close()

        assert make_offer(server).status_code == 201


# -- PostgreSQL: the network path to the database cut and restored ----------------------------


class LoopbackProxy:
    """TCP from a loopback port to ``target``; ``cut()`` closes the listener and every
    connection, ``restore()`` listens again on the same port. Threads, bounded by sockets."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone does not wake a thread blocked in accept(), and on Linux the socket
            # keeps listening until that accept returns: shutdown() ends it at once.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


@pytest.mark.postgres
def test_a_lost_postgresql_answers_503_then_recovers(tmp_path: Path) -> None:
    server_url = postgres_url()
    if server_url is None:
        pytest.skip("JIGAP_TEST_DATABASE_URL is not set")
    with scratch_postgres_schema(server_url, prefix="t_") as direct_url:
        direct = make_url(direct_url)
        proxy = LoopbackProxy((direct.host or "127.0.0.1", direct.port or 5432))
        proxy.restore()
        through_proxy = direct.set(host="127.0.0.1", port=proxy.port)
        try:
            with running_issuer(
                tmp_path / "data", through_proxy.render_as_string(hide_password=False)
            ) as server:
                assert make_offer(server).status_code == 201

                proxy.cut()
                assert_unavailable(make_offer(server))
                ready = httpx.get(f"{server.public_url}/ready", timeout=30.0)
                assert_unavailable(ready)
                assert httpx.get(f"{server.public_url}/health").status_code == 200

                proxy.restore()
                assert make_offer(server).status_code == 201
        finally:
            proxy.cut()


@pytest.mark.postgres
def test_a_postgresql_deadlock_is_one_of_the_unavailable_errors() -> None:
    """The class the 503 handler matches is the one SQLAlchemy really raises for a deadlock."""
    server_url = postgres_url()
    if server_url is None:
        pytest.skip("JIGAP_TEST_DATABASE_URL is not set")
    with scratch_postgres_schema(server_url, prefix="t_") as url:
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                connection.execute(text("CREATE TABLE pair (id int PRIMARY KEY, v int)"))
                connection.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
            first, second = engine.connect(), engine.connect()
            caught: list[BaseException] = []

            def cross(connection: Connection, then: int) -> None:
                try:
                    connection.execute(text("UPDATE pair SET v = 1 WHERE id = :id"), {"id": then})
                except DBAPIError as exc:
                    caught.append(exc)

            first.begin()
            second.begin()
            first.execute(text("UPDATE pair SET v = 1 WHERE id = 1"))
            second.execute(text("UPDATE pair SET v = 1 WHERE id = 2"))
            waiting = threading.Thread(target=cross, args=(first, 2))
            waiting.start()
            time.sleep(0.2)  # the first waits for row 2; now the second asks for row 1
            cross(second, 1)
            second.rollback()
            waiting.join(30)
            first.rollback()
            first.close()
            second.close()
        finally:
            engine.dispose()

        (deadlock,) = caught
        assert "deadlock" in str(deadlock).lower()
        assert isinstance(deadlock, UNAVAILABLE)
