"""Presenting over HTTP as tables: ``bench/presenting_http.py`` measures, this says.

Three tables: the target rows (50 presentations/s, each the median of its rounds) with the CPU
each presentation cost and the in-process cost of the same round trip; the highest rate that
kept p99 ≤ 100 ms; and the in-process calls and parts of a presentation.
"""

from __future__ import annotations

import math
import statistics

from bench.presenting_http import (
    ASK,
    ASK_ACCEPT,
    GUARD,
    NONCE,
    PHONE_SIGN,
    PROOF,
    ROUND_TRIP,
    TARGET_P99_MS,
    Measured,
)
from bench.report import Report

__all__ = ["presenting_reports"]

_REQUESTS = 3  # of the wallet service in one presentation


def _ms(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:,.1f}"


def _in_process_ms(measured: Measured, backend: str) -> tuple[float, float]:
    """The round trip's service calls (the phone's signing left out), and that with what each
    of its three requests also runs (the proof's check less its signing, the answer's nonce)."""
    by_label = {m.label: m.median_us for m in measured.in_process[backend]}
    calls = by_label[ROUND_TRIP] - by_label[PHONE_SIGN]
    guard = by_label[GUARD] - by_label[PROOF] + by_label[NONCE]
    return calls / 1000, (calls + _REQUESTS * guard) / 1000


def _target_report(measured: Measured) -> Report:
    plan = measured.plan
    rows, notes = [], []
    for run in measured.runs:
        steps = run.targets
        calls, presentation = _in_process_ms(measured, run.backend)
        rows.append(
            (
                run.backend,
                str(run.workers),
                f"{len(steps)} x {steps[0].requests:,}",
                f"{statistics.median(s.achieved for s in steps):,.1f}",
                _ms(run.p50_ms),
                _ms(run.p99_ms),
                " / ".join(_ms(s.p99_ms) for s in steps),
                str(sum(s.failures for s in steps)),
                _ms(max(s.lag_p99_ms for s in steps)),
                f"{statistics.median(s.per_request_ms(s.server_cpu) for s in steps):.1f}",
                f"{statistics.median(s.per_request_ms(s.client_cpu) for s in steps):.1f}",
                f"{calls:.1f}",
                f"{presentation:.1f}",
                f"{run.p50_ms / presentation:.1f}x",
                " / ".join(f"{s.load:.1f}" for s in steps),
            )
        )
        met = sum(s.p99_ms <= TARGET_P99_MS for s in steps)
        notes.append(
            f"{run.backend}, {run.workers} worker(s): p99 {_ms(run.p99_ms)} ms (median of "
            f"rounds) at {plan.target_rate:g}/s: target ≤ {TARGET_P99_MS:.0f} ms "
            f"{'met' if run.p99_ms <= TARGET_P99_MS else 'NOT met'} ({met} of {len(steps)} rounds)"
        )
        if run.refusals:
            notes.append(
                f"{run.backend}, {run.workers} worker(s) refused: {', '.join(run.refusals)}"
            )
    every_step = [step for run in measured.runs for step in (*run.targets, *run.search)]
    notes += [
        f"{plan.devices} accounts, each holding one resident-register extract restocked to "
        f"{measured.stock} unused copies before every step (copies of a real one); the sample "
        "bank's fresh signed request for each presentation (account opening: name, birth_date, "
        "address), made before the step; every answer of every step verified by the bank "
        f"({sum(len(s.latencies) for s in every_step):,} answers, every one valid)",
        f"open loop at {plan.target_rate:g} presentations/s: {plan.rounds} round(s), every row "
        f"in turn, each {plan.target_seconds:g} s recorded after {plan.warmup_seconds:g} s of "
        "warm-up; latency from each presentation's due time to its envelope (three requests, "
        "each with its DPoP proof, and the phone's KB-JWT signature); p50, p99, answered/s "
        "and CPU: median of the rounds; client lag: the worst round's p99",
        "CPU ms/presentation: the server's processes (uvicorn and its workers; PostgreSQL's "
        "own processes not counted) and the bench process, over the step",
        "in-process (wall time, the servers stopped): calls: presenting.ask, answering.accept "
        "and answering.sign with the counter making each request; presentation: those and, "
        "for each of the three requests, dpop_guard.check_proof less the proof's signing and "
        "current_nonce",
    ]
    columns = (
        "backend",
        "workers",
        "rounds x presentations",
        "answered /s",
        "p50 ms",
        "p99 ms",
        "p99 ms by round",
        "failed",
        "client lag p99 ms",
        "server CPU ms/presentation",
        "client CPU ms/presentation",
        "in-process calls ms",
        "in-process presentation ms",
        "p50 / in-process",
        "load (1 min) by round",
    )
    return Report(
        f"Presenting over HTTP at {plan.target_rate:g} presentations/s (open loop)",
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
                f"{best.rate:g}" if best else f"< {min(s.rate for s in run.search):g}",
                _ms(best.p50_ms) if best else "",
                _ms(best.p99_ms) if best else "",
                f"{best.per_request_ms(best.server_cpu):.1f}" if best else "",
                tried,
            )
        )
    plan = measured.plan
    notes = [
        f"rates in turn ({', '.join(f'{r:g}' for r in plan.ladder)} /s) until p99 > "
        f"{TARGET_P99_MS:.0f} ms, then up to {plan.bisections} halvings between the last rate "
        f"that held and the first that did not; {plan.search_seconds:g} s recorded a step",
    ]
    columns = (
        "backend",
        "workers",
        f"highest presentations/s with p99 ≤ {TARGET_P99_MS:.0f} ms",
        "p50 ms",
        "p99 ms",
        "server CPU ms/presentation",
        "rate: p99 ms of every step",
    )
    return Report(
        f"Presenting over HTTP: the highest rate keeping p99 ≤ {TARGET_P99_MS:.0f} ms",
        columns,
        rows,
        notes,
    )


def _in_process_report(measured: Measured) -> Report:
    rows = []
    notes = [
        "the servers stopped; the same database; accounts in turn; every row that asks makes "
        "a fresh request first (a request is read once), so it includes the counter's "
        "make_request (its own row)",
    ]
    for backend, calls in measured.in_process.items():
        rows += [
            (
                backend,
                m.label,
                f"{m.median_us / 1000:,.2f}",
                f"{m.ops_per_second:,.0f}",
                f"±{m.spread_percent:.1f} %",
                f"{len(m.ns_per_op)} x {m.ops_per_batch:,}",
            )
            for m in calls
        ]
        by_label = {m.label: m.median_us / 1000 for m in calls}
        notes.append(
            f"{backend}: ask {by_label[ASK]:.1f} ms, accept "
            f"{by_label[ASK_ACCEPT] - by_label[ASK]:.1f} ms, the phone's signature "
            f"{by_label[PHONE_SIGN]:.1f} ms, sign "
            f"{by_label[ROUND_TRIP] - by_label[ASK_ACCEPT] - by_label[PHONE_SIGN]:.1f} ms "
            "(by difference of the rows)"
        )
    columns = ("backend", "call", "median ms", "calls/s", "spread", "repeats x calls")
    return Report(
        "A presentation's calls and parts in-process (what a round trip runs)",
        columns,
        rows,
        notes,
    )


def presenting_reports(measured: Measured) -> list[Report]:
    return [_target_report(measured), _search_report(measured), _in_process_report(measured)]
