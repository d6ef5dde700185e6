"""Rotating the master key of personal data at rest, while the service runs.

The core first (``Sealer.rewrap``: only the wrapped data key changes, the context stays bound;
``SealingKeyStore.remove``), then the issuer's sweep in-process on both backends (a run killed
half-way, finished by a second), then `jigap issuer rotate-sealing-key` as a subprocess beside
a running `jigap issuer serve` that goes on issuing before, during and after it.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi.testclient import TestClient
from sqlalchemy import text

from issuer.sealing_rotation import RotationPoint, rotate_sealing_key
from issuer.services.deployment import SEALING_KEYS
from issuer.services.offers import offer_claims, offer_claims_context
from issuer.services.redelivery import delivery_context
from issuer.settings import ENV_PREFIX, PASSPHRASE_ENV
from issuer.tokens import token_hash
from keys.encoding import b64url_decode
from keys.errors import KeyErrorCode, KeyStoreError
from keys.sealing import SealingKeyStore, key_id_of
from servicekit.db import make_engine
from tests import _issuer_client
from tests._issuer import FAST_SCRYPT, PASSPHRASE, IssuerWorld
from tests._issuer_client import RESIDENT, create_offer, issue, offer_row
from tests._server import BACKENDS, JIGAP, RunningIssuer, backend_database_url, running_issuer
from tests._wallet import Wallet
from tests.test_issuer_sealing import RRN, SECRET_ADDRESS, SECRET_NAME, _claims, _needles, _raw
from verifier.sd_jwt import split_compact

world, client = _issuer_client.world, _issuer_client.client  # fixtures

_PAYLOAD_AT = 1 + 22 + 12 + 48  # version, master key id, wrap nonce, wrapped data key


def _store(directory: Path) -> SealingKeyStore:
    return SealingKeyStore(directory, PASSPHRASE, scrypt_n=FAST_SCRYPT)


# --- the core ---------------------------------------------------------------------------------


def test_rewrap_changes_the_wrapped_key_and_leaves_the_payload_bytes(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    old_key = sealer.active_key_id
    blob = sealer.seal(b"claims", context="offer-claims\x00A")
    new_key = _store(tmp_path).generate()  # by another process: this sealer learns of it
    rewrapped = sealer.rewrap(blob, context="offer-claims\x00A")
    assert key_id_of(blob) == old_key and key_id_of(rewrapped) == new_key
    assert rewrapped[_PAYLOAD_AT:] == blob[_PAYLOAD_AT:]  # nonce and ciphertext, byte for byte
    assert rewrapped[:_PAYLOAD_AT] != blob[:_PAYLOAD_AT]
    _store(tmp_path).remove(old_key)  # it opens without the old key: truly re-wrapped
    fresh = _store(tmp_path).sealer()
    assert fresh.open(rewrapped, context="offer-claims\x00A") == b"claims"
    with pytest.raises(KeyStoreError):
        fresh.open(blob, context="offer-claims\x00A")


def test_rewrap_keeps_the_context_bound(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    blob = sealer.seal(b"claims", context="offer-claims\x00A")
    _store(tmp_path).generate()
    with pytest.raises(KeyStoreError) as refused:  # another record's blob is not re-wrapped
        sealer.rewrap(blob, context="offer-claims\x00B")
    assert refused.value.code is KeyErrorCode.KEY_STORE
    rewrapped = sealer.rewrap(blob, context="offer-claims\x00A")
    for context in ("offer-claims\x00B", "issued-credentials\x00A"):
        with pytest.raises(KeyStoreError):
            sealer.open(rewrapped, context=context)


def test_rewrap_under_the_active_key_returns_the_blob_unchanged(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    blob = sealer.seal(b"claims", context="c")
    assert sealer.rewrap(blob, context="c") == blob
    _store(tmp_path).generate()
    once = sealer.rewrap(blob, context="c")
    assert once != blob
    assert sealer.rewrap(once, context="c") == once


def test_rewrap_refuses_an_unknown_key_and_what_is_not_a_blob(tmp_path: Path) -> None:
    elsewhere = _store(tmp_path / "other").sealer(create=True).seal(b"claims", context="c")
    sealer = _store(tmp_path / "ours").sealer(create=True)
    with pytest.raises(KeyStoreError, match="unknown master key"):
        sealer.rewrap(elsewhere, context="c")
    for garbage in (b"", b"\x02" + b"A" * 30, b"\x07" + elsewhere[1:]):
        with pytest.raises(KeyStoreError, match="known version"):
            sealer.rewrap(garbage, context="c")
        with pytest.raises(KeyStoreError):
            key_id_of(garbage)


def test_a_version_1_blob_opens_and_is_sealed_again_as_version_2(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sealer = store.sealer(create=True)
    [master] = store.open_all().values()
    # Version 1's layout, as the sealer wrote it before rotation could keep payloads.
    header = b"\x01" + master.key_id.encode("ascii")
    data_key, wrap_nonce, nonce = AESGCM.generate_key(256), os.urandom(12), os.urandom(12)
    wrapped = AESGCM(master.secret).encrypt(wrap_nonce, data_key, header + b"c")
    prefix = header + wrap_nonce + wrapped + nonce
    legacy = prefix + AESGCM(data_key).encrypt(nonce, b"old claims", prefix + b"c")
    assert sealer.open(legacy, context="c") == b"old claims"
    upgraded = sealer.rewrap(legacy, context="c")  # under the same key, but a new version
    assert upgraded[0] == 2 and sealer.open(upgraded, context="c") == b"old claims"
    assert sealer.rewrap(upgraded, context="c") == upgraded


def test_a_running_sealer_seals_under_a_key_made_by_another_process(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    new_key = _store(tmp_path).generate()
    assert key_id_of(sealer.seal(b"after", context="c")) == new_key
    assert sealer.active_key_id == new_key


def test_remove_deletes_a_retired_key_and_refuses_the_active_one(tmp_path: Path) -> None:
    store = _store(tmp_path)
    old_key = store.generate()
    new_key = store.generate()
    with pytest.raises(KeyStoreError, match="active"):
        store.remove(new_key)
    with pytest.raises(KeyStoreError, match="no sealing key"):
        store.remove("A" * 22)
    store.remove(old_key)
    assert store.key_ids() == [new_key]
    with pytest.raises(KeyStoreError) as wrong:  # removing needs the passphrase too
        SealingKeyStore(tmp_path, "not the passphrase", scrypt_n=FAST_SCRYPT).remove(new_key)
    assert wrong.value.code is KeyErrorCode.WRONG_PASSPHRASE


# --- the issuer's sweep, in-process -------------------------------------------------------------


class _KilledError(Exception):
    pass


def _sealed_key_ids(world: IssuerWorld) -> list[str]:
    with world.deployment.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT sealed_claims FROM offer WHERE sealed_claims IS NOT NULL UNION ALL "
                "SELECT sealed_credentials FROM accesstoken WHERE sealed_credentials IS NOT NULL"
            )
        ).all()
    return [key_id_of(bytes(row[0])) for row in rows]


def test_a_rotation_killed_half_way_is_finished_by_the_next_run(
    client: TestClient, world: IssuerWorld
) -> None:
    offers = [create_offer(client, world, claims=_claims())["offer_id"] for _ in range(4)]
    issued = issue(client, world, claims=_claims())  # credentials kept sealed on its token
    store = _store(world.deployment.sealing_keys_dir)
    [old_key] = store.key_ids()
    assert set(_sealed_key_ids(world)) == {old_key}
    payloads = {o: bytes(offer_row(world, o).sealed_claims or b"")[_PAYLOAD_AT:] for o in offers}

    def killed(point: RotationPoint) -> None:
        if point is RotationPoint.BATCH_WRITTEN:
            raise _KilledError

    with pytest.raises(_KilledError):  # after its first batch of one row
        rotate_sealing_key(world.deployment.engine, store, batch=1, fault_hook=killed)
    [new_key] = set(store.key_ids()) - {old_key}
    assert sorted(set(_sealed_key_ids(world))) == sorted({old_key, new_key})  # half-way
    # Meanwhile the service opens both, and seals under the new key.
    for offer_id in offers:
        assert offer_claims(world.deployment, offer_row(world, offer_id))["name"] == SECRET_NAME
    later = create_offer(client, world, claims=_claims())["offer_id"]
    assert key_id_of(offer_row(world, later).sealed_claims or b"") == new_key

    report = rotate_sealing_key(world.deployment.engine, store, resume=True, grace_seconds=0)
    assert report.key_id == new_key and report.removed == (old_key,)
    assert report.rewrapped == len(offers) + 1 - 1  # all but the one the killed run did
    assert store.key_ids() == [new_key]
    assert set(_sealed_key_ids(world)) == {new_key}
    for offer_id in offers:
        row = offer_row(world, offer_id)
        assert bytes(row.sealed_claims or b"")[_PAYLOAD_AT:] == payloads[offer_id]
        assert offer_claims(world.deployment, row)["name"] == SECRET_NAME
    hashed = token_hash(issued.access_token)
    with world.deployment.engine.connect() as connection:
        sealed = connection.execute(
            text("SELECT sealed_credentials FROM accesstoken WHERE token_hash = :h"), {"h": hashed}
        ).scalar_one()
    fresh = _store(world.deployment.sealing_keys_dir).sealer()  # holds the new key alone
    assert b"credentials" in fresh.open(bytes(sealed), context=delivery_context(hashed))

    again = rotate_sealing_key(world.deployment.engine, store, resume=True, grace_seconds=0)
    assert (again.rewrapped, again.removed) == (0, ())  # nothing left: idempotent


def test_a_value_the_service_changed_meanwhile_is_not_overwritten(
    client: TestClient, world: IssuerWorld
) -> None:
    offer_id = create_offer(client, world, claims=_claims())["offer_id"]
    store = _store(world.deployment.sealing_keys_dir)
    [old_key] = store.key_ids()
    replaced = world.deployment.sealer.seal(
        b'{"name": "new"}', context=offer_claims_context(offer_id)
    )

    written: list[RotationPoint] = []

    def service_writes(point: RotationPoint) -> None:  # between the sweep's read and write
        if point is RotationPoint.BATCH_READ and not written:
            written.append(point)
            with world.deployment.engine.begin() as connection:
                connection.execute(
                    text("UPDATE offer SET sealed_claims = :v WHERE id = :id"),
                    {"v": replaced, "id": offer_id},
                )

    report = rotate_sealing_key(
        world.deployment.engine, store, grace_seconds=0, keep_old=True, fault_hook=service_writes
    )
    assert report.changed_meanwhile == 1
    assert (
        bytes(offer_row(world, offer_id).sealed_claims or b"")[_PAYLOAD_AT:]
        == replaced[_PAYLOAD_AT:]
    )  # the service's value, re-wrapped by the next pass, not the sweep's stale one
    assert report.kept == (old_key,)


# --- the command, beside a running service -------------------------------------------------------


def _offer(server: RunningIssuer, http: httpx.Client) -> str:
    response = http.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": RESIDENT, "claims": _claims(), "tx_code": False},
        headers=server.admin(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["credential_offer_uri"])


def _names(credentials: list[str]) -> set[str]:
    return {payload_name for c in credentials for payload_name in _disclosed_names(c)}


def _disclosed_names(credential: str) -> list[str]:
    disclosed = [json.loads(b64url_decode(d)) for d in split_compact(credential).disclosures]
    return [d[2] for d in disclosed if d[1] == "name"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_command_rotates_while_the_service_keeps_issuing(backend: str, tmp_path: Path) -> None:
    with (
        backend_database_url(backend, tmp_path) as database_url,
        running_issuer(tmp_path / "data", database_url) as server,
        httpx.Client(timeout=30.0) as http,
    ):
        wallet = Wallet(http, time.time)
        keys_dir = server.settings.keys_dir / SEALING_KEYS
        [old_key] = [path.stem for path in keys_dir.glob("*.json")]
        before, _ = wallet.obtain(_offer(server, http), None)  # kept sealed on its token
        assert _names(before) == {SECRET_NAME}
        waiting = [_offer(server, http) for _ in range(6)]  # claims sealed under the old key

        issued_during: list[str] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_issuing() -> None:
            while not stop.is_set() and len(issued_during) < 40:
                try:
                    issued_during.extend(wallet.obtain(_offer(server, http), None)[0])
                except BaseException as exc:
                    failures.append(exc)
                    return

        issuing = threading.Thread(target=keep_issuing)
        issuing.start()
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
            command = [
                str(JIGAP), "issuer", "rotate-sealing-key", "--data-dir", str(server.data_dir),
                "--batch", "2", "--grace", "1",
            ]  # fmt: skip
            rotated = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        finally:
            stop.set()
            issuing.join(60)
        assert rotated.returncode == 0, rotated.stderr
        assert not failures, failures
        assert issued_during and _names(issued_during) == {SECRET_NAME}
        [line] = rotated.stdout.splitlines()
        [new_key] = [path.stem for path in keys_dir.glob("*.json")]  # the old one deleted
        assert new_key != old_key
        assert line.startswith(f"sealing key {new_key}: ") and "1 old keys removed" in line

        # After: the offers made before it, re-wrapped, are still issued; and new ones.
        for offer_uri in waiting[:4]:
            assert _names(wallet.obtain(offer_uri, None)[0]) == {SECRET_NAME}
        assert _names(wallet.obtain(_offer(server, http), None)[0]) == {SECRET_NAME}

        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                sealed = connection.execute(
                    text(
                        "SELECT sealed_claims FROM offer WHERE sealed_claims IS NOT NULL "
                        "UNION ALL SELECT sealed_credentials FROM accesstoken "
                        "WHERE sealed_credentials IS NOT NULL"
                    )
                ).all()
        finally:
            engine.dispose()
        assert len(sealed) >= 2 + 1  # the two offers still waiting, the tokens' credentials
        assert {key_id_of(bytes(row[0])) for row in sealed} == {new_key}
        raw = _raw(database_url)
        for needle in _needles(RRN, SECRET_NAME, SECRET_ADDRESS):
            assert needle not in raw, needle

        # A passphrase that does not open the keys: refused in one line, no key made.
        wrong = {**env, PASSPHRASE_ENV: "not the passphrase"}
        refused = subprocess.run(command, env=wrong, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and refused.stderr.startswith("refused: ")
        assert [path.stem for path in keys_dir.glob("*.json")] == [new_key]


def test_the_command_refuses_a_directory_never_initialised(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    command = [str(JIGAP), "issuer", "rotate-sealing-key", "--data-dir", str(tmp_path / "none")]
    refused = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1
    assert "not an issuer deployment" in refused.stderr
