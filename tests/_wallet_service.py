"""The wallet service in-process, on a real database (SQLite file or a PostgreSQL schema), with
a clock the test moves, and phones (``WalletClient`` over ``DeviceKeys``) talking to it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import httpx
from fastapi.testclient import TestClient

from credential_schemas import Registry
from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._issuer import Clock
from verifier.trust_store import ANCHOR_FILE, TRUST_LIST_FILE
from wallet_api.api.app import create_app
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.holder.client import WalletClient
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.settings import Settings

PUBLIC_URL = "http://127.0.0.1:8100"  # what proofs name; the TestClient sends to testserver
PASSPHRASE = "wallet test passphrase, long enough"
HMAC_KEY = bytes(range(32))
START = 1_780_000_000.0


@dataclass
class WalletWorld:
    deployment: WalletDeployment
    http: TestClient
    clock: Clock
    tmp: Path
    _phones: int = field(default=0)

    def phone(self) -> WalletClient:
        """A new phone, with its own device-key store and no account yet."""
        self._phones += 1
        keys = DeviceKeys(self.tmp / f"phone{self._phones}", PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
        # TestClient is an httpx.Client at run time; its stubs do not say so.
        http = cast(httpx.Client, self.http)
        return WalletClient(PUBLIC_URL, keys, http=http, clock=self.clock)


def wallet_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(
        database_url=database_url,
        public_url=PUBLIC_URL,
        data_dir=data_dir,
        key_passphrase=PASSPHRASE,
        hmac_key=HMAC_KEY,
        **overrides,
    )


def wallet_world(database_url: str, tmp: Path, **overrides: Any) -> Iterator[WalletWorld]:
    """The wallet alone: its trust store holds a list whose one issuer never answers."""
    settings = wallet_settings(database_url, tmp / "wallet-data", **overrides)
    SealingKeyStore(settings.sealing_dir, PASSPHRASE, scrypt_n=MIN_SCRYPT_N).generate()
    hold_trust_list(settings.trust_dir, int(START))
    clock = Clock(START)
    deployment = make_deployment(settings, clock=clock)
    try:
        with TestClient(create_app(deployment=deployment)) as http:
            yield WalletWorld(deployment, http, clock, tmp)
    finally:
        deployment.engine.dispose()


HELD_ISSUER = "https://127.0.0.1:9/agencies/x"  # on the held trust list; port 9 never answers


def hold_trust_list(trust_dir: Path, now: int) -> None:
    """A trust store as a sync would have left it: a signed list naming ``HELD_ISSUER`` for
    every registry type, and its anchor pinned. Offers then meet the trust checks."""
    anchor, issuer_key = SigningKey.generate(), SigningKey.generate()
    types = frozenset(t.vct for t in Registry.load().types)
    entry = TrustedIssuer(
        HELD_ISSUER, {"ko": "시험 기관", "en": "Test agency"}, Jwks.of(issuer_key.public_key),
        types, now - 86400, now + 365 * 86400,
    )  # fmt: skip
    trust_list = TrustList("https://trust.example", 1, now, now + 365 * 86400, {HELD_ISSUER: entry})
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / TRUST_LIST_FILE).write_text(sign_trust_list(trust_list, anchor))
    (trust_dir / ANCHOR_FILE).write_bytes(json_dumps(anchor.public_key.to_jwk()))
