"""Envelope encryption of records at rest: a fresh data key per record, wrapped by a master key.

A ``Sealer`` seals a record (the claims of a pending offer, the credentials a wallet may
fetch again) under a random 256-bit data key with AES-256-GCM, and wraps that data key with
the store's active master key, also AES-256-GCM. The caller's ``context`` (what the record
is and which row holds it, e.g. ``"offer-claims\\x00<offer id>"``) is bound to both as
associated data: a blob copied into another row, or read for another purpose, does not open.

Blob layout (version 2), all lengths fixed but the last::

    0x02 | master key id (22 bytes) | wrap nonce (12) | wrapped data key (48) | nonce (12) | data

The master key's id is in every blob, so the master key can rotate: ``SealingKeyStore.
generate`` adds a new active key and retires the others, which still open what they sealed.
``Sealer.rewrap`` then moves a blob to the active key by changing only its key id and wrapped
data key: the payload is bound to the version and the context, not to the wrapping, so its
bytes stay as they are and are never decrypted. (Version 1 bound the payload to the whole
prefix; its blobs still open, and ``rewrap`` seals them again as version 2, once.)
Once no record names a retired key, ``SealingKeyStore.remove`` deletes it for good.

Master keys live in a directory, one ``<id>.json`` file each (mode 0600, written atomically),
encrypted under the deployment's passphrase stretched by scrypt with a salt per key, the
same scheme as ``keys.store``'s signing keys (and its passphrase check value, so that a wrong
passphrase and a damaged file are told apart).
"""

from __future__ import annotations

import hmac
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, KeyStoreError
from keys.store import (
    DEFAULT_SCRYPT_N,
    KeyStatus,
    _is_allowed_scrypt_n,
    _stretch,
    write_atomically,
)

__all__ = ["BLOB_VERSION", "Sealer", "SealingKeyStore", "key_id_of"]

BLOB_VERSION = 2
_LEGACY_VERSION = 1  # payload bound to the wrapping too: opens, rewraps by sealing again
RECORD_FORMAT = "jigap-sealing-key/1"
_KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12  # AES-GCM's standard nonce; random, and a data key seals one record only
_TAG_BYTES = 16
_ID_BYTES = 22  # 16 random bytes, base64url
_WRAPPED_BYTES = _KEY_BYTES + _TAG_BYTES
_HEADER_BYTES = 1 + _ID_BYTES
_PREFIX_BYTES = _HEADER_BYTES + _NONCE_BYTES + _WRAPPED_BYTES + _NONCE_BYTES
_ID = re.compile(r"[A-Za-z0-9_-]{22}")
_SALT_BYTES = 16
_RECORD_MEMBERS = frozenset({"format", "id", "created_at", "status", "kdf", "check", "wrapped"})


@dataclass(frozen=True, slots=True)
class _MasterKey:
    key_id: str
    created_at: int
    status: KeyStatus
    secret: bytes = b""

    def __repr__(self) -> str:  # never the secret
        return f"_MasterKey({self.key_id!r}, {self.status})"


class Sealer:
    """Seals and opens records with the master keys of one ``SealingKeyStore``."""

    __slots__ = ("_keys", "_lock", "_store")

    def __init__(self, store: SealingKeyStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._keys = store.open_all()
        if not any(key.status is KeyStatus.ACTIVE for key in self._keys.values()):
            raise KeyStoreError(KeyErrorCode.KEY_STORE, "the sealing key store has no active key")

    def __repr__(self) -> str:
        return f"Sealer({self._store!r})"

    @property
    def active_key_id(self) -> str:
        return self._sealing_key().key_id

    def seal(self, plaintext: bytes, *, context: str) -> bytes:
        master = self._sealing_key()
        data_key = AESGCM.generate_key(bit_length=8 * _KEY_BYTES)
        nonce = os.urandom(_NONCE_BYTES)
        bound = context.encode("utf-8")
        payload = AESGCM(data_key).encrypt(nonce, plaintext, bytes([BLOB_VERSION]) + bound)
        return _wrap(master, data_key, bound) + nonce + payload

    def open(self, blob: bytes, *, context: str) -> bytes:
        """The plaintext of ``blob``, sealed for ``context``; anything else raises
        ``KeyStoreError`` (``key_store``), never returns unchecked bytes."""
        key_id = key_id_of(blob)
        bound = context.encode("utf-8")
        data_key = self._unwrap(blob, key_id, bound)
        nonce = blob[_PREFIX_BYTES - _NONCE_BYTES : _PREFIX_BYTES]
        aad = blob[:_PREFIX_BYTES] if blob[0] == _LEGACY_VERSION else blob[:1]
        try:
            return AESGCM(data_key).decrypt(nonce, blob[_PREFIX_BYTES:], aad + bound)
        except InvalidTag:
            raise _unopenable("damaged, or sealed for another record") from None

    def rewrap(self, blob: bytes, *, context: str) -> bytes:
        """``blob`` under the active master key: its data key unwrapped (``context`` checked)
        and wrapped again; the payload's bytes unchanged and never decrypted. A blob already
        under the active key comes back as it is; a version 1 blob is sealed again."""
        key_id = key_id_of(blob)
        bound = context.encode("utf-8")
        master = self._sealing_key()
        if blob[0] == _LEGACY_VERSION:
            return self.seal(self.open(blob, context=context), context=context)
        data_key = self._unwrap(blob, key_id, bound)  # refuses another context's blob
        if key_id == master.key_id:
            return blob
        return _wrap(master, data_key, bound) + blob[_PREFIX_BYTES - _NONCE_BYTES :]

    def _unwrap(self, blob: bytes, key_id: str, bound: bytes) -> bytes:
        master = self._key(key_id)
        wrap_nonce = blob[_HEADER_BYTES : _HEADER_BYTES + _NONCE_BYTES]
        wrapped = blob[_HEADER_BYTES + _NONCE_BYTES : _PREFIX_BYTES - _NONCE_BYTES]
        try:
            return AESGCM(master.secret).decrypt(wrap_nonce, wrapped, blob[:_HEADER_BYTES] + bound)
        except InvalidTag:
            raise _unopenable("damaged, or sealed for another record") from None

    def _sealing_key(self) -> _MasterKey:
        # A key made by another process (a rotation) seals from the next record on, here too:
        # otherwise this process would go on sealing under a key the rotation means to delete.
        # Listing the directory is cheap; the files are read again only when it has changed.
        keys = self._keys
        if not set(self._store.key_ids()) <= keys.keys():
            with self._lock:
                self._keys = keys = self._store.open_all()
        return _newest_active(keys)

    def _key(self, key_id: str) -> _MasterKey:
        if key_id not in self._keys:
            # Rotated by another process since this one opened the store: read it again.
            with self._lock:
                if key_id not in self._keys and _ID.fullmatch(key_id):
                    self._keys = self._store.open_all()
        if key_id not in self._keys:
            raise _unopenable("sealed under an unknown master key")
        return self._keys[key_id]


def key_id_of(blob: bytes) -> str:
    """The id of the master key ``blob`` is wrapped under (what a rotation sweep selects on);
    ``KeyStoreError`` for what is not a sealed record."""
    if len(blob) < _PREFIX_BYTES + _TAG_BYTES or blob[0] not in (BLOB_VERSION, _LEGACY_VERSION):
        raise _unopenable("not a sealed record of a known version")
    return blob[1:_HEADER_BYTES].decode("ascii", errors="replace")


def _wrap(master: _MasterKey, data_key: bytes, bound: bytes) -> bytes:
    """Header, wrap nonce and ``data_key`` wrapped by ``master``, bound to the context."""
    header = bytes([BLOB_VERSION]) + master.key_id.encode("ascii")
    wrap_nonce = os.urandom(_NONCE_BYTES)
    return header + wrap_nonce + AESGCM(master.secret).encrypt(wrap_nonce, data_key, header + bound)


class SealingKeyStore:
    """Master keys in ``directory``; ``sealer()`` opens them all with the passphrase."""

    __slots__ = ("_clock", "_directory", "_passphrase", "_scrypt_n")

    def __init__(
        self,
        directory: Path | str,
        passphrase: str,
        *,
        clock: Callable[[], float] = time.time,
        scrypt_n: int = DEFAULT_SCRYPT_N,
    ) -> None:
        if not passphrase:
            raise KeyStoreError(KeyErrorCode.WRONG_PASSPHRASE, "an empty passphrase is refused")
        if not _is_allowed_scrypt_n(scrypt_n):
            raise ValueError("scrypt_n must be an allowed power of two")
        self._directory = Path(directory)
        self._passphrase = passphrase.encode("utf-8")
        self._clock = clock
        self._scrypt_n = scrypt_n

    def __repr__(self) -> str:
        return f"SealingKeyStore({str(self._directory)!r})"

    def key_ids(self) -> list[str]:
        if not self._directory.is_dir():
            return []
        return sorted(path.name.removesuffix(".json") for path in self._directory.glob("*.json"))

    def generate(self) -> str:
        """A new active master key (the others are retired: they open, no longer seal)."""
        existing = self.open_all()  # refuses a passphrase the existing keys do not open with
        # Later than every other: read half-way (the old one not yet retired), it still wins.
        created_at = max([int(self._clock())] + [k.created_at + 1 for k in existing.values()])
        key = _MasterKey(b64url_encode(os.urandom(16)), created_at, KeyStatus.ACTIVE)
        secret = AESGCM.generate_key(bit_length=8 * _KEY_BYTES)
        self._write(key, secret)
        for old in existing.values():
            if old.status is KeyStatus.ACTIVE:
                self._write(_MasterKey(old.key_id, old.created_at, KeyStatus.RETIRED), old.secret)
        return key.key_id

    def open_all(self) -> dict[str, _MasterKey]:
        keys = {}
        for key_id in self.key_ids():
            try:
                keys[key_id] = self._open(key_id)
            except KeyStoreError:
                if (self._directory / f"{key_id}.json").exists():
                    raise
                # Removed since listed (by a rotation that found it unused): not needed.
        return keys

    def remove(self, key_id: str) -> None:
        """Delete retired master key ``key_id`` for good: what it wraps no longer opens. The
        caller knows no record names it still; the active key is refused."""
        keys = self.open_all()  # refuses a passphrase that cannot open them
        if key_id not in keys:
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"no sealing key {key_id}")
        if keys[key_id].status is KeyStatus.ACTIVE:
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"sealing key {key_id} is the active one")
        try:
            (self._directory / f"{key_id}.json").unlink()
        except OSError as exc:
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"{key_id}: {exc.strerror}") from exc

    def sealer(self, *, create: bool = False) -> Sealer:
        """A ``Sealer`` over this store; with ``create``, a first master key if it has none."""
        if create and not self.key_ids():
            self.generate()
        return Sealer(self)

    def _write(self, key: _MasterKey, secret: bytes) -> None:
        salt = os.urandom(_SALT_BYTES)
        password, check = _stretch(self._passphrase, salt, self._scrypt_n)
        wrap_nonce = os.urandom(_NONCE_BYTES)
        aad = (RECORD_FORMAT + "\x00" + key.key_id).encode("ascii")
        wrapped = wrap_nonce + AESGCM(b64url_decode(password.decode("ascii"))).encrypt(
            wrap_nonce, secret, aad
        )
        record = {
            "format": RECORD_FORMAT,
            "id": key.key_id,
            "created_at": key.created_at,
            "status": key.status.value,
            "kdf": {"name": "scrypt", "salt": b64url_encode(salt), "n": self._scrypt_n},
            "check": b64url_encode(check),
            "wrapped": b64url_encode(wrapped),
        }
        try:
            write_atomically(self._directory / f"{key.key_id}.json", json_dumps(record))
        except OSError as exc:
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"{key.key_id}: {exc.strerror}") from exc

    def _open(self, key_id: str) -> _MasterKey:
        if not _ID.fullmatch(key_id):
            raise _damaged(key_id, "not a sealing key record name")
        try:
            raw = json_loads_object((self._directory / f"{key_id}.json").read_bytes())
        except OSError as exc:
            raise _damaged(key_id, f"unreadable: {exc.strerror}") from exc
        except KeyManagementError as exc:
            raise _damaged(key_id, exc.detail) from exc
        key, salt, n, check, wrapped = _decode_record(raw, key_id)
        password, expected = _stretch(self._passphrase, salt, n)
        if not hmac.compare_digest(check, expected):
            raise KeyStoreError(KeyErrorCode.WRONG_PASSPHRASE, f"cannot open sealing key {key_id}")
        aad = (RECORD_FORMAT + "\x00" + key_id).encode("ascii")
        kek = AESGCM(b64url_decode(password.decode("ascii")))
        try:
            secret = kek.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise _damaged(key_id, "the wrapped key does not open") from None
        return _MasterKey(key.key_id, key.created_at, key.status, secret)


def _decode_record(raw: dict[str, Any], key_id: str) -> tuple[_MasterKey, bytes, int, bytes, bytes]:
    if raw.keys() != _RECORD_MEMBERS or raw["format"] != RECORD_FORMAT or raw["id"] != key_id:
        raise _damaged(key_id, "not a sealing key record")
    kdf, status, created_at = raw["kdf"], raw["status"], raw["created_at"]
    if type(created_at) is not int or status not in {s.value for s in KeyStatus}:
        raise _damaged(key_id, "created_at or status")
    if not isinstance(kdf, dict) or kdf.keys() != {"name", "salt", "n"} or kdf["name"] != "scrypt":
        raise _damaged(key_id, "kdf")
    if not _is_allowed_scrypt_n(kdf["n"]) or not isinstance(kdf["salt"], str):
        raise _damaged(key_id, "kdf parameters")
    if not isinstance(raw["check"], str) or not isinstance(raw["wrapped"], str):
        raise _damaged(key_id, "check or wrapped key")
    try:
        salt, check = b64url_decode(kdf["salt"]), b64url_decode(raw["check"])
        wrapped = b64url_decode(raw["wrapped"])
    except KeyManagementError as exc:
        raise _damaged(key_id, exc.detail) from exc
    if len(wrapped) != _NONCE_BYTES + _WRAPPED_BYTES:
        raise _damaged(key_id, "wrapped key length")
    key = _MasterKey(key_id, created_at, KeyStatus(status))
    return key, salt, kdf["n"], check, wrapped


def _newest_active(keys: dict[str, _MasterKey]) -> _MasterKey:
    active = [key for key in keys.values() if key.status is KeyStatus.ACTIVE]
    if not active:
        raise KeyStoreError(KeyErrorCode.KEY_STORE, "the sealing key store has no active key")
    return max(active, key=lambda key: (key.created_at, key.key_id))


def _unopenable(detail: str) -> KeyStoreError:
    return KeyStoreError(KeyErrorCode.KEY_STORE, f"sealed record: {detail}")


def _damaged(key_id: str, detail: str) -> KeyStoreError:
    return KeyStoreError(KeyErrorCode.KEY_STORE, f"sealing key {key_id}: {detail}")
