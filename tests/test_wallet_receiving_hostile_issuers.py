"""Offers naming unknown, unreachable or slow issuers, and trusted issuers answering what the
wallet must refuse.

An offer naming an issuer off the trust list is refused before that server is sent anything
(a real loopback server records what it gets); an issuer that refuses connections, never
answers or trickles its answer costs at most ``issuer_timeout_seconds``; and a trusted agency on
a real socket answering malformed, oversized or unverifiable credentials leaves nothing in
``wallet_credentials`` or ``wallet_credential_copies``, the intake as receiving.py documents
(a step that fails leaves it where it was; a credential refused makes it ``failed``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import quote

import pytest

from tests import _loopback_issuers
from tests._agency import (
    CONFIGURATION_ID,
    CREDENTIAL_PATH,
    DEFERRED_PATH,
    NONCE_PATH,
    NOTIFICATION_PATH,
    OFFER_PATH,
    SECRET_CLAIM,
    TOKEN_PATH,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    Defect,
    offer_by_reference,
    offer_by_value,
)
from tests._loopback_issuers import SLACK, TIMEOUT, Receiving, refusal
from wallet_api.holder.client import WalletApiError

bench, impatient = _loopback_issuers.bench, _loopback_issuers.impatient  # fixtures


# -- offers naming unknown, unreachable or slow issuers -------------------------------------


def test_an_offer_by_value_from_an_untrusted_issuer_is_refused_before_it_is_called(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    offer = offer_by_value(bench.stranger.url)
    assert refusal(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []  # not even its metadata
    assert bench.intakes() == 0


def test_an_offer_by_reference_at_an_untrusted_origin_is_not_fetched(bench: Receiving) -> None:
    phone = bench.phone()
    # The same host as a trusted agency, another port: another origin.
    offer = offer_by_reference(bench.stranger.url + OFFER_PATH)
    assert refusal(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.stranger.requests == []
    assert bench.intakes() == 0


def test_an_offer_by_reference_naming_another_issuer_is_refused(bench: Receiving) -> None:
    phone = bench.phone()
    bench.agency.offer_issuer = bench.stranger.url
    offer = offer_by_reference(bench.agency.url + OFFER_PATH)
    assert refusal(lambda: phone.hand_over(offer)) == (403, "untrusted_issuer")
    assert bench.agency.requests == [("GET", OFFER_PATH)]
    assert bench.stranger.requests == []


def test_an_offer_by_reference_at_a_trusted_agency_is_read(bench: Receiving) -> None:
    phone = bench.phone()
    shown = phone.hand_over(offer_by_reference(bench.agency.url + OFFER_PATH))
    assert shown["issuer"]["id"] == bench.agency.url
    assert shown["credentials"][0]["configuration_id"] == CONFIGURATION_ID


def test_a_trusted_issuer_that_is_unreachable_is_issuer_unavailable_at_once(
    bench: Receiving,
) -> None:
    phone = bench.phone()
    started = time.monotonic()
    status = refusal(lambda: phone.hand_over(offer_by_value(bench.closed)))
    assert status == (502, "issuer_unavailable")
    assert time.monotonic() - started < SLACK  # refused at once, not waited for (10 s)
    assert bench.intakes() == 0


def test_a_trusted_issuer_that_never_answers_costs_the_timeout(impatient: Receiving) -> None:
    phone = impatient.phone()
    started = time.monotonic()
    status = refusal(lambda: phone.hand_over(offer_by_value(impatient.silent)))
    elapsed = time.monotonic() - started
    assert status == (502, "issuer_unavailable")
    assert TIMEOUT * 0.9 <= elapsed < TIMEOUT + SLACK, elapsed
    assert impatient.intakes() == 0


@pytest.mark.parametrize(
    "defect",
    [Defect.MALFORMED_JSON, Defect.OVERSIZED, Defect.SILENT, Defect.TRICKLE, Defect.SERVER_ERROR],
)
def test_an_agency_whose_metadata_is_broken_is_issuer_unavailable(
    impatient: Receiving, defect: Defect
) -> None:
    phone = impatient.phone()
    impatient.agency.defect(WELL_KNOWN_CREDENTIAL_ISSUER, defect)
    started = time.monotonic()
    status = refusal(lambda: phone.hand_over(offer_by_value(impatient.agency.url)))
    assert status == (502, "issuer_unavailable")
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert impatient.intakes() == 0


def test_offers_under_way_are_bounded_per_account(bench: Receiving) -> None:
    phone = bench.phone()
    limit = bench.world.deployment.settings.max_open_intakes
    for _ in range(limit):
        bench.intake(phone)
    assert refusal(lambda: bench.intake(phone)) == (409, "too_many_offers")
    assert bench.intakes() == limit
    other = bench.phone()  # another account's offers are its own
    assert bench.intake(other)


@pytest.mark.parametrize(
    "change",
    ["no grant", "an empty code", "a code that is a number", "no types", "types not strings"],
)
def test_an_offer_missing_what_the_wallet_needs_is_invalid_offer(
    bench: Receiving, change: str
) -> None:
    phone = bench.phone()
    grant = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
    offer: dict[str, Any] = {
        "credential_issuer": bench.agency.url,
        "credential_configuration_ids": [CONFIGURATION_ID],
        "grants": {grant: {"pre-authorized_code": "a-code"}},
    }
    if change == "no grant":
        offer["grants"] = {}
    elif change == "an empty code":
        offer["grants"][grant]["pre-authorized_code"] = ""
    elif change == "a code that is a number":
        offer["grants"][grant]["pre-authorized_code"] = 7
    elif change == "no types":
        offer["credential_configuration_ids"] = []
    else:
        offer["credential_configuration_ids"] = [7]
    uri = "openid-credential-offer://?credential_offer=" + quote(json.dumps(offer), safe="")
    assert refusal(lambda: phone.hand_over(uri)) == (400, "invalid_offer")
    assert bench.intakes() == 0


@pytest.mark.parametrize(
    "offer",
    [
        "https://agency.example/offer",
        "openid-credential-offer://",
        "openid-credential-offer://?credential_offer=%7B",
        "openid-credential-offer://?credential_offer=%5B%5D",
        "openid-credential-offer://?credential_offer_uri=file%3A%2F%2F%2Fetc%2Fpasswd",
        "openid-credential-offer://?credential_offer_uri=ftp%3A%2F%2F127.0.0.1%2Fo",
        "openid-credential-offer://?credential_offer=%7B%7D&credential_offer_uri=x",
        "openid-credential-offer://?credential_offer=%ZZ",
        "openid-credential-offer://?credential_offer=%FF",
    ],
    ids=[
        "not an offer URI",
        "no parameter",
        "truncated JSON",
        "an array",
        "a file reference",
        "an ftp reference",
        "both parameters",
        "bad percent-encoding",
        "not UTF-8",
    ],
)
def test_an_offer_uri_that_is_no_offer_is_invalid_offer(bench: Receiving, offer: str) -> None:
    phone = bench.phone()
    assert refusal(lambda: phone.hand_over(offer)) == (400, "invalid_offer")
    assert bench.agency.requests == [] and bench.stranger.requests == []
    assert bench.intakes() == 0


# -- a hostile or broken trusted agency: nothing stored -------------------------------------


@pytest.mark.parametrize("made", [Defect.NONE, Defect.HAND_MADE])
def test_an_honest_answer_from_the_loopback_agency_is_stored(
    bench: Receiving, made: Defect
) -> None:
    """The control: the agency below differs from this only in its one defect (and a
    credential made by hand, as the schema-invalid one is, is stored when its claims are)."""
    phone = bench.phone()
    bench.agency.defect(CREDENTIAL_PATH, made)
    done = phone.accept(bench.intake(phone), copies=3)
    assert done["state"] == "done"
    assert bench.stored() == (1, 3)
    assert bench.agency.notifications == ["credential_accepted"]


_UNAVAILABLE = [
    Defect.MALFORMED_JSON,
    Defect.OVERSIZED,
    Defect.SILENT,
    Defect.TRICKLE,
    Defect.SERVER_ERROR,
]


@pytest.mark.parametrize("defect", _UNAVAILABLE)
def test_a_credential_answer_that_is_not_one_leaves_the_intake_signing(
    impatient: Receiving, defect: Defect
) -> None:
    phone = impatient.phone()
    intake = impatient.intake(phone)
    impatient.agency.defect(CREDENTIAL_PATH, defect)
    started = time.monotonic()
    assert refusal(lambda: phone.accept(intake, copies=2)) == (502, "issuer_unavailable")
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert impatient.stored() == (0, 0)
    assert phone.intake(intake)["state"] == "signing"  # where it was: the phone may try again
    assert impatient.agency.notifications == []
    impatient.agency.defect(CREDENTIAL_PATH, Defect.NONE)
    assert phone.accept(intake, copies=2)["state"] == "done"
    assert impatient.stored() == (1, 2)


@pytest.mark.parametrize(
    ("defect", "reason"),
    [
        (Defect.FOREIGN_KEY, "unknown_key"),
        (Defect.OTHER_CNF, "key_binding_invalid"),
        (Defect.OTHER_TYPE, "issuer_not_authorised"),
        (Defect.ONE_KEY, "key_binding_invalid"),
        (Defect.NOT_SD_JWT, "malformed"),
        (Defect.MORE_THAN_KEYS, "malformed"),
        (Defect.EXPIRED, "expired"),
        (Defect.SIBLING, "issuer_not_authorised"),
        (Defect.SCHEMA_INVALID, "schema_violation"),
    ],
)
def test_a_credential_our_verifier_refuses_is_not_stored(
    bench: Receiving, defect: Defect, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, defect)
    with pytest.raises(WalletApiError) as refused:
        phone.accept(intake, copies=3)
    assert (refused.value.status, refused.value.error) == (502, "credential_refused")
    assert bench.stored() == (0, 0)
    shown = phone.intake(intake)
    assert SECRET_CLAIM not in refused.value.description + json.dumps(shown)
    assert shown["state"] == "failed"
    assert shown["refused"] == reason
    assert shown["received"] == []
    assert bench.agency.notifications == ["credential_failure"]
    assert phone.credentials() == []
    assert phone.export()["credentials"] == []
    assert refusal(lambda: phone.accept(intake, copies=3)) == (409, "wrong_state")
    assert SECRET_CLAIM not in caplog.text  # what the credential said is no one's to log


@pytest.mark.parametrize(
    ("step", "defect", "state"),
    [
        (TOKEN_PATH, Defect.MALFORMED_JSON, "offered"),
        (TOKEN_PATH, Defect.OVERSIZED, "offered"),
        (TOKEN_PATH, Defect.SILENT, "offered"),
        (NONCE_PATH, Defect.MALFORMED_JSON, "redeemed"),
        (NONCE_PATH, Defect.OVERSIZED, "redeemed"),
        (NONCE_PATH, Defect.SILENT, "redeemed"),
        (TOKEN_PATH, Defect.HUGE_VALUE, "offered"),
        (NONCE_PATH, Defect.HUGE_VALUE, "redeemed"),
    ],
)
def test_a_broken_token_or_nonce_answer_leaves_the_intake_where_it_was(
    impatient: Receiving, step: str, defect: Defect, state: str
) -> None:
    phone = impatient.phone()
    intake = impatient.intake(phone)
    impatient.agency.defect(step, defect)
    assert refusal(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert phone.intake(intake)["state"] == state
    assert ("POST", CREDENTIAL_PATH) not in impatient.agency.requests
    assert impatient.stored() == (0, 0)


def test_a_huge_transaction_id_is_not_kept(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, Defect.HUGE_VALUE)
    assert refusal(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert phone.intake(intake)["state"] == "signing"


@pytest.mark.parametrize(
    ("defect", "status"),
    [
        (Defect.REDIRECT, (502, "issuer_unavailable")),
        (Defect.FOREIGN_ENDPOINT, (403, "untrusted_issuer")),
        (Defect.FOREIGN_METADATA, (502, "issuer_unavailable")),
    ],
)
def test_metadata_that_points_elsewhere_sends_the_wallet_nowhere(
    bench: Receiving, defect: Defect, status: tuple[int, str]
) -> None:
    """A trusted agency cannot make the wallet call a server the trust list does not name:
    no redirect is followed, no endpoint off the agency's origin is used."""
    phone = bench.phone()
    bench.agency.defect(WELL_KNOWN_CREDENTIAL_ISSUER, defect)
    assert refusal(lambda: phone.hand_over(offer_by_value(bench.agency.url))) == status
    assert bench.stranger.requests == []
    assert bench.intakes() == 0


def test_a_redirect_from_the_credential_endpoint_is_not_followed(bench: Receiving) -> None:
    phone = bench.phone()
    intake = bench.intake(phone)
    bench.agency.defect(CREDENTIAL_PATH, Defect.REDIRECT)
    assert refusal(lambda: phone.accept(intake, copies=1)) == (502, "issuer_unavailable")
    assert bench.stranger.requests == []
    assert phone.intake(intake)["state"] == "signing"
    assert bench.stored() == (0, 0)


@pytest.mark.parametrize(
    ("defect", "status"),
    [
        (Defect.FOREIGN_KEY, (502, "credential_refused")),
        (Defect.OTHER_CNF, (502, "credential_refused")),
        (Defect.MALFORMED_JSON, (502, "issuer_unavailable")),
        (Defect.OVERSIZED, (502, "issuer_unavailable")),
        (Defect.SILENT, (502, "issuer_unavailable")),
    ],
)
def test_a_deferred_credential_is_checked_as_one_sent_at_once(
    impatient: Receiving, defect: Defect, status: tuple[int, str]
) -> None:
    phone = impatient.phone()
    intake = impatient.intake(phone)
    impatient.agency.defects = {CREDENTIAL_PATH: Defect.DEFERRED, DEFERRED_PATH: defect}
    deferred = phone.accept(intake, copies=2)
    assert (deferred["state"], deferred["retry_after"]) == ("deferred", 5)
    assert refusal(lambda: phone.poll(intake)) == status
    assert impatient.stored() == (0, 0)
    refused = status[1] == "credential_refused"
    assert phone.intake(intake)["state"] == ("failed" if refused else "deferred")
    if not refused:  # the agency recovers: the next poll receives
        impatient.agency.defects = {}
        assert phone.poll(intake)["state"] == "done"
        assert impatient.stored() == (1, 2)


def test_a_notification_endpoint_that_never_answers_delays_the_phone_by_the_timeout_only(
    impatient: Receiving,
) -> None:
    """The notification is best effort: the credentials are stored first."""
    phone = impatient.phone()
    intake = impatient.intake(phone)
    impatient.agency.defect(NOTIFICATION_PATH, Defect.SILENT)
    started = time.monotonic()
    assert phone.accept(intake, copies=2)["state"] == "done"
    assert time.monotonic() - started < TIMEOUT + SLACK
    assert impatient.stored() == (1, 2)
