"""What the wallet service trusts, and what it knows of each credential's status.

The wallet is a verifier too: nothing is stored that our own verifier has not accepted, and it
tells the citizen when an agency revoked a certificate. It keeps a trust store on disk exactly
as a counter does (``verifier.sync``: the trust list signed by the pinned anchor, and every
trusted issuer's status lists, found through the issuer's metadata) in ``{data_dir}/trust``.

Each status list is fetched once for all accounts: the store is shared by every account, and
it is synced only when something in it is due: the trust list after ``trust_refresh_seconds``,
a status list when its own ``ttl`` has passed. Requests are conditional (ETags), so an unchanged
list costs a 304. Worker processes share the directory; a file lock makes one of them sync
while the others wait, and every worker reads what a sync wrote at its next request.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from keys.errors import KeyManagementError
from verifier.errors import VerificationError
from verifier.sources import SyncError
from verifier.status_list import StatusValue
from verifier.sync import SyncReport, sync_trust_store
from verifier.trust_store import ANCHOR_FILE, TRUST_LIST_FILE, TrustStore, store_stamp

__all__ = ["TrustUnavailableError", "WalletTrust", "copy_status"]

logger = logging.getLogger("jigap.wallet.trust")
_LOCK_FILE = ".sync.lock"
# After a failed sync (the trust operator or an issuer down), the next try waits this long:
# requests are not each made to wait on a server that does not answer.
RETRY_AFTER_FAILURE_SECONDS = 60


class TrustUnavailableError(Exception):
    """No trust list is held and none could be fetched: the wallet cannot check anything."""


@dataclass(frozen=True, slots=True)
class CopyStatus:
    """What a copy's status list says of it, and when that list was fetched."""

    value: StatusValue | None  # None: no status list held for it, or an index it lacks
    known_at: int | None


def copy_status(
    store: TrustStore, issuer_id: str, uri: str | None, index: int | None
) -> CopyStatus:
    """The status of one copy by its status-list reference, judged only by its own issuer's
    list (a list signed by another issuer says nothing about it)."""
    if uri is None or index is None:
        return CopyStatus(None, None)
    held = store.status_list(uri)
    if held is None or held.issuer_id != issuer_id:
        return CopyStatus(None, None)
    try:
        return CopyStatus(StatusValue(held.snapshot.status_at(index)), held.fetched_at)
    except (VerificationError, ValueError):
        return CopyStatus(None, held.fetched_at)


@dataclass(frozen=True, slots=True)
class _Held:
    store: TrustStore
    stamp: tuple[int, ...]  # ``store_stamp`` of the files it was read from


class WalletTrust:
    """The wallet's trust store: held in memory, synced into ``directory`` when due."""

    def __init__(
        self,
        directory: Path,
        trust_list_url: str | None,
        *,
        clock: Callable[[], float],
        http: httpx.Client,
        refresh_seconds: int,
    ) -> None:
        self.directory = directory
        self.trust_list_url = trust_list_url
        self._clock = clock
        self._http = http
        self._refresh_seconds = refresh_seconds
        self._lock = threading.Lock()
        self._held: _Held | None = None  # one attribute, so a thread never sees half of it
        self._synced_at: int | None = None
        self._failed_at: int | None = None

    @property
    def configured(self) -> bool:
        return (self.directory / ANCHOR_FILE).is_file()

    def store(self) -> TrustStore:
        """The store in memory, read again from disk whenever a sync (this worker's or
        another's) rewrote it; ``TrustUnavailableError`` if no trust list is held (sync first).

        Every worker answers from the newest sync: a citizen who saw a revocation on one
        request does not see the certificate valid on the next. No request waits on a sync in
        progress: files are replaced whole, and one written while they were read is read again
        at the next request.
        """
        held, stamp = self._held, store_stamp(self.directory)
        if held is not None and held.stamp == stamp:
            return held.store
        try:
            self._held = self._read()
        except TrustUnavailableError as exc:
            if held is None:
                raise
            logger.warning("the trust store synced does not load, the one held is used: %s", exc)
            return held.store
        return self._held.store

    def _now(self) -> int:
        return int(self._clock())

    def _read(self) -> _Held:
        # The stamp from before the read: files replaced while they were read are read again.
        stamp = store_stamp(self.directory)
        return _Held(self._load(), stamp)

    def _load(self) -> TrustStore:
        if not (self.directory / TRUST_LIST_FILE).is_file():
            raise TrustUnavailableError(f"no trust list held in {self.directory}: sync first")
        try:
            store = TrustStore.load(self.directory, now=self._now())
        except (KeyManagementError, VerificationError) as exc:
            raise TrustUnavailableError(f"the trust store in {self.directory}: {exc}") from exc
        return store

    def due(self) -> bool:
        """Whether a sync would fetch anything: nothing held, the trust list older than the
        refresh period, or a status list past its ``ttl``."""
        now = self._now()
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE_SECONDS:
            return False
        if self._synced_at is None or now - self._synced_at >= self._refresh_seconds:
            return True
        if self._held is None:
            return True
        store = self._held.store
        for uri in store.status_list_uris:
            held = store.status_list(uri)
            if held is not None and now >= held.fetched_at + held.snapshot.ttl:
                return True
        return False

    def refresh(self, *, force: bool = False) -> SyncReport | None:
        """Sync if due (or ``force``); the report, or None when nothing was due.

        A failed sync keeps what is held (the citizen still sees the last known status, with
        its time) and raises ``TrustUnavailableError`` only if nothing is held at all.
        """
        if not force and not self.due():
            return None
        if self.trust_list_url is None:
            raise TrustUnavailableError("no trust list URL is configured")
        with self._lock, self._file_lock():
            try:
                report = sync_trust_store(
                    [self.trust_list_url],
                    self.directory,
                    now=self._now(),
                    discover=True,
                    client=self._http,
                )
            except (SyncError, KeyManagementError, VerificationError) as exc:
                logger.warning("trust sync failed: %s", exc)
                self._failed_at = self._now()
                if self._held is None:
                    try:
                        self._held = self._read()
                    except TrustUnavailableError:
                        raise TrustUnavailableError(
                            f"trust sync failed, and no trust list is held: {exc}"
                        ) from exc
                raise TrustUnavailableError(f"trust sync failed: {exc}") from exc
            for row in report.rows:
                if row.outcome == "failed":
                    logger.warning("trust sync: %s %s: %s", row.what, row.source, row.detail)
            self._held = self._read()
            self._synced_at, self._failed_at = self._now(), None
            return report

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        # Workers share the directory: one syncs at a time (a waiting one then re-fetches
        # conditionally, which costs a 304 per list).
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.directory / _LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
        with os.fdopen(descriptor, "r+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
