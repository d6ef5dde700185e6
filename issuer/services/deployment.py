"""One running issuer deployment: settings, database, registry, agencies' keys, the clock.

Built once by ``create_app`` (or the CLI) and handed to every service function, so that a
test builds its own with a fixed clock instead of patching modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine

from credential_schemas import Registry
from issuer.db import read_only
from issuer.settings import Settings
from keys.jwk import PublicKey, Signer
from keys.store import FileKeyStore, KeyStatus

__all__ = ["Deployment"]


@dataclass(kw_only=True)
class Deployment:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: Callable[[], float] = time.time
    # The same database for transactions that only read (issuer.db.read_only).
    read_engine: Engine = field(init=False, repr=False)
    _key_stores: dict[Path, FileKeyStore] = field(default_factory=dict, repr=False)
    _signers: dict[Path, tuple[tuple[int, frozenset[str]], Signer | None]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        self.read_engine = read_only(self.engine)

    def now(self) -> int:
        return int(self.clock())

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
