"""servicekit stands alone: a service built from it, with none of the issuer, gets the same
guards, error shape, telemetry and migrations the issuer has (what the wallet service reuses).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import inspect
from sqlalchemy.exc import OperationalError

from servicekit.body_limit import BodyLimit
from servicekit.db import head_revision, make_engine, migrate, schema_state
from servicekit.http_errors import install_service_error_handlers
from servicekit.metrics import http_metrics
from servicekit.telemetry import RequestTelemetry
from servicekit.text_guard import TextGuard
from servicekit.timeouts import BodyTimeout

LIMIT = 64
METRICS = http_metrics("kit_test")


def _service() -> FastAPI:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.get("/outage")
    def outage() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    install_service_error_handlers(app, logger_name="jigap.kit_test.errors")
    app.add_middleware(BodyLimit, limit=LIMIT)
    app.add_middleware(TextGuard)
    app.add_middleware(BodyTimeout, env_prefix="JIGAP_KIT_TEST_")
    app.add_middleware(RequestTelemetry, metrics=METRICS, logger_name="jigap.kit_test.requests")
    return app


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(_service(), raise_server_exceptions=False)


def test_a_body_within_the_limit_reaches_the_route(client: TestClient) -> None:
    answer = client.post("/echo", content=b"x" * LIMIT)
    assert answer.status_code == 200
    assert answer.json() == {"received": LIMIT}


def test_a_body_over_the_limit_is_refused_413_declared_or_streamed(client: TestClient) -> None:
    declared = client.post("/echo", content=b"x" * (LIMIT + 1))
    streamed = client.post("/echo", content=iter([b"x" * LIMIT, b"x"]))
    for answer in (declared, streamed):
        assert answer.status_code == 413
        assert answer.json()["error"] == "too_large"


def test_a_nul_in_the_body_or_url_is_refused_400(client: TestClient) -> None:
    for answer in (
        client.post("/echo", content=b'{"a": "\\u0000"}'),
        client.post("/echo?q=%00", content=b"{}"),
    ):
        assert answer.status_code == 400
        assert answer.json()["error"] == "invalid_request"


def test_a_database_outage_is_503_with_retry_after(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="jigap.kit_test.errors"):
        answer = client.get("/outage")
    assert answer.status_code == 503
    assert answer.json()["error"] == "temporarily_unavailable"
    assert answer.headers["Retry-After"] == "5"
    assert [record.route for record in caplog.records] == ["/outage"]  # type: ignore[attr-defined]


def test_unknown_paths_get_the_same_error_shape(client: TestClient) -> None:
    answer = client.get("/nowhere")
    assert answer.status_code == 404
    assert answer.json()["error"] == "not_found"


def test_requests_are_counted_under_the_services_prefix(client: TestClient) -> None:
    answer = client.post("/echo", content=b"{}")
    assert answer.headers["x-request-id"]
    registry = CollectorRegistry()
    for collector in METRICS.collectors:
        registry.register(collector)
    text = generate_latest(registry).decode()
    assert 'kit_test_http_requests_total{method="POST",route="/echo",status="200"}' in text
    assert "kit_test_http_request_duration_seconds_bucket" in text


_ENV = """
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None)
with context.begin_transaction():
    context.run_migrations()
"""
_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "k0001"
down_revision = None


def upgrade() -> None:
    op.create_table("kit_thing", sa.Column("id", sa.Integer, primary_key=True))
"""


def test_a_services_own_migrations_directory_is_run_and_tracked(tmp_path: Path) -> None:
    migrations = tmp_path / "migrations"
    (migrations / "versions").mkdir(parents=True)
    (migrations / "env.py").write_text(_ENV)
    (migrations / "versions" / "k0001_thing.py").write_text(_REVISION)
    engine = make_engine(f"sqlite:///{tmp_path / 'kit.sqlite3'}")

    before = schema_state(engine, migrations)
    assert (before.current, before.behind) == (None, True)
    migrate(engine, migrations)

    after = schema_state(engine, migrations)
    assert after.at_head
    assert head_revision(migrations) == "k0001"
    assert "kit_thing" in inspect(engine).get_table_names()
    assert (tmp_path / "kit.sqlite3").stat().st_mode & 0o777 == 0o600
    engine.dispose()
