"""Receiving credentials through the wallet service: an agency's offer, the phone's keys and
signatures, our verifier before anything is stored, batch copies, status and recovery."""

from __future__ import annotations

from sqlmodel import select

from servicekit.db import session_scope
from tests import _two_services
from tests._issuer_client import RESIDENT, admin
from tests._two_services import Pair
from wallet_api.holder.client import WalletApiError
from wallet_api.models import CredentialCopy

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures


def test_an_offer_is_received_in_copies_bound_to_the_phones_keys(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    shown = phone.hand_over(offer["credential_offer_reference_uri"])
    assert shown["state"] == "offered"
    assert shown["issuer"]["name"]["ko"]
    assert [c["credential_type"] for c in shown["credentials"]] == [RESIDENT]
    assert (shown["tx_code"] is not None) == (offer["tx_code"] is not None)

    done = phone.accept(shown["intake_id"], tx_code=offer["tx_code"], copies=4)
    assert done["state"] == "done" and len(done["received"]) == 1

    [held] = phone.credentials()
    assert held["credential_type"] == RESIDENT
    assert held["copies"] == held["unused_copies"] == 4
    assert held["status"] == "valid"
    assert held["name"] == {"ko": held["name"]["ko"], "en": held["name"]["en"]}
    with session_scope(pair.wallet.engine) as session:
        keys = {c.holder_jkt for c in session.exec(select(CredentialCopy))}
    # Each copy on its own key, every one of them made on the phone.
    assert len(keys) == 4 and keys <= {k.kid for k in phone.keys.list_keys()}

    shown_one = phone.credential(held["credential_id"])
    labels = {row["name"]: row for row in shown_one["claims"]}
    assert labels["name"]["label"]["en"] and labels["name"]["value"]


def test_a_wrong_transaction_code_can_be_typed_again(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    assert offer["tx_code"]
    intake = phone.hand_over(offer["credential_offer_uri"])  # by value this time
    wrong = "000000" if offer["tx_code"] != "000000" else "111111"
    try:
        phone.accept(intake["intake_id"], tx_code=wrong, copies=2)
    except WalletApiError as exc:
        assert (exc.status, exc.error) == (400, "offer_refused")
    else:
        raise AssertionError("a wrong code was accepted")
    assert phone.intake(intake["intake_id"])["state"] == "offered"
    assert phone.accept(intake["intake_id"], tx_code=offer["tx_code"], copies=2)["state"] == "done"


def test_revocation_shows_in_the_list(pair: Pair) -> None:
    phone = pair.registered_phone()
    pair.receive(phone)
    listed = pair.issuer_http.get("/admin/credentials", headers=admin(pair.issuer)).json()
    response = pair.issuer_http.post(
        f"/admin/credentials/{listed[-1]['id']}/revoke", headers=admin(pair.issuer)
    )
    assert response.status_code in (200, 204), response.text
    pair.wallet.trust.refresh(force=True)
    [held] = phone.credentials()
    assert held["status"] == "revoked" and held["reissue_from"]


def test_a_recovered_account_holds_credentials_needing_reissue(pair: Pair) -> None:
    lost = pair.phone()
    first = lost.register()
    pair.receive(lost)
    [before] = lost.credentials()
    assert before["status"] == "valid" and before["reissue_from"] is None
    new_phone = pair.phone()
    new_phone.recover(first.account_id, first.recovery_code)
    [held] = new_phone.credentials()
    # Bound to the lost phone's keys: the agency that issued it is the one to ask.
    assert held["status"] == "needs_reissue"
    assert held["reissue_from"] == before["issuer"]["id"]
