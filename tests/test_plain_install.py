"""The plain install (the verifier alone): server commands name the extra, in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests._plain_install import plain_install_env

JIGAP = str(Path(sys.executable).with_name("jigap"))


def _run(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [JIGAP, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    env = plain_install_env(tmp_path / "site")
    done = subprocess.run(
        [sys.executable, "-c", "import fastapi"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1 and "ModuleNotFoundError" in done.stderr


def test_server_commands_name_the_extra_in_one_line(tmp_path: Path) -> None:
    env = plain_install_env(tmp_path / "site")
    commands = [
        [
            "issuer",
            "init",
            "--data-dir",
            str(tmp_path / "data"),
            "--public-url",
            "http://127.0.0.1:8000",
        ],
        ["issuer", "serve", "--data-dir", str(tmp_path / "data")],
        ["demo", "--out", str(tmp_path / "demo")],
    ]
    for command in commands:
        done = _run(env, *command, cwd=tmp_path)
        assert done.returncode == 2, (command, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, (command, done.stderr)
        assert "pip install 'jigap[server" in lines[0], (command, lines)
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "demo").exists()


def test_the_verifier_commands_run_without_the_server_extra(tmp_path: Path) -> None:
    env = plain_install_env(tmp_path / "site")
    assert _run(env, "verify", "--help", cwd=tmp_path).returncode == 0
    assert _run(env, "issuer", "--help", cwd=tmp_path).returncode == 0
    missing = _run(env, "verify", "check", "--trust", str(tmp_path), "x", cwd=tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
