"""Turning measurements into tables, printed with ``rich`` or as Markdown."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from cryptography.hazmat.backends.openssl.backend import backend as openssl_backend
from rich.console import Console
from rich.table import Table

from bench.qr_size import (
    ANSWER_ROW,
    ANSWERED,
    ERROR_CORRECTION,
    MAX_ENVELOPE_VERSION,
    REQUEST_ROW,
    QrSize,
)
from bench.scenario import RESIDENT_REGISTER
from bench.timing import Measurement

# What the verifier must reach, as ratios of throughput.
MIN_SPEEDUP_OVER_REFERENCE = 2.0
MIN_SHARE_OF_RAW_LIMIT = 0.60


@dataclass(frozen=True, slots=True)
class Report:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]
    notes: list[str] = field(default_factory=list)


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def throughput_report(
    title: str,
    measurements: Sequence[Measurement],
    *,
    ours: Sequence[str],
    reference: str | None,
    raw_limit: dict[str, str],
    ceilings: Sequence[str] = (),
) -> Report:
    """One row per measurement; ours are compared with the reference and their raw limit.

    ``raw_limit`` maps each of ``ours`` and ``ceilings`` to the label of the raw-limit row it
    is judged by. ``ceilings`` get the same ratio columns but no target verdict: rows shown
    for information (a no-checks floor, EdDSA, issuance), not judged against the targets.
    """
    by_label = {m.label: m for m in measurements}
    rows = []
    notes = []
    for m in measurements:
        speedup = share = ""
        judged = m.label in ours
        if judged or m.label in ceilings:
            if reference is not None:
                ratio = by_label[reference].median_us / m.median_us
                speedup = f"{ratio:.2f}x"
                if judged:
                    notes.append(
                        f"{m.label} / reference: {ratio:.2f}x "
                        f"(target ≥ {MIN_SPEEDUP_OVER_REFERENCE:.0f}x: "
                        f"{_verdict(ratio >= MIN_SPEEDUP_OVER_REFERENCE)})"
                    )
            fraction = by_label[raw_limit[m.label]].median_us / m.median_us
            share = f"{fraction:.0%}"
            if judged:
                notes.append(
                    f"{m.label} / raw limit: {fraction:.0%} "
                    f"(target ≥ {MIN_SHARE_OF_RAW_LIMIT:.0%}: "
                    f"{_verdict(fraction >= MIN_SHARE_OF_RAW_LIMIT)})"
                )
        rows.append(
            (
                m.label,
                f"{m.median_us:,.1f}",
                f"{m.ops_per_second:,.0f}",
                f"±{m.spread_percent:.1f} %",
                f"{len(m.ns_per_op)} x {m.ops_per_batch:,}",
                speedup,
                share,
            )
        )
    columns = (
        "case",
        "median µs/op",
        "ops/s",
        "spread",
        "repeats x ops",
        "speed-up vs reference",
        "share of raw limit",
    )
    return Report(title, columns, rows, notes)


@dataclass(frozen=True, slots=True)
class Ratio:
    """A row's throughput against a yardstick row's: yardstick µs / row µs. Against the
    reference that is a speed-up; against a raw limit, the share of the limit reached."""

    name: str
    row: str
    yardstick: str
    target: float | None = None  # None: for information
    as_share: bool = False  # shown as a percentage, not as a speed-up

    def of(self, measurements: Sequence[Measurement]) -> float:
        by_label = {m.label: m.median_us for m in measurements}
        return by_label[self.yardstick] / by_label[self.row]

    def text(self, value: float) -> str:
        return f"{value:.0%}" if self.as_share else f"{value:.2f}x"


def rounds_report(
    title: str, rounds: Sequence[Sequence[Measurement]], ratios: Sequence[Ratio]
) -> Report:
    """Each ratio over several whole rounds of one table: on a shared machine a round's ratio
    moves by more than most changes do, so a verdict wants the median and the spread."""
    rows = []
    for ratio in ratios:
        values = sorted(ratio.of(measurements) for measurements in rounds)
        if ratio.target is None:
            meeting = "(for information)"
        else:
            met = sum(value >= ratio.target for value in values)
            meeting = f"{met} of {len(values)} (target ≥ {ratio.text(ratio.target)})"
        low, middle, high = values[0], statistics.median(values), values[-1]
        rows.append((ratio.name, *(ratio.text(v) for v in (low, middle, high)), meeting))
    columns = ("ratio", "lowest", "median", "highest", "rounds meeting the target")
    return Report(f"{title}, over {len(rounds)} rounds", columns, rows)


def qr_report(sizes: Sequence[QrSize]) -> Report:
    rows = [
        (
            size.credential_type,
            ", ".join(size.request),
            f"{size.plain_length:,}",
            str(size.plain_version),
            f"{size.envelope_length:,}",
            str(size.envelope_version),
            f"{size.envelope_length / size.plain_length:.0%}",
        )
        for size in sizes
    ]
    notes = []
    for size in sizes:
        if size.credential_type == RESIDENT_REGISTER:
            fits = size.envelope_version <= MAX_ENVELOPE_VERSION
            notes.append(
                f"{RESIDENT_REGISTER} envelope: version {size.envelope_version} "
                f"(target ≤ {MAX_ENVELOPE_VERSION}: {_verdict(fits)}); "
                f"plain: version {size.plain_version}"
            )
        elif size.credential_type == ANSWER_ROW + " ".join(ANSWERED[0]):
            fits = size.envelope_version <= MAX_ENVELOPE_VERSION
            notes.append(
                f"{size.credential_type} (the extract's name, birth_date, address for the "
                f"bank's request): envelope version {size.envelope_version} "
                f"(target ≤ {MAX_ENVELOPE_VERSION}: {_verdict(fits)})"
            )
        elif size.credential_type == REQUEST_ROW:
            notes.append(
                f"{REQUEST_ROW} (asks, no KB-JWT): request envelope version "
                f"{size.envelope_version}; plain request object: version {size.plain_version}"
            )
    columns = (
        "certificate type",
        "disclosed",
        "plain chars",
        f"plain QR version ({ERROR_CORRECTION})",
        "envelope chars",
        f"envelope QR version ({ERROR_CORRECTION})",
        "envelope / plain",
    )
    return Report(f"QR size (ECC {ERROR_CORRECTION}, KB-JWT, ES256)", columns, rows, notes)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load_average() -> str:
    try:
        return ", ".join(f"{load:.2f}" for load in os.getloadavg())
    except OSError:
        return "unknown"


def machine_report() -> Report:
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    rows = [
        ("CPUs available (nproc)", str(cpus)),
        ("CPU model", _cpu_model()),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("load average at the start (1, 5, 15 min)", _load_average()),
        ("Python", f"{platform.python_implementation()} {sys.version.split()[0]}"),
        ("cryptography", version("cryptography")),
        ("OpenSSL", openssl_backend.openssl_version_text()),
        ("sd-jwt (reference)", version("sd-jwt")),
        ("jwcrypto", version("jwcrypto")),
    ]
    return Report("Machine", ("item", "value"), rows)


def print_rich(reports: Sequence[Report], console: Console) -> None:
    for report in reports:
        table = Table(title=report.title, title_justify="left")
        for index, column in enumerate(report.columns):
            table.add_column(column, justify="left" if index == 0 else "right")
        for row in report.rows:
            table.add_row(*row)
        console.print(table)
        for note in report.notes:
            console.print(f"  {note}", style="red" if "NOT met" in note else "green")
        console.print()


def _markdown_cell(text: str) -> str:
    if "<" in text:  # `<listcomp>`, `<method ...>`: code, not an HTML tag
        return f"`{text}`"
    return text.replace("|", "\\|")


def markdown(reports: Sequence[Report]) -> str:
    lines: list[str] = []
    for report in reports:
        lines += [f"### {report.title}", ""]
        lines.append("| " + " | ".join(_markdown_cell(c) for c in report.columns) + " |")
        aligns = ["---"] + ["---:"] * (len(report.columns) - 1)
        lines.append("|" + "|".join(aligns) + "|")
        lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in report.rows]
        lines.append("")
        if report.notes:
            lines += [f"- {note}" for note in report.notes]
            lines.append("")
    return "\n".join(lines)
