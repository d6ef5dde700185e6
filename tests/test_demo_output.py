"""`jigap demo --out DIR` never deletes what it did not create (subprocess, as typed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._server import free_port

JIGAP = str(Path(sys.executable).with_name("jigap"))


def _demo(out: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [JIGAP, "demo", "--out", out, "--port", str(free_port())]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=240)


def test_a_directory_that_is_no_demo_output_is_refused_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "code.py").write_text("print('mine')\n")
    done = _demo(".", tmp_path)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "not empty" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pyproject.toml", "src"]
    assert (tmp_path / "src" / "code.py").read_text() == "print('mine')\n"


@pytest.mark.slow
def test_a_rerun_removes_only_the_demos_own_files(tmp_path: Path) -> None:
    first = _demo("out", tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    out = tmp_path / "out"
    marker = json.loads((out / ".jigap-demo.json").read_text())
    assert marker["complete"] is True and "qr/bank-answer.png" in marker["created"]
    # Someone keeps their own files beside and inside the demo's output.
    (out / "notes.txt").write_text("mine")
    (out / "qr" / "my-scan.png").write_bytes(b"mine")
    old_request = (out / "qr" / "bank-request.jwt").read_text()

    again = _demo("out", tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "qr" / "my-scan.png").read_bytes() == b"mine"
    assert (out / "qr" / "bank-request.jwt").read_text() != old_request  # the demo's: remade
    assert (out / "trust" / "trust-list.jwt").exists()
    # What was someone else's before a run is not listed as the demo's by it.
    created = json.loads((out / ".jigap-demo.json").read_text())["created"]
    assert "qr/my-scan.png" not in created and "notes.txt" not in created
    assert "qr/bank-answer.png" in created


def test_a_marker_never_leads_the_removal_outside_the_output(tmp_path: Path) -> None:
    """A demo directory swapped for a link, or a marker naming `..`, is refused; nothing goes."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "revoked.png").write_bytes(b"not the demo's")
    out = tmp_path / "out"
    out.mkdir()
    (out / "qr").symlink_to(elsewhere)
    for created in (["qr", "qr/revoked.png"], ["../elsewhere/revoked.png"]):
        marker = {"complete": True, "created": created}
        (out / ".jigap-demo.json").write_text(json.dumps(marker))
        done = _demo("out", tmp_path)
        assert done.returncode == 2, done.stdout + done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert (elsewhere / "revoked.png").read_bytes() == b"not the demo's"
