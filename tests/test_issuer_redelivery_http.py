"""A citizen who can always finish, over a real server: uvicorn killed with SIGKILL after the
commit and before the answer, or a signer that fails once; then the wallet retries with what
it holds, against the server started again, and finishes.

The faulty server is tests/_fault_server.py (the app `jigap issuer serve` runs, with a test
fault hook); the server started again is the real `jigap issuer serve`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

from credential_schemas import Registry
from issuer.cli import init_deployment
from issuer.models import IssuedCredential, Offer, OfferState
from issuer.services.deployment import FaultPoint
from issuer.settings import ENV_PREFIX, Settings
from keys.jwk import SigningKey
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT, make_jwt_proof
from servicekit.db import make_engine, session_scope
from tests._fault_server import marker
from tests._server import BACKENDS, JIGAP, _stop, _wait_until_ready, backend_database_url, free_port

pytestmark = pytest.mark.slow

REPOSITORY = Path(__file__).resolve().parents[1]
RESIDENT = "resident_register_extract"
WAIT_SECONDS = 20.0


@contextlib.contextmanager
def _serving(command: list[str], data_dir: Path, url: str) -> Iterator[subprocess.Popen[bytes]]:
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    log = data_dir / f"server-{time.monotonic_ns()}.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=REPOSITORY,
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, f"{url}/openapi.json", log, 1)
        yield process
    finally:
        _stop(process)


def _faulty(data_dir: Path, port: int, option: str, point: FaultPoint) -> list[str]:
    return [
        sys.executable, "-m", "tests._fault_server", "--data-dir", str(data_dir),
        "--port", str(port), option, point.value,
    ]  # fmt: skip


def _real(data_dir: Path, port: int) -> list[str]:
    return [
        str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip


class Citizen:
    """A wallet's steps over a real socket, remembering what it holds (code, token, key)."""

    def __init__(self, url: str, settings: Settings, admin_token: str) -> None:
        self.url, self.settings = url, settings
        self.key = SigningKey.generate()
        claims = Registry.load().get(RESIDENT).examples[0]
        with httpx.Client(base_url=url, timeout=10.0) as http:
            response = http.post(
                "/admin/offers",
                json={"credential_type": RESIDENT, "claims": claims},
                headers={"Authorization": f"Bearer {admin_token}"},
            )
        assert response.status_code == 201, response.text
        self.offer: dict[str, Any] = response.json()
        self.access_token = ""

    def token(self) -> httpx.Response:
        grant = self.offer["credential_offer"]["grants"][PRE_AUTHORIZED_CODE_GRANT]
        form = {
            "grant_type": PRE_AUTHORIZED_CODE_GRANT,
            "pre-authorized_code": grant["pre-authorized_code"],
            "tx_code": self.offer["tx_code"],
        }
        response = httpx.post(f"{self.url}/agencies/mois/token", data=form, timeout=WAIT_SECONDS)
        if response.status_code == 200:
            self.access_token = response.json()["access_token"]
        return response

    def credential(self) -> httpx.Response:
        c_nonce = httpx.post(f"{self.url}/agencies/mois/nonce", timeout=10.0).json()["c_nonce"]
        proof = make_jwt_proof(
            self.key,
            audience=self.settings.issuer_id("mois"),
            nonce=c_nonce,
            now=int(time.time()),
        )
        return httpx.post(
            f"{self.url}/agencies/mois/credential",
            json={"credential_configuration_id": RESIDENT, "proofs": {"jwt": [proof]}},
            headers={"Authorization": f"Bearer {self.access_token}"},
            timeout=WAIT_SECONDS,
        )


def _lost(send: Any, data_dir: Path, point: FaultPoint, server: subprocess.Popen[bytes]) -> None:
    """Send a request; once the server has committed and paused before answering, kill -9 it
    (by the pid of the process this test started). The request gets no answer."""
    outcome: list[object] = []
    sender = threading.Thread(target=lambda: outcome.append(_try(send)), daemon=True)
    sender.start()
    deadline = time.monotonic() + WAIT_SECONDS
    while not marker(data_dir, point).exists():
        assert time.monotonic() < deadline, "the server never reached the fault point"
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)
    server.wait(WAIT_SECONDS)
    sender.join(WAIT_SECONDS)
    assert outcome and isinstance(outcome[0], httpx.TransportError), outcome  # no answer


def _try(send: Any) -> object:
    try:
        return send()
    except httpx.TransportError as exc:
        return exc


def _offer_state(database_url: str, offer_id: str) -> str:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            offer = session.get(Offer, offer_id)
            assert offer is not None
            return offer.state
    finally:
        engine.dispose()


def _issued_count(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with session_scope(engine) as session:
            return len(list(session.exec(select(IssuedCredential))))
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_after_the_credential_commit_the_wallet_gets_the_same_credential_again(
    backend: str, tmp_path: Path
) -> None:
    with backend_database_url(backend, tmp_path) as database_url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings, tokens = init_deployment(tmp_path, public_url=url, database_url=database_url)
        faulty = _faulty(tmp_path, port, "--pause-at", FaultPoint.CREDENTIAL_ANSWER)
        with _serving(faulty, tmp_path, url) as server:
            citizen = Citizen(url, settings, tokens["mois"])
            assert citizen.token().status_code == 200
            _lost(citizen.credential, tmp_path, FaultPoint.CREDENTIAL_ANSWER, server)
        # Signed, recorded and committed; delivered to nobody.
        assert _offer_state(database_url, citizen.offer["offer_id"]) == OfferState.ISSUED
        assert _issued_count(database_url) == 1

        with _serving(_real(tmp_path, port), tmp_path, url):
            first = citizen.credential()  # the same token, a new nonce
            assert first.status_code == 200, first.text
            second = citizen.credential()
            assert second.status_code == 200, second.text
        assert first.json() == second.json()  # the same credential each time, not new ones
        assert _issued_count(database_url) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_killed_after_the_token_commit_the_wallet_redeems_its_code_again_and_finishes(
    backend: str, tmp_path: Path
) -> None:
    with backend_database_url(backend, tmp_path) as database_url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings, tokens = init_deployment(tmp_path, public_url=url, database_url=database_url)
        faulty = _faulty(tmp_path, port, "--pause-at", FaultPoint.TOKEN_ANSWER)
        with _serving(faulty, tmp_path, url) as server:
            citizen = Citizen(url, settings, tokens["mois"])
            _lost(citizen.token, tmp_path, FaultPoint.TOKEN_ANSWER, server)
        assert _offer_state(database_url, citizen.offer["offer_id"]) == OfferState.REDEEMED

        with _serving(_real(tmp_path, port), tmp_path, url):
            again = citizen.token()  # the same code and transaction code
            assert again.status_code == 200, again.text
            issued = citizen.credential()
            assert issued.status_code == 200, issued.text
        assert _offer_state(database_url, citizen.offer["offer_id"]) == OfferState.ISSUED


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_signer_that_fails_once_and_the_wallet_retries(backend: str, tmp_path: Path) -> None:
    with backend_database_url(backend, tmp_path) as database_url:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        settings, tokens = init_deployment(tmp_path, public_url=url, database_url=database_url)
        faulty = _faulty(tmp_path, port, "--fail-once-at", FaultPoint.SIGNING)
        with _serving(faulty, tmp_path, url):
            citizen = Citizen(url, settings, tokens["mois"])
            assert citizen.token().status_code == 200
            assert citizen.credential().status_code == 500
            assert _issued_count(database_url) == 0
            retried = citizen.credential()
            assert retried.status_code == 200, retried.text
        assert _issued_count(database_url) == 1
