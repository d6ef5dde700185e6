"""The wallet service over HTTP: listing credentials and showing one, at a fixed request rate.

A deployment per backend (``bench/wallet_seed.py``: 100 accounts holding 20 credentials of
three copies each, on a SQLite file and, given a server, in a new PostgreSQL schema) is served
by `jigap wallet serve` on loopback, with one worker and with two: every server at once, each
on a port of its own (an idle one costs nothing). The phones are the bench process: one
asyncio loop (``bench/open_loop.py``), a keep-alive connection per device opened before the
clock starts, each device's P-256 key signing a DPoP proof for every request.

**Open loop.** Request i is due at ``start + i / rate`` whatever became of the ones before
(devices in turn; for a show, a random credential of the device). Latency runs from the due
time to the answer's last byte, so queueing counts; "client lag" is how late the request left
the bench. The first second of a step is warm-up, not recorded; a step ends when every
request it started has been answered.

**Rounds.** The target rows (100 requests/s) run ``Plan.rounds`` times, every row in turn, so
that a noisy moment of a shared machine hits them alike; a row gives the median of its rounds.

**Proofs** are signed when the request leaves (about 0.1 ms; the in-process table gives it):
a proof's `iat` is then the second it is sent and its nonce the last `DPoP-Nonce` any answer
carried, as a phone does; an answer `use_dpop_nonce` is retried once with the new nonce (the
retry inside the latency). A request that fails is never a latency: it ranks above every
answered one, and makes the step's p99 infinite if it is more than 1 % of the step.

**Search.** Rates in steps (``Plan.ladder``) until one misses p99 ≤ 100 ms or the ladder ends,
then ``Plan.bisections`` halvings between the last rate that held and the first that did not.

**In-process.** With the servers stopped, the service calls behind each route are timed in the
bench process on the same database (``bench/timing.py``): ``holding.list_credentials`` and
``show_credential``, and what every request also pays: ``dpop_guard.check_proof`` (one write
transaction: the nonce, the account, the replay row) and ``current_nonce`` (the answer's
``DPoP-Nonce``), beside the client's ``make_dpop_proof``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import math
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.open_loop import Outcome, Pool, Step, run_step
from bench.report import Report
from bench.timing import Case, Measurement, measure
from bench.wallet_seed import (
    COPIES,
    Device,
    SeededWallet,
    open_deployment,
    running_issuer,
    seed_wallet,
    serving_wallet,
)
from protocols.dpop import DPOP_HEADER, DPOP_NONCE_HEADER, DpopErrorCode, make_dpop_proof
from servicekit.db import scratch_postgres_schema
from wallet_api import holding
from wallet_api.dpop_guard import check_proof, current_nonce

__all__ = [
    "FULL",
    "LIST",
    "QUICK",
    "SHOW",
    "Measured",
    "Plan",
    "WalletRun",
    "measure_wallet",
    "wallet_reports",
]

LIST = "list"
SHOW = "show"
TARGET_P99_MS = 50.0  # at Plan.target_rate, on 2 cores (issue 9)
SEARCH_P99_MS = 100.0  # the highest rate that keeps p99 under this is searched for
_NONCE_HEADER = DPOP_NONCE_HEADER.lower().encode("ascii")
_USE_NONCE = DpopErrorCode.USE_DPOP_NONCE.encode("ascii")
MIN_SEARCH_STEP = 5  # requests/s: rates closer than this differ by less than the noise
REQUEST_SECONDS = 30.0


@dataclass(frozen=True)
class Plan:
    devices: int
    per_device: int
    workers: tuple[int, ...]
    target_rate: float  # requests a second of the target rows
    target_seconds: float
    rounds: int  # of the target rows, each row in turn
    ladder: tuple[float, ...]  # rates tried in the search, in order
    search_seconds: float
    bisections: int
    warmup_seconds: float
    repeats: int  # in-process: batches of each call
    batch_seconds: float


FULL = Plan(
    devices=100,
    per_device=20,
    workers=(1, 2),
    target_rate=100,
    target_seconds=10,
    rounds=3,
    ladder=(50, 100, 150, 200, 300, 400, 600, 800),
    search_seconds=5,
    bisections=2,
    warmup_seconds=1,
    repeats=5,
    batch_seconds=0.2,
)
QUICK = Plan(
    devices=100,
    per_device=20,
    workers=(1,),
    target_rate=100,
    target_seconds=2,
    rounds=1,
    ladder=(100, 200),
    search_seconds=1,
    bisections=0,
    warmup_seconds=0.5,
    repeats=2,
    batch_seconds=0.02,
)


# --- the phones -----------------------------------------------------------------------------------


@dataclass
class _Phones:
    """The devices as the bench drives them, and the last nonce the service sent."""

    public_url: str
    devices: Sequence[Device]
    nonce: str | None = None
    rng: random.Random = field(default_factory=lambda: random.Random(9))

    async def send(self, operation: str, pool: Pool, i: int) -> Outcome:
        """Request i: device i in turn, its proof signed now with the last nonce seen."""
        device = self.devices[i % len(self.devices)]
        if operation == LIST:
            path = "/credentials"
        else:
            path = f"/credentials/{self.rng.choice(device.credential_ids)}"
        left = math.nan
        for attempt in range(2):
            proof = make_dpop_proof(
                device.key,
                method="GET",
                uri=self.public_url + path,
                now=int(time.time()),
                nonce=self.nonce,
            )
            if attempt == 0:
                left = time.perf_counter()
            answer = await pool.get(path, [(DPOP_HEADER, proof)])
            nonce = answer.headers.get(_NONCE_HEADER)
            if nonce is not None:
                self.nonce = nonce.decode("ascii")
            if answer.status != httpx.codes.UNAUTHORIZED or _USE_NONCE not in answer.body:
                return Outcome(left, answer.status == httpx.codes.OK, attempt)
        return Outcome(left, False, 1)

    def check(self, per_device: int) -> str:
        """Before timing: a list holds every credential, a show has claims; their states."""
        device = self.devices[0]
        listed = self._fetch("/credentials", device)
        shown = self._fetch(f"/credentials/{device.credential_ids[0]}", device)
        credentials = listed["credentials"]
        if len(credentials) != per_device or not shown["claims"]:
            raise RuntimeError(f"{len(credentials)} credentials listed, or a show without claims")
        return ", ".join(sorted({c["status"] for c in credentials}))

    def _fetch(self, path: str, device: Device) -> dict[str, Any]:
        with httpx.Client(base_url=self.public_url, timeout=REQUEST_SECONDS) as client:
            for _attempt in range(2):  # the first may be told to use the service's nonce
                proof = make_dpop_proof(
                    device.key,
                    method="GET",
                    uri=self.public_url + path,
                    now=int(time.time()),
                    nonce=self.nonce,
                )
                answer = client.get(path, headers={DPOP_HEADER: proof})
                self.nonce = answer.headers.get(DPOP_NONCE_HEADER, self.nonce)
                if answer.status_code == httpx.codes.OK:
                    body: dict[str, Any] = answer.json()
                    return body
        raise RuntimeError(f"GET {path}: {answer.status_code} {answer.text}")


def _step(
    phones: _Phones, operation: str, rate: float, seconds: float, warmup: float, server_pid: int
) -> Step:
    """One rate for ``seconds`` (after ``warmup``) over a connection per device."""
    host, port = phones.public_url.removeprefix("http://").rsplit(":", 1)

    async def run() -> Step:
        pool = Pool(host, int(port), len(phones.devices))
        await pool.open()
        try:
            return await run_step(
                pool,
                functools.partial(phones.send, operation),
                rate=rate,
                seconds=seconds,
                warmup=warmup,
                server_pid=server_pid,
                deadline_seconds=REQUEST_SECONDS,
            )
        finally:
            pool.close()

    return asyncio.run(run())


# --- a server, its target rows and its search -----------------------------------------------------


@dataclass(frozen=True)
class WalletRun:
    """What one backend and one worker count gave for one operation."""

    backend: str
    workers: int
    operation: str
    targets: tuple[Step, ...]  # at the target rate, one a round
    search: tuple[Step, ...]
    states: str  # the credential states a list showed (valid when status lists are held)

    @property
    def p50_ms(self) -> float:
        return statistics.median(step.p50_ms for step in self.targets)

    @property
    def p99_ms(self) -> float:
        return statistics.median(step.p99_ms for step in self.targets)

    @property
    def highest(self) -> Step | None:
        held = [s for s in self.search if s.p99_ms <= SEARCH_P99_MS]
        return max(held, key=lambda s: s.rate) if held else None


def _search(run_step: Callable[[float, float], Step], plan: Plan) -> list[Step]:
    steps: list[Step] = []
    held: float | None = None
    missed: float | None = None
    for rate in plan.ladder:
        step = run_step(rate, plan.search_seconds)
        steps.append(step)
        if step.p99_ms > SEARCH_P99_MS:
            missed = rate
            break
        held = rate
    for _ in range(plan.bisections if missed is not None else 0):
        rate = round(((held or 0) + missed) / 2) if missed is not None else 0
        if rate - (held or 0) < MIN_SEARCH_STEP:
            break
        step = run_step(rate, plan.search_seconds)
        steps.append(step)
        if step.p99_ms <= SEARCH_P99_MS:
            held = rate
        else:
            missed = rate
    return steps


@dataclass(frozen=True)
class _Served:
    backend: str
    workers: int
    phones: _Phones
    pid: int
    states: str


def _measure_http(
    wallets: Sequence[SeededWallet], plan: Plan, log: Callable[[str], None]
) -> list[WalletRun]:
    """Every server at once (each on a port of its own; an idle one costs nothing): the
    target rows round after round, every row in turn, so that a noisy moment of a shared
    machine hits them alike; then each row's search."""
    with contextlib.ExitStack() as stack:
        served = []
        for wallet in wallets:
            for workers in plan.workers:
                url, pid = stack.enter_context(
                    serving_wallet(wallet, workers=workers, own_port=True)
                )
                phones = _Phones(url, wallet.devices)
                states = phones.check(plan.per_device)
                served.append(_Served(wallet.backend, workers, phones, pid, states))
        cells = [(server, operation) for server in served for operation in (LIST, SHOW)]

        def run_step(cell: tuple[_Served, str], rate: float, seconds: float) -> Step:
            server, operation = cell
            step = _step(server.phones, operation, rate, seconds, plan.warmup_seconds, server.pid)
            log(
                f"  {server.backend}, {server.workers} worker(s), {operation} at {rate:g}/s: "
                f"p50 {step.p50_ms:.1f} ms, p99 {step.p99_ms:.1f} ms, {step.failures} failed, "
                f"load {step.load:.1f}"
            )
            return step

        targets: list[list[Step]] = [[] for _ in cells]
        for round_number in range(plan.rounds):
            log(f"round {round_number + 1} of {plan.rounds} at {plan.target_rate:g}/s …")
            for cell, steps in zip(cells, targets, strict=True):
                steps.append(run_step(cell, plan.target_rate, plan.target_seconds))
        runs = []
        for cell, steps in zip(cells, targets, strict=True):
            server, operation = cell
            log(f"searching: {server.backend}, {server.workers} worker(s), {operation} …")
            search = _search(functools.partial(run_step, cell), plan)
            runs.append(
                WalletRun(
                    server.backend,
                    server.workers,
                    operation,
                    tuple(steps),
                    tuple(search),
                    server.states,
                )
            )
    return runs


# --- in-process -----------------------------------------------------------------------------------

IN_PROCESS_LIST = "holding.list_credentials"
IN_PROCESS_SHOW = "holding.show_credential"
IN_PROCESS_CHECK = "dpop_guard.check_proof (with make_dpop_proof)"
IN_PROCESS_SIGN = "make_dpop_proof (the client's signing)"
IN_PROCESS_NONCE = "dpop_guard.current_nonce"


def _in_process(seeded: SeededWallet, plan: Plan) -> list[Measurement]:
    deployment = open_deployment(seeded)
    devices = seeded.devices
    rng = random.Random(9)
    picks = itertools.cycle(rng.sample(range(len(devices)), len(devices)))
    path = "/credentials"
    uri = seeded.public_url + path
    nonce = current_nonce(deployment)

    def listing() -> object:
        return holding.list_credentials(deployment, devices[next(picks)].account_id)

    def showing() -> object:
        device = devices[next(picks)]
        credential_id = rng.choice(device.credential_ids)
        return holding.show_credential(deployment, device.account_id, credential_id)

    def signing() -> str:
        key = devices[next(picks)].key
        return make_dpop_proof(key, method="GET", uri=uri, now=deployment.now(), nonce=nonce)

    def checking() -> object:
        return check_proof(deployment, [signing()], method="GET", path=path, account_required=True)

    cases = [
        Case(IN_PROCESS_LIST, listing),
        Case(IN_PROCESS_SHOW, showing),
        Case(IN_PROCESS_CHECK, checking),
        Case(IN_PROCESS_SIGN, signing),
        Case(IN_PROCESS_NONCE, lambda: current_nonce(deployment)),
    ]
    try:
        for case in cases:  # once each first: the sealing key opens (scrypt) on the first show
            case.run()
        return measure(cases, repeats=plan.repeats, target_seconds=plan.batch_seconds)
    finally:
        deployment.engine.dispose()


# --- all of it ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    runs: list[WalletRun]
    in_process: dict[str, list[Measurement]]  # backend -> calls
    seeded: list[SeededWallet]
    plan: Plan


@contextlib.contextmanager
def _databases(directory: Path, postgres_url: str | None) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        urls = {"sqlite": f"sqlite:///{directory / 'wallet.sqlite3'}"}
        if postgres_url:
            urls["postgresql"] = stack.enter_context(
                scratch_postgres_schema(postgres_url, prefix="bench_wallet_")
            )
        yield urls


def measure_wallet(
    plan: Plan, *, postgres_url: str | None, log: Callable[[str], None] = print
) -> Measured:
    """Seed each backend (the issuer served meanwhile), then measure it: each worker count's
    target rows and search, then the in-process calls with the server stopped."""
    runs: list[WalletRun] = []
    in_process: dict[str, list[Measurement]] = {}
    seeded: list[SeededWallet] = []
    with (
        tempfile.TemporaryDirectory(prefix="jigap-bench-wallet-") as scratch,
        _databases(Path(scratch), postgres_url) as urls,
    ):
        directory = Path(scratch)
        with running_issuer(directory) as issuer:
            for backend, url in urls.items():
                log(f"seeding the wallet on {backend} …")
                seeded.append(
                    seed_wallet(
                        issuer,
                        directory,
                        backend=backend,
                        database_url=url,
                        devices=plan.devices,
                        per_device=plan.per_device,
                    )
                )
        log("measuring the wallet over HTTP …")
        runs = _measure_http(seeded, plan, log)
        for wallet in seeded:
            log(f"measuring the service calls in-process on {wallet.backend} …")
            in_process[wallet.backend] = _in_process(wallet, plan)
    return Measured(runs, in_process, seeded, plan)


# --- tables ---------------------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:,.1f}"


def _in_process_us(measured: Measured, backend: str, operation: str) -> tuple[float, float]:
    """The route's service call, and that with what every request also runs (the proof's
    check, its own signing left out, and the nonce of the answer), µs."""
    by_label = {m.label: m.median_us for m in measured.in_process[backend]}
    call = by_label[IN_PROCESS_LIST if operation == LIST else IN_PROCESS_SHOW]
    guard = by_label[IN_PROCESS_CHECK] - by_label[IN_PROCESS_SIGN] + by_label[IN_PROCESS_NONCE]
    return call, call + guard


def _target_report(measured: Measured) -> Report:
    plan = measured.plan
    rows = []
    notes = []
    for run in measured.runs:
        steps = run.targets
        call, request = _in_process_us(measured, run.backend, run.operation)
        server_cpu = statistics.median(s.per_request_ms(s.server_cpu) for s in steps)
        client_cpu = statistics.median(s.per_request_ms(s.client_cpu) for s in steps)
        rows.append(
            (
                run.backend,
                str(run.workers),
                run.operation,
                f"{len(steps)} x {steps[0].requests:,}",
                f"{statistics.median(s.achieved for s in steps):,.0f}",
                _ms(run.p50_ms),
                _ms(run.p99_ms),
                " / ".join(_ms(s.p99_ms) for s in steps),
                str(sum(s.failures for s in steps)),
                _ms(max(s.lag_p99_ms for s in steps)),
                f"{server_cpu:.2f}",
                f"{client_cpu:.2f}",
                f"{call / 1000:.2f}",
                f"{request / 1000:.2f}",
                f"{run.p50_ms * 1000 / request:.1f}x",
                " / ".join(f"{s.load:.1f}" for s in steps),
            )
        )
        met = sum(s.p99_ms <= TARGET_P99_MS for s in steps)
        notes.append(
            f"{run.backend}, {run.workers} worker(s), {run.operation}: p99 {_ms(run.p99_ms)} ms "
            f"(median of rounds) at {plan.target_rate:g}/s: target ≤ {TARGET_P99_MS:.0f} ms "
            f"{'met' if run.p99_ms <= TARGET_P99_MS else 'NOT met'} ({met} of {len(steps)} rounds)"
        )
    seeded = measured.seeded[0]
    every_step = [step for run in measured.runs for step in (*run.targets, *run.search)]
    notes += [
        f"{plan.devices} accounts of {plan.per_device} credentials ({COPIES} copies each), "
        f"copies of {seeded.real_credentials} credentials received through the flow; "
        f"the credentials' states in a list: {measured.runs[0].states}",
        f"open loop at {plan.target_rate:g} requests/s: {plan.rounds} round(s), every row in "
        f"turn, each {plan.target_seconds:g} s recorded after {plan.warmup_seconds:g} s of "
        "warm-up; latency from each request's due time; p50, p99, answered/s and CPU: median "
        "of the rounds; client lag (due time to leaving the bench, proof signed): the worst "
        "round's p99",
        "CPU ms/request: the server's processes (uvicorn and its workers; PostgreSQL's own "
        "processes not counted) and the bench process, over the step, per request started",
        "in-process (wall time, the server stopped): call: holding.list_credentials or "
        "show_credential; request: the call, dpop_guard.check_proof less the proof's signing, "
        "and current_nonce (what a request runs besides HTTP, FastAPI and JSON)",
        f"answers `use_dpop_nonce`, retried with the new nonce inside the latency: "
        f"{sum(s.retries for s in every_step)} in {sum(s.started for s in every_step):,} "
        "requests (every step, the search's too)",
    ]
    columns = (
        "backend",
        "workers",
        "operation",
        "rounds x requests",
        "answered req/s",
        "p50 ms",
        "p99 ms",
        "p99 ms by round",
        "failed",
        "client lag p99 ms",
        "server CPU ms/req",
        "client CPU ms/req",
        "in-process call ms",
        "in-process request ms",
        "p50 / in-process request",
        "load (1 min) by round",
    )
    return Report(
        f"Wallet service over HTTP at {plan.target_rate:g} requests/s (open loop)",
        columns,
        rows,
        notes,
    )


def _search_report(measured: Measured) -> Report:
    rows = []
    for run in measured.runs:
        best = run.highest
        tried = ", ".join(
            f"{s.rate:g}: {_ms(s.p99_ms)}" for s in sorted(run.search, key=lambda s: s.rate)
        )
        rows.append(
            (
                run.backend,
                str(run.workers),
                run.operation,
                f"{best.rate:g}" if best else f"< {min(s.rate for s in run.search):g}",
                _ms(best.p50_ms) if best else "",
                _ms(best.p99_ms) if best else "",
                f"{best.per_request_ms(best.server_cpu):.2f}" if best else "",
                tried,
            )
        )
    plan = measured.plan
    notes = [
        f"rates in turn ({', '.join(f'{r:g}' for r in plan.ladder)} /s) until p99 > "
        f"{SEARCH_P99_MS:.0f} ms, then up to {plan.bisections} halvings between the last rate "
        f"that held and the first that did not; {plan.search_seconds:g} s recorded a step",
    ]
    columns = (
        "backend",
        "workers",
        "operation",
        f"highest req/s with p99 ≤ {SEARCH_P99_MS:.0f} ms",
        "p50 ms",
        "p99 ms",
        "server CPU ms/req",
        "rate: p99 ms of every step",
    )
    return Report(
        f"Wallet service over HTTP: the highest rate keeping p99 ≤ {SEARCH_P99_MS:.0f} ms",
        columns,
        rows,
        notes,
    )


def _in_process_report(measured: Measured) -> Report:
    rows = []
    for backend, calls in measured.in_process.items():
        rows += [
            (
                backend,
                m.label,
                f"{m.median_us:,.1f}",
                f"{m.ops_per_second:,.0f}",
                f"±{m.spread_percent:.1f} %",
                f"{len(m.ns_per_op)} x {m.ops_per_batch:,}",
            )
            for m in calls
        ]
    notes = [
        "the server stopped; the same database and data directory; accounts in turn, a random "
        "credential for show; check_proof includes signing the proof (its own row below)",
    ]
    columns = ("backend", "call", "median µs", "calls/s", "spread", "repeats x calls")
    return Report("Wallet service calls in-process (what each request runs)", columns, rows, notes)


def wallet_reports(measured: Measured) -> list[Report]:
    return [_target_report(measured), _search_report(measured), _in_process_report(measured)]
