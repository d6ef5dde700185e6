"""A real wallet service on a real socket: `jigap wallet init`, then `jigap wallet serve`
(uvicorn) as subprocesses on loopback, as an operator runs them. Stopped by its own pid (or,
if it does not stop in time, by the process group it leads), never by name."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests._server import JIGAP, _stop, _wait_until_ready, free_port
from wallet_api.settings import ENV_PREFIX, PASSPHRASE_ENV

__all__ = ["RunningWallet", "jigap_wallet", "running_wallet"]

COMMAND_SECONDS = 60


@dataclass(frozen=True)
class RunningWallet:
    public_url: str
    data_dir: Path
    database_url: str
    pid: int
    log: Path


def _clean_env() -> dict[str, str]:
    # The deployment's settings come from its wallet.env alone, not from this test's shell.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX) and name != PASSPHRASE_ENV
    }


def jigap_wallet(*args: str) -> subprocess.CompletedProcess[str]:
    """`jigap wallet ARGS` as a subprocess, its output captured."""
    return subprocess.run(
        [str(JIGAP), "wallet", *args],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=COMMAND_SECONDS,
        check=False,
    )


@contextlib.contextmanager
def running_wallet(
    data_dir: Path, database_url: str, *, workers: int = 1
) -> Iterator[RunningWallet]:
    """`jigap wallet init` then `jigap wallet serve --workers N` on a free loopback port."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    init = jigap_wallet(
        "init", "--data-dir", str(data_dir), "--public-url", public_url,
        "--database-url", database_url,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    log = data_dir / "server.log"
    command = [
        str(JIGAP), "wallet", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, f"{public_url}/health", log, workers)
        yield RunningWallet(public_url, data_dir, database_url, process.pid, log)
    finally:
        _stop(process)
