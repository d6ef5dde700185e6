"""A real wallet service on a real socket: `jigap wallet init`, then `jigap wallet serve`
(uvicorn) as subprocesses on loopback, as an operator runs them. Stopped by its own pid (or,
if it does not stop in time, by the process group it leads), never by name.

A wallet serves only with a trust list held: given a trust list's URL and anchor, `serve`
syncs from it; without, the deployment holds one a sync would have left (``hold_trust_list``:
its one issuer never answers), for tests of the wallet alone."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests._server import JIGAP, _stop, _wait_until_ready, free_port
from tests._wallet_service import hold_trust_list
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


def _hold_owner_only(trust_dir: Path) -> None:
    """``hold_trust_list``'s store, its files the owner's alone as the rest of the
    deployment's are (the test helper writes them with the default modes)."""
    hold_trust_list(trust_dir, int(time.time()))
    trust_dir.chmod(0o700)
    for path in trust_dir.iterdir():
        path.chmod(0o600)


@contextlib.contextmanager
def running_wallet(
    data_dir: Path,
    database_url: str,
    *,
    workers: int = 1,
    trust_list_url: str | None = None,
    anchor: Path | None = None,
    hold_trust: bool | None = None,
    extra_settings: Mapping[str, str] | None = None,
) -> Iterator[RunningWallet]:
    """`jigap wallet init [--trust-list URL --anchor FILE]` then `jigap wallet serve
    --workers N` on a free loopback port. Between the two, ``hold_trust`` (by default, when
    no trust list URL is given) places ``hold_trust_list``'s store, and ``extra_settings``
    (``JIGAP_WALLET_`` names without the prefix) are added to wallet.env."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    trust = [] if trust_list_url is None else ["--trust-list", trust_list_url]
    if anchor is not None:
        trust += ["--anchor", str(anchor)]
    init = jigap_wallet(
        "init", "--data-dir", str(data_dir), "--public-url", public_url,
        "--database-url", database_url, *trust,
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    if hold_trust or (hold_trust is None and trust_list_url is None):
        _hold_owner_only(data_dir / "trust")
    with (data_dir / "wallet.env").open("a", encoding="utf-8") as env_file:
        for name, value in (extra_settings or {}).items():
            env_file.write(f"{ENV_PREFIX}{name}={value}\n")
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
