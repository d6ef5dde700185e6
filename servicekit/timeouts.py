"""Slow clients: how long a request may take to arrive, and how many connections a worker holds.

A client that opens connections and sends its headers or body a byte at a time (slowloris)
would otherwise hold a worker's sockets and memory for ever. Three bounds, each an option of
a service's `serve` command (`jigap issuer serve`: docs/operations.md, "Timeouts"):

- headers: from a connection's first byte (or its opening) until its request line and headers
  are complete; then the connection is closed with ``408``. uvicorn has no such timer (its
  keep-alive timeout runs only between requests), so ``SlowClientProtocol`` adds one to its
  h11 protocol. h11 bounds the headers' size (uvicorn's ``h11_max_incomplete_event_size``);
- body: from the end of the headers until the last body byte (``BodyTimeout``, ASGI);
- connections: a worker closes a new connection at once while it holds ``max_connections``.

A worker reads the bounds from its environment (spawned workers start from scratch: the
command sets them before forking), under its service's prefix (``JIGAP_ISSUER_``), so that two
services started from one process never read each other's. uvicorn is given a protocol class
by name: each service names a subclass that sets ``env_prefix``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, ClassVar

import anyio
import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from servicekit.asgi import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTimeout", "SlowClientProtocol", "timeouts_environment"]

# Each after the service's prefix: JIGAP_ISSUER_HEADER_TIMEOUT, ...
HEADER_TIMEOUT_ENV = "HEADER_TIMEOUT"
BODY_TIMEOUT_ENV = "BODY_TIMEOUT"
MAX_CONNECTIONS_ENV = "MAX_CONNECTIONS"
DEFAULT_HEADER_SECONDS, DEFAULT_BODY_SECONDS, DEFAULT_MAX_CONNECTIONS = 10.0, 30.0, 1000
_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
    b"connection: close\r\ncontent-length: 74\r\n\r\n"
    b'{"error":"invalid_request","error_description":"request headers too slow"}'
)


def timeouts_environment(
    env_prefix: str, *, header_seconds: float, body_seconds: float, max_connections: int
) -> dict[str, str]:
    return {
        env_prefix + HEADER_TIMEOUT_ENV: str(header_seconds),
        env_prefix + BODY_TIMEOUT_ENV: str(body_seconds),
        env_prefix + MAX_CONNECTIONS_ENV: str(max_connections),
    }


def _setting(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


class SlowClientProtocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a cap on open connections."""

    env_prefix: ClassVar[str] = "JIGAP_"  # a service's subclass names its own

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_seconds = _setting(
            self.env_prefix + HEADER_TIMEOUT_ENV, DEFAULT_HEADER_SECONDS
        )
        self._max_connections = int(
            _setting(self.env_prefix + MAX_CONNECTIONS_ENV, DEFAULT_MAX_CONNECTIONS)
        )
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            self.logger.warning("connection refused: %d open", len(self.connections) - 1)
            transport.close()
            return
        self._arm_header_timer()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state is h11.IDLE:
            self._arm_header_timer()  # a request begun, its headers not yet complete
        else:
            self._disarm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_timer()
        super().connection_lost(exc)

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self._header_seconds, self._headers_late)

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        self._header_timer = None
        # Idle between requests is the keep-alive timer's to end; this is a request begun.
        if (
            self.conn.their_state is h11.IDLE
            and self.timeout_keep_alive_task is None
            and not self.transport.is_closing()
        ):
            self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()


class BodyTimeout:
    """A request's body must arrive within ``seconds`` of its headers; else ``408``."""

    def __init__(self, app: ASGIApp, *, env_prefix: str, seconds: float | None = None) -> None:
        self.app = app
        if seconds is None:
            seconds = _setting(env_prefix + BODY_TIMEOUT_ENV, DEFAULT_BODY_SECONDS)
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline = anyio.current_time() + self.seconds
        body_done, late, started = False, False, False

        async def receive_in_time() -> Message:
            nonlocal body_done, late
            if body_done:  # afterwards only a disconnect is awaited, for as long as it takes
                return await receive()
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0)):
                    message = await receive()
            except TimeoutError:
                late = True
                raise
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_unless_late(message: Message) -> None:
            nonlocal started
            if late and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_unless_late)
        except TimeoutError:
            if not late:
                raise
        if late and not started:
            await _request_timeout(send, self.seconds)


async def _request_timeout(send: Send, seconds: float) -> None:
    body = b'{"error":"invalid_request","error_description":"request body not received in %gs"}'
    await send(
        {
            "type": "http.response.start",
            "status": 408,
            "headers": [
                (b"content-type", b"application/json"),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body % seconds})
