"""Rotating the wallet's sealing master key, while the service runs (issue 9: "rotating the
master key re-wraps without downtime").

The wallet's sweep in-process on both backends: what accounts hold (intakes' state, credential
copies) re-wrapped under the new key with payloads unchanged and the old key file deleted; the
service answering and sealing throughout; a run killed half-way finished by a second; a value
that does not open keeping its key. Then `jigap wallet rotate-sealing-key` as a subprocess on a
`jigap wallet init` deployment, with the issuer's options, messages and exit codes.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from sqlalchemy import Engine, LargeBinary, text

from issuer import cli as issuer_cli
from keys.jwk import Algorithm, SigningKey
from keys.sealing import Sealer, SealingKeyStore, key_id_of
from keys.store import MIN_SCRYPT_N, PASSPHRASE_ENV
from servicekit import commands
from servicekit.db import make_engine, session_scope
from tests._server import BACKENDS, JIGAP, backend_database_url
from tests._wallet_server import jigap_wallet
from tests._wallet_service import PASSPHRASE, WalletWorld, wallet_world
from wallet_api import cli as wallet_cli
from wallet_api.models import (
    METADATA,
    Account,
    Credential,
    CredentialCopy,
    Intake,
    Presentation,
)
from wallet_api.sealed import copy_context, intake_context, presentation_context
from wallet_api.sealing_rotation import SEALED_COLUMNS, RotationPoint, rotate_sealing_key
from wallet_api.settings import ENV_PREFIX, Settings

_PAYLOAD_AT = 1 + 22 + 12 + 48  # version, master key id, wrap nonce, wrapped data key
# Each sealed column, read back without the code under test: (table, key, sealed) -> context.
_RAW = {
    ("wallet_intakes", "id", "sealed_state"): intake_context,
    ("wallet_credential_copies", "id", "sealed"): copy_context,
    ("wallet_presentations", "id", "sealed_state"): presentation_context,
}
_NOW = 1_780_000_000


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[WalletWorld]:
    yield from wallet_world(database_url, tmp_path)


def _store(directory: Path, passphrase: str = PASSPHRASE) -> SealingKeyStore:
    return SealingKeyStore(directory, passphrase, scrypt_n=MIN_SCRYPT_N)


def _hold(
    engine: Engine,
    sealer: Sealer,
    *,
    intakes: int,
    copies: int,
    tag: str = "",
    presentations: bool = False,
) -> str:
    """An account, inserted through the models, with ``intakes`` issuances under way and one
    credential of ``copies`` copies, each value sealed for its row as the service seals it;
    with ``presentations``, one presentation under way (sealed) and one answered (not)."""
    device = SigningKey.generate(Algorithm.ES256)
    account_id = f"account{tag}"
    with session_scope(engine) as session:
        session.add(
            Account(
                id=account_id,
                created_at=_NOW,
                device_jkt=device.kid,
                device_jwk=dict(device.public_key.to_jwk()),
                device_bound_at=_NOW,
                recovery_hash="0" * 64,
            )
        )
        session.flush()
        for n in range(intakes):
            intake_id = f"intake{tag}-{n:03}"
            state = f'{{"pre-authorized_code": "code {intake_id}"}}'.encode()
            session.add(
                Intake(
                    id=intake_id,
                    account_id=account_id,
                    created_at=_NOW,
                    expires_at=_NOW + 600,
                    issuer_id="https://issuer.example/mois",
                    state="offered",
                    summary={"credential_types": ["resident"]},
                    sealed_state=sealer.seal(state, context=intake_context(intake_id)),
                )
            )
        credential_id = f"credential{tag}"
        session.add(
            Credential(
                id=credential_id,
                account_id=account_id,
                issuer_id="https://issuer.example/mois",
                credential_type="kr.go.mois.resident/v1",
                vct="https://issuer.example/vct/resident",
                configuration_id="resident",
                received_at=_NOW,
                expires_at=_NOW + 86_400,
            )
        )
        session.flush()
        for n in range(copies):
            copy_id = f"copy{tag}-{n:03}"
            session.add(
                CredentialCopy(
                    id=copy_id,
                    credential_id=credential_id,
                    account_id=account_id,
                    holder_jkt="h" * 43,
                    sealed=sealer.seal(
                        f"sd-jwt vc {copy_id}~".encode(), context=copy_context(copy_id)
                    ),
                )
            )
        # A presentation under way (its working data sealed) and one answered (none left).
        shown, done = (f"shown{tag}", b'{"copy_id": "c"}'), (f"done{tag}", None)
        for presentation_id, working in (shown, done) if presentations else ():
            session.add(
                Presentation(
                    id=presentation_id,
                    account_id=account_id,
                    created_at=_NOW,
                    expires_at=_NOW + 300,
                    state="asked" if working else "answered",
                    client_id="counter.example",
                    relying_party_name={"ko": "은행", "en": "Bank"},
                    purpose_name={"ko": "확인", "en": "Check"},
                    credential_type="resident",
                    disclosed=[],
                    request_hash="0" * 64,
                    response_mode="jigap_qr",
                    sealed_state=sealer.seal(working, context=presentation_context(presentation_id))
                    if working
                    else None,
                )
            )
    return account_id


def _sealed(engine: Engine) -> dict[tuple[str, str], bytes]:
    """Every sealed value of the wallet's database: (table, row id) -> blob."""
    found = {}
    with engine.connect() as connection:
        for table, key, sealed in _RAW:
            for row_id, blob in connection.execute(text(f"SELECT {key}, {sealed} FROM {table}")):  # noqa: S608 - our own names
                if blob is not None:  # a presentation answered keeps nothing sealed
                    found[(table, str(row_id))] = bytes(blob)
    return found


def _plaintexts(
    sealer: Sealer, values: dict[tuple[str, str], bytes]
) -> dict[tuple[str, str], bytes]:
    contexts = {table: context for (table, _, _), context in _RAW.items()}
    return {
        (table, row_id): sealer.open(blob, context=contexts[table](row_id))
        for (table, row_id), blob in values.items()
    }


def _payloads(values: dict[tuple[str, str], bytes]) -> dict[tuple[str, str], bytes]:
    return {name: blob[_PAYLOAD_AT:] for name, blob in values.items()}


# --- what is rotated ------------------------------------------------------------------------------


def test_the_column_list_names_every_sealed_column_of_the_wallet() -> None:
    # A sealed column left out would keep its old key's values: that key would be deleted.
    sealed = {
        (table.name, column.name)
        for table in METADATA.tables.values()
        for column in table.columns
        if column.name.startswith("sealed") or isinstance(column.type, LargeBinary)
    }
    listed = {(column.table.name, column.sealed.name) for column in SEALED_COLUMNS}
    assert listed == sealed == {(t, s) for t, _, s in _RAW}
    for column in SEALED_COLUMNS:
        assert column.key.primary_key and column.table is column.sealed.table


# --- the sweep, in-process ------------------------------------------------------------------------


def test_every_value_is_rewrapped_under_the_new_key_and_the_old_key_deleted(
    world: WalletWorld,
) -> None:
    engine = world.deployment.engine
    _hold(engine, world.deployment.sealer, intakes=4, copies=7, presentations=True)
    store = _store(world.deployment.settings.sealing_dir)
    [old_key] = store.key_ids()
    before = _sealed(engine)
    assert len(before) == 12 and {key_id_of(blob) for blob in before.values()} == {old_key}
    plaintexts = _plaintexts(world.deployment.sealer, before)

    report = rotate_sealing_key(engine, store, batch=3, grace_seconds=0)

    store_dir = world.deployment.settings.sealing_dir
    [new_key] = store.key_ids()
    assert new_key != old_key and not (store_dir / f"{old_key}.json").exists()
    assert (report.key_id, report.rewrapped, report.removed, report.kept) == (
        new_key,
        12,
        (old_key,),
        (),
    )
    assert (report.changed_meanwhile, report.unopenable) == (0, 0)
    after = _sealed(engine)
    assert after.keys() == before.keys()
    assert {key_id_of(blob) for blob in after.values()} == {new_key}
    assert _payloads(after) == _payloads(before)  # only the wrapping changed
    fresh = _store(store_dir).sealer()  # holds the new key alone
    assert _plaintexts(fresh, after) == plaintexts
    # The running service opens them too (it learns of the new key), and seals under it.
    assert _plaintexts(world.deployment.sealer, after) == plaintexts
    assert key_id_of(world.deployment.sealer.seal(b"x", context=copy_context("c"))) == new_key

    again = rotate_sealing_key(engine, store, resume=True, grace_seconds=0)
    assert (again.key_id, again.rewrapped, again.removed) == (new_key, 0, ())  # idempotent


def test_the_service_keeps_answering_and_sealing_during_a_rotation(world: WalletWorld) -> None:
    engine = world.deployment.engine
    _hold(engine, world.deployment.sealer, intakes=6, copies=6)
    phone = world.phone()
    account_id = phone.register().account_id
    store = _store(world.deployment.settings.sealing_dir)
    [old_key] = store.key_ids()

    answered: list[int] = []  # one per request answered while the rotation ran
    failures: list[BaseException] = []
    stop = threading.Event()
    progressed = threading.Semaphore(0)

    def keep_serving() -> None:
        # What the service does meanwhile: answer the phone and (as receiving will) seal new
        # copies with the deployment's own sealer, in rows of their own.
        tag = 0
        while not stop.is_set():
            try:
                assert phone.me()["account_id"] == account_id
                tag += 1
                _hold(engine, world.deployment.sealer, intakes=1, copies=1, tag=f"-during{tag}")
                answered.append(tag)
            except BaseException as exc:  # reported by the test, not here
                failures.append(exc)
                return
            finally:
                progressed.release()

    def interleave(point: RotationPoint) -> None:
        if point is RotationPoint.BATCH_WRITTEN:  # let the service in between two batches
            assert progressed.acquire(timeout=30)

    serving = threading.Thread(target=keep_serving)
    serving.start()
    try:
        report = rotate_sealing_key(
            engine, store, batch=1, grace_seconds=0.2, fault_hook=interleave
        )
    finally:
        stop.set()
        serving.join(30)
    assert not failures, failures
    assert len(answered) >= 12  # a request answered between every two batches at least
    assert phone.me()["account_id"] == account_id  # and after
    assert report.removed == (old_key,) and store.key_ids() == [report.key_id]
    after = _sealed(engine)
    assert len(after) == 12 + 2 * len(answered)
    assert {key_id_of(blob) for blob in after.values()} == {report.key_id}
    fresh = _store(world.deployment.settings.sealing_dir).sealer()
    opened = _plaintexts(fresh, after)
    assert opened[("wallet_credential_copies", "copy-000")] == b"sd-jwt vc copy-000~"
    assert opened[("wallet_credential_copies", f"copy-during{answered[-1]}-000")].startswith(
        b"sd-jwt vc "
    )


class _KilledError(Exception):
    pass


def test_a_rotation_killed_half_way_is_finished_by_the_next_run(world: WalletWorld) -> None:
    engine = world.deployment.engine
    _hold(engine, world.deployment.sealer, intakes=3, copies=4)
    store = _store(world.deployment.settings.sealing_dir)
    [old_key] = store.key_ids()
    before = _sealed(engine)
    plaintexts = _plaintexts(world.deployment.sealer, before)

    def killed(point: RotationPoint) -> None:
        if point is RotationPoint.BATCH_WRITTEN:
            raise _KilledError

    with pytest.raises(_KilledError):  # after its first batch of one row
        rotate_sealing_key(engine, store, batch=1, fault_hook=killed)
    [new_key] = set(store.key_ids()) - {old_key}
    half = _sealed(engine)
    assert sorted(key_id_of(blob) for blob in half.values()).count(new_key) == 1
    assert _plaintexts(world.deployment.sealer, half) == plaintexts  # every row still opens

    report = rotate_sealing_key(engine, store, resume=True, batch=2, grace_seconds=0)
    assert (report.key_id, report.rewrapped, report.removed) == (new_key, 7 - 1, (old_key,))
    assert store.key_ids() == [new_key]  # resume made no other key
    after = _sealed(engine)
    assert {key_id_of(blob) for blob in after.values()} == {new_key}
    assert _payloads(after) == _payloads(before)
    assert _plaintexts(_store(world.deployment.settings.sealing_dir).sealer(), after) == plaintexts


def test_a_value_that_does_not_open_keeps_its_key(world: WalletWorld) -> None:
    engine = world.deployment.engine
    sealer = world.deployment.sealer
    _hold(engine, sealer, intakes=1, copies=2)
    store = _store(world.deployment.settings.sealing_dir)
    [old_key] = store.key_ids()
    # A blob moved into another row: its context is not this row's, so it is not re-wrapped.
    moved = sealer.seal(b"sd-jwt vc elsewhere~", context=copy_context("elsewhere"))
    with engine.begin() as connection:
        connection.execute(
            text("UPDATE wallet_credential_copies SET sealed = :v WHERE id = 'copy-001'"),
            {"v": moved},
        )

    report = rotate_sealing_key(engine, store, grace_seconds=0)
    assert (report.rewrapped, report.unopenable) == (2, 1)
    assert report.removed == () and report.kept == (old_key,)  # a row still names it
    assert sorted(store.key_ids()) == sorted([old_key, report.key_id])
    assert _sealed(engine)[("wallet_credential_copies", "copy-001")] == moved  # left as it was


# --- the command ----------------------------------------------------------------------------------


def _deployment(data_dir: Path) -> Settings:
    env = commands.read_env_file(data_dir / wallet_cli.ENV_FILE)
    return Settings.from_env({**env, ENV_PREFIX + "DATA_DIR": str(data_dir)})


def _run(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`jigap wallet rotate-sealing-key` as an operator runs it (``env`` over wallet.env)."""
    clean = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX) and name != PASSPHRASE_ENV
    }
    command = [str(JIGAP), "wallet", "rotate-sealing-key", "--data-dir", str(data_dir), *args]
    return subprocess.run(
        command, env={**clean, **env}, capture_output=True, text=True, timeout=120, check=False
    )


def _key_files(settings: Settings) -> list[str]:
    return sorted(path.stem for path in settings.sealing_dir.glob("*.json"))


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_the_command_rotates_an_initialised_deployment(backend: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with backend_database_url(backend, tmp_path) as database_url:
        init = jigap_wallet("init", "--data-dir", str(data_dir), "--database-url", database_url)
        assert init.returncode == 0, init.stderr
        settings = _deployment(data_dir)
        [first] = _key_files(settings)
        engine = make_engine(settings.database_url)
        try:
            sealer = SealingKeyStore(settings.sealing_dir, settings.key_passphrase).sealer()
            _hold(engine, sealer, intakes=2, copies=3)
            before = _sealed(engine)
            plaintexts = _plaintexts(sealer, before)

            rotated = _run(data_dir, "--batch", "2", "--grace", "0")
            assert rotated.returncode == 0, rotated.stderr
            [second] = _key_files(settings)
            assert second != first
            assert rotated.stdout.splitlines() == [
                f"sealing key {second}: 5 re-wrapped, 0 changed meanwhile, 0 unopenable, "
                "1 old keys removed, 0 kept"
            ]
            after = _sealed(engine)
            assert {key_id_of(blob) for blob in after.values()} == {second}
            assert _payloads(after) == _payloads(before)
            fresh = SealingKeyStore(settings.sealing_dir, settings.key_passphrase).sealer()
            assert _plaintexts(fresh, after) == plaintexts

            # --keep-old: a third key, the second kept; --resume: no new key, it goes.
            kept = _run(data_dir, "--keep-old", "--grace", "0")
            assert kept.returncode == 0, kept.stderr
            [third] = set(_key_files(settings)) - {second}
            assert kept.stdout.splitlines() == [
                f"sealing key {third}: 5 re-wrapped, 0 changed meanwhile, 0 unopenable, "
                "0 old keys removed, 1 kept"
            ]
            resumed = _run(data_dir, "--resume", "--grace", "0")
            assert resumed.returncode == 0, resumed.stderr
            assert resumed.stdout.splitlines() == [
                f"sealing key {third}: 0 re-wrapped, 0 changed meanwhile, 0 unopenable, "
                "1 old keys removed, 0 kept"
            ]
            assert _key_files(settings) == [third]
            assert {key_id_of(blob) for blob in _sealed(engine).values()} == {third}

            # A passphrase that does not open the keys: refused in one line, no key made.
            wrong = _run(data_dir, "--grace", "0", **{PASSPHRASE_ENV: "not the passphrase"})
            assert wrong.returncode == 1, wrong.stderr
            assert wrong.stderr.startswith("refused: ") and len(wrong.stderr.splitlines()) == 1
            assert _key_files(settings) == [third]
        finally:
            engine.dispose()


def test_the_command_refuses_a_directory_never_initialised_and_a_schema_behind(
    tmp_path: Path,
) -> None:
    nothing = tmp_path / "nothing"
    refused = _run(nothing)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"refused: {nothing} is not a wallet deployment (no wallet.env): "
        f"run `jigap wallet init --data-dir {nothing}` first"
    ]
    data_dir = tmp_path / "data"
    assert jigap_wallet("init", "--data-dir", str(data_dir)).returncode == 0
    settings = _deployment(data_dir)
    keys = _key_files(settings)
    (data_dir / "wallet.sqlite3").unlink()  # an empty database: never migrated
    behind = _run(data_dir, "--grace", "0")
    assert behind.returncode == 4, behind.stderr
    assert behind.stderr.startswith("refused: database schema at nothing, head ")
    assert len(behind.stderr.splitlines()) == 1
    assert _key_files(settings) == keys  # refused before making a key


_DESCRIBED = ("name", "opts", "secondary_opts", "is_flag", "min", "max", "default", "help")


def _options(app: typer.Typer) -> list[dict[str, Any]]:
    """Every option of ``rotate-sealing-key`` (names, type, bounds, default, help), but the
    data directory, whose default is each service's own."""
    command = typer.main.get_group(app).commands["rotate-sealing-key"]
    return [
        {name: getattr(p, name, None) for name in _DESCRIBED}
        | {"type": getattr(getattr(p, "type_descriptor", None), "annotation", None)}
        for p in command.params
        if p.name != "data_dir"
    ]


def test_the_command_takes_the_issuers_options() -> None:
    wallet_options = _options(wallet_cli.app)
    assert [(o["name"], o["type"]) for o in wallet_options] == [
        ("resume", bool),
        ("keep_old", bool),
        ("batch", int),
        ("grace", float),
    ]
    assert wallet_options == _options(issuer_cli.app)
