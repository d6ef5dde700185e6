"""My data: the export holds everything the account holds (every copy of every credential, as
issued, with its claims) and nothing of another account's; deleting a credential deletes its
copies; deleting the account leaves no row of it in any of the wallet's tables, and its
device key opens nothing afterwards."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table
from sqlalchemy.engine import make_url

from keys.jws import decode_compact
from tests import _two_services
from tests._issuer_client import RESIDENT
from tests._presenting import Counters, register_counters
from tests._two_services import Pair
from verifier.sd_jwt import decode_disclosures, resolve_claims, split_compact
from verifier.sd_jwt_vc import CREDENTIAL_TYP, NOT_SELECTIVELY_DISCLOSABLE
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.models import METADATA, Account

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures


def _claims(compact: str) -> dict[str, Any]:
    sd_jwt = split_compact(compact)
    signed = decode_compact(sd_jwt.issuer_jwt, expected_typ=CREDENTIAL_TYP).unverified_claims()
    return resolve_claims(
        signed, decode_disclosures(sd_jwt.disclosures), not_disclosable=NOT_SELECTIVELY_DISCLOSABLE
    )


def _example(pair: Pair, index: int) -> dict[str, Any]:
    return dict(pair.issuer.deployment.registry.get(RESIDENT).examples[index])


def _rows(pair: Pair) -> dict[str, list[dict[str, Any]]]:
    """Every row of every wallet table (the tables read from the models' metadata)."""
    with pair.wallet.engine.connect() as connection:
        return {
            table.name: [dict(row._mapping) for row in connection.execute(table.select())]
            for table in METADATA.sorted_tables
        }


def _owned_by(table: Table, row: dict[str, Any], account_id: str) -> bool:
    if table.name == Account.__tablename__:
        return bool(row["id"] == account_id)
    return "account_id" in table.c and row["account_id"] == account_id


def _account_rows(pair: Pair, account_id: str) -> dict[str, list[dict[str, Any]]]:
    rows = _rows(pair)
    return {
        table.name: [row for row in rows[table.name] if _owned_by(table, row, account_id)]
        for table in METADATA.sorted_tables
    }


def test_the_export_holds_every_copy_with_its_claims_and_nothing_of_another(
    pair: Pair,
) -> None:
    phone, other = pair.registered_phone(), pair.registered_phone()
    offered = {"first": _example(pair, 0), "second": _example(pair, 1)}
    intakes = {
        name: pair.receive(phone, copies=copies, claims=claims)
        for (name, claims), copies in zip(offered.items(), (3, 2), strict=True)
    }
    received = {name: intake["received"][0] for name, intake in intakes.items()}
    pair.receive(other, copies=2, claims=offered["first"])
    under_way = phone.hand_over(pair.offer()["credential_offer_reference_uri"])

    exported = phone.export()
    assert exported["account"]["account_id"] == phone.me()["account_id"]
    assert exported["account"]["device_jkt"] == phone.device_kid
    by_id = {c["credential_id"]: c for c in exported["credentials"]}
    assert set(by_id) == set(received.values())
    phone_keys = {key.kid for key in phone.keys.list_keys()}
    for name, credential_id in received.items():
        copies = by_id[credential_id]["copies"]
        assert len(copies) == (3 if name == "first" else 2)
        assert len({c["sd_jwt_vc"] for c in copies}) == len(copies)  # each its own
        for copy in copies:
            assert copy["holder_key_thumbprint"] in phone_keys and copy["used_at"] is None
            claims = _claims(copy["sd_jwt_vc"])
            assert {k: claims[k] for k in offered[name]} == offered[name]
    # The offers the account handed over, the one still waiting and those done (until they
    # expire), with where each stands.
    states = {o["intake_id"]: o["state"] for o in exported["offers"]}
    assert states == {
        under_way["intake_id"]: "offered",
        **{intake["intake_id"]: "done" for intake in intakes.values()},
    }

    # The other account's export: its own credential, and nothing of this one's.
    theirs = other.export()
    [their_credential] = theirs["credentials"]
    assert their_credential["credential_id"] not in by_id
    assert [o["state"] for o in theirs["offers"]] == ["done"]
    text = repr(theirs)
    mine = [
        exported["account"]["account_id"],
        exported["account"]["device_jkt"],
        *states,
        *by_id,
        *(c[key] for cred in by_id.values() for c in cred["copies"] for key in ("copy_id",
          "holder_key_thumbprint", "sd_jwt_vc")),
    ]  # fmt: skip
    assert [value for value in mine if value in text] == []
    # Claim values only the first account holds (the second example's person).
    only_mine = {v for v in offered["second"].values() if isinstance(v, str) and len(v) >= 8}
    assert only_mine and [v for v in only_mine if v in text] == []


def test_the_export_holds_the_accounts_history_of_presentations(pair: Pair) -> None:
    phone, other = pair.registered_phone(), pair.registered_phone()
    register_counters(pair, [])
    for holder in (phone, other):
        pair.receive(holder, copies=1)
    answered = phone.answer(Counters(pair).request().envelope)
    [entry] = phone.export()["presentations"]
    assert (entry["id"], entry["state"]) == (answered["id"], "answered")
    assert entry == phone.presentations()[0]
    assert other.export()["presentations"] == []


def test_deleting_a_credential_deletes_its_copies_only(pair: Pair) -> None:
    phone = pair.registered_phone()
    gone = pair.receive(phone, copies=3)["received"][0]
    kept = pair.receive(phone, copies=2)["received"][0]
    before = _rows(pair)
    assert len([c for c in before["wallet_credential_copies"] if c["credential_id"] == gone]) == 3

    phone.delete_credential(gone)

    after = _rows(pair)
    assert [c for c in after["wallet_credentials"] if c["id"] == gone] == []
    assert [c for c in after["wallet_credential_copies"] if c["credential_id"] == gone] == []
    for table in ("wallet_credentials", "wallet_credential_copies"):
        assert after[table] == [
            row for row in before[table] if gone not in (row["id"], row.get("credential_id"))
        ]
    assert [c["credential_id"] for c in phone.credentials()] == [kept]
    assert [c["credential_id"] for c in phone.export()["credentials"]] == [kept]
    for attempt in (lambda: phone.credential(gone), lambda: phone.delete_credential(gone)):
        with pytest.raises(WalletApiError) as refused:
            attempt()
        assert (refused.value.status, refused.value.error) == (404, "not_found")


def _traces(pair: Pair, phone: WalletClient, account_id: str) -> set[str]:
    """Everything that names the account or what it held: ids, its keys' thumbprints and
    coordinates, its copies' keys, its sealed records."""
    assert phone.device_kid is not None
    device = phone.keys.public_key(phone.device_kid).to_jwk()
    traces = {account_id, phone.device_kid, str(device["x"]), str(device["y"])}
    for table_name, rows in _account_rows(pair, account_id).items():
        for row in rows:
            traces.add(str(row.get("id")))
            if table_name == "wallet_credential_copies":
                traces |= {row["holder_jkt"], row["sealed"].hex()}
            if table_name in ("wallet_intakes", "wallet_presentations") and row["sealed_state"]:
                traces.add(row["sealed_state"].hex())
    return traces


def test_deleting_the_account_leaves_no_row_of_it_and_its_key_opens_nothing(pair: Pair) -> None:
    phone, other = pair.registered_phone(), pair.registered_phone()
    account_id = phone.me()["account_id"]
    register_counters(pair, [])
    for holder in (phone, other):
        pair.receive(holder, copies=2)
        holder.answer(Counters(pair).request().envelope)  # a presentation in the history
        holder.present(Counters(pair).request().envelope)  # and one under way (sealed)
        holder.hand_over(pair.offer()["credential_offer_reference_uri"])
        deferred = pair.offer(approval_required=True)
        holder.receive(
            deferred["credential_offer_reference_uri"], tx_code=deferred["tx_code"], copies=1
        )
    held = _account_rows(pair, account_id)
    # Something of the account in every table it owns rows of, so that each is looked at.
    owning = [t.name for t in METADATA.sorted_tables if "account_id" in t.c] + ["wallet_accounts"]
    assert all(held[name] for name in owning), {name: len(held[name]) for name in owning}
    traces = _traces(pair, phone, account_id)
    other_id = other.me()["account_id"]
    theirs = _account_rows(pair, other_id)

    phone.delete_account()

    rows = _rows(pair)
    for table in METADATA.sorted_tables:
        assert [r for r in rows[table.name] if _owned_by(table, r, account_id)] == [], table.name
        text = repr(rows[table.name]) + "".join(
            value.hex() for row in rows[table.name] for value in row.values()
            if isinstance(value, bytes)
        )  # fmt: skip
        assert [trace for trace in traces if trace in text] == [], table.name
    assert _account_rows(pair, other_id) == theirs  # the other account's rows, untouched
    for request in (phone.me, phone.credentials, phone.export, phone.delete_account):
        with pytest.raises(WalletApiError) as refused:
            request()
        assert (refused.value.status, refused.value.error) == (401, "invalid_dpop_proof")
    assert other.credentials() and other.export()["account"]["account_id"] == other_id


def _checkpoint(path: Path) -> None:
    """Fold the WAL into the file and empty it (a connection outside any transaction)."""
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        busy, _, _ = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    finally:
        connection.close()
    assert busy == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_deleted_account_leaves_no_bytes_in_the_sqlite_file(pair: Pair) -> None:
    """Not only no row: the deleted cells are overwritten, not left in the file's free pages
    for anyone who reads the file (SQLite's secure_delete)."""
    path = Path(make_url(pair.wallet.settings.database_url).database or "")
    phone = pair.registered_phone()
    account_id = phone.me()["account_id"]
    pair.receive(phone, copies=2)
    traces = _traces(pair, phone, account_id)
    _checkpoint(path)  # the account's pages in the file itself
    assert account_id.encode() in path.read_bytes()

    phone.delete_account()
    _checkpoint(path)

    raw = path.read_bytes()
    assert [t for t in traces if t.encode() in raw or t in raw.hex()] == []
