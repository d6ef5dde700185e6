"""The benchmark command keeps working (its numbers are read in docs/benchmarks.md, not here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.issuer_http import DATABASE_URL_ENV


def test_quick_benchmark_runs_and_prints_every_table() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--markdown", "--rounds", "2"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    for heading in (
        "Verification, resident-register extract",
        "Issuance",
        "QR size",
        "Status lists at national scale",
    ):
        assert heading in done.stdout
    assert "### Verification targets (ES256), over 2 rounds" in done.stdout
    assert "| plain vs reference |" in done.stdout


@pytest.mark.slow
def test_quick_http_benchmark_runs_against_a_real_server() -> None:
    # SQLite only, whatever the environment says: the smoke test stays short.
    env = {name: value for name, value in os.environ.items() if name != DATABASE_URL_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--http-only", "--markdown"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    assert "### Issuer service over HTTP" in done.stdout
    for timed in ("credential request", "wallet flow"):
        assert f"| sqlite | {timed} | 10 | 10 | 1 x 10 |" in done.stdout


@pytest.mark.slow
def test_quick_wallet_benchmark_runs_against_a_real_wallet_service() -> None:
    # SQLite only, whatever the environment says: the smoke test stays short.
    env = {name: value for name, value in os.environ.items() if name != DATABASE_URL_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--wallet-http", "--markdown"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    assert "### Wallet service over HTTP at 100 requests/s (open loop)" in done.stdout
    for operation in ("list", "show"):
        assert f"| sqlite | 1 | {operation} | 1 x 100 |" in done.stdout  # 1 s at 100/s
    # Every credential listed was judged by the status lists the service synced.
    assert "the credentials' states in a list: valid" in done.stdout
    assert "| sqlite | dpop_guard.check_proof" in done.stdout


@pytest.mark.slow
def test_quick_presenting_benchmark_answers_a_counter_over_http() -> None:
    # SQLite only, whatever the environment says: the smoke test stays short.
    env = {name: value for name, value in os.environ.items() if name != DATABASE_URL_ENV}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--wallet-http", "--presenting", "--markdown"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env=env,
    )
    assert "### Presenting over HTTP at 50 presentations/s (open loop)" in done.stdout
    # One round of 50 presentations (1 s at 50/s), none failed, every answer verified.
    assert "| sqlite | 1 | 1 x 50 |" in done.stdout
    assert "every answer of every step verified by the bank" in done.stdout
    assert "### Presenting over HTTP: the highest rate keeping p99 ≤ 100 ms" in done.stdout
    for part in ("presenting.ask", "read_request", "select_for_query", "verify_answer"):
        assert part in done.stdout


def test_the_qr_table_has_the_request_and_each_answer() -> None:
    from bench.qr_size import ANSWER_ROW, ANSWERED, MAX_ENVELOPE_VERSION, REQUEST_ROW, measure_sizes
    from bench.scenario import Parties

    rows = {row.credential_type: row for row in measure_sizes(Parties.create(), samples=1)}
    assert rows[REQUEST_ROW].envelope_version <= 9
    answers = [rows[ANSWER_ROW + " ".join(answered)] for answered in ANSWERED]
    assert [a.request for a in answers] == [
        ("name", "birth_date", "address"),
        ("age_over_19",),
        ("name", "insured_type", "workplace", "acquisition_date"),
    ]
    # The bank's account-opening answer must fit the counter scanner's version.
    assert answers[0].envelope_version <= MAX_ENVELOPE_VERSION


def test_quick_counter_benchmark_runs_against_a_real_app() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--counter", "--markdown"],
        cwd=Path(__file__).parents[1],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert "### Counter app: from camera frame to verdict" in done.stdout
    for step in ("frame to verdict, over HTTP", "decode: JPEG to QR text", "verify: the answer"):
        assert step in done.stdout
