"""The wallet service's own room: its migrations and version table beside the issuer's in one
database, readiness, the sealing key, settings refused, its metrics and guards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from issuer.db import migrate as migrate_issuer
from issuer.db import schema_state as issuer_schema_state
from keys.sealing import SealingKeyStore
from keys.store import MIN_SCRYPT_N, PASSPHRASE_ENV
from servicekit.db import make_engine
from tests._wallet_service import PASSPHRASE, WalletWorld, wallet_settings, wallet_world
from wallet_api.api.app import create_app
from wallet_api.db import MIGRATIONS, VERSION_TABLE, head_revision, schema_state
from wallet_api.db import migrate as migrate_wallet
from wallet_api.deployment import make_deployment
from wallet_api.models import METADATA
from wallet_api.settings import Settings, SettingsError


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[WalletWorld]:
    yield from wallet_world(database_url, tmp_path)


def test_both_services_migrate_one_database_without_clashing(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate_wallet(engine)
        assert schema_state(engine).at_head
        assert not issuer_schema_state(engine).at_head  # the issuer's table is its own
        migrate_issuer(engine)
        assert issuer_schema_state(engine).at_head
        assert schema_state(engine).current == head_revision() == "0003"
        tables = set(inspect(engine).get_table_names())
        assert {VERSION_TABLE, "alembic_version", "wallet_accounts", "offer"} <= tables
    finally:
        engine.dispose()


def test_ready_needs_the_schema_and_the_sealing_key(database_url: str, tmp_path: Path) -> None:
    settings = wallet_settings(database_url, tmp_path / "data")
    deployment = make_deployment(settings, run_migrations=False)
    try:
        with TestClient(create_app(deployment=deployment)) as http:
            behind = http.get("/ready")
            assert (behind.status_code, behind.json()["error"]) == (503, "temporarily_unavailable")
            assert behind.json()["error_description"] == "not ready: schema_behind"
            migrate_wallet(deployment.engine)
            # A sealing key made under another passphrase does not open with ours.
            SealingKeyStore(settings.sealing_dir, "another passphrase, long enough",
                            scrypt_n=MIN_SCRYPT_N).generate()  # fmt: skip
            assert http.get("/ready").json()["error_description"] == "not ready: sealing_key"
    finally:
        deployment.engine.dispose()


def test_ready_and_metrics(world: WalletWorld) -> None:
    assert world.http.get("/ready").json() == {"status": "ready"}
    world.phone().register()  # its first proof is refused use_dpop_nonce: nonce_missing
    metrics = world.http.get("/metrics").text
    assert 'jigap_wallet_dpop_refusals_total{reason="nonce_missing"}' in metrics
    assert 'jigap_wallet_http_requests_total{method="POST",route="/accounts",status="201"}' in (
        metrics
    )


def test_oversize_and_nul_bodies_are_refused_before_any_route(world: WalletWorld) -> None:
    big = world.http.post("/accounts", content=b"x" * 70_000)
    assert (big.status_code, big.json()["error"]) == (413, "too_large")
    nul = world.http.post(
        "/accounts/recover",
        content=b'{"account_id": "a\x00"}',
        headers={"Content-Type": "application/json"},
    )
    assert nul.status_code == 400


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({PASSPHRASE_ENV: ""}, "JIGAP_KEY_PASSPHRASE is not set"),
        ({"JIGAP_WALLET_HMAC_KEY": ""}, "JIGAP_WALLET_HMAC_KEY is not set"),
        ({"JIGAP_WALLET_HMAC_KEY": "zz"}, "must be hexadecimal"),
        ({"JIGAP_WALLET_HMAC_KEY": "00" * 16}, "at least 32 bytes"),
        ({"JIGAP_WALLET_PUBLIC_URL": "http://wallet.example"}, "https origin"),
        ({"JIGAP_WALLET_PUBLIC_URL": "https://wallet.example/api"}, "without a path"),
    ],
)
def test_unsafe_settings_are_refused(changes: dict[str, str], message: str) -> None:
    env = {
        PASSPHRASE_ENV: PASSPHRASE,
        "JIGAP_WALLET_HMAC_KEY": "ab" * 32,
        "JIGAP_WALLET_PUBLIC_URL": "https://wallet.example",
        **changes,
    }
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_default_database_is_sqlite_in_the_data_dir() -> None:
    env = {PASSPHRASE_ENV: PASSPHRASE, "JIGAP_WALLET_HMAC_KEY": "ab" * 32,
           "JIGAP_WALLET_DATA_DIR": "/srv/wallet"}  # fmt: skip
    assert Settings.from_env(env).database_url == "sqlite:////srv/wallet/wallet.sqlite3"


def test_the_wallet_migrations_match_its_models_and_downgrade_to_nothing(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        migrate_wallet(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, METADATA) == []
        assert not set(SQLModel.metadata.tables) & set(METADATA.tables)  # not the issuer's
        migrate_wallet(engine)  # a second run is a no-op
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {VERSION_TABLE}
    finally:
        engine.dispose()


def test_0003_adds_presentations_beside_what_accounts_already_hold(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate_wallet(engine, "0002")
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO wallet_accounts (id, created_at, device_jkt, device_jwk, "
                    "device_bound_at, recovery_hash, recovery_failures) "
                    "VALUES ('a1', 1, 'jkt', '{}', 1, 'h', 0)"
                )
            )
        migrate_wallet(engine)
        assert schema_state(engine).current == "0003"
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO wallet_presentations (id, account_id, created_at, expires_at, "
                    "step, state, client_id, relying_party_name, purpose_name, credential_type, "
                    "disclosed, request_hash, response_mode) VALUES ('p1', 'a1', 1, 2, 0, "
                    "'asked', 'counter.example', '{}', '{}', 't', '[]', 'h', 'jigap_qr')"
                )
            )
            # The history goes with its account, in the database itself.
            connection.execute(text("DELETE FROM wallet_accounts WHERE id = 'a1'"))
            left = connection.execute(text("SELECT count(*) FROM wallet_presentations"))
            assert left.scalar_one() == 0
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        tables = set(inspect(engine).get_table_names())
        assert "wallet_credentials" in tables
        assert not {"wallet_presentations", "wallet_presentation_requests"} & tables
    finally:
        engine.dispose()
