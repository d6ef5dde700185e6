"""The issuer and the wallet service together in-process: the wallet talks to the issuer's
app over HTTP (its ``TestClient`` as the wallet's issuer client), exactly as it would over a
network; phones talk to the wallet. One clock for both, which the test moves.

The wallet trusts what the issuer's development deployment publishes: its trust list, signed
by the anchor whose public key is pinned in the wallet's trust directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi.testclient import TestClient

from keys.encoding import json_dumps
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N, list_key_infos
from tests import _issuer_client
from tests._issuer import IssuerWorld
from tests._issuer_client import PUBLIC_URL as ISSUER_URL
from tests._issuer_client import create_offer
from tests._wallet_service import PASSPHRASE, wallet_settings
from verifier.trust_store import ANCHOR_FILE
from wallet_api.api.app import create_app
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.holder.client import WalletClient
from wallet_api.holder.device_keys import DeviceKeys

world, client = _issuer_client.world, _issuer_client.client  # fixtures

WALLET_URL = "http://127.0.0.1:8100"
TRUST_LIST_URL = f"{ISSUER_URL}/trust-list.jwt"


@dataclass
class Pair:
    issuer: IssuerWorld
    issuer_http: TestClient
    wallet: WalletDeployment
    wallet_http: TestClient
    tmp: Path
    _phones: int = field(default=0)

    def phone(self) -> WalletClient:
        self._phones += 1
        keys = DeviceKeys(self.tmp / f"phone{self._phones}", PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
        http = cast(httpx.Client, self.wallet_http)
        return WalletClient(WALLET_URL, keys, http=http, clock=self.issuer.clock)

    def registered_phone(self) -> WalletClient:
        phone = self.phone()
        phone.register()
        return phone

    def offer(self, **options: Any) -> dict[str, Any]:
        """An agency's offer (the issuer tests' helper: mois, its first type by default)."""
        return create_offer(self.issuer_http, self.issuer, **options)

    def receive(self, phone: WalletClient, copies: int = 3, **options: Any) -> dict[str, Any]:
        offer = self.offer(**options)
        return phone.receive(
            offer["credential_offer_reference_uri"], tx_code=offer["tx_code"], copies=copies
        )


def pin_anchor(issuer: IssuerWorld, trust_dir: Path) -> None:
    anchor = next(iter(list_key_infos(issuer.settings.anchor_dir)))
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / ANCHOR_FILE).write_bytes(json_dumps(anchor.public_key.to_jwk()))


@contextmanager
def two_services(
    world: IssuerWorld,
    client: TestClient,
    database_url: str,
    tmp_path: Path,
    *,
    status_refresh_seconds: int = 0,
) -> Iterator[Pair]:
    """The wallet wired to the in-process issuer; its refresh thread off unless asked for."""
    wallet_db = (
        f"sqlite:///{tmp_path / 'wallet.sqlite3'}"
        if database_url.startswith("sqlite")
        else database_url  # one PostgreSQL schema for both: every wallet table is wallet_*
    )
    settings = wallet_settings(
        wallet_db,
        tmp_path / "wallet-data",
        trust_list_url=TRUST_LIST_URL,
        allow_http_issuers=True,
        status_refresh_seconds=status_refresh_seconds,
    )
    SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
    pin_anchor(world, settings.trust_dir)
    deployment = make_deployment(
        settings, clock=world.clock, issuer_http=cast(httpx.Client, client)
    )
    try:
        with TestClient(create_app(deployment=deployment)) as http:
            yield Pair(world, client, deployment, http, tmp_path)
    finally:
        deployment.engine.dispose()


@pytest.fixture
def pair(
    world: IssuerWorld, client: TestClient, database_url: str, tmp_path: Path
) -> Iterator[Pair]:
    with two_services(world, client, database_url, tmp_path) as running:
        yield running
