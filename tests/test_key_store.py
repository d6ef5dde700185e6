"""Key stores: the file store at rest, its refusals, and `jigap keys generate|export-public`."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import keys.store as store_module
from keys.cli import PASSPHRASE_ENV, app
from keys.errors import KeyErrorCode, KeyStoreError
from keys.jwk import Algorithm, public_key_from_jwk
from keys.jws import decode_compact, sign_compact, verify_with
from keys.store import (
    MIN_SCRYPT_N,
    FileKeyStore,
    KeyStatus,
    KeyStore,
    Signer,
    list_key_infos,
    read_key_info,
)

PASSPHRASE = "correct horse battery staple"
FAST = MIN_SCRYPT_N  # the cost is stored per key; tests need no real stretching


class Clock:
    def __init__(self, start: int = 1_700_000_000) -> None:
        self.now = start

    def __call__(self) -> float:
        self.now += 1
        return float(self.now)


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "keys"


@pytest.fixture
def make_store(directory: Path) -> Callable[..., FileKeyStore]:
    def make(passphrase: str = PASSPHRASE) -> FileKeyStore:
        return FileKeyStore(directory, passphrase, clock=Clock(), scrypt_n=FAST)

    return make


def _record(directory: Path, kid: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / f"{kid}.json").read_text())
    return loaded


def _rewrite(directory: Path, kid: str, changes: dict[str, Any]) -> None:
    (directory / f"{kid}.json").write_text(json.dumps({**_record(directory, kid), **changes}))


# -- what a store does ----------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_generated_key_signs_and_is_listed(
    make_store: Callable[..., FileKeyStore], algorithm: Algorithm
) -> None:
    file_store = make_store()
    store: KeyStore = file_store  # the file store is one implementation of the protocol
    info = store.generate(algorithm)
    signer: Signer = store.signer(info.kid)
    # sign_compact takes a SigningKey, not yet any Signer: the file store's signer is one.
    token = sign_compact({"hello": "world"}, file_store.signer(info.kid), {"typ": "test"})
    assert verify_with(decode_compact(token, expected_typ="test"), info.public_key)
    assert (signer.algorithm, signer.kid, signer.public_key) == (
        algorithm,
        info.kid,
        info.public_key,
    )
    assert [k.kid for k in store.list_keys()] == [info.kid]
    assert store.public_keys() == [info.public_key]
    assert store.key_info(info.kid) == info


def test_a_new_store_instance_opens_the_key(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    info = make_store().generate()
    signer = FileKeyStore(directory, PASSPHRASE).signer(info.kid)
    assert signer.public_key == info.public_key


def test_files_are_private(make_store: Callable[..., FileKeyStore], directory: Path) -> None:
    info = make_store().generate()
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(directory / f"{info.kid}.json").st_mode) == 0o600


def test_private_key_is_encrypted_and_the_passphrase_nowhere(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    store = make_store()
    info = store.generate()
    text = (directory / f"{info.kid}.json").read_text()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in text
    assert PASSPHRASE not in text
    assert PASSPHRASE not in repr(store)
    assert '"d"' not in text


def test_keys_are_listed_oldest_first_with_their_status(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    store = make_store()
    first, second = store.generate(), store.generate(Algorithm.EDDSA)
    store.retire(first.kid)
    listed = list_key_infos(directory)
    assert [(k.kid, k.status) for k in listed] == [
        (first.kid, KeyStatus.RETIRED),
        (second.kid, KeyStatus.ACTIVE),
    ]
    assert listed[0].created_at < listed[1].created_at


def test_a_key_retired_in_the_second_it_was_replaced_is_listed_first(directory: Path) -> None:
    # A rotation makes a key and retires the old one at once: the same second. Rotate until
    # the active key's kid sorts before the one it retired, so that kid order alone would fail.
    stopped = FileKeyStore(directory, PASSPHRASE, clock=lambda: 1_800_000_000.0, scrypt_n=FAST)
    active = stopped.generate()
    for _ in range(64):  # each rotation has an even chance
        retired, active = active, stopped.generate()
        stopped.retire(retired.kid)
        if active.kid < retired.kid:
            break
    assert active.kid < retired.kid
    listed = list_key_infos(directory)
    assert len({info.created_at for info in listed}) == 1
    assert listed[-1].kid == active.kid
    assert {info.status for info in listed[:-1]} == {KeyStatus.RETIRED}


def test_retired_key_stays_published_but_signs_nothing(
    make_store: Callable[..., FileKeyStore],
) -> None:
    store = make_store()
    info = store.generate()
    store.signer(info.kid)  # cached now: retiring must still take effect
    store.retire(info.kid)
    store.retire(info.kid)  # idempotent
    assert store.public_keys() == [info.public_key]
    assert store.key_info(info.kid).status is KeyStatus.RETIRED
    with pytest.raises(KeyStoreError) as caught:
        store.signer(info.kid)
    assert caught.value.code is KeyErrorCode.KEY_STORE


def test_absent_directory_holds_no_keys(tmp_path: Path) -> None:
    assert FileKeyStore(tmp_path / "none", PASSPHRASE).list_keys() == []


# -- refusals -------------------------------------------------------------------------------


def test_empty_passphrase_is_refused(directory: Path) -> None:
    with pytest.raises(KeyStoreError) as caught:
        FileKeyStore(directory, "")
    assert caught.value.code is KeyErrorCode.WRONG_PASSPHRASE


def test_wrong_passphrase(make_store: Callable[..., FileKeyStore]) -> None:
    info = make_store().generate()
    with pytest.raises(KeyStoreError) as caught:
        make_store("not the passphrase").signer(info.kid)
    assert caught.value.code is KeyErrorCode.WRONG_PASSPHRASE
    assert PASSPHRASE not in str(caught.value)


def test_a_second_passphrase_cannot_join_a_store(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    make_store().generate()
    with pytest.raises(KeyStoreError) as caught:
        make_store("another passphrase").generate()
    assert caught.value.code is KeyErrorCode.WRONG_PASSPHRASE
    assert len(list(directory.iterdir())) == 1


@pytest.mark.parametrize("kid", ["nope", "../../etc/passwd", "A" * 43], ids=str)
def test_unknown_key(make_store: Callable[..., FileKeyStore], kid: str) -> None:
    store = make_store()
    store.generate()
    for attempt in (store.signer, store.key_info, store.retire):
        with pytest.raises(KeyStoreError) as caught:
            attempt(kid)
        assert caught.value.code is KeyErrorCode.UNKNOWN_KEY


CORRUPTIONS: list[Any] = [
    pytest.param({"format": "other/1"}, id="format"),
    pytest.param({"extra": 1}, id="unknown-member"),
    pytest.param({"kid": "x" * 43}, id="kid"),
    pytest.param({"alg": "EdDSA"}, id="alg"),
    pytest.param({"created_at": "yesterday"}, id="created-at-string"),
    pytest.param({"created_at": True}, id="created-at-bool"),
    pytest.param({"status": "lost"}, id="status"),
    pytest.param({"status": ["active"]}, id="status-array"),
    pytest.param({"public_jwk": {"kty": "EC"}}, id="public-jwk"),
    pytest.param({"kdf": {"name": "pbkdf2", "salt": "AAAA", "n": 1024}}, id="kdf-name"),
    pytest.param({"kdf": {"name": "scrypt", "salt": "AAAA", "n": 2**40}}, id="kdf-cost"),
    pytest.param({"kdf": {"name": "scrypt", "salt": "A===", "n": 1024}}, id="kdf-salt"),
    pytest.param({"check": 7}, id="check"),
    pytest.param({"private_key": "-----BEGIN PRIVATE KEY-----\n"}, id="unencrypted-pem"),
]


@pytest.mark.parametrize("changes", CORRUPTIONS)
def test_corrupt_record_names_its_file(
    make_store: Callable[..., FileKeyStore], directory: Path, changes: dict[str, Any]
) -> None:
    store = make_store()
    kid = store.generate().kid
    _rewrite(directory, kid, changes)
    for attempt in (store.key_info, store.signer):
        with pytest.raises(KeyStoreError) as caught:
            attempt(kid)
        assert caught.value.code is KeyErrorCode.KEY_STORE
        assert f"{kid}.json" in caught.value.detail


@pytest.mark.parametrize(
    "content", [b"", b"{", b"\xff", b"[]"], ids=["empty", "cut", "binary", "array"]
)
def test_unparsable_record(
    make_store: Callable[..., FileKeyStore], directory: Path, content: bytes
) -> None:
    kid = make_store().generate().kid
    (directory / f"{kid}.json").write_bytes(content)
    with pytest.raises(KeyStoreError) as caught:
        read_key_info(directory, kid)
    assert caught.value.code is KeyErrorCode.KEY_STORE


def test_damaged_ciphertext_is_not_called_a_wrong_passphrase(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    store = make_store()
    kid = store.generate().kid
    pem = _record(directory, kid)["private_key"]
    lines = pem.splitlines(keepends=True)
    lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
    _rewrite(directory, kid, {"private_key": "".join(lines)})
    with pytest.raises(KeyStoreError) as caught:
        make_store().signer(kid)
    assert caught.value.code is KeyErrorCode.KEY_STORE


def test_private_key_of_another_key_is_refused(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    store = make_store()
    first, second = store.generate().kid, store.generate().kid
    stolen = {name: _record(directory, second)[name] for name in ("kdf", "check", "private_key")}
    _rewrite(directory, first, stolen)
    with pytest.raises(KeyStoreError) as caught:
        make_store().signer(first)
    assert caught.value.code is KeyErrorCode.KEY_STORE


def test_unreadable_record_is_reported(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    kid = make_store().generate().kid
    (directory / f"{kid}.json").unlink()
    (directory / f"{kid}.json").mkdir()
    with pytest.raises(KeyStoreError) as caught:
        read_key_info(directory, kid)
    assert caught.value.code is KeyErrorCode.KEY_STORE


@pytest.mark.parametrize("cost", [1000, 2**9, 2**18], ids=str)
def test_scrypt_cost_outside_the_bounds_is_a_programming_error(directory: Path, cost: int) -> None:
    with pytest.raises(ValueError, match="scrypt_n"):
        FileKeyStore(directory, PASSPHRASE, scrypt_n=cost)


def test_stray_file_in_the_store_is_reported(
    make_store: Callable[..., FileKeyStore], directory: Path
) -> None:
    store = make_store()
    store.generate()
    (directory / "notes.json").write_text("{}")
    with pytest.raises(KeyStoreError) as caught:
        store.list_keys()
    assert caught.value.code is KeyErrorCode.KEY_STORE
    assert "notes.json" in caught.value.detail


# -- atomic writes ---------------------------------------------------------------------------


def _failing_replace(*_: object) -> None:
    raise OSError(28, "No space left on device")


def test_failed_retire_leaves_the_old_record_and_no_temp_file(
    make_store: Callable[..., FileKeyStore], directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = make_store()
    kid = store.generate().kid
    before = (directory / f"{kid}.json").read_bytes()
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(KeyStoreError) as caught:
        store.retire(kid)
    monkeypatch.undo()
    assert caught.value.code is KeyErrorCode.KEY_STORE
    assert caught.value.detail == f"{kid}.json: No space left on device"
    assert (directory / f"{kid}.json").read_bytes() == before
    assert sorted(p.name for p in directory.iterdir()) == [f"{kid}.json"]


def test_failed_generate_leaves_nothing(
    make_store: Callable[..., FileKeyStore], directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "replace", _failing_replace)
    with pytest.raises(KeyStoreError) as caught:
        make_store().generate()
    monkeypatch.undo()
    assert caught.value.code is KeyErrorCode.KEY_STORE
    assert list(directory.iterdir()) == []


def test_unwritable_directory_is_a_key_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(KeyStoreError) as caught:
        FileKeyStore(tmp_path / "file" / "keys", PASSPHRASE, scrypt_n=FAST).generate()
    assert caught.value.code is KeyErrorCode.KEY_STORE


def test_public_names_are_guarded() -> None:
    assert sorted(store_module.__all__) == [
        "DEFAULT_SCRYPT_N",
        "FileKeyStore",
        "KeyInfo",
        "KeyStatus",
        "KeyStore",
        "MIN_NEW_PASSPHRASE_CHARS",
        "PASSPHRASE_ENV",
        "Signer",
        "list_key_infos",
        "read_key_info",
        "write_atomically",
    ]


# -- `jigap keys generate` and `export-public` ------------------------------------------------

runner = CliRunner()


def test_cli_generate_then_export(tmp_path: Path) -> None:
    env = {PASSPHRASE_ENV: PASSPHRASE}
    generated = runner.invoke(
        app, ["generate", "--store", str(tmp_path), "--alg", "EdDSA"], env=env
    )
    assert generated.exit_code == 0, generated.output
    kid, jwk_line = generated.stdout.splitlines()
    jwk = json.loads(jwk_line)
    assert public_key_from_jwk(jwk).kid == kid
    assert jwk["alg"] == "EdDSA"
    exported = runner.invoke(app, ["export-public", "--store", str(tmp_path), "--kid", kid])
    assert exported.exit_code == 0
    assert json.loads(exported.stdout) == jwk


def test_cli_generate_prompts_for_the_passphrase(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["generate", "--store", str(tmp_path)],
        input=f"{PASSPHRASE}\n{PASSPHRASE}\n",
        env={PASSPHRASE_ENV: None},
    )
    assert result.exit_code == 0, result.output
    kid = result.stdout.splitlines()[-2]
    assert FileKeyStore(tmp_path, PASSPHRASE).signer(kid).kid == kid
    assert PASSPHRASE not in result.output


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (["export-public", "--kid", "A" * 43], {}, "unknown_key"),
        (["generate"], {PASSPHRASE_ENV: ""}, "wrong_passphrase"),
        (["generate"], {PASSPHRASE_ENV: "another"}, "wrong_passphrase"),
    ],
    ids=["unknown-kid", "empty-passphrase", "other-passphrase"],
)
def test_cli_refusals_exit_1_with_the_code(
    tmp_path: Path, args: list[str], env: dict[str, str], code: str
) -> None:
    FileKeyStore(tmp_path, PASSPHRASE, scrypt_n=FAST).generate()
    result = runner.invoke(app, [*args, "--store", str(tmp_path)], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"refused: {code}")
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [["generate"], ["generate", "--store", "x", "--alg", "RS256"], ["export-public", "--kid", "k"]],
    ids=["no-store", "bad-alg", "no-store-for-export"],
)
def test_cli_usage_errors_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, args, env={PASSPHRASE_ENV: PASSPHRASE}).exit_code == 2
