"""`jigap issuer init`, `jigap issuer serve` refusing bad settings, and `jigap keys rotate`.

``init`` and ``keys`` run in-process (typer's CliRunner). ``serve`` runs as the console script
in a subprocess with a timeout, so that a server that wrongly starts fails the test instead of
blocking it.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from issuer.cli import read_env_file, sample_agencies
from issuer.services.admin import authenticate
from issuer.settings import ENV_PREFIX
from jigap_cli import app as jigap
from keys.cli import PASSPHRASE_ENV
from keys.store import FileKeyStore, KeyStatus, list_key_infos
from servicekit.db import make_engine
from tests._server import JIGAP, free_port

PUBLIC_URL = "http://127.0.0.1:8123"
TOKEN_LINE = re.compile(r"^\s+(\w+): (jgat_[A-Za-z0-9_-]{43})$", re.MULTILINE)
SERVE_TIMEOUT_SECONDS = 30
PASSPHRASE = "correct horse battery staple"


@pytest.fixture(autouse=True)
def no_inherited_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """What these commands read comes from the test, not from the shell that runs it."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX) or name == PASSPHRASE_ENV:
            monkeypatch.delenv(name)


def init(data_dir: Path) -> tuple[int, str, str]:
    arguments = ["issuer", "init", "--data-dir", str(data_dir), "--public-url", PUBLIC_URL]
    result = CliRunner().invoke(jigap, arguments)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    directory = tmp_path / "issuer-data"
    exit_code, stdout, stderr = init(directory)
    assert exit_code == 0, stdout + stderr
    yield directory


# -- init -------------------------------------------------------------------------------------


def test_init_prints_a_working_token_for_each_agency(tmp_path: Path) -> None:
    data_dir = tmp_path / "issuer-data"
    exit_code, stdout, _ = init(data_dir)

    assert exit_code == 0
    printed = dict(TOKEN_LINE.findall(stdout))
    assert set(printed) == {agency["slug"] for agency in sample_agencies()}
    for slug in printed:
        assert f"{PUBLIC_URL}/agencies/{slug}" in stdout
    # Each printed token is the one the database knows (by its hash) for that agency.
    engine = make_engine(read_env_file(data_dir)[ENV_PREFIX + "DATABASE_URL"])
    try:
        with Session(engine) as session:
            for slug, token in printed.items():
                assert authenticate(session, token).agency.slug == slug
    finally:
        engine.dispose()


def test_init_writes_its_settings_readable_by_the_owner_only(data_dir: Path) -> None:
    env_file = data_dir / "issuer.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env_file(data_dir)
    assert values[ENV_PREFIX + "PUBLIC_URL"] == PUBLIC_URL
    assert values[ENV_PREFIX + "DATA_DIR"] == str(data_dir)
    assert values[ENV_PREFIX + "DATABASE_URL"] == f"sqlite:///{data_dir / 'issuer.sqlite3'}"
    assert len(values[PASSPHRASE_ENV]) >= 24
    assert len(bytes.fromhex(values[ENV_PREFIX + "HMAC_KEY"])) == 32
    # The agencies' key stores open with the passphrase written there.
    for agency in sample_agencies():
        store = FileKeyStore(data_dir / "keys" / agency["slug"], values[PASSPHRASE_ENV])
        (key,) = store.list_keys()
        assert store.signer(key.kid).kid == key.kid


def test_init_refuses_to_run_twice(data_dir: Path) -> None:
    env_file = data_dir / "issuer.env"
    before = env_file.read_bytes()
    keys_before = sorted(path.name for path in data_dir.rglob("*.json"))

    exit_code, stdout, stderr = init(data_dir)

    assert exit_code == 1
    assert stderr.startswith("refused:")
    assert "already holds agencies" in stderr
    assert not TOKEN_LINE.search(stdout)
    # Nothing was replaced: the first deployment's secrets still open its keys.
    assert env_file.read_bytes() == before
    assert sorted(path.name for path in data_dir.rglob("*.json")) == keys_before


# -- serve ------------------------------------------------------------------------------------


def serve(data_dir: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """`jigap issuer serve` with ``settings`` in its environment (they win over issuer.env)."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    env.update({ENV_PREFIX + name: value for name, value in settings.items()})
    return subprocess.run(
        [str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir), "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=SERVE_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        pytest.param(
            {"PUBLIC_URL": "http://issuer.example.kr"}, "public_url must be an https", id="http"
        ),
        pytest.param(
            {"PUBLIC_URL": "https://issuer.example.kr/"}, "must not end with '/'", id="slash"
        ),
        pytest.param({"HMAC_KEY": "00" * 16}, "hmac_key must be at least 32 bytes", id="short"),
        pytest.param({"HMAC_KEY": "not hex"}, "must be hexadecimal", id="not-hex"),
    ],
)
def test_serve_refuses_bad_settings(data_dir: Path, settings: dict[str, str], reason: str) -> None:
    finished = serve(data_dir, **settings)

    assert finished.returncode == 1, finished.stderr
    assert finished.stderr.startswith("refused:")
    assert reason in finished.stderr
    assert "Uvicorn running" not in finished.stderr


def test_serve_refuses_bad_settings_in_its_file(data_dir: Path) -> None:
    env_file = data_dir / "issuer.env"
    lines = env_file.read_text("utf-8").splitlines()
    kept = [line for line in lines if not line.startswith(PASSPHRASE_ENV + "=")]
    env_file.write_text("\n".join(kept) + "\n", "utf-8")

    finished = serve(data_dir)

    assert finished.returncode == 1
    assert f"{PASSPHRASE_ENV} is not set" in finished.stderr


# -- keys rotate ------------------------------------------------------------------------------


def keys(*arguments: str, passphrase: str = PASSPHRASE) -> tuple[int, str, str]:
    result = CliRunner().invoke(jigap, ["keys", *arguments], env={PASSPHRASE_ENV: passphrase})
    return result.exit_code, result.stdout, result.stderr


def test_rotate_makes_a_new_active_key_and_retires_the_old(tmp_path: Path) -> None:
    store = tmp_path / "store"
    exit_code, stdout, _ = keys("generate", "--store", str(store))
    assert exit_code == 0
    first = stdout.splitlines()[0]

    exit_code, stdout, stderr = keys("rotate", "--store", str(store))

    assert exit_code == 0, stderr
    second = stdout.strip()
    assert second != first
    assert f"retired {first}" in stderr
    status = {info.kid: info.status for info in list_key_infos(store)}
    assert status == {first: KeyStatus.RETIRED, second: KeyStatus.ACTIVE}
    opened = FileKeyStore(store, PASSPHRASE)
    assert opened.signer(second).kid == second
    # A retired key signs nothing new, yet stays published for what it signed.
    assert first in {key.kid for key in opened.public_keys()}


def test_rotate_with_the_wrong_passphrase_changes_nothing(tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert keys("generate", "--store", str(store))[0] == 0
    before = {info.kid: info.status for info in list_key_infos(store)}

    exit_code, _, stderr = keys("rotate", "--store", str(store), passphrase="wrong")

    assert exit_code == 1
    assert stderr.startswith("refused: wrong_passphrase")
    assert {info.kid: info.status for info in list_key_infos(store)} == before
