"""One running wallet service: its settings, database and clock, made once per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine

from credential_schemas import Registry
from keys.sealing import Sealer, SealingKeyStore
from protocols.dpop import DpopPolicy
from servicekit.db import make_engine, read_only
from wallet_api.db import migrate
from wallet_api.settings import Settings
from wallet_api.trust import WalletTrust

__all__ = ["WalletDeployment", "make_deployment"]


@dataclass(kw_only=True)
class WalletDeployment:
    settings: Settings
    engine: Engine
    clock: Callable[[], float] = time.time
    registry: Registry = field(default_factory=Registry.load, repr=False)
    # What the service talks to issuers with: one client, no redirects followed (an issuer's
    # answer never sends the service elsewhere). Tests give one wired to an in-process issuer.
    issuer_http: httpx.Client = field(
        default_factory=lambda: httpx.Client(follow_redirects=False), repr=False
    )
    # What the service talks to counters with (a request by reference, a direct_post answer):
    # a client of its own, no redirects followed; a counter is never an issuer's business.
    counter_http: httpx.Client = field(
        default_factory=lambda: httpx.Client(follow_redirects=False), repr=False
    )
    read_engine: Engine = field(init=False, repr=False)
    dpop_policy: DpopPolicy = field(init=False)
    trust: WalletTrust = field(init=False, repr=False)
    # The DPoP nonce this process hands out and when it was minted (dpop_guard.current_nonce):
    # every response carries one, and reading it from the database each time cost a query.
    handed_out_nonce: tuple[str, int] | None = field(default=None, repr=False)
    _sealer: Sealer | None = field(default=None, repr=False)
    _sealer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.read_engine = read_only(self.engine)
        self.dpop_policy = DpopPolicy(
            max_age=self.settings.dpop_max_age_seconds,
            clock_skew=self.settings.dpop_clock_skew_seconds,
        )
        self.trust = WalletTrust(
            self.settings.trust_dir,
            self.settings.trust_list_url,
            clock=self.clock,
            http=self.issuer_http,
            refresh_seconds=self.settings.trust_refresh_seconds,
        )

    def now(self) -> int:
        return int(self.clock())

    @property
    def sealer(self) -> Sealer:
        """The master keys that will seal credentials at rest (made at `wallet init`; the
        records they seal come with receiving credentials). Opened once per process."""
        with self._sealer_lock:
            if self._sealer is None:
                store = SealingKeyStore(
                    self.settings.sealing_dir, self.settings.key_passphrase, clock=self.clock
                )
                self._sealer = store.sealer(create=True)
            return self._sealer


def make_deployment(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    run_migrations: bool = True,
    issuer_http: httpx.Client | None = None,
) -> WalletDeployment:
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    if run_migrations:
        migrate(engine)
    if issuer_http is None:
        issuer_http = httpx.Client(follow_redirects=False, timeout=settings.issuer_timeout_seconds)
    return WalletDeployment(settings=settings, engine=engine, clock=clock, issuer_http=issuer_http)
