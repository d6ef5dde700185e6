"""Key stores: where private keys live, and the one shape every store offers.

``KeyStore`` is the protocol a hardware store (an HSM over PKCS#11) can implement too: keys
are generated inside the store and used through a ``Signer``, so a private key never has to
leave it. ``FileKeyStore`` is the software store: one JSON file per key, the private key as
encrypted PKCS#8 PEM, its public metadata beside it in the same file, so that one
``os.replace`` changes a key record as a whole.

PKCS#8 ``BestAvailableEncryption`` derives its key with PBKDF2-HMAC-SHA256 at 2,048
iterations, far too cheap against guessing a human passphrase from a stolen file. The store
therefore stretches the passphrase with scrypt (RFC 7914) first, with a salt per key, and
encrypts the PEM with the result. The same scrypt output yields a passphrase check value, so
that a wrong passphrase and a damaged file are told apart.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, KeyStoreError
from keys.jwk import Algorithm, PublicKey, Signer, SigningKey, public_key_from_jwk

__all__ = [
    "DEFAULT_SCRYPT_N",
    "MIN_NEW_PASSPHRASE_CHARS",
    "PASSPHRASE_ENV",
    "FileKeyStore",
    "KeyInfo",
    "KeyStatus",
    "KeyStore",
    "Signer",
    "list_key_infos",
    "read_key_info",
    "write_atomically",
]

# The one variable every command that opens a key store reads its passphrase from.
PASSPHRASE_ENV = "JIGAP_KEY_PASSPHRASE"  # noqa: S105 - the name of a variable, not a secret
# A new store's passphrase: length is what resists guessing (NIST SP 800-63B §3.1.1.2 asks 15
# for a single factor; a passphrase guarding a signing key gets at least that). Stores made
# before this rule keep opening with what they have.
MIN_NEW_PASSPHRASE_CHARS = 16
RECORD_FORMAT = "jigap-file-key/1"
RECORD_SUFFIX = ".json"
PEM_HEADER = "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
PEM_FOOTER = "-----END ENCRYPTED PRIVATE KEY-----\n"
# scrypt cost: 2^15 takes ~0.1 s and 32 MiB, paid once per key and process (keys are cached).
DEFAULT_SCRYPT_N = 2**15
# Bounds on a cost read from a file: a damaged one must not demand minutes or gigabytes.
MIN_SCRYPT_N, MAX_SCRYPT_N = 2**10, 2**17
_SCRYPT_R, _SCRYPT_P = 8, 1
_SALT_BYTES = 16
_CHECK_LABEL = b"jigap key store passphrase check"
# A kid is an RFC 7638 SHA-256 thumbprint; checking its form also keeps it a safe file name.
_KID = re.compile(r"[A-Za-z0-9_-]{43}")
_RECORD_MEMBERS = frozenset(
    {"format", "kid", "alg", "created_at", "status", "public_jwk", "kdf", "check", "private_key"}
)


class KeyStatus(StrEnum):
    ACTIVE = "active"  # signs new tokens
    RETIRED = "retired"  # signs nothing, stays published until what it signed has expired


_STATUSES = frozenset(status.value for status in KeyStatus)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What a store says about a key without touching its private half."""

    public_key: PublicKey
    created_at: int
    status: KeyStatus

    @property
    def kid(self) -> str:
        return self.public_key.kid

    @property
    def algorithm(self) -> Algorithm:
        return self.public_key.algorithm


class KeyStore(Protocol):
    def generate(self, algorithm: Algorithm = Algorithm.ES256) -> KeyInfo: ...

    def signer(self, kid: str) -> Signer:
        """An active key's signer; a retired or unknown key raises ``KeyStoreError``."""
        ...

    def key_info(self, kid: str) -> KeyInfo: ...

    def list_keys(self) -> list[KeyInfo]: ...

    def public_keys(self) -> list[PublicKey]:
        """Active and retired keys: both belong in a published JWKS."""
        ...

    def retire(self, kid: str) -> None: ...


@dataclass(frozen=True, slots=True)
class _Record:
    info: KeyInfo
    salt: bytes
    scrypt_n: int
    check: bytes
    pem: bytes


class FileKeyStore:
    """Keys in ``directory``, one ``<kid>.json`` file each (mode 0600, written atomically)."""

    __slots__ = ("_cache", "_clock", "_directory", "_passphrase", "_scrypt_n")

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
            raise ValueError(f"scrypt_n must be a power of two in [{MIN_SCRYPT_N}, {MAX_SCRYPT_N}]")
        self._directory = Path(directory)
        self._passphrase = passphrase.encode("utf-8")
        self._clock = clock
        self._scrypt_n = scrypt_n
        self._cache: dict[str, SigningKey] = {}

    def __repr__(self) -> str:
        return f"FileKeyStore({str(self._directory)!r})"

    def generate(self, algorithm: Algorithm = Algorithm.ES256) -> KeyInfo:
        # One passphrase per store: refuse to add a key the others cannot be opened with.
        existing = self.list_keys()
        if existing:
            self._secrets(_read_record(self._directory, existing[-1].kid))
        elif len(self._passphrase.decode("utf-8")) < MIN_NEW_PASSPHRASE_CHARS:
            raise KeyStoreError(
                KeyErrorCode.WEAK_PASSPHRASE,
                f"a new key store needs a passphrase of {MIN_NEW_PASSPHRASE_CHARS} characters "
                "or more",
            )
        key = SigningKey.generate(algorithm)
        info = KeyInfo(key.public_key, int(self._clock()), KeyStatus.ACTIVE)
        salt = os.urandom(_SALT_BYTES)
        password, check = _stretch(self._passphrase, salt, self._scrypt_n)
        record = _Record(info, salt, self._scrypt_n, check, key.to_pem(password))
        _write_record(_record_path(self._directory, info.kid), _encode_record(record))
        self._cache[info.kid] = key
        return info

    def signer(self, kid: str) -> SigningKey:
        record = _read_record(self._directory, kid)
        if record.info.status is not KeyStatus.ACTIVE:
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"key {kid} is retired")
        if kid not in self._cache:
            password = self._secrets(record)
            try:
                key = SigningKey.from_pem(record.pem, password)
            except KeyManagementError as exc:
                # The check value matched, so the passphrase is right and the file is damaged.
                raise _damaged(kid, f"private key: {exc.detail}") from exc
            if key.kid != kid:
                raise _damaged(kid, "private key does not match its kid")
            self._cache[kid] = key
        return self._cache[kid]

    def key_info(self, kid: str) -> KeyInfo:
        return read_key_info(self._directory, kid)

    def list_keys(self) -> list[KeyInfo]:
        return list_key_infos(self._directory)

    def public_keys(self) -> list[PublicKey]:
        return [info.public_key for info in self.list_keys()]

    def retire(self, kid: str) -> None:
        record = _read_record(self._directory, kid)
        self._cache.pop(kid, None)
        if record.info.status is KeyStatus.RETIRED:
            return
        retired = KeyInfo(record.info.public_key, record.info.created_at, KeyStatus.RETIRED)
        updated = _Record(retired, record.salt, record.scrypt_n, record.check, record.pem)
        _write_record(_record_path(self._directory, kid), _encode_record(updated))

    def delete(self, kid: str) -> None:
        """Destroy a key: its record goes, and so does the private key cached in this process.

        Not part of ``KeyStore``: a signing key of a service is retired, never deleted, while
        the holder's device keys (``wallet_api.holder.device_keys``) go with their credential.
        """
        path = _record_path(self._directory, kid)
        self._cache.pop(kid, None)
        try:
            path.unlink()
        except FileNotFoundError as exc:
            raise KeyStoreError(KeyErrorCode.UNKNOWN_KEY, f"no key {kid}") from exc
        except OSError as exc:
            raise _damaged(kid, f"cannot delete: {exc.strerror}") from exc

    def _secrets(self, record: _Record) -> bytes:
        password, check = _stretch(self._passphrase, record.salt, record.scrypt_n)
        if not hmac.compare_digest(check, record.check):
            raise KeyStoreError(KeyErrorCode.WRONG_PASSPHRASE, f"cannot open key {record.info.kid}")
        return password


def read_key_info(directory: Path | str, kid: str) -> KeyInfo:
    """Public metadata of one key; needs no passphrase."""
    return _read_record(Path(directory), kid).info


def list_key_infos(directory: Path | str) -> list[KeyInfo]:
    """Every key in ``directory``, oldest first; an absent directory holds none."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    infos: list[KeyInfo] = []
    for path in directory.glob("*" + RECORD_SUFFIX):
        kid = path.name.removesuffix(RECORD_SUFFIX)
        if not _KID.fullmatch(kid):
            raise KeyStoreError(KeyErrorCode.KEY_STORE, f"{path.name}: not a key record name")
        infos.append(_read_record(directory, kid).info)
    # Within one second (a rotation made at once), the key it retired comes first.
    return sorted(
        infos,
        key=lambda info: (info.created_at, info.status is KeyStatus.ACTIVE, info.kid),
    )


def _stretch(passphrase: bytes, salt: bytes, n: int) -> tuple[bytes, bytes]:
    derived = hashlib.scrypt(
        passphrase, salt=salt, n=n, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=256 * n * _SCRYPT_R, dklen=64
    )
    check = hmac.new(derived[32:], _CHECK_LABEL, hashlib.sha256).digest()
    return b64url_encode(derived[:32]).encode("ascii"), check


def _is_allowed_scrypt_n(n: object) -> bool:
    return type(n) is int and MIN_SCRYPT_N <= n <= MAX_SCRYPT_N and n & (n - 1) == 0


def _record_path(directory: Path, kid: str) -> Path:
    if not _KID.fullmatch(kid):
        raise KeyStoreError(KeyErrorCode.UNKNOWN_KEY, "not a key id")
    return directory / f"{kid}{RECORD_SUFFIX}"


def _encode_record(record: _Record) -> bytes:
    return json_dumps(
        {
            "format": RECORD_FORMAT,
            "kid": record.info.kid,
            "alg": record.info.algorithm.value,
            "created_at": record.info.created_at,
            "status": record.info.status.value,
            "public_jwk": record.info.public_key.to_thumbprint_jwk(),
            "kdf": {"name": "scrypt", "salt": b64url_encode(record.salt), "n": record.scrypt_n},
            "check": b64url_encode(record.check),
            "private_key": record.pem.decode("ascii"),
        }
    )


def _read_record(directory: Path, kid: str) -> _Record:
    path = _record_path(directory, kid)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyStoreError(KeyErrorCode.UNKNOWN_KEY, f"no key {kid}") from exc
    except OSError as exc:
        raise _damaged(kid, f"unreadable: {exc.strerror}") from exc
    try:
        return _decode_record(json_loads_object(data), kid)
    except KeyStoreError:
        raise
    except KeyManagementError as exc:
        raise _damaged(kid, exc.detail) from exc


def _decode_record(raw: dict[str, Any], kid: str) -> _Record:
    if raw.keys() != _RECORD_MEMBERS or raw["format"] != RECORD_FORMAT:
        raise _damaged(kid, "not a key record")
    public_key = public_key_from_jwk(raw["public_jwk"])
    if raw["kid"] != kid or public_key.kid != kid or raw["alg"] != public_key.algorithm.value:
        raise _damaged(kid, "metadata does not match the key")
    created_at, status, kdf, pem = raw["created_at"], raw["status"], raw["kdf"], raw["private_key"]
    if type(created_at) is not int or not isinstance(status, str) or status not in _STATUSES:
        raise _damaged(kid, "created_at or status")
    if not isinstance(kdf, dict) or kdf.keys() != {"name", "salt", "n"} or kdf["name"] != "scrypt":
        raise _damaged(kid, "kdf")
    if not _is_allowed_scrypt_n(kdf["n"]) or not isinstance(kdf["salt"], str):
        raise _damaged(kid, "kdf parameters")
    if not isinstance(pem, str) or not (pem.startswith(PEM_HEADER) and pem.endswith(PEM_FOOTER)):
        raise _damaged(kid, "private key is not encrypted PKCS#8 PEM")
    if not isinstance(raw["check"], str):
        raise _damaged(kid, "check")
    info = KeyInfo(public_key, created_at, KeyStatus(status))
    salt, check = b64url_decode(kdf["salt"]), b64url_decode(raw["check"])
    return _Record(info, salt, kdf["n"], check, pem.encode("ascii"))


def _damaged(kid: str, detail: str) -> KeyStoreError:
    return KeyStoreError(KeyErrorCode.KEY_STORE, f"{kid}{RECORD_SUFFIX}: {detail}")


def write_atomically(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Readers see the old file or the new one, never a part: temp file, fsync, rename.

    Every store kept on disk writes through this: key records (mode 0600, the default: only
    the owner reads a private key), trust stores (public data, 0644). ``OSError`` passes.
    """
    path.parent.mkdir(mode=0o700 if mode == 0o600 else 0o755, parents=True, exist_ok=True)
    # mkstemp creates the file with mode 0600 whatever the umask; widen only when asked.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        if mode != 0o600:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    # The rename itself is durable only once the directory entry is on disk.
    directory_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory_fd)
    finally:
        os.close(directory_fd)


def _write_record(path: Path, data: bytes) -> None:
    try:
        write_atomically(path, data)
    except OSError as exc:
        raise KeyStoreError(KeyErrorCode.KEY_STORE, f"{path.name}: {exc.strerror}") from exc
