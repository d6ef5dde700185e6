"""Accounts bound to the phone's device key, every request proved with DPoP (RFC 9449):
registration, nonces, replay, the checks of the request's method and URI, deletion."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from keys.jwk import Algorithm, SigningKey
from protocols.dpop import make_dpop_proof
from tests._wallet_service import PUBLIC_URL, WalletWorld, wallet_world
from wallet_api.accounts import recovery_hash
from wallet_api.deployment import make_deployment
from wallet_api.dpop_guard import current_nonce
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.models import METADATA


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Iterator[WalletWorld]:
    yield from wallet_world(database_url, tmp_path)


def _signed(
    phone: WalletClient, method: str, path: str, *, uri: str | None = None, now: float | None = None
) -> str:
    """A proof as the phone makes it, or with its URI or time changed."""
    assert phone.device_kid is not None
    return make_dpop_proof(
        phone.keys.signer(phone.device_kid),
        method=method,
        uri=uri or PUBLIC_URL + path,
        now=int(phone._clock() if now is None else now),
        nonce=phone.nonce,
    )


def _refusal(response: object) -> tuple[int, str, str]:
    status = response.status_code  # type: ignore[attr-defined]
    return status, response.json()["error"], response.headers.get("www-authenticate", "")  # type: ignore[attr-defined]


def test_registration_binds_the_proof_key_and_shows_the_recovery_code_once(
    world: WalletWorld,
) -> None:
    phone = world.phone()
    bound = phone.register()
    assert bound.device_jkt == phone.device_kid
    assert re.fullmatch(r"([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]{4}", bound.recovery_code)
    me = phone.me()
    assert me["account_id"] == bound.account_id
    assert me["device_jkt"] == phone.device_kid
    assert "recovery_code" not in me
    with world.deployment.engine.connect() as connection:
        row = connection.execute(text("SELECT recovery_hash FROM wallet_accounts")).one()
        dump = repr(connection.execute(text("SELECT * FROM wallet_accounts")).all())
    assert row[0] == recovery_hash(world.deployment.settings.hmac_key, bound.recovery_code)
    assert bound.recovery_code not in dump
    assert bound.recovery_code.replace("-", "") not in dump


def test_a_request_without_the_nonce_is_told_use_dpop_nonce_then_succeeds(
    world: WalletWorld,
) -> None:
    phone = world.phone()
    phone.device_kid = phone.keys.create_key().kid
    first = world.http.post("/accounts", headers={"DPoP": _signed(phone, "POST", "/accounts")})
    assert _refusal(first) == (401, "use_dpop_nonce", 'DPoP error="use_dpop_nonce", algs="ES256"')
    nonce = first.headers["DPoP-Nonce"]
    assert len(nonce) >= 32
    phone.nonce = nonce
    second = world.http.post("/accounts", headers={"DPoP": _signed(phone, "POST", "/accounts")})
    assert second.status_code == 201, second.text
    assert second.headers["DPoP-Nonce"] == nonce  # still current: no rotation yet
    assert second.headers["Cache-Control"] == "no-store"


def test_a_stale_nonce_is_refused_with_a_new_one(world: WalletWorld) -> None:
    phone = world.phone()
    phone.register()
    old = phone.nonce
    rotate = world.deployment.settings.nonce_rotate_seconds
    world.clock.advance(rotate + 1)  # handed out no more, still accepted
    assert phone.send("GET", "/accounts/me").status_code == 200
    world.clock.advance(rotate)  # no longer accepted
    phone.nonce = old
    stale = world.http.get("/accounts/me", headers={"DPoP": _signed(phone, "GET", "/accounts/me")})
    assert _refusal(stale)[:2] == (401, "use_dpop_nonce")
    assert stale.headers["DPoP-Nonce"] != old
    phone.nonce = stale.headers["DPoP-Nonce"]
    assert phone.send("GET", "/accounts/me").status_code == 200


def test_expired_nonces_and_replay_rows_are_swept(world: WalletWorld) -> None:
    phone = world.phone()
    phone.register()
    world.clock.advance(3 * world.deployment.settings.nonce_rotate_seconds)
    phone.me()  # a new nonce is made; the old one and the old proofs' rows go
    with world.deployment.engine.connect() as connection:
        nonces = connection.execute(text("SELECT count(*) FROM wallet_dpop_nonces")).scalar()
        replays = connection.execute(text("SELECT count(*) FROM wallet_dpop_replays")).scalar()
    assert nonces == 1
    assert replays == 1  # the proof of this last request only


def test_a_replayed_proof_is_refused(world: WalletWorld) -> None:
    phone = world.phone()
    phone.register()
    proof = _signed(phone, "GET", "/accounts/me")
    assert world.http.get("/accounts/me", headers={"DPoP": proof}).status_code == 200
    again = world.http.get("/accounts/me", headers={"DPoP": proof})
    assert _refusal(again)[:2] == (401, "invalid_dpop_proof")
    assert "replay" in again.json()["error_description"]


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no header", "header_count"),
        ("two headers", "header_count"),
        ("not a JWT", "malformed"),
        ("wrong method", "method_mismatch"),
        ("the Host header's URI", "uri_mismatch"),
        ("another path", "uri_mismatch"),
        ("too old", "too_old"),
        ("from the future", "issued_in_future"),
        ("another device's key", "unknown_key"),
        ("made for an access token", "ath_unexpected"),
        ("an Ed25519 key", "unsupported_algorithm"),
    ],
)
def test_bad_proofs_are_refused_invalid_dpop_proof(
    world: WalletWorld, case: str, reason: str
) -> None:
    phone = world.phone()
    phone.register()
    good = _signed(phone, "GET", "/accounts/me")
    headers: list[tuple[str, str]] = {
        "no header": [],
        "two headers": [("DPoP", good), ("DPoP", _signed(phone, "GET", "/accounts/me"))],
        "not a JWT": [("DPoP", "not.a.proof")],
        "wrong method": [("DPoP", _signed(phone, "POST", "/accounts/me"))],
        "the Host header's URI": [
            ("DPoP", _signed(phone, "GET", "", uri="http://testserver/accounts/me"))
        ],
        "another path": [("DPoP", _signed(phone, "GET", "/accounts"))],
        "too old": [("DPoP", _signed(phone, "GET", "/accounts/me", now=world.clock() - 61))],
        "from the future": [
            ("DPoP", _signed(phone, "GET", "/accounts/me", now=world.clock() + 11))
        ],
        "another device's key": [],
        "made for an access token": [
            ("DPoP", make_dpop_proof(
                phone.keys.signer(phone.device_kid or ""), method="GET",
                uri=PUBLIC_URL + "/accounts/me", now=int(world.clock()), nonce=phone.nonce,
                access_token="a-token",
            ))
        ],
        "an Ed25519 key": [
            ("DPoP", make_dpop_proof(
                SigningKey.generate(Algorithm.EDDSA), method="GET",
                uri=PUBLIC_URL + "/accounts/me", now=int(world.clock()), nonce=phone.nonce,
            ))
        ],
    }[case]  # fmt: skip
    if case == "another device's key":
        stranger = world.phone()
        stranger.device_kid = stranger.keys.create_key().kid
        stranger.nonce = phone.nonce
        headers = [("DPoP", _signed(stranger, "GET", "/accounts/me"))]
    refused = world.http.get("/accounts/me", headers=headers)
    status, error, challenge = _refusal(refused)
    assert (status, error) == (401, "invalid_dpop_proof"), refused.text
    assert challenge == 'DPoP error="invalid_dpop_proof", algs="ES256"'
    assert refused.json()["error_description"] == f"DPoP proof refused: {reason}"
    assert refused.headers["DPoP-Nonce"]
    assert phone.me()["device_jkt"] == phone.device_kid  # the account itself is untouched


def test_a_key_registers_once(world: WalletWorld) -> None:
    phone = world.phone()
    phone.register()
    with pytest.raises(WalletApiError) as refused:
        phone.register()
    assert (refused.value.status, refused.value.error) == (409, "account_exists")


def test_a_nonce_from_one_worker_is_accepted_by_another(
    world: WalletWorld, database_url: str, tmp_path: Path
) -> None:
    # Two deployments on one database: what two worker processes are.
    phone = world.phone()
    phone.register()
    other = next(wallet_world(database_url, tmp_path / "second"))
    try:
        other.clock.now = world.clock.now
        proof = _signed(phone, "GET", "/accounts/me")
        answer = other.http.get("/accounts/me", headers={"DPoP": proof})
        assert answer.status_code == 200, answer.text
        # ... and the replay row is shared too.
        again = world.http.get("/accounts/me", headers={"DPoP": proof})
        assert _refusal(again)[:2] == (401, "invalid_dpop_proof")
    finally:
        other.http.close()
        other.deployment.engine.dispose()


def test_deleting_the_account_leaves_nothing_of_it(world: WalletWorld) -> None:
    phone = world.phone()
    bound = phone.register()
    stays = world.phone()
    kept = stays.register()
    phone.delete_account()
    with pytest.raises(WalletApiError) as gone:
        phone.me()
    assert (gone.value.status, gone.value.error) == (401, "invalid_dpop_proof")
    public = phone.keys.public_key(bound.device_jkt).to_jwk()
    traces = {bound.account_id, bound.device_jkt, str(public["x"]), str(public["y"])}
    with world.deployment.engine.connect() as connection:
        for table in METADATA.sorted_tables:
            rows = repr(connection.execute(table.select()).all())
            assert not [trace for trace in traces if trace in rows], table.name
        accounts = connection.execute(text("SELECT id FROM wallet_accounts")).scalars().all()
    assert accounts == [kept.account_id]
    assert stays.me()["account_id"] == kept.account_id


def test_a_process_hands_out_its_remembered_nonce_without_asking_the_database(
    world: WalletWorld,
) -> None:
    """Each response carries the nonce; a process remembers it until it is due for rotation,
    and another process (here: a second deployment on the same database) accepts it."""
    deployment = world.deployment
    first = current_nonce(deployment)
    statements: list[str] = []

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(deployment.engine, "before_cursor_execute", seen)
    try:
        assert current_nonce(deployment) == first
        assert statements == []  # remembered: no query at all
        world.clock.advance(deployment.settings.nonce_rotate_seconds)
        rotated = current_nonce(deployment)
        assert rotated != first and statements  # due: minted again, through the database
    finally:
        event.remove(deployment.engine, "before_cursor_execute", seen)
    other = make_deployment(deployment.settings, clock=world.clock)
    try:
        assert current_nonce(other) == rotated  # another worker reads the newest from the table
    finally:
        other.engine.dispose()
    # The phone's proofs with the remembered nonce are accepted by the service.
    phone = world.phone()
    phone.register()
    assert phone.send("GET", "/accounts/me").status_code == 200
