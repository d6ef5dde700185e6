"""One running issuer deployment: settings, database, registry, agencies' keys, the clock.

Built once by ``create_app`` (or the CLI) and handed to every service function, so that a
test builds its own with a fixed clock instead of patching modules.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Engine

from credential_schemas import Registry
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
    _key_stores: dict[str, FileKeyStore] = field(default_factory=dict, repr=False)
    _signers: dict[str, tuple[tuple[int, frozenset[str]], Signer]] = field(
        default_factory=dict, repr=False
    )

    def now(self) -> int:
        return int(self.clock())

    def issuer_id(self, slug: str) -> str:
        return self.settings.issuer_id(slug)

    def key_store(self, slug: str) -> FileKeyStore:
        """Agency ``slug``'s key store (opened once per process: scrypt is slow on purpose)."""
        store = self._key_stores.get(slug)
        if store is None:
            store = FileKeyStore(
                self.settings.keys_dir / slug, self.settings.key_passphrase, clock=self.clock
            )
            self._key_stores[slug] = store
        return store

    def signer(self, slug: str) -> Signer:
        """The agency's newest active key: what new credentials and status lists are signed by.

        Remembered while the key store directory is unchanged: a rotation (`jigap keys
        rotate`, in another process) adds a key file there and changes its modification time
        (the names are compared too, as a time can repeat within a clock tick).
        """
        store = self.key_store(slug)
        directory = self.settings.keys_dir / slug
        version = (directory.stat().st_mtime_ns, frozenset(os.listdir(directory)))
        cached = self._signers.get(slug)
        if cached is not None and cached[0] == version:
            return cached[1]
        active = [info for info in store.list_keys() if info.status is KeyStatus.ACTIVE]
        if not active:
            raise LookupError(f"agency {slug} has no active signing key")
        newest = max(active, key=lambda info: (info.created_at, info.kid))
        signer = store.signer(newest.kid)
        self._signers[slug] = (version, signer)
        return signer

    def public_keys(self, slug: str) -> list[PublicKey]:
        """Active and retired keys alike (retired ones still verify what they signed)."""
        return self.key_store(slug).public_keys()
