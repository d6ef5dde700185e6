"""One running wallet service: its settings, database and clock, made once per process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from keys.sealing import Sealer, SealingKeyStore
from protocols.dpop import DpopPolicy
from servicekit.db import make_engine, read_only
from wallet_api.db import migrate
from wallet_api.settings import Settings

__all__ = ["WalletDeployment", "make_deployment"]


@dataclass(kw_only=True)
class WalletDeployment:
    settings: Settings
    engine: Engine
    clock: Callable[[], float] = time.time
    read_engine: Engine = field(init=False, repr=False)
    dpop_policy: DpopPolicy = field(init=False)
    _sealer: Sealer | None = field(default=None, repr=False)
    _sealer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.read_engine = read_only(self.engine)
        self.dpop_policy = DpopPolicy(
            max_age=self.settings.dpop_max_age_seconds,
            clock_skew=self.settings.dpop_clock_skew_seconds,
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
    settings: Settings, *, clock: Callable[[], float] = time.time, run_migrations: bool = True
) -> WalletDeployment:
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    if run_migrations:
        migrate(engine)
    return WalletDeployment(settings=settings, engine=engine, clock=clock)
