"""Deferred issuance through the wallet (OID4VCI 1.0 §9): an offer the agency approves later.
The phone's yes leaves the intake deferred, with when to ask again; polling before the agency
decides changes nothing; once it approves, a poll stores the credential and the agency is told
(notification, §11), as it is on the path without deferral."""

from __future__ import annotations

from typing import Any

import pytest

from tests import _two_services
from tests._issuer_client import admin
from tests._two_services import Pair
from wallet_api.holder.client import WalletApiError, WalletClient

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures


def _agency_view(pair: Pair, offer_id: str) -> dict[str, Any]:
    """The offer as the agency's admin API shows it (approval, state, the wallet's event)."""
    response = pair.issuer_http.get(f"/admin/offers/{offer_id}", headers=admin(pair.issuer))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _decide(pair: Pair, offer_id: str, verb: str) -> None:
    response = pair.issuer_http.post(f"/admin/offers/{offer_id}/{verb}", headers=admin(pair.issuer))
    assert response.status_code == 200, response.text


def _deferred(pair: Pair, phone: WalletClient, copies: int = 2) -> tuple[str, str]:
    """An approval-required offer the citizen said yes to: (its offer id, the intake id)."""
    offer = pair.offer(approval_required=True)
    intake = phone.hand_over(offer["credential_offer_reference_uri"])
    answer = phone.accept(intake["intake_id"], tx_code=offer["tx_code"], copies=copies)
    assert answer["state"] == "deferred"
    assert answer["retry_after"] == pair.issuer.settings.deferred_interval_seconds
    assert answer["received"] == []
    # Waiting on the agency, not the citizen: kept as long as the agency's deferral lasts.
    waits = pair.wallet.settings.deferred_intake_seconds
    assert answer["expires_at"] == pair.wallet.now() + waits > intake["expires_at"]
    return offer["offer_id"], intake["intake_id"]


def test_a_deferred_offer_is_received_at_the_poll_after_approval(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer_id, intake_id = _deferred(pair, phone)
    interval = pair.issuer.settings.deferred_interval_seconds
    assert phone.credentials() == []

    for _ in range(2):  # before the agency decides: still deferred, nothing stored
        pair.issuer.clock.advance(interval)
        polled = phone.poll(intake_id)
        assert (polled["state"], polled["retry_after"], polled["received"]) == (
            "deferred", interval, [],
        )  # fmt: skip
        assert phone.credentials() == []
    waiting = _agency_view(pair, offer_id)
    assert (waiting["approval"], waiting["notification_event"]) == ("pending", None)

    _decide(pair, offer_id, "approve")
    pair.issuer.clock.advance(interval)
    done = phone.poll(intake_id)

    assert done["state"] == "done" and done["retry_after"] is None
    [credential_id] = done["received"]
    [held] = phone.credentials()
    assert held["credential_id"] == credential_id
    assert held["copies"] == held["unused_copies"] == 2 and held["status"] == "valid"
    issued = _agency_view(pair, offer_id)
    assert (issued["state"], issued["notification_event"]) == ("issued", "credential_accepted")
    # Asked again once done: the same answer, nothing received twice.
    assert phone.poll(intake_id) == done
    assert len(phone.credentials()) == 1


def test_the_agency_is_told_on_the_path_without_deferral(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer()
    assert _agency_view(pair, offer["offer_id"])["notification_event"] is None
    done = phone.receive(
        offer["credential_offer_reference_uri"], tx_code=offer["tx_code"], copies=2
    )
    assert done["state"] == "done"
    told = _agency_view(pair, offer["offer_id"])
    assert (told["state"], told["notification_event"]) == ("issued", "credential_accepted")


def test_an_approval_an_hour_later_still_reaches_the_phone(pair: Pair) -> None:
    """Agencies approve in hours, not minutes: an intake waiting on one outlives the time an
    offer handed over is otherwise kept (``intake_seconds``)."""
    phone = pair.registered_phone()
    offer_id, intake_id = _deferred(pair, phone, copies=1)
    pair.issuer.clock.advance(pair.wallet.settings.intake_seconds + 3600)
    assert phone.intake(intake_id)["state"] == "deferred"
    _decide(pair, offer_id, "approve")
    done = phone.poll(intake_id)
    assert done["state"] == "done" and len(phone.credentials()) == 1
    assert _agency_view(pair, offer_id)["notification_event"] == "credential_accepted"


def test_a_denied_offer_ends_the_intake_with_nothing_stored(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer_id, intake_id = _deferred(pair, phone)
    _decide(pair, offer_id, "deny")
    with pytest.raises(WalletApiError) as refused:
        phone.poll(intake_id)
    assert (refused.value.status, refused.value.error) == (400, "offer_refused")
    # Final: the intake says so, and is not left waiting for the week a deferral may last.
    ended = phone.intake(intake_id)
    assert (ended["state"], ended["refused"]) == ("failed", "credential_request_denied")
    assert phone.poll(intake_id) == ended  # nothing more is asked of the agency
    assert phone.credentials() == []
    assert _agency_view(pair, offer_id)["state"] == "dead"


def test_an_offer_denied_before_the_signatures_ends_the_intake(pair: Pair) -> None:
    phone = pair.registered_phone()
    offer = pair.offer(approval_required=True)
    intake = phone.hand_over(offer["credential_offer_reference_uri"])
    keys = [key.to_jwk() for key in phone.keys.create_keys(1)]
    to_sign = phone.call(
        "POST",
        f"/intakes/{intake['intake_id']}/accept",
        json={"tx_code": offer["tx_code"], "device_keys": keys},
    ).json()["proofs_to_sign"]
    _decide(pair, offer["offer_id"], "deny")
    with pytest.raises(WalletApiError) as refused:
        phone.sign_proofs(intake["intake_id"], to_sign)
    assert (refused.value.status, refused.value.error) == (400, "offer_refused")
    ended = phone.intake(intake["intake_id"])
    assert (ended["state"], ended["refused"]) == ("failed", "credential_request_denied")
    assert phone.credentials() == []
