"""Running the pinned Node.js libraries (package.json, package-lock.json) from pytest.

Each scenario group is one Node process: JSON in on stdin, JSON out on stdout. Without Node.js
or the installed packages the tests skip with one line, except in CI (``CI`` set), where they
fail: CI installs both (.ci/run, then ``make test`` runs ``npm ci``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

INTEROP_DIR = Path(__file__).parent
SCRIPTS = INTEROP_DIR / "node"
INSTALLED = INTEROP_DIR / "node_modules" / ".package-lock.json"  # written by npm ci
NODE_SECONDS = 120  # one scenario group, on a loaded 2-core machine
MIN_NODE_MAJOR = 20  # the libraries' `engines`


def _major(command: str) -> int:
    version = subprocess.run([command, "--version"], capture_output=True, check=False, timeout=30)
    text = version.stdout.decode(errors="replace").strip().lstrip("v")
    return int(text.split(".")[0]) if text.split(".")[0].isdigit() else 0


def node() -> str:
    """The `node` command, or a skip (a failure in CI) saying what is missing."""
    found = shutil.which("node")
    if found is None:
        reason = "Node.js is not installed"
    elif _major(found) < MIN_NODE_MAJOR:
        reason = f"Node.js is older than {MIN_NODE_MAJOR}"
    elif not INSTALLED.exists():
        reason = "the pinned packages are not installed (npm ci --prefix tests/interop)"
    else:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"interop: {reason}; CI must run these tests")
    pytest.skip(f"interop: {reason}")


def run_node(script: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run ``node/<script>`` with ``payload``; its JSON answer, or a failure with its output."""
    completed = subprocess.run(
        [node(), str(SCRIPTS / script)],
        input=json.dumps(payload).encode(),
        capture_output=True,
        timeout=NODE_SECONDS,
        cwd=INTEROP_DIR,
        check=False,
    )
    try:
        answer = json.loads(completed.stdout or b"{}")
    except json.JSONDecodeError:
        answer = {"fatal": completed.stdout.decode(errors="replace")[-2000:]}
    if completed.returncode != 0 or "fatal" in answer:
        stderr = completed.stderr.decode(errors="replace")[-2000:]
        pytest.fail(f"{script} failed: {answer.get('fatal')}\n{stderr}")
    return dict(answer)
