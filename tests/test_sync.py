"""`sync_trust_store` over time: a counter that was offline past its trust list's expiry."""

from __future__ import annotations

from pathlib import Path

import pytest

from keys.encoding import json_dumps
from keys.errors import KeyErrorCode, TrustListError
from keys.jwk import Jwks, SigningKey
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._world import ISSUER, NOW
from verifier import TrustStore
from verifier.status_list import StatusList, build_status_list_token
from verifier.sync import Outcome, SyncError, sync_trust_store

DAY = 86400
ANCHOR = SigningKey.generate()
ISSUER_KEY = SigningKey.generate()


def _trust_list(
    tmp_path: Path, *, sequence: int, issued_at: int, issuer_key: SigningKey = ISSUER_KEY
) -> str:
    entry = TrustedIssuer(
        ISSUER,
        {"ko": "주민등록 발급기관", "en": "Resident register office"},
        Jwks.of(issuer_key.public_key),
        frozenset({"urn:jigap:resident-register-extract:1"}),
        issued_at - DAY,
        issued_at + 365 * DAY,
    )
    trust_list = TrustList(
        "https://trust.example", sequence, issued_at, issued_at + DAY, {ISSUER: entry}
    )
    path = tmp_path / f"trust-list-{sequence}.jwt"
    path.write_text(sign_trust_list(trust_list, ANCHOR))
    return str(path)


@pytest.fixture
def synced(tmp_path: Path) -> Path:
    anchor = tmp_path / "anchor.jwk"
    anchor.write_bytes(json_dumps(ANCHOR.public_key.to_jwk()))
    store = tmp_path / "store"
    first = _trust_list(tmp_path, sequence=5, issued_at=NOW)
    sync_trust_store([first], store, anchor_file=anchor, now=NOW)
    return store


def test_a_counter_back_after_expiry_takes_a_newer_list(synced: Path, tmp_path: Path) -> None:
    later = NOW + 30 * DAY
    with pytest.raises(TrustListError) as caught:
        TrustStore.load(synced, now=later)  # offline, the expired list vouches for nothing
    assert caught.value.code == KeyErrorCode.TRUST_LIST_EXPIRED
    sync_trust_store([_trust_list(tmp_path, sequence=6, issued_at=later)], synced, now=later)
    store = TrustStore.load(synced, now=later)
    assert store.trust_list is not None and store.trust_list.sequence == 6


def test_expiry_does_not_open_the_door_to_rollback(synced: Path, tmp_path: Path) -> None:
    later = NOW + 30 * DAY
    older = _trust_list(tmp_path, sequence=4, issued_at=later)
    with pytest.raises(TrustListError) as caught:
        sync_trust_store([older], synced, now=later)
    assert caught.value.code == KeyErrorCode.TRUST_LIST_ROLLBACK


def test_an_expired_list_alone_is_not_enough(synced: Path) -> None:
    with pytest.raises(SyncError):
        sync_trust_store([], synced, now=NOW + 30 * DAY)


def test_the_trust_store_is_public_and_written_whole(synced: Path) -> None:
    for name in ("anchor.jwk", "trust-list.jwt", "status-lists.json"):
        assert (synced / name).stat().st_mode & 0o777 == 0o644, name
    assert not list(synced.glob(".*.tmp"))  # no half-written file left behind


def test_a_held_list_whose_key_left_the_trust_list_does_not_block_the_next_sync(
    synced: Path, tmp_path: Path
) -> None:
    """The issuer rotated and its old key is gone from the new trust list: the old status list
    is dropped, and the sync that brings its successor goes through."""
    status_uri = f"{ISSUER}/status/1"
    old_list = tmp_path / "status-old.jwt"
    old_list.write_text(
        build_status_list_token(StatusList(64), status_uri, ISSUER_KEY, now=NOW, ttl=300)
    )
    sync_trust_store([str(old_list)], synced, now=NOW)
    new_key = SigningKey.generate()
    later = NOW + 60
    rotated = _trust_list(tmp_path, sequence=6, issued_at=later, issuer_key=new_key)
    new_list = tmp_path / "status-new.jwt"
    new_list.write_text(
        build_status_list_token(StatusList(64), status_uri, new_key, now=later, ttl=300)
    )
    sync_trust_store([rotated], synced, now=later)  # refused as unknown_key before
    store = TrustStore.load(synced, now=later)
    assert store.status_list_uris == ()
    report = sync_trust_store([rotated, str(new_list)], synced, now=later)
    assert [row.outcome for row in report.rows] == [Outcome.UNCHANGED, Outcome.NEW]
    assert TrustStore.load(synced, now=later).status_list_uris == (status_uri,)
