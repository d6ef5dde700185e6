"""What an offline verifier trusts: issuers and their keys, and status lists with their age.

Trust arrives as data — a trust list signed by the pinned anchor, or entries added
explicitly — and every token is checked as it enters the store, so that verifying a
presentation needs no network and no signature beyond the presentation's own.

On disk (what ``jigap verify sync`` writes)::

    DIR/anchor.jwk          the trust operator's public key, pinned by the bank's operator
    DIR/trust-list.jwt      the signed trust list
    DIR/status-lists.json   {"<uri>": {"token": "<statuslist+jwt>", "fetched_at": <epoch s>}}
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keys.encoding import json_loads_object
from keys.errors import InvalidKeyError, KeyErrorCode
from keys.jwk import Jwks, PublicKey, public_key_from_jwk
from keys.jws import KID
from keys.relying_party import RelyingParty
from keys.store import write_atomically
from keys.trust_list import TrustList, verify_trust_list
from verifier.errors import ErrorCode, VerificationError
from verifier.status_list import (
    MAX_STATUS_LIST_TOKEN_LENGTH,
    STATUS_LIST_CLOCK_SKEW,
    StatusListSnapshot,
    decode_status_list_token,
    read_status_list_token,
)

ANCHOR_FILE = "anchor.jwk"
TRUST_LIST_FILE = "trust-list.jwt"
STATUS_LISTS_FILE = "status-lists.json"
# Room for two status lists at the reader's limit (an incompressible list of 2^26 two-bit
# entries, about 30 MB each) and the rest of the store: derived, so a list the reader accepts
# is never refused on disk. Real lists compress far better (2^24 entries, 1 % revoked: ~0.4 MB).
MAX_STORE_FILE_BYTES = 2 * MAX_STATUS_LIST_TOKEN_LENGTH + 1024 * 1024
PUBLIC_FILE = 0o644  # a trust store holds only public data, read by the counter's own user
# A credential without `kid` from an issuer registered by hand is checked against each of that
# issuer's keys of its algorithm: at most this many signatures tried, so a crafted token costs
# a bounded amount of work (docs/verifier.md).
MAX_KEYS_TRIED = 8
MAX_KID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class IssuerEntry:
    """An issuer the store trusts; ``credential_types`` None means any type (explicit use).

    ``by_hand`` marks an issuer added with ``TrustStore.add_issuer`` rather than from the signed
    trust list: the policy's ``require_kid``/``require_exp``/``require_iat`` apply to it, and
    its keys may be named by ``kid``s that are not their thumbprints (``declared_kids``).
    """

    issuer_id: str
    jwks: Jwks
    credential_types: frozenset[str] | None = None
    valid_from: int | None = None
    valid_until: int | None = None
    by_hand: bool = False
    declared_kids: tuple[tuple[str, PublicKey], ...] = ()

    def key(self, kid: str) -> PublicKey | None:
        """The key a token's ``kid`` names: its thumbprint, or a kid declared by hand."""
        found = self.jwks.get(kid)
        if found is None:
            found = next((key for name, key in self.declared_kids if name == kid), None)
        return found

    def may_issue(self, vct: str) -> bool:
        return self.credential_types is None or vct in self.credential_types

    def is_current(self, at: int) -> bool:
        return (self.valid_from is None or self.valid_from <= at) and (
            self.valid_until is None or at < self.valid_until
        )


@dataclass(frozen=True, slots=True)
class HeldStatusList:
    snapshot: StatusListSnapshot
    issuer_id: str  # who signed it: only that issuer's credentials may be judged by it
    fetched_at: int
    token: str


class TrustStore:
    """Issuers, keys and status lists a verifier relies on when offline."""

    def __init__(self) -> None:
        self._issuers: dict[str, IssuerEntry] = {}
        self._status_lists: dict[str, HeldStatusList] = {}
        self.trust_list: TrustList | None = None

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_trust_list(
        cls,
        jws: str,
        anchor_jwk: Mapping[str, Any] | PublicKey,
        *,
        now: int | None = None,
        held_sequence: int | None = None,
        held_digest: str | None = None,
    ) -> TrustStore:
        """A store holding the issuers of a trust list signed by the pinned ``anchor_jwk``."""
        anchor = (
            anchor_jwk if isinstance(anchor_jwk, PublicKey) else public_key_from_jwk(anchor_jwk)
        )
        trust_list = verify_trust_list(
            jws, anchor, now=_seconds(now), held_sequence=held_sequence, held_digest=held_digest
        )
        store = cls()
        store.trust_list = trust_list
        for issuer in trust_list.issuers.values():
            store._issuers[issuer.id] = IssuerEntry(
                issuer.id,
                issuer.jwks,
                frozenset(issuer.credential_types),
                issuer.valid_from,
                issuer.valid_until,
            )
        return store

    def add_issuer(
        self,
        issuer_id: str,
        jwks: Jwks | Mapping[str, Any],
        credential_types: Iterable[str] | None = None,
    ) -> None:
        """Trust ``issuer_id`` explicitly (tests, private use); no types given means any.

        A JWK's ``kid`` may be any name the issuer gave it, not only its RFC 7638 thumbprint
        (the trust list's rule): tokens may name the key by either.
        """
        keys, declared = (jwks, ()) if isinstance(jwks, Jwks) else _hand_registered_jwks(jwks)
        for other in self._issuers.values():
            shared = other.issuer_id != issuer_id and keys.keys.keys() & other.jwks.keys.keys()
            if shared:  # as the trust list: whose a key is must never be in doubt
                raise VerificationError(
                    ErrorCode.INVALID_KEY, f"key {min(shared)} is {other.issuer_id}'s already"
                )
        types = None if credential_types is None else frozenset(credential_types)
        self._issuers[issuer_id] = IssuerEntry(
            issuer_id, keys, types, by_hand=True, declared_kids=declared
        )

    def add_status_list(
        self, uri: str, token: str, fetched_at: int | None = None, *, now: int | None = None
    ) -> None:
        """Check a status list token against the key of the issuer that signed it; hold it.

        Only that issuer's credentials will be judged by it, so one trusted issuer cannot
        publish the status of another's. ``fetched_at`` defaults to ``now`` (the clock). Given
        ``now``, a list fetched after it is refused: it would look fresh for ever. Without,
        the verifier refuses it when it is used (``Verifier`` knows its ``now``).
        """
        fetched = _seconds(now if fetched_at is None else fetched_at)
        if now is not None and fetched > now + STATUS_LIST_CLOCK_SKEW:
            raise VerificationError(
                ErrorCode.STATUS_LIST_INVALID, f"{uri} fetched in the future ({fetched})"
            )
        unverified_kid = decode_status_list_token(token).unverified_header.get(KID)
        for issuer in self._issuers.values():
            key = issuer.key(unverified_kid) if isinstance(unverified_kid, str) else None
            if key is not None:
                snapshot = read_status_list_token(token, key, expected_uri=uri, now=fetched)
                self._status_lists[uri] = HeldStatusList(snapshot, issuer.issuer_id, fetched, token)
                return
        raise VerificationError(
            ErrorCode.UNKNOWN_KEY, f"no trusted issuer holds kid {unverified_kid!r}"
        )

    # -- reading ----------------------------------------------------------------------------

    def issuer(self, issuer_id: str) -> IssuerEntry | None:
        return self._issuers.get(issuer_id)

    def relying_party(self, client_id: str) -> RelyingParty | None:
        """A counter registered in the trust list (keys.relying_party), by its client_id."""
        if self.trust_list is None:
            return None
        return self.trust_list.relying_parties.get(client_id)

    def status_list(self, uri: str) -> HeldStatusList | None:
        return self._status_lists.get(uri)

    @property
    def issuers(self) -> Mapping[str, IssuerEntry]:
        return dict(self._issuers)

    @property
    def status_list_uris(self) -> tuple[str, ...]:
        return tuple(self._status_lists)

    # -- disk -------------------------------------------------------------------------------

    @classmethod
    def load(cls, directory: str | os.PathLike[str], *, now: int | None = None) -> TrustStore:
        """Read and re-check what ``jigap verify sync`` saved in ``directory``.

        A trust list that fails its checks raises ``keys.errors.TrustListError``; a status
        list that does, ``VerificationError``.
        """
        root = Path(directory)
        anchor = public_key_from_jwk(json_loads_object(_read(root / ANCHOR_FILE)))
        store = cls.from_trust_list(_read(root / TRUST_LIST_FILE).decode("ascii"), anchor, now=now)
        status_path = root / STATUS_LISTS_FILE
        if status_path.exists():
            held = json_loads_object(_read(status_path))
            for uri, entry in held.items():
                if not (isinstance(entry, dict) and isinstance(entry.get("token"), str)):
                    raise VerificationError(ErrorCode.MALFORMED, f"{status_path}: entry {uri!r}")
                store.add_status_list(
                    uri, entry["token"], _int(entry.get("fetched_at")), now=_seconds(now)
                )
        return store

    def save_status_lists(self, directory: str | os.PathLike[str]) -> None:
        entries = {
            uri: {"token": held.token, "fetched_at": held.fetched_at}
            for uri, held in self._status_lists.items()
        }
        data = json.dumps(entries, indent=1).encode()
        write_atomically(Path(directory) / STATUS_LISTS_FILE, data, mode=PUBLIC_FILE)


class FollowedTrustStore:
    """The trust store in ``directory`` as last synced: read again when a sync changed it.

    A service that runs for days (a bank's site, a counter) follows `jigap verify sync`
    without a restart, so a revocation synced is a revocation applied. Only the store's own
    files are watched: a log kept beside them does not cause a re-read.
    """

    def __init__(self, directory: str | os.PathLike[str], clock: Callable[[], float]) -> None:
        self.directory = Path(directory)
        self._clock = clock
        self._lock = threading.Lock()
        self._stamp: tuple[int, ...] | None = None
        self._store: TrustStore | None = None

    def current(self) -> TrustStore:
        """The store; raises as ``TrustStore.load`` does (``TrustListError`` for an expired or
        broken trust list, ``VerificationError`` for a status list), every time until mended."""
        stamp, now = self._stamp_now(), int(self._clock())
        with self._lock:
            held = self._store
            expired = (
                held is not None
                and held.trust_list is not None
                and (now >= held.trust_list.expires_at)
            )
            if stamp != self._stamp or held is None or expired:
                self._store = None  # a store that no longer loads is not used either
                held = self._store = TrustStore.load(self.directory, now=now)
                self._stamp = stamp
            return held

    def _stamp_now(self) -> tuple[int, ...]:
        return store_stamp(self.directory)


def store_stamp(directory: Path) -> tuple[int, ...]:
    """What changes when a sync rewrites the store in ``directory``: each of its own files'
    inode and modification time (files are replaced whole, so a new one has a new inode)."""
    stamp: list[int] = []
    for name in (ANCHOR_FILE, TRUST_LIST_FILE, STATUS_LISTS_FILE):
        try:
            stat = (directory / name).stat()
            stamp += (stat.st_ino, stat.st_mtime_ns)
        except FileNotFoundError:
            stamp += (0, 0)
    return tuple(stamp)


def _hand_registered_jwks(
    jwks: Mapping[str, Any],
) -> tuple[Jwks, tuple[tuple[str, PublicKey], ...]]:
    """A JWKS given by hand: each key checked as any JWK, its ``kid`` kept as a second name."""
    entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(entries, list):
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWKS needs a 'keys' list")
    declared: dict[str, PublicKey] = {}
    plain: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "a JWKS entry is not an object")
        rest = {name: value for name, value in entry.items() if name != KID}
        plain.append(rest)
        kid = entry.get(KID)
        if kid is None:
            continue
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "a JWK kid is not a short string")
        if kid in declared:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"kid {kid[:40]!r} names two keys")
        declared[kid] = public_key_from_jwk(rest)
    keys = Jwks.from_dict({"keys": plain})  # the usual checks: size, duplicates, key material
    for kid, key in declared.items():
        owner = keys.get(kid)
        if owner is not None and owner != key:  # a kid that is another key's thumbprint
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"kid {kid[:40]!r} names two keys")
    aliases = tuple((kid, key) for kid, key in declared.items() if kid != key.kid)
    return keys, aliases


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_STORE_FILE_BYTES:
            raise VerificationError(ErrorCode.TOO_LARGE, f"{path} is too large")
        return path.read_bytes()
    except OSError as exc:
        raise VerificationError(ErrorCode.MALFORMED, f"cannot read {path}: {exc.strerror}") from exc


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise VerificationError(ErrorCode.MALFORMED, "fetched_at is not an integer")
    return value


def _seconds(value: int | float | None) -> int:
    return int(time.time()) if value is None else int(value)
