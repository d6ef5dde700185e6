"""`jigap serve`: the demo's story, then its services kept running for a person to explore.

Run as the console script in a subprocess, as a person runs it: it narrates, says where each
service's API pages are, keeps serving until interrupted, and stops cleanly on Ctrl-C.
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._server import JIGAP, free_port

pytestmark = pytest.mark.slow

START_SECONDS = 120.0  # the whole story runs first
_DOCS = re.compile(r"(http://127\.0\.0\.1:\d+)/docs")


def _lines(process: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_serve_tells_the_story_then_serves_until_interrupted(tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "200"}
    env.pop("JIGAP_KEY_PASSPHRASE", None)
    command = [str(JIGAP), "serve", "--out", str(tmp_path / "out"), "--port", str(free_port())]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        lines, seen = _lines(process), list[str]()
        deadline = time.monotonic() + START_SECONDS
        while not any(line.startswith("  jigap verify request") for line in seen):
            assert process.poll() is None, "".join(seen)
            try:
                seen.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
            except queue.Empty:
                pytest.fail("no serving message in time:\n" + "".join(seen[-40:]))
        printed = "".join(seen)
        assert "refused as revoked" in printed and "not as expected" not in printed
        # Each service's OpenAPI page, served by the service itself (no CDN).
        bases = _DOCS.findall(printed)
        assert len(bases) == 4, printed
        for base in bases:
            page = httpx.get(f"{base}/docs", timeout=10)
            assert page.status_code == 200 and "swagger" in page.text.lower()
            assert "cdn.jsdelivr" not in page.text and "unpkg.com" not in page.text
            assert httpx.get(f"{base}/openapi.json", timeout=10).status_code == 200
        # The bank's counter app: its page, and the bank's registered purposes behind it.
        counter = bases[-1]
        assert "counter.js" in httpx.get(f"{counter}/", timeout=10).text
        purposes = httpx.get(f"{counter}/api/counter", timeout=10).json()["purposes"]
        assert {p["id"] for p in purposes} >= {"account_opening"}
        # The counter's command it prints works as printed, against the running deployment.
        shell = seen[-2].strip() + " && " + seen[-1].strip()
        path = {**env, "PATH": f"{JIGAP.parent}{os.pathsep}{env.get('PATH', '')}"}
        made = subprocess.run(
            ["bash", "-c", shell],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env=path,
        )
        assert made.returncode == 0, made.stderr
        assert made.stdout.startswith("JR1:") and (tmp_path / "request.png").exists()
        assert process.poll() is None  # still serving
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
