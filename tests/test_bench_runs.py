"""The benchmark command keeps working (its numbers are read in docs/benchmarks.md, not here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_quick_benchmark_runs_and_prints_every_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--markdown"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    for heading in ("Verification, resident-register extract", "Issuance", "QR size"):
        assert heading in done.stdout
