"""Timing: medians of repeated batches, the cases interleaved so that drift hits them alike.

A machine's speed wanders (frequency scaling, neighbours on a shared host). Each case is
warmed up and calibrated to a batch of ``target_seconds``; then every repeat runs one batch
of each case in turn, and a case's result is the median of its repeats. Ratios between cases
measured in the same repeats are therefore fair even when the machine is not steady. The
garbage collector stays on: it is part of what a verifier pays for its allocations.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

WARM_UP_SECONDS = 0.05


@dataclass(frozen=True, slots=True)
class Case:
    label: str
    run: Callable[[], object]


@dataclass(frozen=True, slots=True)
class Measurement:
    label: str
    ops_per_batch: int
    ns_per_op: tuple[float, ...]  # one value per repeat

    @property
    def median_us(self) -> float:
        return statistics.median(self.ns_per_op) / 1000

    @property
    def ops_per_second(self) -> float:
        return 1e6 / self.median_us

    @property
    def spread_percent(self) -> float:
        """Half the range of the repeats, relative to the median: how noisy the row was."""
        low, high = min(self.ns_per_op), max(self.ns_per_op)
        return 50 * (high - low) / statistics.median(self.ns_per_op)


def _batch_ns(run: Callable[[], object], ops: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(ops):
        run()
    return time.perf_counter_ns() - start


def _calibrate(run: Callable[[], object], target_seconds: float) -> int:
    """Warm ``run`` up and return how many calls fill ``target_seconds``."""
    calls, elapsed = 0, 0
    deadline = WARM_UP_SECONDS * 1e9
    while elapsed < deadline:
        elapsed += _batch_ns(run, 1 if calls < 4 else calls)
        calls += 1 if calls < 4 else calls
    return max(1, round(calls * target_seconds * 1e9 / elapsed))


def measure(cases: Sequence[Case], *, repeats: int, target_seconds: float) -> list[Measurement]:
    """Median ns/op of each case over ``repeats`` interleaved batches."""
    batch_sizes = [_calibrate(case.run, target_seconds) for case in cases]
    samples: list[list[float]] = [[] for _ in cases]
    for _ in range(repeats):
        for case, ops, results in zip(cases, batch_sizes, samples, strict=True):
            results.append(_batch_ns(case.run, ops) / ops)
    return [
        Measurement(case.label, ops, tuple(results))
        for case, ops, results in zip(cases, batch_sizes, samples, strict=True)
    ]
