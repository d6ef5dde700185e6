"""Receiving credentials through the wallet service: an agency's offer, the phone's keys and
signatures, our verifier before anything is stored, batch copies, status and recovery."""

from __future__ import annotations

import httpx
from sqlmodel import select

from keys.encoding import b64url_encode
from servicekit.db import session_scope
from tests import _two_services
from tests._issuer_client import RESIDENT, admin
from tests._two_services import Pair
from verifier.qr_image import render_png
from wallet_api.holder.client import WalletApiError
from wallet_api.models import CredentialCopy
from wallet_api.sealed import copy_context

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures


def test_an_offer_is_received_in_copies_bound_to_the_phones_keys(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    shown = phone.hand_over(offer["credential_offer_reference_uri"])
    assert shown["state"] == "offered"
    assert shown["issuer"]["name"]["ko"]
    assert [c["credential_type"] for c in shown["credentials"]] == [RESIDENT]
    resident = pair.wallet.registry.get(RESIDENT)
    assert shown["credentials"][0]["name"] == {
        "ko": resident.display_name("ko"),
        "en": resident.display_name("en"),
    }
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

    metrics = pair.wallet_http.get("/metrics").text
    assert f'jigap_wallet_credentials_received_total{{credential_type="{RESIDENT}"}}' in metrics

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


def test_an_offer_read_from_a_photo_of_its_qr_code(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    photo = render_png(offer["credential_offer_reference_uri"], box_size=6)
    shown = phone.hand_over_photo(photo)
    assert [c["credential_type"] for c in shown["credentials"]] == [RESIDENT]
    assert phone.accept(shown["intake_id"], tx_code=offer["tx_code"], copies=1)["state"] == "done"


def test_a_copy_is_one_presentation_and_signing_inputs_name_each_key(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    intake = phone.hand_over(offer["credential_offer_reference_uri"])
    keys = phone.keys.create_keys(2)
    answer = phone.call(
        "POST",
        f"/intakes/{intake['intake_id']}/accept",
        json={"tx_code": offer["tx_code"], "device_keys": [k.to_jwk() for k in keys]},
    ).json()
    named = [item["key"] for item in answer["proofs_to_sign"]]
    assert named == [k.kid for k in keys]
    # A signature by the wrong key is refused by the wallet before the agency sees it.
    swapped = list(reversed(answer["proofs_to_sign"]))
    signatures = [
        b64url_encode(phone.keys.sign(item["key"], want["signing_input"].encode("ascii")))
        for item, want in zip(swapped, answer["proofs_to_sign"], strict=True)
    ]
    refused = phone.send(
        "POST", f"/intakes/{intake['intake_id']}/proofs", json={"signatures": signatures}
    )
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_signature")
    done = phone.sign_proofs(intake["intake_id"], answer["proofs_to_sign"])
    assert done["state"] == "done"
    with session_scope(pair.wallet.engine) as session:
        copies = list(session.exec(select(CredentialCopy)))
    # Two copies: two different credentials (signatures and salts), nothing shared.
    opened = {
        pair.wallet.sealer.open(c.sealed, context=copy_context(c.id)).decode() for c in copies
    }
    assert len(opened) == 2
    first, second = (set(text.split("~")) for text in opened)
    assert not (first & second) - {""}


def test_each_status_list_is_fetched_once_for_all_accounts_and_within_its_ttl(
    pair: Pair,
) -> None:
    phones = [pair.registered_phone() for _ in range(3)]
    for phone in phones:
        pair.receive(phone, copies=2)
    seen: list[httpx.Request] = []
    pair.issuer_http.event_hooks["request"].append(seen.append)

    def status_list_requests() -> list[httpx.Request]:
        return [r for r in seen if "/status-lists/" in r.url.path]

    for phone in phones:  # every account lists: the shared store answers, no one is asked
        assert {c["status"] for c in phone.credentials()} == {"valid"}
    assert pair.wallet.trust.refresh() is None  # nothing is due within the ttl
    assert seen == []

    ttl = pair.issuer.settings.status_list_ttl_seconds
    pair.issuer.clock.advance(ttl + 1)
    report = pair.wallet.trust.refresh()
    assert report is not None
    fetched = status_list_requests()
    uris = {str(r.url) for r in fetched}
    assert len(fetched) == len(uris) >= 1  # each list once, for all three accounts
    # Conditional (a 304 if unchanged; past its ttl the issuer signs a fresh token).
    assert all(r.headers.get("if-none-match") for r in fetched)
