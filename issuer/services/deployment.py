"""One running issuer deployment: settings, database, registry, agencies' keys, the clock.

Built once by ``create_app`` (or the CLI) and handed to every service function, so that a
test builds its own with a fixed clock instead of patching modules.

The deployment's sealing keys (``keys.sealing``: the master keys that wrap the data key of
each record kept encrypted at rest) live in ``{data_dir}/keys/_sealing``, under the same
passphrase as the agencies' signing keys; ``jigap issuer init`` creates the first one, and a
deployment from before them gets one when it first starts.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine

from credential_schemas import Registry
from issuer.settings import Settings
from keys.jwk import PublicKey, Signer
from keys.sealing import Sealer, SealingKeyStore
from keys.store import FileKeyStore, KeyStatus
from servicekit.db import read_only

__all__ = ["SEALING_KEYS", "Deployment", "FaultPoint"]

SEALING_KEYS = "_sealing"  # in keys_dir, beside the agencies' stores (slugs never start "_")


class FaultPoint(StrEnum):
    """Steps of issuance where a test may make the service fail or pause (``fault_hook``)."""

    TOKEN_ANSWER = "token.answer"  # noqa: S105 - the token's transaction committed, the answer not sent
    SIGNING = "credential.signing"  # in the credential transaction, before signing
    STORING = "credential.storing"  # signed and recorded, before the commit
    CREDENTIAL_ANSWER = "credential.answer"  # committed, the answer not sent


@dataclass(kw_only=True)
class Deployment:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Callable[[], float] = time.time
    # The same database for transactions that only read (servicekit.db.read_only).
    read_engine: Engine = field(init=False, repr=False)
    _key_stores: dict[Path, FileKeyStore] = field(default_factory=dict, repr=False)
    _signers: dict[Path, tuple[tuple[int, frozenset[str]], Signer | None]] = field(
        default_factory=dict, repr=False
    )
    # Test-only fault injection: called with each ``FaultPoint`` reached; it may raise, or
    # sleep while the test kills the process. Production never sets it: no setting or
    # environment variable reaches it, only code that builds its own Deployment.
    fault_hook: Callable[[FaultPoint], None] | None = field(default=None, repr=False)
    _sealer: Sealer | None = field(default=None, repr=False)
    _sealer_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.read_engine = read_only(self.engine)

    def now(self) -> int:
        return int(self.clock())

    def fault_point(self, point: FaultPoint) -> None:
        if self.fault_hook is not None:
            self.fault_hook(point)

    @property
    def sealing_keys_dir(self) -> Path:
        return self.settings.keys_dir / SEALING_KEYS

    @property
    def sealer(self) -> Sealer:
        """Seals records at rest; opened once (its first master key made if there is none)."""
        with self._sealer_lock:
            if self._sealer is None:
                store = SealingKeyStore(
                    self.sealing_keys_dir, self.settings.key_passphrase, clock=self.clock
                )
                self._sealer = store.sealer(create=True)
            return self._sealer

    def issuer_id(self, slug: str) -> str:
        return self.settings.issuer_id(slug)

    def key_store(self, slug: str) -> FileKeyStore:
        """Agency ``slug``'s key store."""
        return self._store(self.settings.keys_dir / slug)

    def signer(self, slug: str) -> Signer:
        """The agency's newest active key: what new credentials and status lists are signed by."""
        signer = self._newest_active(self.settings.keys_dir / slug)
        if signer is None:
            raise LookupError(f"agency {slug} has no active signing key")
        return signer

    def anchor_signer(self) -> Signer | None:
        """The development trust anchor's newest active key, if this deployment holds one."""
        if not self.settings.anchor_dir.is_dir():
            return None
        return self._newest_active(self.settings.anchor_dir)

    def _store(self, directory: Path) -> FileKeyStore:
        # Opened once per process: a store remembers the keys it opened (scrypt is slow on
        # purpose, about 0.1 s a key).
        store = self._key_stores.get(directory)
        if store is None:
            store = FileKeyStore(directory, self.settings.key_passphrase, clock=self.clock)
            self._key_stores[directory] = store
        return store

    def _newest_active(self, directory: Path) -> Signer | None:
        """Remembered while ``directory`` is unchanged: a rotation (`jigap keys rotate`, in
        another process) adds a key file there and changes its modification time (the names
        are compared too, as a time can repeat within a clock tick)."""
        version = (directory.stat().st_mtime_ns, frozenset(os.listdir(directory)))
        cached = self._signers.get(directory)
        if cached is not None and cached[0] == version:
            return cached[1]
        store = self._store(directory)
        active = [info for info in store.list_keys() if info.status is KeyStatus.ACTIVE]
        newest = max(active, key=lambda info: (info.created_at, info.kid), default=None)
        signer = store.signer(newest.kid) if newest is not None else None
        self._signers[directory] = (version, signer)
        return signer

    def public_keys(self, slug: str) -> list[PublicKey]:
        """Active and retired keys alike (retired ones still verify what they signed)."""
        return self.key_store(slug).public_keys()
