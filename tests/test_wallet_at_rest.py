"""What the wallet leaves on disk: the raw database (the SQLite file and its WAL, or a
``pg_dump`` of the wallet's tables) holds no claim value of any credential received, no
disclosure, and none of the codes and tokens of an issuance under way; the log holds none of
them either; and the files a deployment writes are its owner's alone.

The claim values are looked for as the bytes a careless store would leave: UTF-8, the JSON
escapes a JSON column writes (``\\ud64d``), those escapes as ``pg_dump``'s COPY text doubles
their backslashes, and hex (how ``pg_dump`` writes ``bytea``).
"""

from __future__ import annotations

import json
import logging
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import select

from keys.encoding import json_loads_object
from keys.jwk import SigningKey
from keys.store import MIN_SCRYPT_N
from servicekit.db import session_scope
from tests import _two_services
from tests._issuer import postgres_url
from tests._issuer_client import RESIDENT, pre_authorized_code
from tests._two_services import Pair
from tests._wallet_server import jigap_wallet, running_wallet
from tests._wallet_service import PASSPHRASE
from verifier.sd_jwt import decode_disclosures, split_compact
from wallet_api.holder.client import WalletClient
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.models import METADATA, Intake
from wallet_api.sealed import intake_context

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures

_MIN_ASCII_LENGTH = 8  # shorter ASCII values ("male", "self") say nothing found in a file


def _leaves(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)


def _forms(value: str) -> set[bytes]:
    """``value`` as each encoding a database or its dump could hold it in."""
    escaped = json.dumps(value)[1:-1]  # ASCII escapes, as SQLAlchemy's JSON type writes
    utf8 = value.encode("utf-8")
    return {utf8, escaped.encode(), escaped.replace("\\", "\\\\").encode(), utf8.hex().encode()}


def _claim_values(claims: dict[str, Any]) -> set[str]:
    return {
        leaf for leaf in _leaves(claims) if len(leaf) >= _MIN_ASCII_LENGTH or not leaf.isascii()
    }


def _distinctive_claims(pair: Pair) -> dict[str, Any]:
    """The registry's second example, with values found nowhere else."""
    example = dict(pair.issuer.deployment.registry.get(RESIDENT).examples[1])
    return {
        **example,
        "address": "제주특별자치도 서귀포시 칠십리로 2468",
        "document_number": "4242-1717-2323-9191",
    }


def _received(pair: Pair, phone: WalletClient) -> tuple[set[str], set[str]]:
    """Two credentials received, an offer handed over and one deferred: the claim values
    (as offered) and the secrets (codes, tokens, disclosures, the credentials' signatures)."""
    default = pair.issuer.deployment.registry.get(RESIDENT).examples[0]
    custom = _distinctive_claims(pair)
    secrets: set[str] = set()
    for claims in (None, custom):
        offer = pair.offer(claims=claims)
        secrets.add(pre_authorized_code(offer))
        phone.receive(offer["credential_offer_reference_uri"], tx_code=offer["tx_code"], copies=3)
    offered = pair.offer(claims=custom)
    phone.hand_over(offered["credential_offer_reference_uri"])
    deferred = pair.offer(approval_required=True)
    answer = phone.receive(
        deferred["credential_offer_reference_uri"], tx_code=deferred["tx_code"], copies=1
    )
    assert answer["state"] == "deferred"
    secrets |= {pre_authorized_code(offered), pre_authorized_code(deferred)}
    # What each intake keeps sealed: the access token, the deferred transaction id.
    with session_scope(pair.wallet.engine) as session:
        for intake in session.exec(select(Intake)):
            state = json_loads_object(
                pair.wallet.sealer.open(intake.sealed_state, context=intake_context(intake.id))
            )
            secrets |= {v for v in (state.get("code"), state.get("access_token")) if v}
            if state.get("pending") and state["pending"].get("transaction_id"):
                secrets.add(state["pending"]["transaction_id"])
    assert len([s for s in secrets if s]) >= 4 + 3  # four codes, three tokens, a transaction
    # Every copy as stored, through the export: its disclosures and its signature.
    for credential in phone.export()["credentials"]:
        for copy in credential["copies"]:
            sd_jwt = split_compact(copy["sd_jwt_vc"])
            _header, payload, signature = sd_jwt.issuer_jwt.split(".")
            secrets |= {payload, signature, *sd_jwt.disclosures}
            secrets |= {d.digest for d in decode_disclosures(sd_jwt.disclosures).values()}
    return _claim_values({"a": default, "b": custom}), secrets


def _found(raw: bytes, values: set[str], *, claims: bool) -> list[str]:
    if claims:
        return sorted(v for v in values if any(form in raw for form in _forms(v)))
    return sorted(v for v in values if v.encode() in raw or v.encode().hex().encode() in raw)


def _sqlite_bytes(pair: Pair) -> bytes:
    """The database file and its WAL as written, then the file again once the WAL is folded
    into it: every page the wallet wrote, wherever it is now."""
    path = Path(make_url(pair.wallet.settings.database_url).database or "")
    files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    connection = sqlite3.connect(path, isolation_level=None)  # outside any transaction
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
    finally:
        connection.close()
    assert busy == 0
    return raw + path.read_bytes()


def _pg_dump(pair: Pair) -> bytes:
    """``pg_dump`` of the wallet's tables in the test's schema (the issuer shares it)."""
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.fail("pg_dump is not installed: the PostgreSQL case reads the database with it")
    with pair.wallet.engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    server = postgres_url()
    assert server is not None
    libpq = make_url(server).set(drivername="postgresql", query={})
    dumped = subprocess.run(
        [pg_dump, "--dbname", libpq.render_as_string(hide_password=False),
         "--table", f"{schema}.wallet_*"],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr.decode(errors="replace")
    for table in METADATA.sorted_tables:  # every table of the wallet's, and only those
        assert f"COPY {schema}.{table.name} ".encode() in dumped.stdout, table.name
    return dumped.stdout


def test_the_raw_database_holds_no_claim_value_and_no_secret(
    pair: Pair, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = pair.registered_phone()
    claim_values, secrets = _received(pair, phone)
    assert {"850315-1012348", "홍길동", "4242-1717-2323-9191"} <= claim_values
    [first, *_] = phone.credentials()
    raw = _pg_dump(pair) if pair.wallet.engine.dialect.name == "postgresql" else _sqlite_bytes(pair)
    # The reading is of the right thing: the wallet's clear columns are in it.
    assert first["credential_id"].encode() in raw and first["vct"].encode() in raw
    assert _found(raw, claim_values, claims=True) == []
    assert _found(raw, secrets, claims=False) == []
    # What shows the credential still reads the values: they are sealed, not lost.
    shown = phone.credential(first["credential_id"])
    assert set(_leaves([row["value"] for row in shown["claims"]])) & claim_values
    logged = "\n".join(repr(vars(record)) + record.getMessage() for record in caplog.records)
    logged_bytes = logged.encode("utf-8")
    assert _found(logged_bytes, claim_values, claims=True) == []
    assert _found(logged_bytes, secrets, claims=False) == []


# -- the files of a deployment ----------------------------------------------------------------


def _modes(data_dir: Path, *, besides: frozenset[str] = frozenset()) -> dict[str, int]:
    modes = {".": stat.S_IMODE(data_dir.stat().st_mode)}
    for path in sorted(data_dir.rglob("*")):
        name = str(path.relative_to(data_dir))
        if name not in besides:
            modes[name] = stat.S_IMODE(path.stat().st_mode)
    return modes


@pytest.mark.slow
def test_a_served_wallets_files_are_its_owners_alone(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_wallet(data_dir, f"sqlite:///{data_dir / 'wallet.sqlite3'}") as wallet:
        keys = DeviceKeys(tmp_path / "phone", PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
        with WalletClient(wallet.public_url, keys) as phone:
            phone.register()  # a write: the WAL and its index exist now
            phone.credentials()
        modes = _modes(data_dir, besides=frozenset({"server.log"}))  # the test's own log
    assert {"wallet.sqlite3", "wallet.sqlite3-wal", "wallet.sqlite3-shm"} <= set(modes)
    directories = {name for name in modes if (data_dir / name).is_dir()}
    assert {name: modes[name] for name in directories} == dict.fromkeys(directories, 0o700)
    files = set(modes) - directories
    assert {name: modes[name] for name in files} == dict.fromkeys(files, 0o600)


def test_init_with_a_trust_list_pins_the_anchor_in_an_owner_only_directory(
    tmp_path: Path,
) -> None:
    anchor = tmp_path / "anchor.jwk"
    anchor.write_text(json.dumps(SigningKey.generate().public_key.to_jwk()))
    data_dir = tmp_path / "data"
    init = jigap_wallet(
        "init", "--data-dir", str(data_dir),
        "--trust-list", "http://127.0.0.1:9/trust-list.jwt", "--anchor", str(anchor),
    )  # fmt: skip
    assert init.returncode == 0, init.stderr
    modes = _modes(data_dir)
    # The anchor is a public key, readable by all, in a directory only the owner enters.
    assert modes.pop("trust/anchor.jwk") == 0o644
    directories = {name for name in modes if (data_dir / name).is_dir()}
    assert directories == {".", "sealing", "trust"}
    assert {name: modes[name] for name in directories} == dict.fromkeys(directories, 0o700)
    files = set(modes) - directories
    assert "wallet.sqlite3" in files and "wallet.env" in files
    assert {name: modes[name] for name in files} == dict.fromkeys(files, 0o600)


_LOGGING_SCRIPT = """
import logging, httpx
from wallet_api.observability import configure_logging
configure_logging()
logging.getLogger("jigap.wallet").info("configured")
def answer(request): return httpx.Response(200, json={})
with httpx.Client(transport=httpx.MockTransport(answer)) as client:  # the wallet's HTTP client
    client.get("http://127.0.0.1:8000/agencies/mois/credential-offers/OFFER_ID")
"""


def test_the_service_log_never_shows_the_url_of_an_offer() -> None:
    """An offer's reference URL answers its pre-authorized code: the wallet fetches it, and the
    HTTP client's own INFO line (every request's URL) must not carry it into the log. Run in a
    process of its own: the service's logging is set up as `jigap wallet serve` sets it."""
    offer_id = "Wk3offerIdNeverLogged"
    ran = subprocess.run(
        [sys.executable, "-c", _LOGGING_SCRIPT.replace("OFFER_ID", offer_id)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "configured" in ran.stderr  # the service's own lines do reach the log
    assert offer_id not in ran.stderr
