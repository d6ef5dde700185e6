"""A wallet with no trust list cannot check any credential, so it does not serve: `jigap
wallet serve` syncs the trust store once before it listens and refuses, in one line and exit
code 1, when no current trust list is held after that; ``/ready`` answers ``trust_unavailable``
for the same reason. A list held from before still starts a wallet whose trust operator is
down: it is the last word until the next sync."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from keys.encoding import json_dumps
from keys.jwk import SigningKey
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N
from tests._issuer import Clock
from tests._server import free_port
from tests._wallet_server import jigap_wallet, running_wallet
from tests._wallet_service import PASSPHRASE, START, hold_trust_list, wallet_settings
from wallet_api.api.app import create_app
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.readiness import Unreadiness

pytestmark = pytest.mark.slow  # the commands run as subprocesses
YEAR = 366 * 86400  # hold_trust_list's list expires within a year


def _anchor(tmp_path: Path) -> Path:
    path = tmp_path / "anchor.jwk"
    path.write_bytes(json_dumps(SigningKey.generate().public_key.to_jwk()))
    return path


def _dead_trust_list_url() -> str:
    return f"http://127.0.0.1:{free_port()}/trust-list.jwt"  # nothing listens there


def _refusals(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("refused:")]


def test_serve_refuses_a_wallet_with_no_trust_list(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert jigap_wallet("init", "--data-dir", str(data_dir)).returncode == 0
    served = jigap_wallet("serve", "--data-dir", str(data_dir), "--port", str(free_port()))
    assert served.returncode == 1, served.stderr
    [line] = served.stderr.strip().splitlines()
    assert line.startswith("refused: trust_unavailable: no trust list held in ")
    assert line.endswith(
        "no trust list URL is configured (`jigap wallet init --trust-list URL --anchor FILE`)"
    )


def test_serve_refuses_when_the_first_sync_fails_and_nothing_is_held(tmp_path: Path) -> None:
    data_dir, url = tmp_path / "data", _dead_trust_list_url()
    init = jigap_wallet(
        "init", "--data-dir", str(data_dir), "--trust-list", url, "--anchor", str(_anchor(tmp_path))
    )
    assert init.returncode == 0, init.stderr
    served = jigap_wallet("serve", "--data-dir", str(data_dir), "--port", str(free_port()))
    assert served.returncode == 1, served.stderr
    # The sync's failure is the reason given (the log has said it once before).
    [line] = _refusals(served.stderr)
    assert line.startswith(
        f"refused: trust_unavailable: no current trust list held: the sync at start failed: {url}"
    )
    assert served.stderr.rstrip().endswith(line)
    assert not (data_dir / "trust" / "trust-list.jwt").exists()


def test_a_database_down_is_said_before_any_trust_list_is_fetched(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init = jigap_wallet(
        "init", "--data-dir", str(data_dir), "--trust-list", _dead_trust_list_url(),
        "--anchor", str(_anchor(tmp_path)),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    (data_dir / "wallet.sqlite3").unlink()
    served = jigap_wallet("serve", "--data-dir", str(data_dir), "--port", str(free_port()))
    assert served.returncode == 4, served.stderr
    assert served.stderr.strip().splitlines() == _refusals(served.stderr)
    assert "schema_behind" in served.stderr and "trust sync failed" not in served.stderr


def test_a_held_list_starts_a_wallet_whose_trust_operator_is_down(tmp_path: Path) -> None:
    with running_wallet(
        tmp_path / "data",
        f"sqlite:///{tmp_path / 'wallet.sqlite3'}",
        trust_list_url=_dead_trust_list_url(),
        anchor=_anchor(tmp_path),
        hold_trust=True,
    ) as wallet:
        assert httpx.get(f"{wallet.public_url}/ready").json() == {"status": "ready"}
        assert "trust sync failed" in wallet.log.read_text("utf-8")


@pytest.fixture
def bare_wallet(tmp_path: Path) -> Iterator[WalletDeployment]:
    """A wallet's deployment with its sealing key and no trust store, on its own clock."""
    settings = wallet_settings(f"sqlite:///{tmp_path / 'wallet.sqlite3'}", tmp_path / "data")
    SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
    deployment = make_deployment(settings, clock=Clock(START))
    yield deployment
    deployment.engine.dispose()


def _ready(deployment: WalletDeployment) -> Any:
    with TestClient(create_app(deployment=deployment)) as http:
        return http.get("/ready")


def _not_ready(response: Any) -> str:
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable"
    description: str = response.json()["error_description"]
    return description


def test_ready_says_trust_unavailable_with_no_trust_list(bare_wallet: WalletDeployment) -> None:
    assert _not_ready(_ready(bare_wallet)) == f"not ready: {Unreadiness.TRUST_UNAVAILABLE}"


def test_ready_with_a_current_list_and_not_once_it_expired(bare_wallet: WalletDeployment) -> None:
    hold_trust_list(bare_wallet.settings.trust_dir, int(START))
    with TestClient(create_app(deployment=bare_wallet)) as http:
        assert http.get("/ready").json() == {"status": "ready"}
        assert isinstance(bare_wallet.clock, Clock)
        bare_wallet.clock.advance(YEAR)  # no sync since: the list held has expired
        assert _not_ready(http.get("/ready")) == f"not ready: {Unreadiness.TRUST_UNAVAILABLE}"
