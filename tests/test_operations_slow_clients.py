"""Slow clients cannot hold a worker: raw sockets against a real `jigap issuer serve` with
short bounds (headers 1 s, body 1 s, 8 connections a worker).

Every wait is bounded by a socket timeout; every socket is closed by the test that opened it.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._server import RunningIssuer, running_issuer

HEADER_SECONDS = BODY_SECONDS = 1.0
MAX_CONNECTIONS = 8
WAIT_SECONDS = 10.0  # far above the bounds: a server that never cuts fails, it does not hang


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    directory: Path = tmp_path_factory.mktemp("slow")
    options = [
        "--header-timeout", str(HEADER_SECONDS),
        "--body-timeout", str(BODY_SECONDS),
        "--max-connections", str(MAX_CONNECTIONS),
    ]  # fmt: skip
    with running_issuer(
        directory / "data", f"sqlite:///{directory / 'issuer.sqlite3'}", serve_options=options
    ) as running:
        yield running


def connect(server: RunningIssuer) -> socket.socket:
    host, port = server.public_url.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=WAIT_SECONDS)


def read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket's timeout)."""
    received = b""
    while chunk := connection.recv(65_536):
        received += chunk
    return received


def test_headers_that_never_finish_are_cut(server: RunningIssuer) -> None:
    with connect(server) as connection:
        connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        started = time.monotonic()
        answer = read_until_closed(connection)
        elapsed = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEADER_SECONDS * 0.8 <= elapsed < WAIT_SECONDS


def test_a_silent_connection_is_cut(server: RunningIssuer) -> None:
    with connect(server) as connection:
        started = time.monotonic()
        read_until_closed(connection)
        elapsed = time.monotonic() - started

    assert elapsed < WAIT_SECONDS


def test_a_body_that_never_finishes_is_cut(server: RunningIssuer) -> None:
    with connect(server) as connection:
        connection.sendall(
            b"POST /admin/offers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + server.tokens["mois"].encode() + b"\r\n"
            b'Content-Length: 1000\r\n\r\n{"credential_type":'
        )
        started = time.monotonic()
        answer = read_until_closed(connection)
        elapsed = time.monotonic() - started

    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"error":"invalid_request"' in answer
    assert BODY_SECONDS * 0.8 <= elapsed < WAIT_SECONDS


def test_a_body_sent_in_time_is_served(server: RunningIssuer) -> None:
    with connect(server) as connection:
        connection.sendall(
            b"POST /agencies/mois/nonce HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"Connection: close\r\n\r\n"
        )
        answer = read_until_closed(connection)

    assert answer.startswith(b"HTTP/1.1 200 ")


def test_connections_beyond_the_cap_are_refused(server: RunningIssuer) -> None:
    with contextlib.ExitStack() as stack:
        opened = [stack.enter_context(connect(server)) for _ in range(MAX_CONNECTIONS * 2)]
        refused = 0
        for connection in opened:
            connection.settimeout(HEADER_SECONDS / 4)  # well before the header timeout
            try:
                refused += connection.recv(1) == b""
            except ConnectionResetError:
                refused += 1
            except TimeoutError:
                pass

    # Each beyond the cap was closed at once; those within it were still open.
    assert refused == MAX_CONNECTIONS
