"""A NUL character anywhere in a request is bad input (400 invalid_request), on every route.

PostgreSQL cannot store U+0000 in text or JSON: a NUL reaching a query was a 500 on a dozen
routes. Every route of the app (enumerated from the app itself, so a new one is covered
without editing this file) is sent a NUL in each path parameter, in its query, and in JSON
and form bodies, over real HTTP to `jigap issuer serve` on PostgreSQL. Then the parts that
stream (bulk uploads), what must still pass (an escaped backslash before ``u0000``), and the
scanner's handling of a body split anywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from issuer.api import create_app
from issuer.api.app import make_deployment
from issuer.models import Offer
from servicekit.text_guard import NulScanner
from tests._issuer import IssuerWorld, make_settings
from tests._issuer_client import RESIDENT, admin, client, create_offer, rows, world
from tests._server import RunningIssuer, backend_database_url, running_issuer

__all__ = ["client", "world"]  # fixtures

NUL_TEXT = "a\x00b"
# A benign value for each path parameter, so that only the NUL under test is wrong.
BENIGN = {"slug": "mois", "credential_id": "1", "list_id": "1", "action": "revoke"}
JSON_BODY = b'{"credential_type": "x", "claims": {"nested": [{"k\\u0000": "v"}]}}'
FORM_BODY = b"grant_type=x&tx_code=12%0034"
CSV_BODY = b"subject,na\x00me\r\nx,y\r\n"


def _app_routes() -> list[tuple[str, str, list[str], list[str], list[str]]]:
    """(method, path, path parameters, query parameters, body media types) of every route
    the app serves: its OpenAPI operations, and the routes it leaves out of them."""
    settings = make_settings("sqlite://", Path("unused"), "http://127.0.0.1:1")  # never opened
    app = create_app(deployment=make_deployment(settings, run_migrations=False))
    found = []
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            parameters = operation.get("parameters", [])
            found.append(
                (
                    method.upper(),
                    path,
                    [p["name"] for p in parameters if p["in"] == "path"],
                    [p["name"] for p in parameters if p["in"] == "query"],
                    list(operation.get("requestBody", {}).get("content", {})),
                )
            )
    for route in app.routes:  # the documentation's own routes (/openapi.json, /docs, ...)
        if isinstance(route, Route) and not route.include_in_schema:
            parameters = list(route.param_convertors)
            found += [(m, route.path, parameters, [], []) for m in route.methods or ()]
    return found


def _cases() -> Iterator[Any]:
    for method, path, path_params, query_params, media_types in _app_routes():
        if method == "HEAD":
            continue
        for name in path_params:
            yield pytest.param(method, path, name, None, None, id=f"{method} {path} path:{name}")
        for name in query_params or ["nul"]:
            yield pytest.param(method, path, None, name, None, id=f"{method} {path} query:{name}")
        if method != "POST":
            continue
        bodies = {"application/json": JSON_BODY, "application/x-www-form-urlencoded": FORM_BODY}
        if "text/csv" in media_types:
            bodies = {"text/csv": CSV_BODY}
        for media_type, body in bodies.items():
            yield pytest.param(
                method, path, None, None, (media_type, body), id=f"{method} {path} {media_type}"
            )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningIssuer]:
    directory = tmp_path_factory.mktemp("nul")
    with (
        backend_database_url("postgresql", directory) as database_url,
        running_issuer(directory / "data", database_url) as running,
    ):
        yield running


@pytest.mark.postgres
@pytest.mark.parametrize(("method", "path", "in_path", "in_query", "body"), list(_cases()))
def test_a_nul_anywhere_is_refused_on_every_route(
    server: RunningIssuer,
    method: str,
    path: str,
    in_path: str | None,
    in_query: str | None,
    body: tuple[str, bytes] | None,
) -> None:
    names = re.findall(r"{(\w+)}", path)
    values = {name: quote(BENIGN.get(name, "x"), safe="") for name in names}
    if in_path is not None:
        values[in_path] = quote(NUL_TEXT, safe="")
    url = server.public_url + path.format(**values)
    # Required query parameters get a benign value; the one under test, the NUL.
    params = {"credential_type": RESIDENT} if "/offers/bulk" in path else {}
    if in_query is not None:
        params[in_query] = NUL_TEXT
    headers = server.admin()
    content = None
    if body is not None:
        headers["Content-Type"], content = body

    response = httpx.request(method, url, params=params, content=content, headers=headers)

    if body is not None and response.status_code != 400:
        # A route that reads no body (the nonce endpoint, approve, deny) stores none of it:
        # it answers the same to the same body without the NUL.
        assert content is not None
        clean = content.replace(b"\\u0000", b"0").replace(b"%00", b"0").replace(b"\x00", b"0")
        same = httpx.request(method, url, params=params, content=clean, headers=headers)
        assert same.status_code == response.status_code, (response.text, same.text)
        return
    assert response.status_code == 400, (response.status_code, response.text)
    assert response.json()["error"] == "invalid_request"
    assert set(response.json()) == {"error", "error_description"}
    assert "no-store" in response.headers["cache-control"]


def test_every_route_is_covered() -> None:
    covered = {(method, path) for method, path, *_ in _app_routes()}
    # The API's own routes are among them (a sample: the app's route table decides).
    assert ("POST", "/admin/offers") in covered
    assert ("POST", "/agencies/{slug}/credential") in covered
    assert ("GET", "/agencies/{slug}/status-lists/{list_id}") in covered
    assert ("GET", "/openapi.json") in covered


# --- in-process, on both backends ---------------------------------------------------------------


def test_a_nul_in_a_nested_claim_key_stores_nothing(client: TestClient, world: IssuerWorld) -> None:
    claims = dict(world.deployment.registry.get(RESIDENT).examples[0])
    claims["address_history"] = [{"addr\u0000ess": "x"}]
    response = client.post(
        "/admin/offers",
        content=json.dumps({"credential_type": RESIDENT, "claims": claims}).encode(),
        headers=admin(world) | {"Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert rows(world, Offer) == []


def test_an_escaped_backslash_before_u0000_is_no_nul(
    client: TestClient, world: IssuerWorld
) -> None:
    # JSON "\\u0000" is a backslash and five characters: storable text, accepted.
    created = create_offer(client, world, subject="C:\\u0000 not a NUL")
    assert created["offer_id"]


def test_a_nul_in_a_bulk_upload_breaks_it_off_where_it_was_read(
    client: TestClient, world: IssuerWorld
) -> None:
    good = dict(world.deployment.registry.get(RESIDENT).examples[0])
    lines = [json.dumps({"claims": good})] * 3 + [
        json.dumps({"claims": good | {"name": "ab\u0000"}}),  # json.dumps writes \u0000
        json.dumps({"claims": good}),
    ]
    response = client.post(
        "/admin/offers/bulk",
        params={"credential_type": RESIDENT},
        content=iter([(line + "\n").encode() for line in lines]),  # as it streams
        headers=admin(world) | {"Content-Type": "application/x-ndjson"},
    )
    # The answer had begun: the upload reports it, like an upload over its size. Rows before
    # the one named are offers; from it on nothing was read: the agency resumes there.
    assert response.status_code == 200, response.text
    *created, refused, summary = [json.loads(line) for line in response.text.splitlines()]
    assert refused["error"] == "invalid_request"
    assert "NUL" in refused["error_description"]
    assert [row["row"] for row in created] == list(range(1, refused["row"]))
    assert refused["row"] <= 4
    assert summary["summary"]["complete"] is False
    assert len(rows(world, Offer)) == len(created)


# --- the scanner, on bodies split anywhere ------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "form", "has_nul"),
    [
        (b'{"a": "x\\u0000"}', False, True),
        (b'{"a": "x\\\\u0000"}', False, False),  # an escaped backslash, then text
        (b'{"a": "x\\\\\\u0000"}', False, True),
        (b'{"a": "\\\\\\\\\\\\u0000"}', False, False),
        (b'{"a": "u0000 %00"}', False, False),
        (b'{"a": "x\x00"}', False, True),
        (b"a=%00", True, True),
        (b"a=%2500&b=\\u0000", True, False),
        (b"a,b\r\nx\x00,y", False, True),
    ],
)
def test_the_scanner_finds_a_nul_wherever_the_body_is_split(
    body: bytes, form: bool, has_nul: bool
) -> None:
    for first in range(len(body) + 1):
        for second in range(first, len(body) + 1):
            scanner = NulScanner(form=form)
            parts = (body[:first], body[first:second], body[second:])
            assert any(scanner.feed(part) for part in parts) is has_nul, (body, first, second)
