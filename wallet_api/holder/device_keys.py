"""The phone's device keys, in software: the secure hardware of the holder reference client.

A phone makes P-256 keys inside its secure hardware (Android Keystore/StrongBox, the iOS Secure
Enclave) and signs with them; the private half never leaves it. ``DeviceKeys`` behaves the
same over ``keys.store.FileKeyStore``: keys are generated inside the store, kept on disk as
PKCS#8 encrypted under a scrypt-stretched passphrase, and used only through ``sign``. Nothing
here returns a private key, and ``signer`` hands out a handle that signs by asking the store.

One device holds many keys: the one its wallet account is bound to (DPoP, RFC 9449) and one per
credential copy. The copies of a batch each get their own key (``create_keys``), so two
verifiers who each see one copy see two different `cnf` keys and cannot link the holder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from keys.jwk import Algorithm, PublicKey
from keys.store import DEFAULT_SCRYPT_N, FileKeyStore

__all__ = ["MAX_KEYS_PER_BATCH", "DeviceKeys", "DeviceSigner"]

# Far above the batch sizes issuers offer (OID4VCI's default here is 10); a bound on one call.
MAX_KEYS_PER_BATCH = 100
# The one algorithm phones' secure hardware offers everywhere (ES256, RFC 7518 §3.4).
DEVICE_KEY_ALGORITHM = Algorithm.ES256


class DeviceKeys:
    """The device keys of one phone, kept in ``directory`` under ``passphrase``."""

    __slots__ = ("_store",)

    def __init__(
        self, directory: Path | str, passphrase: str, *, scrypt_n: int = DEFAULT_SCRYPT_N
    ) -> None:
        self._store = FileKeyStore(directory, passphrase, scrypt_n=scrypt_n)

    def __repr__(self) -> str:
        return f"DeviceKeys({self._store!r})"

    def create_key(self) -> PublicKey:
        """A new P-256 key made inside the store; only its public half comes out."""
        return self._store.generate(DEVICE_KEY_ALGORITHM).public_key

    def create_keys(self, count: int) -> list[PublicKey]:
        """``count`` new keys, one per credential copy of a batch."""
        if type(count) is not int or not 1 <= count <= MAX_KEYS_PER_BATCH:
            raise ValueError(f"count must be an integer from 1 to {MAX_KEYS_PER_BATCH}")
        return [self.create_key() for _ in range(count)]

    def public_key(self, kid: str) -> PublicKey:
        """The public key named by its RFC 7638 thumbprint; ``KeyStoreError`` if unknown."""
        return self._store.key_info(kid).public_key

    def list_keys(self) -> list[PublicKey]:
        """Every key of the device, oldest first."""
        return self._store.public_keys()

    def sign(self, kid: str, signing_input: bytes) -> bytes:
        """The key's JWS signature over ``signing_input`` (ES256: r || s, 64 bytes)."""
        return self._store.signer(kid).sign(signing_input)

    def signer(self, kid: str) -> DeviceSigner:
        """A ``keys.jwk.Signer`` for JOSE code (DPoP proofs, key proofs, KB-JWTs).

        The key is opened now, so a wrong passphrase is refused here rather than mid-request.
        """
        self._store.signer(kid)
        return DeviceSigner(self, self.public_key(kid))

    def delete(self, kid: str) -> None:
        """Destroy a key, as the phone does when its credential copy is deleted."""
        self._store.delete(kid)


@dataclass(frozen=True, slots=True)
class DeviceSigner:
    """Signs with one device key by asking the store; it holds no private key itself."""

    keys: DeviceKeys
    public_key: PublicKey

    @property
    def algorithm(self) -> Algorithm:
        return self.public_key.algorithm

    @property
    def kid(self) -> str:
        return self.public_key.kid

    def sign(self, signing_input: bytes) -> bytes:
        return self.keys.sign(self.kid, signing_input)
