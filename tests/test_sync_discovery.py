"""Counters find what to sync: from the trust list's URL alone, through each issuer's metadata
and Status List Aggregation, to every status list — against a real issuer on loopback."""

from __future__ import annotations

import functools
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from protocols.oid4vci import WELL_KNOWN_OAUTH_AS, well_known_url
from tests._server import BACKENDS, JIGAP, RunningIssuer, issuer_on_backend
from tests._wallet import Wallet
from tests.test_issuer_over_http import create_offer, credential_row, present, status_slot
from verifier import ErrorCode, Policy, TrustStore, Verifier
from verifier.status_list import StatusList, build_status_list_token
from verifier.sync import MAX_DOCUMENT_BYTES, Outcome, sync_trust_store

RESIDENT_VCT = "urn:jigap:resident-register-extract:1"


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningIssuer]:
    with issuer_on_backend(request.param, tmp_path_factory.mktemp(request.param)) as running:
        yield running


def _sync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(JIGAP), "verify", "sync", *args], capture_output=True, text=True, timeout=60
    )


def _rows(done: subprocess.CompletedProcess[str]) -> dict[tuple[str, str], str]:
    """(what, source) -> outcome, from the one-line-per-list output."""
    rows = {}
    for line in done.stderr.splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            rows[(parts[1], parts[2])] = parts[0]
    return rows


def test_each_agency_names_and_serves_its_aggregation(server: RunningIssuer) -> None:
    with httpx.Client(timeout=30) as http:
        wallet = Wallet(http, time.time)
        credentials, _ = wallet.obtain(
            create_offer(server, http, tx_code=False)["credential_offer_uri"], None
        )
        status_uri, _ = status_slot(credentials[0])
        issuer_id = server.issuer_id()
        metadata = http.get(server.metadata_url()).json()
        endpoint = metadata["status_list_aggregation_endpoint"]
        assert endpoint == f"{issuer_id}/status-lists"
        as_metadata = http.get(well_known_url(issuer_id, WELL_KNOWN_OAUTH_AS)).json()
        assert as_metadata["status_list_aggregation_endpoint"] == endpoint
        aggregation = http.get(endpoint)
        assert aggregation.status_code == 200
        assert aggregation.headers["content-type"] == "application/json"
        assert status_uri in aggregation.json()["status_lists"]
        again = http.get(endpoint, headers={"If-None-Match": aggregation.headers["etag"]})
        assert again.status_code == 304
        assert http.get(f"{server.public_url}/agencies/nobody/status-lists").status_code == 404


def test_sync_from_the_trust_list_url_alone_then_only_what_changed(
    server: RunningIssuer, tmp_path: Path
) -> None:
    with httpx.Client(timeout=30) as http:
        wallet = Wallet(http, time.time)
        credentials, _ = wallet.obtain(
            create_offer(server, http, tx_code=False)["credential_offer_uri"], None
        )
        status_uri, _ = status_slot(credentials[0])
        anchor = tmp_path / "anchor.jwk"
        anchor.write_text(json.dumps(server.anchor_jwk()))
        store = tmp_path / "store"

        first = _sync(server.trust_list_url, "--anchor", str(anchor), "--into", str(store))
        assert first.returncode == 0, first.stderr
        assert _rows(first)[("status list", status_uri)] == Outcome.NEW
        presentation = present(wallet, credentials[0])
        assert Verifier(TrustStore.load(store), Policy()).verify(presentation).valid

        second = _sync(server.trust_list_url, "--into", str(store))
        assert second.returncode == 0, second.stderr
        assert _rows(second)[("status list", status_uri)] == Outcome.UNCHANGED
        assert _rows(second)[("trust list", server.trust_list_url)] == Outcome.UNCHANGED
        assert "304 not modified" in second.stderr
        assert json.loads((store / "etags.json").read_text())["status_lists"][status_uri]

        row = credential_row(server, http, credentials[0])
        revoked = http.post(
            f"{server.public_url}/admin/credentials/{row['id']}/revoke",
            json={"reason": "lost phone"},
            headers=server.admin(),
        )
        assert revoked.status_code == 200, revoked.text
        third = _sync(server.trust_list_url, "--into", str(store))
        assert third.returncode == 0, third.stderr
        assert _rows(third)[("status list", status_uri)] == Outcome.CHANGED
        result = Verifier(TrustStore.load(store), Policy()).verify(presentation)
        assert result.error is ErrorCode.REVOKED


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def www(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "www"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_bad_list_in_an_aggregation_fails_alone(www: tuple[Path, str], tmp_path: Path) -> None:
    """A list signed by another trusted issuer, and one that is missing, are reported as failed;
    the good list is held. Metadata over the size bound, and an aggregation naming a local file,
    fail their issuer, and no file is read."""
    root, base = www
    now = int(time.time())
    keys = {name: SigningKey.generate() for name in ("rr", "other", "odd")}
    ids = {name: f"{base}/{name}" for name in keys}
    anchor = SigningKey.generate()
    entries = {
        ids[name]: TrustedIssuer(
            ids[name],
            {"ko": name, "en": name},
            Jwks.of(key.public_key),
            frozenset({RESIDENT_VCT}),
            now - 60,
            now + 86400,
        )
        for name, key in keys.items()
    }
    trust_list = TrustList("https://trust.example", 1, now, now + 86400, entries)
    (root / "trust-list.jwt").write_text(sign_trust_list(trust_list, anchor))
    lists = {n: f"{ids['rr']}/status-lists/{n}" for n in ("good", "foreign", "missing")}
    (root / "rr" / "status-lists").mkdir(parents=True)
    for name, signer in (("good", keys["rr"]), ("foreign", keys["other"])):
        token = build_status_list_token(StatusList(64), lists[name], signer, now=now, ttl=300)
        (root / "rr" / "status-lists" / name).write_text(token)
    (root / "rr" / "aggregation").write_text(json.dumps({"status_lists": list(lists.values())}))
    well_known = root / ".well-known" / "openid-credential-issuer"
    well_known.mkdir(parents=True)
    aggregation = {"status_list_aggregation_endpoint": f"{ids['rr']}/aggregation"}
    (well_known / "rr").write_text(json.dumps({"credential_issuer": ids["rr"], **aggregation}))
    padding = "x" * MAX_DOCUMENT_BYTES
    (well_known / "other").write_text(
        json.dumps({"credential_issuer": ids["other"], "padding": padding})
    )
    secret = tmp_path / "secret.jwt"  # a status list, even: still never read from disk
    secret.write_text((root / "rr" / "status-lists" / "good").read_text())
    odd_aggregation = {"status_list_aggregation_endpoint": f"{ids['odd']}/aggregation"}
    (well_known / "odd").write_text(
        json.dumps({"credential_issuer": ids["odd"], **odd_aggregation})
    )
    (root / "odd").mkdir()
    (root / "odd" / "aggregation").write_text(json.dumps({"status_lists": [str(secret)]}))
    anchor_file = tmp_path / "anchor.jwk"
    anchor_file.write_bytes(json_dumps(anchor.public_key.to_jwk()))

    report = sync_trust_store(
        [f"{base}/trust-list.jwt"], tmp_path / "store", anchor_file=anchor_file, now=now
    )
    outcomes = {(row.what, row.source): row for row in report.rows}
    assert outcomes[("status list", lists["good"])].outcome is Outcome.NEW
    assert outcomes[("status list", lists["foreign"])].outcome is Outcome.FAILED
    assert "unknown_key" in outcomes[("status list", lists["foreign"])].detail
    assert outcomes[("status list", lists["missing"])].outcome is Outcome.FAILED
    assert "HTTP 404" in outcomes[("status list", lists["missing"])].detail
    assert outcomes[("issuer", ids["other"])].outcome is Outcome.FAILED
    assert f"over {MAX_DOCUMENT_BYTES} bytes" in outcomes[("issuer", ids["other"])].detail
    assert outcomes[("issuer", ids["odd"])].outcome is Outcome.FAILED
    assert "other than https URLs" in outcomes[("issuer", ids["odd"])].detail
    assert str(secret) not in {row.source for row in report.rows}
    assert report.failed
    store = TrustStore.load(tmp_path / "store", now=now)
    assert store.status_list_uris == (lists["good"],)


def test_network_errors_are_one_line_without_help_links(
    www: tuple[Path, str], tmp_path: Path
) -> None:
    _, base = www
    anchor = tmp_path / "anchor.jwk"
    anchor.write_bytes(json_dumps(SigningKey.generate().public_key.to_jwk()))
    store = str(tmp_path / "store")
    with socket_closed() as closed:
        for url in (f"{base}/no-such-list.jwt", f"{closed}/trust-list.jwt"):
            done = _sync(url, "--anchor", str(anchor), "--into", store)
            assert done.returncode == 1
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1, done.stderr
            assert lines[0].startswith("sync refused: sync_failed: " + url)
            assert "For more information" not in done.stderr and "mozilla" not in done.stderr


class socket_closed:  # noqa: N801 - used as a context manager
    """A loopback URL whose port nobody listens on."""

    def __enter__(self) -> str:
        import socket

        self._probe = socket.socket()
        self._probe.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        return f"http://127.0.0.1:{self._probe.getsockname()[1]}"

    def __exit__(self, *_exc: object) -> None:
        self._probe.close()
