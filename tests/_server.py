"""A real issuer on a real socket: `jigap issuer serve` (uvicorn) in a subprocess on loopback.

The deployment is what an operator gets: ``init_deployment`` (the body of `jigap issuer init`)
writes ``issuer.env``, the database, the trust anchor and the agencies' keys, with the public
URL set to the loopback origin the server will listen on; then the console script `jigap`
serves it, with as many worker processes as asked. The server is stopped by its own pid (and,
if it does not stop in time, by the process group it leads), never by name.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from issuer.cli import init_deployment
from issuer.settings import ENV_PREFIX, Settings
from keys.store import KeyStatus, list_key_infos
from protocols.oid4vci import WELL_KNOWN_CREDENTIAL_ISSUER, well_known_url
from tests._issuer import fresh_postgres_schema, postgres_url

__all__ = [
    "BACKENDS",
    "JIGAP",
    "RunningIssuer",
    "backend_database_url",
    "free_port",
    "issuer_on_backend",
    "running_issuer",
]

JIGAP = Path(sys.executable).parent / "jigap"  # the console script operators run
# An upper bound, not a measure: a healthy start takes 1-3 s, a 2-worker issuer took 19 s on a
# 2-core machine at load 10; waiting longer costs nothing when the start is quick.
STARTUP_SECONDS = 60.0
STOP_SECONDS = 15.0
_POLL_SECONDS = 0.1
_READY_LINE = b"Application startup complete."

# The same two backends as conftest's `database_url`, for fixtures wider than one test.
BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@contextlib.contextmanager
def backend_database_url(backend: str, directory: Path) -> Iterator[str]:
    """A fresh, empty database, as conftest's ``database_url`` gives one test (skips the
    PostgreSQL case without JIGAP_TEST_DATABASE_URL)."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'issuer.sqlite3'}"
        return
    if postgres_url() is None:
        pytest.skip("JIGAP_TEST_DATABASE_URL is not set")
    yield from fresh_postgres_schema()


def free_port() -> int:
    """A TCP port free on loopback now (the kernel's choice for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class RunningIssuer:
    public_url: str
    data_dir: Path
    database_url: str
    settings: Settings
    tokens: Mapping[str, str]  # agency slug -> admin API token, as `init` printed them
    pid: int
    log: Path

    def issuer_id(self, slug: str = "mois") -> str:
        return self.settings.issuer_id(slug)

    def metadata_url(self, slug: str = "mois") -> str:
        return well_known_url(self.issuer_id(slug), WELL_KNOWN_CREDENTIAL_ISSUER)

    def admin(self, slug: str = "mois") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[slug]}"}

    @property
    def trust_list_url(self) -> str:
        return f"{self.public_url}/trust-list.jwt"

    def anchor_jwk(self) -> dict[str, Any]:
        """The public JWK of the deployment's trust anchor (read without the passphrase)."""
        active = [
            info
            for info in list_key_infos(self.settings.anchor_dir)
            if info.status is KeyStatus.ACTIVE
        ]
        assert len(active) == 1, active
        return dict(active[0].public_key.to_jwk())


@contextlib.contextmanager
def running_issuer(
    data_dir: Path,
    database_url: str,
    *,
    workers: int = 1,
    serve_options: Sequence[str] = (),
    extra_settings: Mapping[str, str] | None = None,
) -> Iterator[RunningIssuer]:
    """`jigap issuer init` then `jigap issuer serve --workers N [serve_options]` on a free
    loopback port; ``extra_settings`` (``JIGAP_ISSUER_`` names without the prefix) are added
    to the deployment's issuer.env between the two."""
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings, tokens = init_deployment(data_dir, public_url=public_url, database_url=database_url)
    with (data_dir / "issuer.env").open("a", encoding="utf-8") as env_file:
        for name, value in (extra_settings or {}).items():
            env_file.write(f"{ENV_PREFIX}{name}={value}\n")
    log = data_dir / "server.log"
    # The deployment's settings come from its issuer.env alone, not from this test's shell.
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    command = [
        str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *serve_options,
    ]  # fmt: skip
    with log.open("wb") as log_file:
        # A session of its own: if the server does not stop when asked, its process group
        # (it and its workers, nothing else) is killed by the group id, which is its pid.
        process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_until_ready(process, f"{public_url}/openapi.json", log, workers)
        yield RunningIssuer(
            public_url=public_url,
            data_dir=data_dir,
            database_url=database_url,
            settings=settings,
            tokens=tokens,
            pid=process.pid,
            log=log,
        )
    finally:
        _stop(process)


def _wait_until_ready(
    process: subprocess.Popen[bytes], probe_url: str, log: Path, workers: int
) -> None:
    """Until every worker has started and the server answers; bounded by STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the issuer exited with {process.returncode}:\n{_tail(log)}")
        if log.read_bytes().count(_READY_LINE) >= workers:
            try:
                if httpx.get(probe_url, timeout=2.0).status_code == httpx.codes.OK:
                    return
            except httpx.TransportError:
                pass
        time.sleep(_POLL_SECONDS)
    pytest.fail(f"the issuer did not answer within {STARTUP_SECONDS} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # uvicorn's supervisor stops its workers
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        # Still alive, so its pid is still its group's id: kill the group it leads (it and
        # its workers, nothing else), then reap it.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_SECONDS)


def _tail(log: Path, lines: int = 60) -> str:
    return "\n".join(log.read_text("utf-8", errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def issuer_on_backend(backend: str, directory: Path, **serve: Any) -> Iterator[RunningIssuer]:
    """A fresh database of ``backend`` (``BACKENDS``) and a real issuer serving it, with
    ``running_issuer``'s options: the body of every fixture that runs one server per backend."""
    with (
        backend_database_url(backend, directory) as database_url,
        running_issuer(directory / "data", database_url, **serve) as running,
    ):
        yield running
