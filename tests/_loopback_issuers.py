"""The wallet in-process on a real database, talking over real loopback sockets to a trusted
agency whose answers the test chooses (``tests._agency``), to a live server the trust list
does not name, to a trusted issuer that never answers and to one whose port is closed.

``bench`` keeps the default ``issuer_timeout_seconds``; ``impatient`` has a small one
(``TIMEOUT``), for the tests of issuers that never answer, so that each costs little.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from keys.jwk import SigningKey
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N
from tests._agency import (
    Agency,
    closed_port_url,
    hold_trust,
    offer_by_value,
    serve_agency,
    silent_url,
)
from tests._issuer import Clock
from tests._wallet_service import PASSPHRASE, START, WalletWorld, wallet_settings
from wallet_api.api.app import create_app
from wallet_api.deployment import make_deployment
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.settings import Settings

TIMEOUT = 1.0  # the impatient wallet's issuer_timeout_seconds: what a silent issuer costs
PATIENT_TIMEOUT = Settings.issuer_timeout_seconds  # every other test's: the default, 10 s
SLACK = 1.5  # a loaded 2-core machine's scheduling, on top of the timeout


@dataclass
class Receiving:
    world: WalletWorld
    agency: Agency  # on the trust list, on a real socket; its answers are the test's
    stranger: Agency  # a live server the trust list does not name
    silent: str  # on the trust list: accepts, never answers
    closed: str  # on the trust list: nothing listens

    def phone(self) -> WalletClient:
        phone = self.world.phone()
        phone.register()
        return phone

    def intake(self, phone: WalletClient) -> str:
        return str(phone.hand_over(offer_by_value(self.agency.url))["intake_id"])

    def stored(self) -> tuple[int, int]:
        with self.world.deployment.engine.connect() as connection:
            credentials = connection.execute(text("SELECT count(*) FROM wallet_credentials"))
            copies = connection.execute(text("SELECT count(*) FROM wallet_credential_copies"))
            return int(credentials.scalar_one()), int(copies.scalar_one())

    def intakes(self) -> int:
        with self.world.deployment.engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM wallet_intakes")).scalar_one())


def _bench(database_url: str, tmp_path: Path, timeout: float) -> Iterator[Receiving]:
    clock = Clock(START)
    with serve_agency(clock) as agency, serve_agency(clock) as stranger, silent_url() as silent:
        closed = closed_port_url()
        settings = wallet_settings(
            database_url,
            tmp_path / "wallet-data",
            allow_http_issuers=True,
            issuer_timeout_seconds=timeout,
        )
        SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
        trusted = {agency.url: agency.key, silent: SigningKey.generate()}
        agency.sibling = (silent, trusted[silent])  # another issuer the list trusts
        agency.elsewhere = stranger.url
        trusted[closed] = SigningKey.generate()
        hold_trust(settings.trust_dir, int(START), trusted)
        deployment = make_deployment(settings, clock=clock)  # real sockets to the issuers
        try:
            with TestClient(create_app(deployment=deployment)) as http:
                world = WalletWorld(deployment, http, clock, tmp_path)
                yield Receiving(world, agency, stranger, silent, closed)
        finally:
            deployment.issuer_http.close()
            deployment.engine.dispose()


@pytest.fixture
def bench(database_url: str, tmp_path: Path) -> Iterator[Receiving]:
    """The wallet with the settings' own issuer timeout: the agency, in this process, may be
    slow to answer on a loaded machine, and no test here is about that."""
    yield from _bench(database_url, tmp_path, PATIENT_TIMEOUT)


@pytest.fixture
def impatient(database_url: str, tmp_path: Path) -> Iterator[Receiving]:
    """The wallet with ``issuer_timeout_seconds=TIMEOUT``: for the tests of issuers that never
    answer, or answer too slowly."""
    yield from _bench(database_url, tmp_path, TIMEOUT)


def refusal(call: Any) -> tuple[int, str]:
    """The status and code of the holder client's ``WalletApiError`` (there must be one)."""
    with pytest.raises(WalletApiError) as refused:
        call()
    return refused.value.status, refused.value.error


def answer_of(response: Any) -> tuple[int, str]:
    """The status and ``error`` of a raw answer, never a server error."""
    assert response.status_code < 500, response.text
    return response.status_code, response.json().get("error", "") if response.content else ""


def device_jwk() -> dict[str, Any]:
    return SigningKey.generate().public_key.to_jwk()
