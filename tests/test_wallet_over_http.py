"""The wallet service as operators run it: `jigap wallet init` and `jigap wallet serve` as
subprocesses, uvicorn on loopback, SQLite and PostgreSQL; the holder client over real HTTP."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keys.store import MIN_SCRYPT_N
from tests._server import BACKENDS, backend_database_url
from tests._wallet_server import RunningWallet, jigap_wallet, running_wallet
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.holder.device_keys import DeviceKeys

pytestmark = pytest.mark.slow
PHONE_PASSPHRASE = "the phone's own passphrase, long enough"


@pytest.fixture(scope="module", params=BACKENDS)
def wallet(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningWallet]:
    directory = tmp_path_factory.mktemp("wallet")
    with (
        backend_database_url(request.param, directory) as database_url,
        running_wallet(directory / "data", database_url, workers=2) as running,
    ):
        yield running


def _phone(wallet: RunningWallet, tmp_path: Path, name: str) -> WalletClient:
    keys = DeviceKeys(tmp_path / name, PHONE_PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
    return WalletClient(wallet.public_url, keys)


def test_probes_answer(wallet: RunningWallet) -> None:
    assert httpx.get(f"{wallet.public_url}/health").json() == {"status": "ok"}
    assert httpx.get(f"{wallet.public_url}/ready").json() == {"status": "ready"}
    metrics = httpx.get(f"{wallet.public_url}/metrics").text
    assert "jigap_wallet_http_requests_total" in metrics
    docs = httpx.get(f"{wallet.public_url}/docs").text
    assert "/docs-assets/" in docs and "cdn" not in docs.lower()


def test_register_use_and_recover_over_http(wallet: RunningWallet, tmp_path: Path) -> None:
    # Two workers: nonces and replay rows are in the database, so any worker accepts them.
    with _phone(wallet, tmp_path, "old") as old, _phone(wallet, tmp_path, "new") as new:
        bound = old.register()
        for _ in range(6):
            assert old.me()["account_id"] == bound.account_id
        rebound = new.recover(bound.account_id, bound.recovery_code)
        assert new.me()["device_jkt"] == rebound.device_jkt == new.device_kid
        with pytest.raises(WalletApiError) as cut:
            old.me()
        assert (cut.value.status, cut.value.error) == (401, "invalid_dpop_proof")
        new.delete_account()
        with pytest.raises(WalletApiError):
            new.me()
    # Codes and proofs never reach the log; requests are logged by route template.
    log = wallet.log.read_text("utf-8")
    assert '"/accounts/recover"' in log or "route=/accounts/recover" in log
    for secret in (bound.recovery_code, rebound.recovery_code, "eyJ", bound.account_id):
        assert secret not in log


def test_a_replayed_proof_is_refused_over_http(wallet: RunningWallet, tmp_path: Path) -> None:
    with _phone(wallet, tmp_path, "phone") as phone:
        phone.register()
        proof = phone.proof("GET", "/accounts/me")
        url = f"{wallet.public_url}/accounts/me"
        assert httpx.get(url, headers={"DPoP": proof}).status_code == 200
        again = httpx.get(url, headers={"DPoP": proof})
        assert (again.status_code, again.json()["error"]) == (401, "invalid_dpop_proof")


def test_init_writes_an_owner_only_deployment(wallet: RunningWallet) -> None:
    env_file = wallet.data_dir / "wallet.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    text = env_file.read_text("utf-8")
    assert "JIGAP_KEY_PASSPHRASE=" in text and "JIGAP_WALLET_HMAC_KEY=" in text
    assert list((wallet.data_dir / "sealing").glob("*.json"))  # the sealing master key


def test_serve_refuses_a_directory_never_initialised(tmp_path: Path) -> None:
    served = jigap_wallet("serve", "--data-dir", str(tmp_path / "nothing"))
    assert served.returncode == 1
    assert served.stderr.strip().splitlines() == [
        f"refused: {tmp_path / 'nothing'} is not a wallet deployment (no wallet.env): "
        f"run `jigap wallet init --data-dir {tmp_path / 'nothing'}` first"
    ]


def test_init_refuses_to_overwrite(wallet: RunningWallet) -> None:
    again = jigap_wallet("init", "--data-dir", str(wallet.data_dir))
    assert again.returncode == 1
    assert "already holds a wallet deployment" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_schema_behind_and_an_unreachable_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    init = jigap_wallet("init", "--data-dir", str(data_dir))
    assert init.returncode == 0, init.stderr
    (data_dir / "wallet.sqlite3").unlink()  # an empty database: never migrated
    behind = jigap_wallet("serve", "--data-dir", str(data_dir), "--port", "1")
    assert behind.returncode == 4, behind.stderr
    assert "schema_behind" in behind.stderr and len(behind.stderr.strip().splitlines()) == 1
    env_file = data_dir / "wallet.env"
    lines = [
        line
        for line in env_file.read_text("utf-8").splitlines()
        if not line.startswith("JIGAP_WALLET_DATABASE_URL=")
    ]
    unreachable = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    env_file.write_text("\n".join([*lines, f"JIGAP_WALLET_DATABASE_URL={unreachable}"]) + "\n")
    down = jigap_wallet("serve", "--data-dir", str(data_dir), "--port", "1")
    assert down.returncode == 3, down.stderr
    assert down.stderr.startswith("refused: database_unavailable: ")
    assert len(down.stderr.strip().splitlines()) == 1


def test_a_database_url_default_lives_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert jigap_wallet("init", "--data-dir", str(data_dir)).returncode == 0
    assert (data_dir / "wallet.sqlite3").exists()
    assert stat.S_IMODE((data_dir / "wallet.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE(os.stat(data_dir).st_mode) == 0o700


def test_one_worker_counts_its_requests(tmp_path: Path) -> None:
    # One worker serves in the command's own process: the metrics' mode must be fixed after
    # the command set up their directory, or the scrape shows nothing.
    with running_wallet(tmp_path / "data", f"sqlite:///{tmp_path / 'w.sqlite3'}") as wallet:
        with _phone(wallet, tmp_path, "phone") as phone:
            phone.register()
        metrics = httpx.get(f"{wallet.public_url}/metrics").text
    assert 'jigap_wallet_http_requests_total{method="POST",route="/accounts",status="201"} 1.0' in (
        metrics
    )
    assert 'jigap_wallet_dpop_refusals_total{reason="nonce_missing"} 1.0' in metrics
