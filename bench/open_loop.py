"""Requests at a fixed rate (open loop) over a pool of keep-alive HTTP/1.1 connections.

Request i is due at ``start + i / rate``, whatever became of the ones before: the loop sleeps
until it is due, then starts it as a task of its own. Latency runs from the due time to the
answer's last byte, so every wait (for a free connection, behind slower requests, in the
server's backlog) counts; "lag" runs from the due time to the request leaving (what the
caller does first, such as signing, included), to tell a client that could not keep up from a
server that could not.

The client is h11 over asyncio streams, not ``httpx.AsyncClient``: on this 2-core machine the
latter's pool of 100 connections cost about 9 ms of CPU a request (0.5 ms with one
connection), enough to take the server's core; this costs about 0.1 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import h11

__all__ = ["Answer", "Outcome", "Pool", "Step", "cpu_seconds", "run_step"]

READ_BYTES = 65536
_JSON = ("content-type", "application/json")
MAX_FAILED_SHARE = 0.01  # more failed requests than this and a step's p99 is infinite


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[bytes, bytes]  # names lower-case
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.h11 = h11.Connection(h11.CLIENT)

    async def send(
        self,
        method: str,
        host: bytes,
        target: str,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
    ) -> Answer:
        state = self.h11
        fields = [(b"host", host), *((n.encode("ascii"), v.encode("ascii")) for n, v in headers)]
        if body or method != "GET":
            fields.append((b"content-length", str(len(body)).encode("ascii")))
        request = h11.Request(method=method, target=target, headers=fields)
        sent = state.send(request) or b""
        if body:
            sent += state.send(h11.Data(data=body)) or b""
        self.writer.write(sent + (state.send(h11.EndOfMessage()) or b""))
        status, names, parts = 0, {}, []
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                state.receive_data(await self.reader.read(READ_BYTES))
            elif isinstance(event, h11.Response):
                status, names = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            else:
                raise h11.RemoteProtocolError(f"unexpected {event!r}")
        state.start_next_cycle()
        return Answer(status, names, b"".join(parts))

    def close(self) -> None:
        self.writer.close()


class Pool:
    """``size`` connections to one server; a request waits for a free one."""

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self._host_header = f"{host}:{port}".encode("ascii")
        self._free: asyncio.Queue[_Connection | None] = asyncio.Queue()

    async def open(self) -> None:
        """Connect every connection before the clock starts."""
        for connection in await asyncio.gather(*(self._connect() for _ in range(self.size))):
            self._free.put_nowait(connection)

    async def _connect(self) -> _Connection:
        return _Connection(*await asyncio.open_connection(self.host, self.port))

    async def get(self, target: str, headers: Sequence[tuple[str, str]]) -> Answer:
        return await self.send("GET", target, headers)

    async def post(self, target: str, headers: Sequence[tuple[str, str]], body: bytes) -> Answer:
        """``body`` as JSON (the caller's own bytes)."""
        return await self.send("POST", target, [*headers, _JSON], body)

    async def send(
        self, method: str, target: str, headers: Sequence[tuple[str, str]], body: bytes = b""
    ) -> Answer:
        connection = await self._free.get()
        try:
            if connection is None:  # a broken one was dropped: connect again
                connection = await self._connect()
            answer = await connection.send(method, self._host_header, target, headers, body)
        except (OSError, h11.ProtocolError):
            if connection is not None:
                connection.close()
            self._free.put_nowait(None)
            raise
        self._free.put_nowait(connection)
        return answer

    def close(self) -> None:
        while not self._free.empty():
            connection = self._free.get_nowait()
            if connection is not None:
                connection.close()


@dataclass(frozen=True, slots=True)
class Outcome:
    left: float  # perf_counter when the request left (after the caller's own work)
    ok: bool
    retries: int  # requests sent again (a DPoP nonce refreshed), inside the latency


@dataclass(frozen=True)
class Step:
    rate: float  # offered, requests a second
    seconds: float  # wall time of the recorded part, first due time to last answer
    latencies: tuple[float, ...]  # seconds from due time to answer, answered requests
    lags: tuple[float, ...]  # seconds from due time to the request leaving
    failures: int
    retries: int
    client_cpu: float  # CPU seconds of this process over the whole step
    server_cpu: float  # CPU seconds of the server's processes over the whole step
    started: int  # requests started, warm-up included
    load: float  # the 1-minute load average at the step's end

    @property
    def requests(self) -> int:
        return len(self.latencies) + self.failures

    @property
    def achieved(self) -> float:
        return len(self.latencies) / self.seconds

    def _rank(self, values: list[float], share: float) -> float:
        return values[max(0, math.ceil(share * len(values)) - 1)]

    @property
    def p50_ms(self) -> float:
        """Nearest rank; a failed request ranks above every answered one."""
        return 1000 * self._rank(sorted(self.latencies) + [math.inf] * self.failures, 0.50)

    @property
    def p99_ms(self) -> float:
        if self.failures > MAX_FAILED_SHARE * self.requests:
            return math.inf
        return 1000 * self._rank(sorted(self.latencies) + [math.inf] * self.failures, 0.99)

    @property
    def lag_p99_ms(self) -> float:
        return 1000 * self._rank(sorted(self.lags), 0.99)

    def per_request_ms(self, cpu_seconds: float) -> float:
        return 1000 * cpu_seconds / self.started


def cpu_seconds(pid: int) -> float:
    """User and system CPU of ``pid`` and its children (uvicorn's workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # a process that ended meanwhile
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
        if entry.name == str(pid) or fields[1] == str(pid):  # fields[1]: the parent's pid
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


async def run_step(
    pool: Pool,
    send: Callable[[Pool, int], Awaitable[Outcome]],
    *,
    rate: float,
    seconds: float,
    warmup: float,
    server_pid: int,
    deadline_seconds: float,
) -> Step:
    """``send(pool, i)`` for request i, due at ``i / rate`` from the start; the first
    ``warmup`` seconds' requests are not recorded. Requests not answered within
    ``deadline_seconds`` of the last one's due time count as failed."""
    warm = round(warmup * rate)
    total = warm + round(seconds * rate)

    async def timed(i: int, due: float) -> tuple[float, float, bool, int]:
        try:
            outcome = await send(pool, i)
        except (OSError, h11.ProtocolError):
            return time.perf_counter() - due, math.nan, False, 0
        return time.perf_counter() - due, outcome.left - due, outcome.ok, outcome.retries

    tasks = []
    client_cpu, server_cpu = time.process_time(), cpu_seconds(server_pid)
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(timed(i, due)))
    done, pending = await asyncio.wait(tasks, timeout=deadline_seconds)
    for task in pending:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*pending, return_exceptions=True)
    ended = time.perf_counter()
    client_cpu = time.process_time() - client_cpu
    server_cpu = cpu_seconds(server_pid) - server_cpu
    recorded = [task.result() if task in done else None for task in tasks[warm:]]
    answered = [r for r in recorded if r is not None and r[2]]
    return Step(
        rate=rate,
        seconds=ended - (start + warm / rate),
        latencies=tuple(r[0] for r in answered),
        lags=tuple(r[1] for r in recorded if r is not None and not math.isnan(r[1])),
        failures=len(recorded) - len(answered),
        retries=sum(r[3] for r in recorded if r is not None),
        client_cpu=client_cpu,
        server_cpu=server_cpu,
        started=total,
        load=os.getloadavg()[0],
    )
