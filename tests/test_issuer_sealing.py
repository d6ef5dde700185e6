"""Personal data at rest: offer claims (and credentials kept for a lost answer) are sealed.

The sealing core (``keys.sealing``) on its own, then the issuer's database read raw: the
SQLite file with its ``-wal`` and ``-shm``, or ``pg_dump`` of the test's PostgreSQL schema,
after offers are made and issued, holds no claim value.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from credential_schemas import Registry
from issuer.api import create_app
from issuer.api.app import make_deployment
from issuer.cli import read_env_file
from issuer.db import migrate
from issuer.models import Offer, OfferState
from issuer.services.deployment import SEALING_KEYS, Deployment
from issuer.services.offers import offer_claims, pre_authorized_code, seal_legacy_claims
from issuer.settings import ENV_PREFIX, Settings
from issuer.tokens import token_hash
from keys.encoding import b64url_decode
from keys.errors import KeyErrorCode, KeyStoreError
from keys.jwk import SigningKey
from keys.sealing import SealingKeyStore
from keys.store import FileKeyStore
from protocols.oid4vci import PRE_AUTHORIZED_CODE_GRANT, make_jwt_proof
from servicekit.db import make_engine, session_scope
from tests import _issuer_client
from tests._issuer import FAST_SCRYPT, PASSPHRASE, IssuerWorld, make_settings
from tests._issuer_client import (
    PUBLIC_URL,
    RESIDENT,
    create_offer,
    issue,
    offer_row,
    post_token,
    redeemed,
)
from tests._server import JIGAP
from verifier.sd_jwt import split_compact

world, client = _issuer_client.world, _issuer_client.client  # fixtures

# Claim values no other row holds: found in the raw database only if stored in the clear.
SECRET_NAME = "김비밀"
SECRET_ADDRESS = "부산광역시 해운대구 비밀로 77"
RRN = "850315-1012348"  # valid check digit; also the registry example's


def _claims() -> dict[str, object]:
    claims = dict(Registry.load().get(RESIDENT).examples[0])
    claims.update(name=SECRET_NAME, household_head_name=SECRET_NAME, address=SECRET_ADDRESS)
    return claims


def _needles(*values: str) -> list[bytes]:
    """Each value as UTF-8 and as a JSON \\u escape (how a JSON column may store it)."""
    found: list[bytes] = []
    for value in values:
        found += [value.encode("utf-8"), json.dumps(value).strip('"').encode("ascii")]
    return found


# --- the core ---------------------------------------------------------------------------------


def _store(tmp_path: Path, passphrase: str = PASSPHRASE) -> SealingKeyStore:
    return SealingKeyStore(tmp_path / "sealing", passphrase, scrypt_n=FAST_SCRYPT)


def test_a_sealed_record_opens_only_for_its_own_context(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    blob = sealer.seal(RRN.encode(), context="offer-claims\x00A")
    assert RRN.encode() not in blob
    assert sealer.open(blob, context="offer-claims\x00A") == RRN.encode()
    # Moved to another row, or read for another purpose: refused, not opened.
    for context in ("offer-claims\x00B", "issued-credentials\x00A"):
        with pytest.raises(KeyStoreError) as refused:
            sealer.open(blob, context=context)
        assert refused.value.code is KeyErrorCode.KEY_STORE


def test_a_fresh_data_key_per_record(tmp_path: Path) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    one, two = (sealer.seal(b"same", context="c") for _ in range(2))
    assert one[1:23] == two[1:23]  # one master key id...
    assert one[23:] != two[23:]  # ...but nothing else shared: a new data key and nonces


@pytest.mark.parametrize(
    "where", [0, 5, 30, 80, -1], ids=["version", "key-id", "wrapped", "iv", "tag"]
)
def test_a_damaged_blob_is_refused(tmp_path: Path, where: int) -> None:
    sealer = _store(tmp_path).sealer(create=True)
    blob = bytearray(sealer.seal(b"claims", context="c"))
    blob[where] ^= 0x01
    with pytest.raises(KeyStoreError):
        sealer.open(bytes(blob), context="c")
    with pytest.raises(KeyStoreError):
        sealer.open(bytes(blob[:40]), context="c")  # truncated


def test_the_master_key_rotates_and_old_records_still_open(tmp_path: Path) -> None:
    store = _store(tmp_path)
    sealer = store.sealer(create=True)
    old_blob = sealer.seal(b"before", context="c")
    old_key = sealer.active_key_id
    # Rotated by another process: this sealer reads the store again for a key it lacks.
    new_key = _store(tmp_path).generate()
    assert new_key != old_key
    other = _store(tmp_path).sealer()
    new_blob = other.seal(b"after", context="c")
    assert new_blob[1:23].decode() == new_key
    assert other.open(old_blob, context="c") == b"before"
    assert sealer.open(new_blob, context="c") == b"after"


def test_master_keys_are_owner_only_and_need_the_passphrase(tmp_path: Path) -> None:
    store = _store(tmp_path)
    key_id = store.generate()
    path = tmp_path / "sealing" / f"{key_id}.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = json.loads(path.read_text())
    assert set(record) == {"format", "id", "created_at", "status", "kdf", "check", "wrapped"}
    with pytest.raises(KeyStoreError) as wrong:
        _store(tmp_path, "not the passphrase").sealer()
    assert wrong.value.code is KeyErrorCode.WRONG_PASSPHRASE
    with pytest.raises(KeyStoreError) as wrong:
        _store(tmp_path, "not the passphrase").generate()  # nor a second key beside them
    assert wrong.value.code is KeyErrorCode.WRONG_PASSPHRASE


def test_a_blob_moved_to_another_offer_does_not_open(
    client: TestClient, world: IssuerWorld
) -> None:
    one = create_offer(client, world, claims=_claims())
    two = create_offer(client, world)
    moved = offer_row(world, one["offer_id"]).sealed_claims
    with session_scope(world.deployment.engine) as session:
        row = session.get(Offer, two["offer_id"])
        assert row is not None
        row.sealed_claims = moved
        session.add(row)
    assert offer_claims(world.deployment, offer_row(world, one["offer_id"]))["name"] == SECRET_NAME
    with pytest.raises(KeyStoreError):
        offer_claims(world.deployment, offer_row(world, two["offer_id"]))


# --- the database, read raw -------------------------------------------------------------------


def _raw_database(world: IssuerWorld) -> bytes:
    return _raw(world.settings.database_url)


def _raw(url: str) -> bytes:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        return b"".join(file.read_bytes() for file in files if file.exists())
    return _pg_dump(url)


def _pg_dump(url: str) -> bytes:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        pytest.skip("pg_dump is not installed")
    parts = urlsplit(url)
    options = unquote(parse_qs(parts.query)["options"][0])
    schema = options.removeprefix("-csearch_path=")
    server = f"postgresql://{parts.netloc}{parts.path}"
    dumped = subprocess.run(
        [pg_dump, "--data-only", f"--schema={schema}", "--dbname", server],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert b"COPY " in dumped and b".offer " in dumped  # the dump is of this schema's rows
    return dumped


def test_the_raw_database_holds_no_claim_value(client: TestClient, world: IssuerWorld) -> None:
    pending = create_offer(client, world, claims=_claims())  # waiting for its wallet
    stuck = redeemed(client, world, claims=_claims())  # redeemed, credentials not yet issued
    issued = issue(client, world, claims=_claims())  # kept, sealed, for a lost answer
    assert offer_row(world, pending["offer_id"]).sealed_claims is not None
    assert offer_row(world, stuck.offer_id).state == OfferState.REDEEMED
    raw = _raw_database(world)
    for needle in _needles(RRN, SECRET_NAME, SECRET_ADDRESS):
        assert needle not in raw, needle
    # The credentials kept for re-delivery carry the claims as disclosures: sealed too.
    for disclosure in split_compact(issued.credentials[0]).disclosures:
        assert disclosure.encode("ascii") not in raw
    if world.settings.database_url.startswith("sqlite"):
        world.deployment.engine.dispose()  # the WAL folded into the file: still nothing
        raw = _raw_database(world)
        assert not any(needle in raw for needle in _needles(RRN, SECRET_NAME, SECRET_ADDRESS))


# --- offers made before migration 0003 --------------------------------------------------------


def test_plain_claims_from_before_0003_are_sealed_at_start_up_and_still_issue(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path / "data", PUBLIC_URL)
    engine = make_engine(database_url)
    migrate(engine, "0002")
    deployment = Deployment(settings=settings, engine=engine, registry=Registry.load())
    FileKeyStore(settings.keys_dir / "mois", PASSPHRASE, scrypt_n=FAST_SCRYPT).generate()
    SealingKeyStore(deployment.sealing_keys_dir, PASSPHRASE, scrypt_n=FAST_SCRYPT).generate()
    now = deployment.now()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agency (slug, name_ko, name_en, credential_types, created_at) "
                "VALUES ('mois', '행정안전부', 'Ministry', :types, :now)"
            ),
            {"types": json.dumps([RESIDENT]), "now": now},
        )
        agency_id = connection.execute(text("SELECT id FROM agency")).scalar_one()
        for offer_id, state in (("pending", "offered"), ("gone", "dead")):
            connection.execute(
                text(
                    "INSERT INTO offer (id, agency_id, credential_type, claims, subject_hash, "
                    "pre_authorized_code_hash, tx_code_attempts_left, state, approval, "
                    "created_at, expires_at) VALUES (:id, :agency, :type, :claims, 'h', "
                    ":code, 0, :state, 'approved', :now, :expires)"
                ),
                {
                    "id": offer_id,
                    "agency": agency_id,
                    "type": RESIDENT,
                    "claims": json.dumps(_claims()),
                    "code": token_hash(pre_authorized_code(deployment, offer_id)),
                    "state": state,
                    "now": now,
                    "expires": now + 900,
                },
            )
    migrate(engine)  # 0003 adds the sealed column; it has no key to seal with
    plain = text("SELECT COUNT(*) FROM offer WHERE claims IS NOT NULL")
    with engine.connect() as connection:
        assert connection.execute(plain).scalar_one() == 2
    # The raw reading finds plain claims where they are (so its finding none below counts).
    assert _needles(RRN)[0] in _raw(database_url)

    assert seal_legacy_claims(deployment) == 1  # the pending one; the dead one is dropped
    assert seal_legacy_claims(deployment) == 0
    with engine.connect() as connection:
        assert connection.execute(plain).scalar_one() == 0
    with session_scope(engine) as session:
        gone = session.get(Offer, "gone")
        assert gone is not None and gone.sealed_claims is None
    raw = _raw(database_url)
    assert not any(needle in raw for needle in _needles(RRN, SECRET_NAME, SECRET_ADDRESS))

    # Nothing lost: the wallet gets its credential with the claims the offer was made with.
    with TestClient(create_app(deployment=deployment)) as http:
        code = pre_authorized_code(deployment, "pending")
        response = post_token(
            http, {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
        )
        assert response.status_code == 200, response.text
        access_token = response.json()["access_token"]
        c_nonce = http.post("/agencies/mois/nonce").json()["c_nonce"]
        proof = make_jwt_proof(
            SigningKey.generate(), audience=settings.issuer_id("mois"), nonce=c_nonce, now=now
        )
        issued = _issuer_client.post_credential(http, access_token, [proof])
        assert issued.status_code == 200, issued.text
    credential = issued.json()["credentials"][0]["credential"]
    disclosed = [json.loads(b64url_decode(d)) for d in split_compact(credential).disclosures]
    assert [d[2] for d in disclosed if d[1] == "name"] == [SECRET_NAME]
    assert [d[2] for d in disclosed if d[1] == "address"] == [SECRET_ADDRESS]
    engine.dispose()


# --- the deployment's master key ----------------------------------------------------------------


def test_init_creates_the_master_key_and_the_service_opens_it_at_start(tmp_path: Path) -> None:
    data_dir = tmp_path / "issuer-data"
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    subprocess.run(
        [str(JIGAP), "issuer", "init", "--data-dir", str(data_dir), "--public-url", PUBLIC_URL],
        env=env,
        capture_output=True,
        check=True,
        timeout=60,
    )
    [key_file] = (data_dir / "keys" / SEALING_KEYS).glob("*.json")
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    settings = Settings.from_env(read_env_file(data_dir))
    deployment = make_deployment(settings)  # what `serve` builds: it opens the key at start
    try:
        assert deployment.sealer.active_key_id == key_file.stem
    finally:
        deployment.engine.dispose()
    wrong = dataclasses.replace(settings, key_passphrase="not the passphrase")
    with pytest.raises(KeyStoreError) as refused:
        make_deployment(wrong)
    assert refused.value.code is KeyErrorCode.WRONG_PASSPHRASE
