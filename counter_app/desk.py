"""The counter's desk: its registration, the check under way, the trust store and its age.

One clerk, one citizen at a time. A check starts from one of the counter's registered
purposes: two-way, a signed request the phone scans (the counter's key is needed); one-way,
a preset the phone answers unasked. Then images come in (camera frames, a photo) until one
holds a certificate; its verdict ends the check, so a request is answered once. Images are
read one at a time: while one is being read, a camera frame is turned away at once (``BUSY``),
so a page sending too many frames a second makes no queue; a photo the clerk uploads waits for
the frame being read (at most ``PHOTO_WAIT_SECONDS``) rather than be dropped.

Nothing about the citizen is kept: the verdict is returned to the page and forgotten; the
log (``counter_log``) gets its code and time.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from counter_app.counter_log import CounterLog, LogEntry
from counter_app.frames import FrameError, ImageKind, certificate_text
from counter_app.verdict import age_words, issuer_names, path_labels, verdict_view
from credential_schemas import Registry
from keys.errors import KeyManagementError
from keys.jwk import Signer
from keys.relying_party import Purpose, RelyingParty
from verifier.errors import VerificationError
from verifier.openid4vp import PresentationRequest, RequestError
from verifier.policy import Policy
from verifier.qr_image import render_png
from verifier.result import VerificationResult
from verifier.sync import Outcome, SyncError, sync_trust_store
from verifier.trust_store import STATUS_LISTS_FILE, TRUST_LIST_FILE, FollowedTrustStore, TrustStore
from verifier.verify import Verifier

__all__ = ["Desk", "DeskError", "DeskErrorCode"]

MAX_CHECKS = 8  # checks under way at once (a few browser tabs); the oldest goes first
IDLE_SECONDS = 600  # a one-way check nobody scanned for is forgotten after this
PHOTO_WAIT_SECONDS = 5.0  # a photo waits this long for the image being read (one photo's read)
_ID_BYTES = 16


class DeskErrorCode(StrEnum):
    TRUST_UNAVAILABLE = "trust_unavailable"  # no current trust list: sync
    NOT_REGISTERED = "not_registered"  # the trust list does not (or no longer) name this counter
    UNKNOWN_PURPOSE = "unknown_purpose"
    NO_SIGNING_KEY = "no_signing_key"  # a two-way check needs the counter's key
    UNKNOWN_CHECK = "unknown_check"  # ended, answered, or never started
    BUSY = "busy"  # an image is being read: this one is dropped, not queued
    SYNC_UNAVAILABLE = "sync_unavailable"  # no source to sync from, or a sync under way
    SYNC_FAILED = "sync_failed"


HTTP_STATUS = {
    DeskErrorCode.TRUST_UNAVAILABLE: 503,
    DeskErrorCode.NOT_REGISTERED: 503,
    DeskErrorCode.UNKNOWN_PURPOSE: 404,
    DeskErrorCode.NO_SIGNING_KEY: 409,
    DeskErrorCode.UNKNOWN_CHECK: 404,
    DeskErrorCode.BUSY: 429,
    DeskErrorCode.SYNC_UNAVAILABLE: 409,
    DeskErrorCode.SYNC_FAILED: 502,
}


class DeskError(Exception):
    def __init__(self, code: DeskErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def status(self) -> int:
        return HTTP_STATUS[self.code]


@dataclass
class _Check:
    check_id: str
    purpose: Purpose
    request: PresentationRequest | None  # None: a one-way preset
    forget_at: int


@dataclass
class Desk:
    """The counter ``client_id`` over the trust store in ``trust_dir``."""

    trust_dir: Path
    client_id: str
    signer: Signer | None
    log: CounterLog
    registry: Registry
    policy: Policy = field(default_factory=Policy)
    sync_sources: Sequence[str] = ()
    request_lifetime: int = 300
    clock: Callable[[], float] = time.time
    _checks: OrderedDict[str, _Check] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reading: threading.Lock = field(default_factory=threading.Lock)
    _syncing: threading.Lock = field(default_factory=threading.Lock)
    _verifier: Verifier | None = None
    _last_sync: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self._trust = FollowedTrustStore(self.trust_dir, self.clock)

    def now(self) -> int:
        return int(self.clock())

    # -- the trust store ------------------------------------------------------------------

    def store(self) -> TrustStore:
        try:
            return self._trust.current()
        except (KeyManagementError, VerificationError) as exc:
            raise DeskError(DeskErrorCode.TRUST_UNAVAILABLE, f"{exc.code}: {exc.detail}") from None

    def verifier(self) -> Verifier:
        store = self.store()
        with self._lock:
            if self._verifier is None or self._verifier.store is not store:
                self._verifier = Verifier(store, self.policy, self.registry)
            return self._verifier

    def registration(self) -> RelyingParty:
        party = self.store().relying_party(self.client_id)
        if party is None or not party.is_current(self.now()):
            raise DeskError(
                DeskErrorCode.NOT_REGISTERED, f"the trust list does not register {self.client_id}"
            )
        return party

    # -- what the clerk can check ---------------------------------------------------------

    def purposes(self) -> list[dict[str, Any]]:
        party = self.registration()
        return [self._purpose_view(purpose) for purpose in party.purposes]

    def _purpose_view(self, purpose: Purpose) -> dict[str, Any]:
        credentials = []
        for registration in purpose.credentials:
            credential_type = self.registry.by_vct(registration.vct)
            labels = [
                path_labels(credential_type, path) if credential_type else (str(path), str(path))
                for path in registration.claims
            ]
            credentials.append(
                {
                    "vct": registration.vct,
                    "name_ko": credential_type.display_name("ko") if credential_type else "",
                    "name_en": credential_type.display_name("en") if credential_type else "",
                    "claims_ko": [ko for ko, _ in labels],
                    "claims_en": [en for _, en in labels],
                }
            )
        one_way = purpose.one_way_seconds is not None
        return {
            "id": purpose.id,
            "name_ko": purpose.names.get("ko", purpose.id),
            "name_en": purpose.names.get("en", purpose.id),
            "one_way": one_way,
            "window_seconds": purpose.one_way_seconds,
            "available": one_way or self.signer is not None,
            "credentials": credentials,
        }

    def start(self, purpose_id: str) -> dict[str, Any]:
        """A new check: the request QR for two-way, or scanning at once for a preset."""
        party = self.registration()
        purpose = party.purpose(purpose_id)
        if purpose is None:
            raise DeskError(
                DeskErrorCode.UNKNOWN_PURPOSE, f"{self.client_id} has no {purpose_id!r}"
            )
        now = self.now()
        view = self._purpose_view(purpose)
        if purpose.one_way_seconds is not None:
            check = _Check(_random_id(), purpose, None, now + IDLE_SECONDS)
            self._keep(check, now)
            return {"check_id": check.check_id, "purpose": view, "mode": "one_way"}
        if self.signer is None:
            raise DeskError(DeskErrorCode.NO_SIGNING_KEY, "start the app with the counter's key")
        try:
            request = self.verifier().make_request(
                signer=self.signer,
                client_id=self.client_id,
                purpose_id=purpose_id,
                now=now,
                lifetime=self.request_lifetime,
            )
        except RequestError as exc:  # the key or the purpose left the trust list
            raise DeskError(DeskErrorCode.NOT_REGISTERED, f"{exc.code}: {exc.detail}") from None
        # Kept past its expiry, so a late answer is told "request expired", not "unknown".
        check = _Check(_random_id(), purpose, request, request.expires_at + IDLE_SECONDS)
        self._keep(check, now)
        png = base64.b64encode(render_png(request.envelope, box_size=6)).decode("ascii")
        return {
            "check_id": check.check_id,
            "purpose": view,
            "mode": "two_way",
            "request_qr": f"data:image/png;base64,{png}",
            "request_text": request.envelope,
            "expires_at": request.expires_at,
        }

    def end(self, check_id: str) -> None:
        with self._lock:
            self._checks.pop(check_id, None)

    def _keep(self, check: _Check, now: int) -> None:
        with self._lock:
            for stale in [c for c in self._checks.values() if now >= c.forget_at]:
                del self._checks[stale.check_id]
            while len(self._checks) >= MAX_CHECKS:
                self._checks.popitem(last=False)
            self._checks[check.check_id] = check

    # -- reading an image -----------------------------------------------------------------

    def read(self, check_id: str, image: bytes, kind: ImageKind) -> dict[str, Any]:
        """The verdict on the certificate in ``image``, or why there is none yet."""
        # A camera frame is one of many: dropped when busy. A photo is the clerk's one deliberate
        # upload: it waits for the frame being read, a few milliseconds, and is read next.
        if kind is ImageKind.PHOTO:
            taken = self._reading.acquire(timeout=PHOTO_WAIT_SECONDS)
        else:
            taken = self._reading.acquire(blocking=False)
        if not taken:
            raise DeskError(DeskErrorCode.BUSY, "an image is being read")
        try:
            return self._read(check_id, image, kind)
        finally:
            self._reading.release()

    def _read(self, check_id: str, image: bytes, kind: ImageKind) -> dict[str, Any]:
        with self._lock:
            check = self._checks.get(check_id)
        if check is None:
            raise DeskError(DeskErrorCode.UNKNOWN_CHECK, "no such check under way")
        started = time.perf_counter()
        try:
            text = certificate_text(image, kind)
        except FrameError as unread:
            decode_ms = (time.perf_counter() - started) * 1000
            return {"outcome": unread.reason.value, "timings": {"decode_ms": decode_ms}}
        decoded = time.perf_counter()
        verifier, now = self.verifier(), self.now()
        result = self._judge(verifier, check, text, now)
        verified = time.perf_counter()
        self.end(check_id)  # one verdict a check: a request is answered once
        self.log.append(
            LogEntry(
                at=now,
                purpose=check.purpose.id,
                source=kind.value,
                verdict="valid" if result.valid else "refused",
                code=result.error.value if result.error else None,
            )
        )
        view = verdict_view(
            result,
            registry=self.registry,
            store=verifier.store,
            now=now,
            max_status_age=self.policy.max_status_age,
            trust_age=self._status_age(verifier.store, now),
        )
        return {
            "outcome": "verdict",
            "verdict": view,
            "checked_at": now,
            "timings": {
                "decode_ms": (decoded - started) * 1000,
                "verify_ms": (verified - decoded) * 1000,
            },
        }

    def _judge(self, verifier: Verifier, check: _Check, text: str, now: int) -> VerificationResult:
        if check.request is not None:
            return verifier.verify_answer(text, check.request, now=now)
        try:
            return verifier.verify_preset(text, self.client_id, check.purpose.id, now=now)
        except RequestError as exc:  # the preset left the trust list since the check began
            raise DeskError(DeskErrorCode.NOT_REGISTERED, f"{exc.code}: {exc.detail}") from None

    # -- the trust store's state, and syncing it --------------------------------------------

    def trust_state(self) -> dict[str, Any]:
        """When the trust list and each status list were synced, and whether any is too old."""
        now = self.now()
        state: dict[str, Any] = {
            "now": now,
            "max_status_age": self.policy.max_status_age,
            "can_sync": bool(self.sync_sources),
            "last_sync": self._last_sync,
        }
        try:
            store = self.store()
        except DeskError as exc:
            return {**state, "usable": False, "problem": exc.detail, "stale": True}
        assert store.trust_list is not None  # noqa: S101 - loaded from a trust list
        trust_list = store.trust_list
        lists = []
        for uri in store.status_list_uris:
            held = store.status_list(uri)
            assert held is not None  # noqa: S101 - listed just now
            issuer_ko, issuer_en = issuer_names(store, held.issuer_id)
            age = max(0, now - held.fetched_at)
            lists.append(
                {
                    "uri": uri,
                    "issuer_ko": issuer_ko,
                    "issuer_en": issuer_en,
                    "synced_at": held.fetched_at,
                    "age_seconds": age,
                    "age_ko": age_words(age)[0],
                    "age_en": age_words(age)[1],
                    "stale": age > self.policy.max_status_age,
                }
            )
        synced_at = _modified(self.trust_dir / TRUST_LIST_FILE)
        oldest = self._status_age(store, now)
        return {
            **state,
            "usable": True,
            "problem": None,
            "trust_list": {
                "operator": trust_list.operator,
                "sequence": trust_list.sequence,
                "issued_at": trust_list.issued_at,
                "expires_at": trust_list.expires_at,
                "synced_at": synced_at,
            },
            "status_lists": lists,
            "oldest_age_seconds": oldest,
            "oldest_age_ko": age_words(oldest)[0],
            "oldest_age_en": age_words(oldest)[1],
            "stale": not lists or any(entry["stale"] for entry in lists),
        }

    def _status_age(self, store: TrustStore, now: int) -> int | None:
        """How old the oldest status list held is; the store's own age when it holds none."""
        fetched = [
            held.fetched_at
            for uri in store.status_list_uris
            if (held := store.status_list(uri)) is not None
        ]
        if fetched:
            return max(0, now - min(fetched))
        synced = _modified(self.trust_dir / STATUS_LISTS_FILE) or _modified(
            self.trust_dir / TRUST_LIST_FILE
        )
        return None if synced is None else max(0, now - synced)

    def sync_now(self) -> dict[str, Any]:
        """Fetch the trust list and status lists again from where they were last synced."""
        if not self.sync_sources:
            raise DeskError(DeskErrorCode.SYNC_UNAVAILABLE, "no source to sync from")
        if not self._syncing.acquire(blocking=False):
            raise DeskError(DeskErrorCode.SYNC_UNAVAILABLE, "a sync is under way")
        try:
            report = sync_trust_store(list(self.sync_sources), self.trust_dir)
        except (SyncError, VerificationError, KeyManagementError) as exc:
            detail = " ".join(str(getattr(exc, "detail", exc)).split())[:300]
            self._last_sync = {"at": self.now(), "ok": False, "detail": detail}
            raise DeskError(DeskErrorCode.SYNC_FAILED, detail) from None
        finally:
            self._syncing.release()
        failed = [row for row in report.rows if row.outcome is Outcome.FAILED]
        detail = f"{report.status_lists_held} status lists held" + (
            f"; {len(failed)} failed: {failed[0].detail[:200]}" if failed else ""
        )
        self._last_sync = {"at": self.now(), "ok": not failed, "detail": detail}
        return self._last_sync


def _modified(path: Path) -> int | None:
    try:
        return int(path.stat().st_mtime)
    except FileNotFoundError:
        return None


def _random_id() -> str:
    return secrets.token_urlsafe(_ID_BYTES)
