"""Every operation of the wallet service's OpenAPI document, fuzzed by schemathesis: no 5xx.

Each call is made in-process by a freshly registered phone with a valid DPoP proof for the
case's method and path (and the service's current nonce), so that the fuzzed bodies get past
authentication and reach the handlers. Examples per operation are bounded and generated
derandomized, so a run is repeatable.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.checks import not_a_server_error

from tests._wallet_service import WalletWorld, wallet_settings, wallet_world
from wallet_api.api.app import create_app
from wallet_api.deployment import make_deployment

MAX_EXAMPLES = 25
pytestmark = pytest.mark.slow


def served_document() -> dict[str, Any]:
    """The service's OpenAPI document; the in-memory database behind it is never opened."""
    deployment = make_deployment(wallet_settings("sqlite://", Path("unused")), run_migrations=False)
    document: dict[str, Any] = create_app(deployment=deployment).openapi()
    deployment.engine.dispose()
    return document


schema = schemathesis.openapi.from_dict(served_document())
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WalletWorld]:
    directory = tmp_path_factory.mktemp("wallet-openapi")
    yield from wallet_world(f"sqlite:///{directory / 'wallet.sqlite3'}", directory)


@pytest.fixture(scope="module")
def app(world: WalletWorld) -> FastAPI:
    return world.http.app  # type: ignore[return-value]


def test_the_document_fuzzed_is_the_one_served(app: FastAPI) -> None:
    assert app.openapi() == schema.raw_schema
    assert {"/accounts", "/accounts/me", "/accounts/recover"} <= set(schema.raw_schema["paths"])


@schema.parametrize()
def test_no_operation_answers_with_a_server_error(
    case: Any, app: FastAPI, world: WalletWorld
) -> None:
    phone = world.phone()
    phone.register()
    case.call_and_validate(
        app=app,
        headers={"DPoP": phone.proof(case.method, case.formatted_path)},
        checks=[not_a_server_error],
    )
