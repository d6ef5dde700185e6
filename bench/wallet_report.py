"""The wallet service's benchmark as tables: ``bench/wallet_http.py`` measures, this says.

Three tables: the target rows (100 requests/s, each the median of its rounds) with the CPU
each request cost and the in-process cost of the same work; the highest rate that kept p99 ≤
100 ms; and the in-process service calls one by one.
"""

from __future__ import annotations

import math
import statistics

from bench.report import Report
from bench.wallet_http import (
    IN_PROCESS_CHECK,
    IN_PROCESS_LIST,
    IN_PROCESS_NONCE,
    IN_PROCESS_SHOW,
    IN_PROCESS_SIGN,
    LIST,
    SEARCH_P99_MS,
    TARGET_P99_MS,
    Measured,
)
from bench.wallet_seed import COPIES

__all__ = ["wallet_reports"]


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
    for backend, collector in measured.collector.items():
        pauses = sorted(collector.pauses)
        spread = (
            f"{1000 * statistics.median(pauses):.1f} ms median, {1000 * pauses[-1]:.1f} ms "
            "the longest"
            if pauses
            else "none"
        )
        notes.append(
            f"{backend}: {collector.lists:,} lists in a row, the app built "
            f"({collector.tracked:,} objects tracked): {len(pauses)} full (generation-2) "
            f"garbage collections, {spread}"
        )
    columns = ("backend", "call", "median µs", "calls/s", "spread", "repeats x calls")
    return Report("Wallet service calls in-process (what each request runs)", columns, rows, notes)


def wallet_reports(measured: Measured) -> list[Report]:
    return [_target_report(measured), _search_report(measured), _in_process_report(measured)]
