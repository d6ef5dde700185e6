"""`jigap counter serve` as a clerk's IT runs it: refusals in one line, then the app over real
HTTP (uvicorn on loopback) checking a certificate end to end, stopped by Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from keys.store import PASSPHRASE_ENV, FileKeyStore
from tests._counter_desk import BANK, DeskWorld, camera_frame
from tests._server import JIGAP, STARTUP_SECONDS, STOP_SECONDS

PASSPHRASE = "counter laptop passphrase 1"
_LISTENING = re.compile(r"http://127\.0\.0\.1:(\d+)/")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JIGAP), "counter", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


@pytest.fixture
def keyed_world(tmp_path: Path) -> tuple[DeskWorld, Path]:
    """The bank's key in an encrypted key store, as `jigap issuer init` leaves a counter's."""
    key_store = tmp_path / "keys"
    store = FileKeyStore(key_store, PASSPHRASE)
    signer = store.signer(store.generate().kid)
    return DeskWorld(tmp_path / "trust", bank_key=signer), key_store


def test_without_a_trust_store_it_refuses_in_one_line_naming_the_sync(tmp_path: Path) -> None:
    done = run("--client-id", BANK, "--trust", str(tmp_path / "none"))
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("refused: trust_unavailable")
    assert "jigap verify sync" in done.stderr


def test_a_counter_the_trust_list_does_not_register_is_refused(tmp_path: Path) -> None:
    world = DeskWorld(tmp_path / "trust")
    done = run("--client-id", "counter.other.example", "--trust", str(world.trust_dir))
    assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
    assert "not_registered" in done.stderr


def test_it_listens_on_loopback_only(tmp_path: Path) -> None:
    world = DeskWorld(tmp_path / "trust")
    done = run("--client-id", BANK, "--trust", str(world.trust_dir), "--host", "0.0.0.0")  # noqa: S104
    assert (done.returncode, done.stderr.strip()) == (
        1,
        "refused: --host 0.0.0.0: the counter app listens on loopback only",
    )


def test_a_key_the_counter_did_not_register_is_refused(
    tmp_path: Path, keyed_world: tuple[DeskWorld, Path]
) -> None:
    _, key_store = keyed_world
    other = DeskWorld(tmp_path / "other-trust")  # registers another key for the bank
    done = run(
        "--client-id",
        BANK,
        "--trust",
        str(other.trust_dir),
        "--key-store",
        str(key_store),
        env={PASSPHRASE_ENV: PASSPHRASE},
    )
    assert (done.returncode, done.stderr.count("\n")) == (1, 1), done.stderr
    assert "--key-store" in done.stderr or "not one" in done.stderr


@pytest.fixture
def serving(keyed_world: tuple[DeskWorld, Path], tmp_path: Path) -> Iterator[tuple[str, DeskWorld]]:
    world, key_store = keyed_world
    log = tmp_path / "serve.log"  # a file, not a pipe: a full pipe would stop the server
    with (
        log.open("w") as stderr,
        subprocess.Popen(
            [
                *(str(JIGAP), "counter", "serve", "--client-id", BANK),
                *("--trust", str(world.trust_dir), "--key-store", str(key_store), "--port", "0"),
            ],
            stderr=stderr,
            env={**os.environ, PASSPHRASE_ENV: PASSPHRASE},
        ) as process,
    ):
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while (found := _LISTENING.search(log.read_text())) is None:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "not listening in time"
                time.sleep(0.1)
            url = f"http://127.0.0.1:{found.group(1)}"
            _wait_ready(url, deadline)
            yield url, world
            process.send_signal(signal.SIGINT)
            assert process.wait(STOP_SECONDS) == 0, log.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def _wait_ready(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("not ready in time")


def test_the_app_checks_an_answer_over_real_http(serving: tuple[str, DeskWorld]) -> None:
    url, world = serving
    change = {"X-Jigap-Counter": "1"}
    with httpx.Client(base_url=url, timeout=30) as http:
        page = http.get("/")
        assert page.status_code == 200 and "counter.js" in page.text
        assert http.get("/static/counter.js").status_code == 200
        check = http.post("/api/checks", json={"purpose_id": "account_opening"}, headers=change)
        check.raise_for_status()
        body = check.json()
        frame = camera_frame(world.answer(body["request_text"]))
        read = http.post(
            f"/api/checks/{body['check_id']}/frames",
            content=frame,
            headers={**change, "content-type": "image/jpeg"},
        )
        verdict = read.json()["verdict"]
        assert verdict["valid"] is True
        assert verdict["claims"][0]["value"] == "홍길동"
        metrics = http.get("/metrics").text
        assert 'jigap_counter_verdicts_total{code="",verdict="valid"} 1.0' in metrics
        assert "홍길동" not in metrics
        docs = http.get("/docs").text
        assert "cdn" not in docs.lower()


def test_a_burst_of_frames_is_answered_at_once_and_queues_nothing(
    serving: tuple[str, DeskWorld],
) -> None:
    """Far more frames a second than a page sends: each is read or turned away (429) at once,
    and the check still takes its answer afterwards."""
    import asyncio

    url, world = serving
    change = {"X-Jigap-Counter": "1"}
    check = httpx.post(f"{url}/api/checks", json={"purpose_id": "age_check"}, headers=change)
    check_id = check.json()["check_id"]
    idle = camera_frame("https://www.example.com/")  # a QR, but no certificate: keeps it open

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            frame = f"/api/checks/{check_id}/frames"
            headers = {**change, "content-type": "image/jpeg"}
            sends = [http.post(frame, content=idle, headers=headers) for _ in range(100)]
            return [response.status_code for response in await asyncio.gather(*sends)]

    started = time.monotonic()
    statuses = asyncio.run(burst())
    assert time.monotonic() - started < 30
    assert set(statuses) <= {200, 429} and statuses.count(200) >= 1, statuses
    answer = camera_frame(world.preset_answer())
    read = httpx.post(
        f"{url}/api/checks/{check_id}/frames",
        content=answer,
        headers={**change, "content-type": "image/jpeg"},
        timeout=30,
    )
    assert read.json()["verdict"]["valid"] is True
