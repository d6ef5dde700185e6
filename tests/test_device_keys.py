"""The holder's software device keys: made inside, encrypted at rest, one per credential copy."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from keys.encoding import b64url_encode
from keys.errors import KeyErrorCode, KeyStoreError, SignatureError
from keys.jwk import Algorithm, Signer
from keys.store import MIN_SCRYPT_N, FileKeyStore
from protocols.dpop import DpopPolicy, make_dpop_proof, verify_dpop_proof
from wallet_api.holder.device_keys import MAX_KEYS_PER_BATCH, DeviceKeys, DeviceSigner

PASSPHRASE = "phone unlock secret, long enough"
FAST = MIN_SCRYPT_N  # the scrypt cost is stored per key; tests need no real stretching
MESSAGE = b"header.payload"


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "device"


@pytest.fixture
def device(directory: Path) -> DeviceKeys:
    return DeviceKeys(directory, PASSPHRASE, scrypt_n=FAST)


def _private_scalar(directory: Path, kid: str) -> bytes:
    """The key's private value, read by opening the store as its owner (test only)."""
    key = FileKeyStore(directory, PASSPHRASE, scrypt_n=FAST).signer(kid)._key
    value = key.private_numbers().private_value  # type: ignore[union-attr]
    return int(value).to_bytes(32, "big")


def test_keys_are_p256_made_inside_and_sign(device: DeviceKeys) -> None:
    public_key = device.create_key()
    assert public_key.algorithm is Algorithm.ES256
    signature = device.sign(public_key.kid, MESSAGE)
    public_key.verify(signature, MESSAGE)  # raises unless it is this key's signature
    assert device.list_keys() == [public_key]
    assert device.public_key(public_key.kid) == public_key


def test_one_key_per_credential_copy(device: DeviceKeys) -> None:
    copies = device.create_keys(10)
    assert len({key.kid for key in copies}) == 10
    assert sorted(key.kid for key in device.list_keys()) == sorted(key.kid for key in copies)
    for key in copies:
        key.verify(device.sign(key.kid, MESSAGE), MESSAGE)
    # Each copy's signature is its own key's, and no other copy's.
    with pytest.raises(SignatureError):
        copies[1].verify(device.sign(copies[0].kid, MESSAGE), MESSAGE)


@pytest.mark.parametrize("count", [0, -1, MAX_KEYS_PER_BATCH + 1, True, 2.0])
def test_a_batch_of_keys_is_bounded(device: DeviceKeys, count: int) -> None:
    with pytest.raises(ValueError):
        device.create_keys(count)
    assert device.list_keys() == []


def test_private_keys_stay_encrypted_on_disk(device: DeviceKeys, directory: Path) -> None:
    keys = device.create_keys(3)
    for key in keys:
        device.sign(key.kid, MESSAGE)
    files = sorted(directory.iterdir())
    assert [path.name for path in files] == sorted(f"{key.kid}.json" for key in keys)
    for key, path in zip(sorted(keys, key=lambda k: k.kid), files, strict=True):
        raw = path.read_bytes()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in raw
        assert b"-----BEGIN PRIVATE KEY-----" not in raw
        assert b"-----BEGIN EC PRIVATE KEY-----" not in raw
        assert PASSPHRASE.encode() not in raw
        scalar = _private_scalar(directory, key.kid)
        for spelling in (
            scalar,
            scalar.hex().encode(),
            b64url_encode(scalar).encode(),
            base64.b64encode(scalar),
        ):
            assert spelling not in raw


def test_a_wrong_passphrase_is_refused(device: DeviceKeys, directory: Path) -> None:
    key = device.create_key()
    thief = DeviceKeys(directory, "not the phone's passphrase at all", scrypt_n=FAST)
    assert thief.list_keys() == [key]  # public halves need no passphrase
    for attempt in (
        lambda: thief.sign(key.kid, MESSAGE),
        lambda: thief.signer(key.kid),
        thief.create_key,  # one passphrase per store: no key is added under another
    ):
        with pytest.raises(KeyStoreError) as refused:
            attempt()
        assert refused.value.code is KeyErrorCode.WRONG_PASSPHRASE
    assert device.list_keys() == [key]


def test_a_new_device_refuses_a_short_passphrase(directory: Path) -> None:
    with pytest.raises(KeyStoreError) as refused:
        DeviceKeys(directory, "1234", scrypt_n=FAST).create_key()
    assert refused.value.code is KeyErrorCode.WEAK_PASSPHRASE


def test_keys_survive_a_restart(device: DeviceKeys, directory: Path) -> None:
    key = device.create_key()
    restarted = DeviceKeys(directory, PASSPHRASE, scrypt_n=FAST)
    assert restarted.list_keys() == [key]
    key.verify(restarted.sign(key.kid, MESSAGE), MESSAGE)


def test_the_signer_signs_dpop_proofs_without_holding_the_key(device: DeviceKeys) -> None:
    key = device.create_key()
    signer: Signer = device.signer(key.kid)
    assert isinstance(signer, DeviceSigner)
    assert (signer.kid, signer.algorithm, signer.public_key) == (key.kid, Algorithm.ES256, key)
    # The handle holds the store and the public key, nothing that could be exported.
    assert {type(signer.keys), type(signer.public_key)} == {DeviceKeys, type(key)}
    proof = make_dpop_proof(signer, method="GET", uri="https://wallet.example.kr/v1", now=100)
    verified = verify_dpop_proof(
        proof,
        method="GET",
        uri="https://wallet.example.kr/v1",
        now=100,
        policy=DpopPolicy(),
        bound_jkt=key.kid,
    )
    assert verified.jkt == key.kid


def test_deleting_a_key_destroys_it(device: DeviceKeys, directory: Path) -> None:
    kept, deleted = device.create_keys(2)
    signer = device.signer(deleted.kid)
    signer.sign(MESSAGE)  # the private key is now cached in this process
    device.delete(deleted.kid)
    assert device.list_keys() == [kept]
    assert not (directory / f"{deleted.kid}.json").exists()
    for attempt in (
        lambda: device.sign(deleted.kid, MESSAGE),
        lambda: signer.sign(MESSAGE),
        lambda: device.delete(deleted.kid),
    ):
        with pytest.raises(KeyStoreError) as refused:
            attempt()
        assert refused.value.code is KeyErrorCode.UNKNOWN_KEY
    kept.verify(device.sign(kept.kid, MESSAGE), MESSAGE)


@pytest.mark.parametrize("kid", ["../device/x", "", "A" * 44, "not a kid"])
def test_a_kid_that_is_not_a_thumbprint_names_no_key(device: DeviceKeys, kid: str) -> None:
    device.create_key()
    for attempt in (
        lambda: device.sign(kid, MESSAGE),
        lambda: device.public_key(kid),
        lambda: device.delete(kid),
    ):
        with pytest.raises(KeyStoreError) as refused:
            attempt()
        assert refused.value.code is KeyErrorCode.UNKNOWN_KEY
    assert len(device.list_keys()) == 1


def test_repr_shows_no_secret(device: DeviceKeys) -> None:
    key = device.create_key()
    assert PASSPHRASE not in repr(device)
    assert PASSPHRASE not in repr(device.signer(key.kid))
