"""`jigap verify sync` (online: files, real HTTP on loopback) and `jigap verify check` (offline)."""

from __future__ import annotations

import functools
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from issuer.credential import StatusReference, issue_sd_jwt_vc
from jigap_cli import app
from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._world import COUNTER, ISSUER, NONCE, World
from verifier import encode_envelope
from verifier.qr_image import render_png
from verifier.status_list import StatusList, StatusValue, build_status_list_token
from wallet_api.presentation import build_presentation

runner = CliRunner()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a directory; stopped after the test."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Scheme:
    """A trust operator, one issuer, one status list, one phone: real tokens at real time."""

    def __init__(self, status_uri: str) -> None:
        self.now = int(time.time())
        self.anchor = SigningKey.generate()
        self.issuer_key = SigningKey.generate()
        self.phone = SigningKey.generate()
        self.status_uri = status_uri
        self.status_list = StatusList(256)
        self.world = World()  # only for its registry
        entry = TrustedIssuer(
            id=ISSUER,
            names={"ko": "주민등록 발급기관", "en": "Resident register office"},
            jwks=Jwks.of(self.issuer_key.public_key),
            credential_types=frozenset({"urn:jigap:resident-register-extract:1"}),
            valid_from=self.now - 60,
            valid_until=self.now + 86400,
        )
        self.trust_list = sign_trust_list(
            TrustList(
                "https://trust.jigap.example", 1, self.now, self.now + 86400, {ISSUER: entry}
            ),
            self.anchor,
        )

    def status_token(self) -> str:
        return build_status_list_token(
            self.status_list, self.status_uri, self.issuer_key, now=self.now, ttl=300
        )

    def presentation(self, nonce: str = NONCE) -> str:
        credential_type = self.world.registry.get("resident_register_extract")
        credential = issue_sd_jwt_vc(
            credential_type,
            credential_type.examples[0],
            issuer_id=ISSUER,
            signing_key=self.issuer_key,
            holder_key=self.phone.public_key,
            status=StatusReference(self.status_uri, 3),
            now=self.now,
        ).compact
        return build_presentation(
            credential,
            ["name", "address"],
            holder_key=self.phone,
            audience=COUNTER,
            nonce=nonce,
            now=self.now,
        )

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        anchor = directory / "anchor.jwk"
        anchor.write_bytes(json_dumps(self.anchor.public_key.to_jwk()))
        trust = directory / "trust-list.jwt"
        trust.write_text(self.trust_list)
        status = directory / "status-1.jwt"
        status.write_text(self.status_token())
        return anchor, trust, status


def _sync(*args: str) -> int:
    return runner.invoke(app, ["verify", "sync", *args]).exit_code


def _synced(tmp_path: Path) -> tuple[Scheme, Path]:
    """A scheme written to files and synced from them into ``tmp_path/store``."""
    scheme = Scheme("https://rr.issuer.jigap.example/status/1")
    anchor, trust, status = scheme.write(tmp_path)
    store = tmp_path / "store"
    assert _sync(str(trust), str(status), "--into", str(store), "--anchor", str(anchor)) == 0
    return scheme, store


def test_sync_from_files_then_check_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme, store = _synced(tmp_path)

    def no_network(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the offline check touched the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    envelope = encode_envelope(scheme.presentation())
    image = tmp_path / "qr.png"
    image.write_bytes(render_png(envelope))
    for presented in (envelope, str(image)):
        result = runner.invoke(
            app, ["verify", "check", "--trust", str(store), "--nonce", NONCE, "--json", presented]
        )
        assert result.exit_code == 0, result.output
        verdict = json.loads(result.stdout)
        assert verdict["valid"] is True
        assert verdict["claims"] == {"name": "홍길동", "address": "서울특별시 종로구 세종대로 209"}


def test_check_exit_codes(tmp_path: Path) -> None:
    scheme, store = _synced(tmp_path)
    replayed = scheme.presentation(nonce="an-old-nonce")
    refused = runner.invoke(
        app, ["verify", "check", "--trust", str(store), "--nonce", NONCE, "--json", replayed]
    )
    assert refused.exit_code == 1
    assert json.loads(refused.stdout)["error"] == "nonce_mismatch"
    no_store = runner.invoke(app, ["verify", "check", "--trust", str(tmp_path / "none"), "x"])
    assert no_store.exit_code == 2
    assert runner.invoke(app, ["verify", "check"]).exit_code == 2


def test_sync_over_http_and_revocation_seen_after_resync(
    tmp_path: Path, http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    scheme = Scheme(f"{base}/status/1")
    (root / "status").mkdir()
    anchor, _, _ = scheme.write(tmp_path)
    (root / "trust-list.jwt").write_text(scheme.trust_list)
    (root / "status" / "1").write_text(scheme.status_token())
    store = tmp_path / "store"
    sources = [f"{base}/trust-list.jwt", f"{base}/status/1"]
    assert _sync(*sources, "--into", str(store), "--anchor", str(anchor)) == 0
    presentation = scheme.presentation()
    check = ["verify", "check", "--trust", str(store), "--nonce", NONCE, "--json", presentation]
    assert runner.invoke(app, check).exit_code == 0

    scheme.status_list.set(3, StatusValue.INVALID)
    (root / "status" / "1").write_text(scheme.status_token())
    assert _sync(*sources, "--into", str(store)) == 0
    result = runner.invoke(app, check)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"] == "revoked"


def test_sync_refuses_a_list_signed_by_another_anchor(tmp_path: Path) -> None:
    scheme = Scheme("https://rr.issuer.jigap.example/status/1")
    _, trust, status = scheme.write(tmp_path)
    impostor = tmp_path / "impostor.jwk"
    impostor.write_bytes(json_dumps(SigningKey.generate().public_key.to_jwk()))
    store = tmp_path / "store"
    assert _sync(str(trust), str(status), "--into", str(store), "--anchor", str(impostor)) == 1
    assert not (store / "trust-list.jwt").exists()


def test_sync_refuses_a_status_list_served_under_another_address(
    tmp_path: Path, http_root: tuple[Path, str]
) -> None:
    root, base = http_root
    scheme = Scheme("https://elsewhere.example/status/1")
    anchor, trust, _ = scheme.write(tmp_path)
    (root / "status-1").write_text(scheme.status_token())
    store = tmp_path / "store"
    assert _sync(str(trust), f"{base}/status-1", "--into", str(store), "--anchor", str(anchor)) == 1


def test_the_installed_command_runs(tmp_path: Path) -> None:
    """The console script itself, in a subprocess: what a bank's operator types."""
    scheme = Scheme("https://rr.issuer.jigap.example/status/1")
    anchor, trust, status = scheme.write(tmp_path)
    jigap = str(Path(sys.executable).with_name("jigap"))
    store = str(tmp_path / "store")
    subprocess.run(
        [
            jigap,
            "verify",
            "sync",
            str(trust),
            str(status),
            "--into",
            store,
            "--anchor",
            str(anchor),
        ],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [jigap, "verify", "check", "--trust", store, "--nonce", NONCE, scheme.presentation()],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "VALID" in done.stdout
    # A time for people: ISO 8601 with its zone, not epoch seconds (--json keeps those).
    assert re.search(r"as of \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\)", done.stdout), done.stdout


def test_an_image_without_the_image_extra_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bank that installed the plain verifier gets told what to install, not a traceback."""
    scheme, store = _synced(tmp_path)
    image = tmp_path / "qr.png"
    image.write_bytes(render_png(encode_envelope(scheme.presentation())))
    monkeypatch.setitem(sys.modules, "zxingcpp", None)  # as if zxing-cpp were not installed
    result = runner.invoke(app, ["verify", "check", "--trust", str(store), str(image)])
    assert result.exit_code == 2
    assert "jigap[image]" in result.output


def test_claim_values_are_printed_as_text_not_as_console_markup(tmp_path: Path) -> None:
    """A claim is outside data: `[/]` in an address must print as itself, not break the output."""
    scheme, store = _synced(tmp_path)
    credential_type = scheme.world.registry.get("resident_register_extract")
    claims = {**credential_type.examples[0], "address": "서울 [/] [bold]세종대로[/bold] 209"}
    credential = issue_sd_jwt_vc(
        credential_type,
        claims,
        issuer_id=ISSUER,
        signing_key=scheme.issuer_key,
        holder_key=scheme.phone.public_key,
        status=StatusReference(scheme.status_uri, 3),
        now=scheme.now,
    ).compact
    presentation = build_presentation(
        credential,
        ["address"],
        holder_key=scheme.phone,
        audience=COUNTER,
        nonce=NONCE,
        now=scheme.now,
    )
    wide = CliRunner(env={"COLUMNS": "200"})
    result = wide.invoke(
        app, ["verify", "check", "--trust", str(store), "--nonce", NONCE, presentation]
    )
    assert result.exit_code == 0, result.output
    assert "[/] [bold]세종대로[/bold]" in result.stdout


def test_a_misspelt_type_is_a_usage_error(tmp_path: Path) -> None:
    _, store = _synced(tmp_path)
    args = ["verify", "check", "--trust", str(store), "--type", "resident_register", "x"]
    assert runner.invoke(app, args).exit_code == 2


def test_a_missing_or_unreadable_file_is_a_usage_error_not_a_verdict(tmp_path: Path) -> None:
    """The console script in a subprocess: exit 2 and one line, never `INVALID malformed`."""
    _, store = _synced(tmp_path)
    jigap = str(Path(sys.executable).with_name("jigap"))
    unreadable = tmp_path / "locked.png"
    unreadable.write_bytes(b"\x89PNG")
    unreadable.chmod(0)
    for named in (str(tmp_path / "qr.png"), "qr-from-yesterday.png", str(tmp_path)):
        done = subprocess.run(
            [jigap, "verify", "check", "--trust", str(store), named],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2, (named, done.stdout, done.stderr)
        assert "INVALID" not in done.stdout
        assert done.stderr.strip().splitlines() == [done.stderr.strip()], done.stderr
        assert done.stderr.startswith(repr(named))
    if os.geteuid() != 0:  # root reads any file
        done = subprocess.run(
            [jigap, "verify", "check", "--trust", str(store), str(unreadable)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 2 and "Permission denied" in done.stderr


def test_a_sync_without_sources_repeats_the_last_one(tmp_path: Path) -> None:
    """What a counter's "sync now" does: the sources are those of the last sync that worked."""
    _, store = _synced(tmp_path)
    before = (store / "trust-list.jwt").stat().st_mtime_ns
    time.sleep(0.01)
    assert _sync("--into", str(store)) == 0
    assert (store / "trust-list.jwt").stat().st_mtime_ns > before  # fetched and written again


def test_a_sync_without_sources_into_a_new_store_is_a_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["verify", "sync", "--into", str(tmp_path / "new")])
    assert result.exit_code == 2
    assert "no sources given" in result.output
