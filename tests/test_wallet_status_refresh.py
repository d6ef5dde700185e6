"""The wallet service keeps the trust store fresh while it serves: a thread of its lifespan
syncs what is due (a status list past its ``ttl``), so a revocation reaches the citizen's list
with no request forcing a fetch; an error never ends the thread; shutdown stops it.

The issuer and the wallet in-process (``tests._two_services``), the wallet's refresh period
one second of real time, the status lists' ``ttl`` on the clock both services share.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N
from tests import _two_services
from tests._issuer import IssuerWorld
from tests._issuer_client import admin
from tests._two_services import TRUST_LIST_URL, Pair, pin_anchor, two_services
from tests._wallet_service import PASSPHRASE, wallet_settings
from verifier.trust_store import TRUST_LIST_FILE, TrustStore
from wallet_api.api.app import create_app
from wallet_api.deployment import make_deployment
from wallet_api.settings import PASSPHRASE_ENV, Settings, SettingsError
from wallet_api.trust import WalletTrust

world, client = _two_services.world, _two_services.client  # fixtures

THREAD_NAME = "jigap-wallet-status-refresh"
WAIT_SECONDS = 10.0  # ten refresh periods: plenty on a loaded machine
STATUS_LIST_TTL = 300  # the issuer's default


def _refresh_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == THREAD_NAME and t.is_alive()]


def _eventually(condition: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture
def refreshing_pair(
    world: IssuerWorld, client: TestClient, database_url: str, tmp_path: Path
) -> Iterator[Pair]:
    """``tests._two_services.pair`` with the status refresh on, every second."""
    with two_services(world, client, database_url, tmp_path, status_refresh_seconds=1) as pair:
        assert len(_refresh_threads()) == 1
        yield pair
    assert _refresh_threads() == []  # stopped at shutdown


def test_a_revocation_shows_once_the_status_list_is_due(refreshing_pair: Pair) -> None:
    pair = refreshing_pair
    phone = pair.registered_phone()
    pair.receive(phone, copies=2)
    [held] = phone.credentials()
    assert held["status"] == "valid"
    for issued in pair.issuer_http.get("/admin/credentials", headers=admin(pair.issuer)).json():
        response = pair.issuer_http.post(
            f"/admin/credentials/{issued['id']}/revoke", headers=admin(pair.issuer)
        )
        assert response.status_code == 200, response.text

    # Within its ttl the list held is the word: the thread fetches nothing that is not due.
    time.sleep(2.5)
    assert phone.credentials()[0]["status"] == "valid"

    pair.issuer.clock.advance(STATUS_LIST_TTL + 1)
    # No request forces a fetch (listing reads the store): the thread's sync shows it.
    assert _eventually(lambda: phone.credentials()[0]["status"] == "revoked")
    [revoked] = phone.credentials()
    assert revoked["reissue_from"] == held["issuer"]["id"]
    assert revoked["status_known_at"] >= held["status_known_at"] + STATUS_LIST_TTL


def test_every_worker_answers_from_the_newest_sync(
    world: IssuerWorld, client: TestClient, database_url: str, tmp_path: Path
) -> None:
    """`--workers 2`: each worker holds the store in memory, and one syncs for both. Once it
    has synced a revocation, the other answers from it at its next request, with no sync of its
    own (a citizen who saw "revoked" must not see "valid" on the next request). No request
    waits on a sync in progress: the files it replaced are read at once."""
    with two_services(world, client, database_url, tmp_path) as pair:
        syncing = pair.wallet.trust
        other = WalletTrust(
            syncing.directory,
            syncing.trust_list_url,
            clock=world.clock,
            http=cast(httpx.Client, client),
            refresh_seconds=3600,
        )
        phone = pair.registered_phone()
        pair.receive(phone, copies=1)
        before = other.store()
        [uri] = before.status_list_uris
        for issued in pair.issuer_http.get("/admin/credentials", headers=admin(pair.issuer)).json():
            response = pair.issuer_http.post(
                f"/admin/credentials/{issued['id']}/revoke", headers=admin(pair.issuer)
            )
            assert response.status_code == 200, response.text
        assert other.store() is before  # nothing synced yet: the store held, not read again

        syncing.refresh(force=True)
        revoked = syncing.store().status_list(uri)
        assert revoked is not None
        assert revoked.token != before.status_list(uri).token  # type: ignore[union-attr]
        after = other.store()
        assert after is not before and after.status_list(uri) == revoked

        answered: list[TrustStore] = []
        with syncing._file_lock():  # a sync in progress, that has replaced one file so far
            syncing.store().save_status_lists(syncing.directory)
            reader = threading.Thread(target=lambda: answered.append(other.store()))
            reader.start()
            reader.join(timeout=5)
            assert len(answered) == 1 and answered[0] is not after  # read, without waiting
        assert other.store() is answered[0]  # nothing replaced since: not read again


def test_an_error_does_not_end_the_thread(
    world: IssuerWorld,
    client: TestClient,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = wallet_settings(
        f"sqlite:///{tmp_path / 'wallet.sqlite3'}",
        tmp_path / "wallet-data",
        trust_list_url=TRUST_LIST_URL,
        allow_http_issuers=True,
        status_refresh_seconds=1,
    )
    SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
    pin_anchor(world, settings.trust_dir)
    # A directory where the sync's lock file goes: every sync fails, as a full or broken
    # disk would make it fail, with an error WalletTrust does not expect.
    blocker = settings.trust_dir / ".sync.lock"
    blocker.mkdir()
    deployment = make_deployment(
        settings, clock=world.clock, issuer_http=cast(httpx.Client, client)
    )
    try:
        with (
            caplog.at_level(logging.WARNING, logger="jigap.wallet.trust"),
            TestClient(create_app(deployment=deployment)),
        ):

            def failures() -> list[str]:
                messages = [r.getMessage() for r in caplog.records]
                return [m for m in messages if m.startswith("status refresh failed")]

            assert _eventually(lambda: len(failures()) >= 2)  # tick after tick
            assert "IsADirectoryError" in failures()[0] and "\n" not in failures()[0]
            assert not (settings.trust_dir / TRUST_LIST_FILE).exists()

            blocker.rmdir()  # the disk repaired: the same thread syncs at its next tick
            assert _eventually(lambda: (settings.trust_dir / TRUST_LIST_FILE).exists())
            assert len(_refresh_threads()) == 1
    finally:
        deployment.engine.dispose()


def test_no_thread_without_a_trust_list_url_or_with_the_period_zero(tmp_path: Path) -> None:
    cases: list[dict[str, Any]] = [
        {"status_refresh_seconds": 1},  # nothing to sync from
        {"status_refresh_seconds": 0, "trust_list_url": TRUST_LIST_URL},  # turned off
    ]
    for number, overrides in enumerate(cases):
        settings = wallet_settings(
            f"sqlite:///{tmp_path / f'wallet{number}.sqlite3'}",
            tmp_path / f"wallet-data{number}",
            **overrides,
        )
        deployment = make_deployment(settings)
        try:
            with TestClient(create_app(deployment=deployment)):
                assert _refresh_threads() == []
        finally:
            deployment.engine.dispose()


_ENV = {PASSPHRASE_ENV: PASSPHRASE, "JIGAP_WALLET_HMAC_KEY": "ab" * 32}


def test_the_periods_come_from_the_environment() -> None:
    assert Settings.from_env(_ENV).status_refresh_seconds == 60  # the default
    settings = Settings.from_env(
        {
            **_ENV,
            "JIGAP_WALLET_STATUS_REFRESH_SECONDS": "0",  # off
            "JIGAP_WALLET_TRUST_REFRESH_SECONDS": "600",
        }
    )
    assert (settings.status_refresh_seconds, settings.trust_refresh_seconds) == (0, 600)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("STATUS_REFRESH_SECONDS", "1.5", "must be a whole number of seconds"),
        ("STATUS_REFRESH_SECONDS", "-1", "must be between 0 and 86400 seconds"),
        ("TRUST_REFRESH_SECONDS", "0", "must be between 1 and 86400 seconds"),
        ("TRUST_REFRESH_SECONDS", "86401", "must be between 1 and 86400 seconds"),
    ],
)
def test_a_bad_period_is_refused(name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({**_ENV, f"JIGAP_WALLET_{name}": value})
    assert str(refused.value) == f"JIGAP_WALLET_{name} {message}"
