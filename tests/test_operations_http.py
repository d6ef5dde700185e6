"""Operating a running issuer, over real HTTP to `jigap issuer serve --workers 2`:
``/health``, ``/ready``, ``/metrics`` (the same whichever worker answers), one JSON log line
per request and per event that never carries a secret or a claim, and OpenAPI pages that load
nothing from another host.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from credential_schemas import Registry
from keys.encoding import b64url_decode, json_loads_object
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT
from tests._server import BACKENDS, RunningIssuer, issuer_on_backend
from tests._wallet import Wallet

REGISTRY = Registry.load()
RESIDENT = "resident_register_extract"
WORKERS = 2


@pytest.fixture(scope="module", params=BACKENDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningIssuer]:
    with issuer_on_backend(
        request.param,
        tmp_path_factory.mktemp(request.param),
        workers=WORKERS,
        serve_options=["--log-format", "json"],
    ) as running:
        yield running


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def samples(server: RunningIssuer, name: str) -> list[tuple[dict[str, str], float]]:
    """Every sample named ``name`` in one scrape of ``/metrics`` (a new connection each)."""
    response = httpx.get(f"{server.public_url}/metrics", timeout=10.0)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if sample.name == name
    ]


def value(found: list[tuple[dict[str, str], float]], **labels: str) -> float:
    return sum(v for sample_labels, v in found if labels.items() <= sample_labels.items())


def issue_with_one_wrong_code(server: RunningIssuer, http: httpx.Client) -> dict[str, Any]:
    """A full issuance: offer with a transaction code, one wrong try, then the right one.
    Returns every secret and claim value that went by, for the log test."""
    claims = REGISTRY.get(RESIDENT).examples[0]
    made = http.post(
        f"{server.public_url}/admin/offers",
        json={"credential_type": RESIDENT, "claims": claims, "tx_code": True},
        headers=server.admin(),
    )
    assert made.status_code == 201, made.text
    wallet = Wallet(http, time.time)
    offer = wallet.receive_offer(made.json()["credential_offer_uri"])
    wrong = str((int(made.json()["tx_code"]) + 1) % 10**6).zfill(6)
    assert wallet.token(offer, wrong).json()["error"] == "invalid_grant"
    credentials, _ = wallet.obtain(made.json()["credential_offer_uri"], made.json()["tx_code"])
    return {
        "claims": claims,
        "tx_code": made.json()["tx_code"],
        "offer_uri": made.json()["credential_offer_uri"],
        "offer_id": made.json()["offer_id"],
        "pre_authorized_code": offer["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"],
        "credentials": credentials,
        "admin_token": server.tokens["mois"],
    }


# -- probes -----------------------------------------------------------------------------------


def test_health_and_ready(server: RunningIssuer, http: httpx.Client) -> None:
    health = http.get(f"{server.public_url}/health")
    ready = http.get(f"{server.public_url}/ready")

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert re.fullmatch(r"[0-9a-f]{16}", ready.headers["x-request-id"])
    given = http.get(f"{server.public_url}/health", headers={"X-Request-Id": "proxy-42.a_b"})
    assert given.headers["x-request-id"] == "proxy-42.a_b"


def test_ready_says_503_when_an_agency_has_no_signing_key(
    server: RunningIssuer, http: httpx.Client
) -> None:
    store = server.settings.keys_dir / "mois"
    (key_file,) = store.glob("*.json")
    original = key_file.read_bytes()
    record = json.loads(original)
    record["status"] = "retired"  # retired, and no new key generated: nothing signs
    try:
        key_file.write_text(json.dumps(record), "utf-8")
        # A changed directory makes each worker open the store again (the file's mtime).
        store.touch()
        answers = [http.get(f"{server.public_url}/ready") for _ in range(2 * WORKERS)]
    finally:
        key_file.write_bytes(original)
        store.touch()

    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.json()["error"] == "temporarily_unavailable"
        assert answer.headers["retry-after"].isdigit()
    assert http.get(f"{server.public_url}/ready").status_code == 200


# -- metrics ----------------------------------------------------------------------------------


def test_metrics_count_issuance_refusals_requests_and_signatures(
    server: RunningIssuer, http: httpx.Client
) -> None:
    issued_before = value(
        samples(server, "jigap_credentials_issued_total"), agency="mois", credential_type=RESIDENT
    )
    refused_before = value(samples(server, "jigap_transaction_code_refusals_total"), agency="mois")

    flow = issue_with_one_wrong_code(server, http)
    payload = json_loads_object(b64url_decode(flow["credentials"][0].split("~")[0].split(".")[1]))
    status_uri = payload["status"]["status_list"]["uri"]
    assert http.get(status_uri).status_code == 200

    issued = samples(server, "jigap_credentials_issued_total")
    assert value(issued, agency="mois", credential_type=RESIDENT) == issued_before + 1
    assert value(samples(server, "jigap_offers"), agency="mois", state="issued") >= 1
    refused = samples(server, "jigap_transaction_code_refusals_total")
    assert value(refused, agency="mois") == refused_before + 1
    protocol = samples(server, "jigap_protocol_refusals_total")
    assert value(protocol, route="/agencies/{slug}/token", error="invalid_grant") >= 1
    assert value(samples(server, "jigap_status_list_signatures_total"), agency="mois") >= 1
    requests = samples(server, "jigap_http_requests_total")
    assert value(requests, route="/agencies/{slug}/credential", status="200") >= 1
    latency = samples(server, "jigap_http_request_duration_seconds_count")
    assert value(latency, route="/agencies/{slug}/credential") >= 1
    # Route templates only: no label carries a path with an id in it.
    labels = {sample_labels.get("route", "") for sample_labels, _ in requests}
    assert all(re.fullmatch(r"[A-Za-z0-9_./{}-]*|unmatched", label) for label in labels)
    assert not any(flow["offer_id"] in label for label in labels)


def test_every_worker_answers_the_same_counts(server: RunningIssuer) -> None:
    route = "/health"
    before = value(samples(server, "jigap_http_requests_total"), route=route, status="200")
    calls = 12
    for _ in range(calls):  # a new connection each: the kernel spreads them over the workers
        assert httpx.get(f"{server.public_url}{route}", timeout=10.0).status_code == 200

    scrapes = [
        value(samples(server, "jigap_http_requests_total"), route=route, status="200")
        for _ in range(3 * WORKERS)
    ]

    assert scrapes == [before + calls] * len(scrapes)


# -- logs -------------------------------------------------------------------------------------


def test_logs_are_json_lines_without_secrets_or_claims(
    server: RunningIssuer, http: httpx.Client
) -> None:
    flow = issue_with_one_wrong_code(server, http)
    listed = http.get(
        f"{server.public_url}/admin/credentials", params={"limit": 1000}, headers=server.admin()
    )
    newest = max(listed.json(), key=lambda row: row["id"])
    revoked = http.post(
        f"{server.public_url}/admin/credentials/{newest['id']}/revoke",
        json={"reason": "reissued"},
        headers=server.admin(),
    )
    assert revoked.status_code == 200, revoked.text
    time.sleep(0.5)  # the workers' last lines reach the file

    text = server.log.read_text("utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert requests, text[-2000:]
    for line in requests:
        assert {"request_id", "method", "route", "status", "duration_ms", "time"} <= set(line)
    routes = {line["route"] for line in requests}
    assert {"/admin/offers", "/agencies/{slug}/token", "/agencies/{slug}/credential"} <= routes
    events = {line.get("event") for line in lines}
    assert {
        "credentials_issued",
        "transaction_code_refused",
        "credential_status_changed",
        "key_ready",
    } <= events
    # Nothing a citizen or an agency must keep secret, nor any claim value, is in the log.
    secrets = [
        flow["tx_code"],
        flow["pre_authorized_code"],
        flow["admin_token"],
        flow["offer_id"],
        *(credential.split("~")[0].split(".")[1] for credential in flow["credentials"]),
        server.settings.key_passphrase,
        server.settings.hmac_key.hex(),
    ]
    secrets += [str(v) for v in _leaves(flow["claims"]) if len(str(v)) >= 4]
    for secret in secrets:
        assert secret not in text, f"found in the log: {secret[:8]}…"


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    else:
        yield value


# -- OpenAPI pages with no internet -----------------------------------------------------------


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_openapi_pages_load_nothing_from_another_host(
    server: RunningIssuer, http: httpx.Client, page: str
) -> None:
    html = http.get(f"{server.public_url}{page}")

    assert html.status_code == 200
    assert "text/html" in html.headers["content-type"]
    references = re.findall(r"""(?:src|href|url)\s*[=:(]\s*['"]([^'"]+)['"]""", html.text)
    assert references
    assert not re.search(r"https?://|//[a-z0-9.-]+\.[a-z]{2,}/", html.text, re.IGNORECASE)
    for reference in references:
        assert reference.startswith("/"), reference
        assert http.get(f"{server.public_url}{reference}").status_code == 200, reference
