"""`jigap issuer serve` refuses, before it listens, a deployment that could not issue; `migrate`.

Each command runs as the console script in a subprocess, as an operator runs it: a refusal is
one line on stderr and a documented exit code (docs/operations.md), never a traceback, and a
server that wrongly starts fails the test by its timeout instead of blocking it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from issuer.cli import (
    EXIT_DATABASE_UNAVAILABLE,
    EXIT_REFUSED,
    EXIT_SCHEMA,
    init_deployment,
    read_env_file,
)
from issuer.db import MIGRATIONS, head_revision
from issuer.settings import ENV_PREFIX, PASSPHRASE_ENV
from servicekit.db import make_engine
from tests._server import JIGAP, free_port

TIMEOUT_SECONDS = 30
STARTUP_SECONDS = 60.0  # an upper bound (tests/_server.py), not a measure


@pytest.fixture(autouse=True)
def no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name == PASSPHRASE_ENV:
            monkeypatch.delenv(name)


@pytest.fixture
def deployment(tmp_path: Path) -> Path:
    """An initialised SQLite deployment whose public URL is a free loopback port."""
    data_dir = tmp_path / "issuer-data"
    init_deployment(data_dir, public_url=f"http://127.0.0.1:{free_port()}")
    return data_dir


def jigap(*arguments: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX) and name != PASSPHRASE_ENV
    }
    env.update(settings)
    return subprocess.run(
        [str(JIGAP), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def assert_one_line_refusal(finished: subprocess.CompletedProcess[str], code: int) -> str:
    assert finished.returncode == code, finished.stderr
    lines = finished.stderr.strip().splitlines()
    assert len(lines) == 1, finished.stderr
    assert "Traceback" not in finished.stderr
    assert "Application startup complete" not in finished.stderr
    return lines[0]


@contextlib.contextmanager
def serving(data_dir: Path, *arguments: str) -> Iterator[subprocess.Popen[bytes]]:
    """`jigap issuer serve` until the block ends (stopped by its pid, or its own group)."""
    log = data_dir / "serve.log"
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    command_line = [str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir), *arguments]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command_line, stdout=log_file, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(15)


def wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text("utf-8", errors="replace")
        try:
            return httpx.get(url, timeout=2.0)
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"no answer within {STARTUP_SECONDS} s:\n{log.read_text('utf-8')}")


def downgrade_one(database_url: str) -> None:
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "-1")
    finally:
        engine.dispose()


def database_url(data_dir: Path) -> str:
    return read_env_file(data_dir)[ENV_PREFIX + "DATABASE_URL"]


# -- refusals before listening ----------------------------------------------------------------


def test_a_wrong_passphrase_is_refused_before_listening(deployment: Path) -> None:
    finished = jigap(
        "issuer", "serve", "--data-dir", str(deployment),
        **{PASSPHRASE_ENV: "not the passphrase of these stores"},
    )  # fmt: skip

    line = assert_one_line_refusal(finished, EXIT_REFUSED)
    assert "signing_key" in line
    assert "wrong_passphrase" in line
    assert "Uvicorn running" not in finished.stderr


def test_an_unreachable_database_is_refused_in_one_line(deployment: Path) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/jigap"

    for arguments in (["serve"], ["migrate"]):
        finished = jigap(
            "issuer", *arguments, "--data-dir", str(deployment),
            **{ENV_PREFIX + "DATABASE_URL": closed},
        )  # fmt: skip

        line = assert_one_line_refusal(finished, EXIT_DATABASE_UNAVAILABLE)
        assert "database unavailable" in line


def test_init_on_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/jigap"

    finished = jigap("issuer", "init", "--data-dir", str(tmp_path / "d"), "--database-url", closed)

    line = assert_one_line_refusal(finished, EXIT_DATABASE_UNAVAILABLE)
    assert "database unavailable" in line


def test_a_locked_database_is_one_line(deployment: Path) -> None:
    database = database_url(deployment).removeprefix("sqlite:///")
    locker = sqlite3.connect(database, isolation_level=None, timeout=5)
    try:
        locker.execute("BEGIN EXCLUSIVE")
        finished = jigap(
            "issuer", "migrate", "--data-dir", str(deployment),
            **{ENV_PREFIX + "DATABASE_BUSY_SECONDS": "0.5"},
        )  # fmt: skip
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    line = assert_one_line_refusal(finished, EXIT_DATABASE_UNAVAILABLE)
    assert "database is locked" in line


def test_a_database_behind_the_head_is_refused_unless_migrated(deployment: Path) -> None:
    downgrade_one(database_url(deployment))

    refused = jigap("issuer", "serve", "--data-dir", str(deployment))
    line = assert_one_line_refusal(refused, EXIT_SCHEMA)
    assert "jigap issuer migrate" in line
    check = jigap("issuer", "migrate", "--check", "--data-dir", str(deployment))
    assert check.returncode == EXIT_SCHEMA

    migrated = jigap("issuer", "migrate", "--data-dir", str(deployment))

    assert migrated.returncode == 0, migrated.stderr
    assert f"to {head_revision()}" in migrated.stdout
    assert jigap("issuer", "migrate", "--check", "--data-dir", str(deployment)).returncode == 0
    again = jigap("issuer", "migrate", "--data-dir", str(deployment))
    assert "already at the head" in again.stdout


def test_serve_migrate_brings_the_database_forward_then_listens(deployment: Path) -> None:
    downgrade_one(database_url(deployment))
    port = free_port()

    with serving(deployment, "--migrate", "--port", str(port)) as process:
        ready = wait_ready(process, f"http://127.0.0.1:{port}/ready", deployment / "serve.log")

    assert ready.status_code == 200, ready.text
    assert jigap("issuer", "migrate", "--check", "--data-dir", str(deployment)).returncode == 0


def test_a_schema_this_code_does_not_know_is_refused(deployment: Path) -> None:
    engine = make_engine(database_url(deployment))
    try:
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    finally:
        engine.dispose()

    for arguments in (["serve"], ["migrate"]):
        finished = jigap("issuer", *arguments, "--data-dir", str(deployment))

        line = assert_one_line_refusal(finished, EXIT_SCHEMA)
        assert "9999_future" in line
        assert "unknown" in line


def test_a_directory_never_initialised_is_named(tmp_path: Path) -> None:
    empty = tmp_path / "nothing-here"

    for arguments in (["serve"], ["migrate"]):
        finished = jigap("issuer", *arguments, "--data-dir", str(empty))

        line = assert_one_line_refusal(finished, EXIT_REFUSED)
        assert "not an issuer deployment" in line
        assert "jigap issuer init" in line
    assert not empty.exists()


# -- where it listens, what it leaves on disk -------------------------------------------------


def test_serve_listens_on_the_public_urls_host_and_port(deployment: Path) -> None:
    public_url = read_env_file(deployment)[ENV_PREFIX + "PUBLIC_URL"]

    with serving(deployment) as process:
        health = wait_ready(process, f"{public_url}/health", deployment / "serve.log")
        # A request that reads the database, so that SQLite's -wal and -shm files exist; one
        # worker counts its requests too (prometheus-client's mode is set before its import).
        scraped = httpx.get(f"{public_url}/metrics", timeout=5.0)

    assert health.status_code == 200
    assert health.json() == {"status": "ok"}
    assert scraped.status_code == 200
    assert 'jigap_http_requests_total{method="GET",route="/health",status="200"}' in scraped.text
    modes = {
        path.name: stat.S_IMODE(path.stat().st_mode)
        for path in deployment.iterdir()
        if path.name.startswith("issuer.sqlite3")
    }
    assert set(modes) >= {"issuer.sqlite3", "issuer.sqlite3-wal", "issuer.sqlite3-shm"}
    assert set(modes.values()) == {0o600}, modes


def test_init_creates_the_data_directory_and_database_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "issuer-data"

    finished = jigap(
        "issuer", "init", "--data-dir", str(data_dir), "--public-url", "http://127.0.0.1:8000"
    )

    assert finished.returncode == 0, finished.stderr
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    for path in data_dir.iterdir():
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name
