"""The integrator's guide stays complete as the code grows; the README's commands work."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._plain_install import plain_install_env
from tests._server import free_port
from verifier import ErrorCode, Policy
from wallet_api.errors import WalletErrorCode

GUIDE = (Path(__file__).parents[1] / "docs" / "verifier.md").read_text()


def test_every_error_code_is_explained_to_integrators() -> None:
    for code in ErrorCode:
        assert f"| `{code.value}` |" in GUIDE, code


def test_every_wallet_refusal_is_explained_to_phone_developers() -> None:
    phone_guide = (Path(__file__).parents[1] / "docs" / "wallet.md").read_text()
    for code in WalletErrorCode:
        assert f" {code.value}`" in phone_guide, code  # as `409 no_unused_copy` or a table's


def test_every_policy_field_is_explained_to_integrators() -> None:
    for name in Policy.__dataclass_fields__:
        assert f"| `{name}` |" in GUIDE, name


# --- The README's commands, as written, on the demo's own output --------------------------------

README = (Path(__file__).parents[1] / "README.md").read_text()
JIGAP_BIN = Path(sys.executable).parent
DEMO_PORT = "8000"  # the demo's default port, which the README's commands name


def _counter_commands() -> list[str]:
    """The README's "A bank's counter" commands, continuation lines joined."""
    block = README.split("# A bank's counter", 1)[1].split("```", 1)[0]
    commands: list[str] = []
    continued = False
    for line in block.splitlines()[1:]:
        text = line.rstrip().removesuffix("\\")
        if continued:
            commands[-1] += " " + text.strip()
        elif line.startswith("jigap "):
            commands.append(text)
        continued = line.rstrip().endswith("\\")
    return commands


def _python_snippet() -> str:
    return README.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_the_readmes_counter_commands_work_on_the_demos_output(tmp_path: Path) -> None:
    port = str(free_port())
    env = {**os.environ, "PATH": f"{JIGAP_BIN}{os.pathsep}{os.environ['PATH']}"}
    demo = subprocess.run(
        ["jigap", "demo", "--out", "demo-output", "--port", port],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    commands = [command.replace(DEMO_PORT, port) for command in _counter_commands()]
    serve, counter = commands[0], commands[1:]
    assert serve.startswith("jigap issuer serve")
    assert len(counter) >= 4 and all(c.startswith("jigap verify") for c in counter)
    # The counter runs the plain install: the server extra is not importable by it.
    plain = {**plain_install_env(tmp_path / "site"), "PATH": env["PATH"]}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        ["bash", "-c", f"exec {serve}"], cwd=tmp_path, env=env, stdout=log, stderr=log,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_for_port(int(port), server)
        outputs = []
        for command in counter:
            done = subprocess.run(
                ["bash", "-c", command], cwd=tmp_path, env=plain, capture_output=True,
                text=True, timeout=60,
            )  # fmt: skip
            expected = 1 if "# exit 1" in command else 0
            assert done.returncode == expected, (command, done.stdout, done.stderr)
            outputs.append(done.stdout + done.stderr)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    first_sync, second_sync = outputs[0], outputs[1]
    assert "new" in first_sync and "/status-lists/" in first_sync
    assert "304 not modified" in second_sync and "failed" not in second_sync
    # The extract the bank and the store were shown has been revoked since; once the request's
    # 5 minutes (the one-way answer's 60 s) are over, that is said first. A code, no traceback.
    assert "revoked" in outputs[2] or "request_expired" in outputs[2], outputs[2]
    assert "Traceback" not in outputs[2]
    assert json.loads(outputs[3])["error"] in ("revoked", "presentation_too_old")

    snippet = subprocess.run(
        [sys.executable, "-c", _python_snippet()], cwd=tmp_path, env=plain,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert snippet.returncode == 0, snippet.stderr
    asked, verdict = snippet.stdout.splitlines()
    assert asked == "Identity check to open an account JR1:"
    assert verdict == "nonce_mismatch"  # the demo's answer, to another request
    _the_readmes_counter_app_serves(tmp_path, env)


def _the_readmes_counter_app_serves(tmp_path: Path, env: dict[str, str]) -> None:
    """The README's `jigap counter serve` on the demo's output: two-way, with the bank's key."""
    block = README.split("jigap counter serve", 1)[1].split("```", 1)[0]
    command = "jigap counter serve" + " ".join(
        line.split("#", 1)[0].rstrip().removesuffix("\\") for line in block.splitlines()
    )
    port = free_port()
    issuer_env = (tmp_path / "demo-output" / "issuer" / "issuer.env").read_text().split()
    passphrase = dict(line.split("=", 1) for line in issuer_env)["JIGAP_KEY_PASSPHRASE"]
    with subprocess.Popen(
        ["bash", "-c", f"exec {command} --port {port}"], cwd=tmp_path,
        env={**env, "JIGAP_KEY_PASSPHRASE": passphrase}, stderr=subprocess.DEVNULL,
    ) as app:  # fmt: skip
        try:
            _wait_for_port(port, app)
            counter = httpx.get(f"http://127.0.0.1:{port}/api/counter", timeout=30).json()
            assert counter["client_id"] == "counter.bank.example" and counter["two_way"] is True
        finally:
            app.send_signal(signal.SIGINT)
            assert app.wait(timeout=30) == 0


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60  # an upper bound on a loaded machine
    while time.monotonic() < deadline:
        assert process.poll() is None, "the demo's issuer did not start"
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError("the demo's issuer did not listen")
