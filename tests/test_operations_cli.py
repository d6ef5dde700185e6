"""The commands as people read them: `jigap --version`, `jigap keys list`, times in ISO 8601
with their zone, lines not wrapped when piped, one passphrase variable for every command, a
minimum passphrase length for new key stores, and no trust list that trusts nobody.

Each runs as the console script in a subprocess, output piped (not a terminal).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from importlib.metadata import version
from pathlib import Path

import pytest

from issuer.cli import read_env_file
from issuer.settings import DEPRECATED_PASSPHRASE_ENV, ENV_PREFIX, PASSPHRASE_ENV, Settings
from keys.store import MIN_NEW_PASSPHRASE_CHARS, KeyStatus, list_key_infos
from tests._server import JIGAP

PASSPHRASE = "correct horse battery staple"
ISO_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"


def jigap(*arguments: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ENV_PREFIX) and name not in (PASSPHRASE_ENV, "COLUMNS")
    }
    return subprocess.run(
        [str(JIGAP), *arguments],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_version() -> None:
    finished = jigap("--version")

    assert finished.returncode == 0
    assert finished.stdout.strip() == f"jigap {version('jigap')}"


def test_keys_list_shows_each_key_with_its_state_and_an_iso_time(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {PASSPHRASE_ENV: PASSPHRASE}
    first = jigap("keys", "generate", "--store", str(store), **env).stdout.splitlines()[0]
    second = jigap("keys", "rotate", "--store", str(store), "--alg", "EdDSA", **env).stdout.strip()

    listed = jigap("keys", "list", "--store", str(store))  # no passphrase: public halves only
    as_json = jigap("keys", "list", "--store", str(store), "--json")

    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(rf"{first}  ES256  retired  {ISO_UTC}", lines[0]), lines[0]
    assert re.fullmatch(rf"{second}  EdDSA  active  {ISO_UTC}", lines[1]), lines[1]
    records = [json.loads(line) for line in as_json.stdout.splitlines()]
    infos = list_key_infos(store)
    assert records == [
        {
            "kid": info.kid,
            "alg": info.algorithm.value,
            "status": info.status.value,
            "created_at": info.created_at,
        }
        for info in infos
    ]
    assert [info.status for info in infos] == [KeyStatus.RETIRED, KeyStatus.ACTIVE]


def test_a_new_store_refuses_a_short_passphrase(tmp_path: Path) -> None:
    store = tmp_path / "store"
    short = "x" * (MIN_NEW_PASSPHRASE_CHARS - 1)

    refused = jigap("keys", "generate", "--store", str(store), **{PASSPHRASE_ENV: short})
    init = jigap("issuer", "init", "--data-dir", str(tmp_path / "d"), **{PASSPHRASE_ENV: short})

    assert refused.returncode == 1
    assert refused.stderr.startswith("refused: weak_passphrase")
    assert str(MIN_NEW_PASSPHRASE_CHARS) in refused.stderr
    assert list_key_infos(store) == []
    assert init.returncode == 1
    assert "weak_passphrase" in init.stderr
    assert len(init.stderr.strip().splitlines()) == 1
    enough = "x" * MIN_NEW_PASSPHRASE_CHARS
    assert (
        jigap("keys", "generate", "--store", str(store), **{PASSPHRASE_ENV: enough}).returncode == 0
    )


def test_one_passphrase_variable_for_init_rotate_and_serve(tmp_path: Path) -> None:
    data_dir = tmp_path / "issuer-data"
    assert jigap("issuer", "init", "--data-dir", str(data_dir)).returncode == 0
    written = read_env_file(data_dir)
    assert PASSPHRASE_ENV in written
    assert DEPRECATED_PASSPHRASE_ENV not in written

    # An operator sources issuer.env and rotates an agency's key with the same variable.
    rotated = jigap(
        "keys", "rotate", "--store", str(data_dir / "keys" / "mois"),
        **{PASSPHRASE_ENV: written[PASSPHRASE_ENV]},
    )  # fmt: skip

    assert rotated.returncode == 0, rotated.stderr
    settings = Settings.from_env({**written, ENV_PREFIX + "DATA_DIR": str(data_dir)})
    assert settings.key_passphrase == written[PASSPHRASE_ENV]


def test_the_deprecated_passphrase_name_is_read_only_without_the_canonical_one() -> None:
    base = {ENV_PREFIX + "HMAC_KEY": "00" * 32}

    old = Settings.from_env({**base, DEPRECATED_PASSPHRASE_ENV: "old name"})
    both = Settings.from_env({**base, DEPRECATED_PASSPHRASE_ENV: "old", PASSPHRASE_ENV: "new"})

    assert old.key_passphrase == "old name"
    assert both.key_passphrase == "new"


def test_piped_output_is_not_wrapped(tmp_path: Path) -> None:
    host = "issuer." + "very-long-agency-subdomain-" * 3 + "example.go.kr"
    public_url = f"https://{host}"

    finished = jigap(
        "issuer", "init", "--data-dir", str(tmp_path / "d"), "--public-url", public_url
    )

    assert finished.returncode == 0, finished.stderr
    # Rich would fold the table's cells at 80 columns; piped, each identifier stays whole.
    assert len(f"{public_url}/agencies/mois") > 80
    assert any(f"{public_url}/agencies/mois" in line for line in finished.stdout.splitlines())


def test_every_commands_piped_output_is_not_wrapped() -> None:
    # The verifier-side commands too (the plain install): a table row keeps each id whole.
    done = jigap("schemas", "list")

    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if "resident_register_extract" in line]
    assert len(rows) == 1 and "urn:jigap:resident-register-extract:1" in rows[0]


# -- the trust list ---------------------------------------------------------------------------


@pytest.fixture
def anchor(tmp_path: Path) -> tuple[Path, str]:
    store = tmp_path / "anchor"
    generated = jigap("keys", "generate", "--store", str(store), **{PASSPHRASE_ENV: PASSPHRASE})
    return store, generated.stdout.splitlines()[0]


def test_trust_list_create_refuses_an_empty_issuer_list(
    tmp_path: Path, anchor: tuple[Path, str]
) -> None:
    issuers = tmp_path / "issuers.json"
    issuers.write_text("[]", "utf-8")
    out = tmp_path / "trust-list.jwt"

    finished = jigap(
        "keys", "trust-list", "create", "--anchor-store", str(anchor[0]),
        "--anchor-kid", anchor[1], "--issuers", str(issuers), "--operator", "https://op.example",
        "--sequence", "1", "--valid-days", "7", "--out", str(out),
        **{PASSPHRASE_ENV: PASSPHRASE},
    )  # fmt: skip

    assert finished.returncode == 1
    assert finished.stderr.startswith("refused: trust_list_invalid")
    assert "no issuers" in finished.stderr
    assert not out.exists()


# -- the operator's guide ---------------------------------------------------------------------

OPERATIONS = (Path(__file__).parents[1] / "docs" / "operations.md").read_text("utf-8")


def test_every_exit_code_and_serve_option_is_documented() -> None:
    from issuer.cli import EXIT_DATABASE_UNAVAILABLE, EXIT_REFUSED, EXIT_SCHEMA

    for code in (0, EXIT_REFUSED, 2, EXIT_DATABASE_UNAVAILABLE, EXIT_SCHEMA):
        assert f"\n| {code} |" in OPERATIONS, code
    serve_help = jigap("issuer", "serve", "--help").stdout
    for option in re.findall(r"--[a-z][a-z-]+", serve_help):
        if option not in {"--help", "--data-dir", "--workers", "--host", "--port"}:
            assert f"`{option}" in OPERATIONS, option


def test_the_deprecated_name_in_issuer_env_is_still_read_with_a_warning(tmp_path: Path) -> None:
    data_dir = tmp_path / "issuer-data"
    assert jigap("issuer", "init", "--data-dir", str(data_dir)).returncode == 0
    env_file = data_dir / "issuer.env"
    env_file.write_text(
        env_file.read_text("utf-8").replace(f"{PASSPHRASE_ENV}=", f"{DEPRECATED_PASSPHRASE_ENV}="),
        "utf-8",
    )

    finished = jigap("issuer", "migrate", "--check", "--data-dir", str(data_dir))

    assert finished.returncode == 0, finished.stderr
    assert f"{DEPRECATED_PASSPHRASE_ENV} is deprecated" in finished.stderr
