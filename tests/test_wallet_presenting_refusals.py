"""Every refusal of presenting, and that each disclosed nothing: no answer made, no copy taken
(unless the citizen had accepted), nothing of the request kept but what the history names."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlmodel import select

from keys.encoding import b64url_encode
from keys.jwk import SigningKey
from servicekit.db import session_scope
from tests import _presenting, _two_services
from tests._issuer_client import admin
from tests._presenting import BANK, GONE, HEALTH_VCT, RESIDENT_VCT, Counters, refusal
from tests._two_services import Pair
from verifier.openid4vp import CLOCK_SKEW
from wallet_api.holder.client import WalletClient
from wallet_api.models import CredentialCopy, Presentation

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures
counters = _presenting.counters  # fixture


def _used(pair: Pair) -> int:
    with session_scope(pair.wallet.engine) as session:
        return sum(1 for c in session.exec(select(CredentialCopy)) if c.used_at is not None)


def _states(pair: Pair) -> list[str]:
    with session_scope(pair.wallet.engine) as session:
        return sorted(p.state for p in session.exec(select(Presentation)))


def _resident_query(claims: list[list[Any]]) -> dict[str, Any]:
    return {
        "credentials": [
            {
                "id": "resident_register_extract",
                "format": "dc+sd-jwt",
                "meta": {"vct_values": [RESIDENT_VCT]},
                "claims": [{"path": path} for path in claims],
            }
        ]
    }


WHOLE = {"vct_values": [RESIDENT_VCT]}  # no `claims`: the whole credential
# Requests the wallet refuses at once: (id, how the request is made, the description's code).
BAD_REQUESTS: list[tuple[str, Callable[[Counters], str], str]] = [
    (
        "unregistered",
        lambda c: c.forged(key=SigningKey.generate(), client_id="counter.nobody.example"),
        "unregistered_client",
    ),
    ("foreign-key", lambda c: c.forged(key=SigningKey.generate()), "unknown_key"),
    (
        "over-asking",
        lambda c: c.forged(
            dcql_query=_resident_query([["name"], ["resident_registration_number"]])
        ),
        "over_asking",
    ),
    (
        "whole-credential",
        lambda c: c.forged(
            dcql_query={
                "credentials": [
                    {"id": "x", "format": "dc+sd-jwt", "meta": {"vct_values": [RESIDENT_VCT]}}
                ]
            }
        ),
        "over_asking",
    ),
    (
        "unregistered-purpose",
        lambda c: c.forged(purpose={"ko": "마케팅", "en": "Marketing"}),
        "purpose_not_registered",
    ),
    ("not-a-request", lambda _: "JR1:NOT-A-REQUEST", "malformed"),
    ("garbage", lambda _: "hello counter", "malformed"),
]


@pytest.mark.parametrize(
    ("make", "code"),
    [pytest.param(make, code, id=name) for name, make, code in BAD_REQUESTS],
)
def test_an_untrusted_request_is_refused_and_nothing_is_kept(
    counters: Counters, make: Callable[[Counters], str], code: str
) -> None:
    phone = counters.holder(copies=1)
    text = make(counters)
    status, error, description = refusal(lambda: phone.present(text))
    assert (status, error) == (400, "untrusted_request")
    assert description.split(":")[0] == code
    assert _states(counters.pair) == [] and _used(counters.pair) == 0


def test_an_expired_request_and_a_counter_past_its_registration(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    request = counters.request(lifetime=60)
    gone = counters.request(GONE)
    counters.pair.issuer.clock.advance(121)  # past the request's exp and GONE's registration
    for text, code in ((request.envelope, "expired"), (gone.envelope, "client_not_current")):
        status, error, description = refusal(lambda text=text: phone.present(text))
        assert (status, error, description.split(":")[0]) == (400, "untrusted_request", code)
    assert _states(counters.pair) == [] and _used(counters.pair) == 0


def test_a_request_is_read_once_by_the_whole_wallet(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    request = counters.request()
    phone.present(request.envelope)
    assert refusal(lambda: phone.present(request.envelope))[:2] == (409, "request_replayed")
    assert refusal(lambda: phone.present(request.token))[:2] == (409, "request_replayed")
    other = counters.holder(copies=1)  # another citizen holding the counter's QR: still spent
    assert refusal(lambda: other.present(request.envelope))[:2] == (409, "request_replayed")
    assert _states(counters.pair) == ["asked"] and _used(counters.pair) == 0


def test_a_request_stays_spent_through_the_clock_skew_allowed_after_its_exp(
    counters: Counters,
) -> None:
    phone = counters.holder(copies=2)
    request = counters.request(lifetime=60)
    phone.present(request.envelope)
    counters.pair.issuer.clock.advance(60 + CLOCK_SKEW - 1)  # past exp, still read as current
    assert refusal(lambda: phone.present(request.envelope))[:2] == (409, "request_replayed")
    counters.pair.issuer.clock.advance(1)
    status, error, description = refusal(lambda: phone.present(request.envelope))
    assert (status, error, description.split(":")[0]) == (400, "untrusted_request", "expired")


def test_claims_the_credential_lacks_and_types_not_held(counters: Counters) -> None:
    phone = counters.pair.registered_phone()
    second = counters.pair.wallet.registry.get("resident_register_extract").examples[1]
    assert "address_history" not in second
    counters.pair.receive(phone, copies=1, claims=second)
    status, error, description = refusal(
        lambda: phone.present(counters.request(purpose_id="move_in").envelope)
    )
    assert (status, error) == (409, "no_matching_credential")
    assert "lacks address_history[].address" in description and RESIDENT_VCT in description
    status, error, description = refusal(
        lambda: phone.present(counters.request(purpose_id="health_check").envelope)
    )
    assert (status, error) == (409, "no_matching_credential") and HEALTH_VCT in description
    assert _states(counters.pair) == [] and _used(counters.pair) == 0


def test_a_revoked_credential_is_refused(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    pair = counters.pair
    listed = pair.issuer_http.get("/admin/credentials", headers=admin(pair.issuer)).json()
    revoked = pair.issuer_http.post(
        f"/admin/credentials/{listed[-1]['id']}/revoke", headers=admin(pair.issuer)
    )
    assert revoked.status_code in (200, 204), revoked.text
    pair.wallet.trust.refresh(force=True)
    status, error, description = refusal(lambda: phone.present(counters.request().envelope))
    assert (status, error) == (409, "credential_unusable") and description.startswith("revoked")
    assert _states(pair) == [] and _used(pair) == 0


def test_a_credential_revoked_after_it_was_shown_is_refused_at_accept(
    counters: Counters,
) -> None:
    phone = counters.holder(copies=1)
    pair = counters.pair
    shown = phone.present(counters.request().envelope)
    listed = pair.issuer_http.get("/admin/credentials", headers=admin(pair.issuer)).json()
    pair.issuer_http.post(
        f"/admin/credentials/{listed[-1]['id']}/revoke", headers=admin(pair.issuer)
    )
    pair.wallet.trust.refresh(force=True)
    assert refusal(lambda: phone.accept_presentation(shown["id"]))[:2] == (
        409,
        "credential_unusable",
    )
    assert _used(pair) == 0


def test_copies_bound_to_a_lost_phone_are_refused(counters: Counters) -> None:
    lost = counters.pair.phone()
    kit = lost.register()
    counters.pair.receive(lost, copies=2)
    new_phone = counters.pair.phone()
    new_phone.recover(kit.account_id, kit.recovery_code)
    status, error, description = refusal(lambda: new_phone.present(counters.request().envelope))
    assert (status, error) == (409, "credential_unusable")
    assert description.startswith("needs_reissue")
    assert _used(counters.pair) == 0


def test_a_presentation_expires_with_its_request(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    shown = phone.present(counters.request(lifetime=60).envelope)
    counters.pair.issuer.clock.advance(61)
    status, error, description = refusal(lambda: phone.accept_presentation(shown["id"]))
    assert (status, error, description.split(":")[0]) == (400, "untrusted_request", "expired")
    assert [e["state"] for e in phone.presentations()] == ["expired"]
    assert _used(counters.pair) == 0
    # The next request read forgets the expired one's working data for good.
    phone.present(counters.request().envelope)
    with session_scope(counters.pair.wallet.engine) as session:
        row = session.get(Presentation, shown["id"])
        assert row is not None and row.state == "expired" and row.sealed_state is None


def test_a_bad_signature_is_refused_and_the_phone_may_sign_again(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    shown = phone.present(counters.request().envelope)
    signing = phone.accept_presentation(shown["id"])
    other_key = phone.keys.create_key()
    wrong = phone.keys.sign(other_key.kid, signing["signing_input"].encode("ascii"))
    path = f"/presentations/{shown['id']}/signature"
    assert refusal(lambda: phone.call("POST", path, json={"signature": b64url_encode(wrong)}))[
        :2
    ] == (400, "invalid_signature")
    for malformed in ("!!!", "a~b", "A" * 200, "AAAA="):
        response = phone.send("POST", path, json={"signature": malformed})
        assert response.status_code == 400, malformed
        assert response.json()["error"] in ("invalid_signature", "invalid_request"), malformed
    assert phone.sign_presentation(shown["id"], signing)["state"] == "answered"


def test_steps_out_of_order_are_wrong_state(counters: Counters) -> None:
    phone = counters.holder(copies=3)
    shown = phone.present(counters.request().envelope)
    path = f"/presentations/{shown['id']}/signature"
    body = {"signature": b64url_encode(b"\x00" * 64)}
    assert refusal(lambda: phone.call("POST", path, json=body))[:2] == (409, "wrong_state")
    signing = phone.accept_presentation(shown["id"])
    assert refusal(lambda: phone.accept_presentation(shown["id"]))[:2] == (409, "wrong_state")
    assert _used(counters.pair) == 1  # one copy for one presentation, however often accepted
    phone.sign_presentation(shown["id"], signing)
    assert refusal(lambda: phone.refuse(shown["id"]))[:2] == (409, "wrong_state")

    refused = phone.present(counters.request().envelope)
    assert phone.refuse(refused["id"])["state"] == "refused"
    assert refusal(lambda: phone.accept_presentation(refused["id"]))[:2] == (409, "wrong_state")
    assert _used(counters.pair) == 1  # refusing before accepting takes no copy


def test_bad_bodies_are_invalid_request(counters: Counters) -> None:
    phone: WalletClient = counters.holder(copies=1)
    for body in (
        {},
        {"request": ""},
        {"request": "x", "preset": {"client_id": BANK, "purpose_id": "age_check"}},
        {"request": 42},
        {"request": "x" * 20_000},
        {"request": "x", "extra": 1},
    ):
        response = phone.send("POST", "/presentations", json=body)
        assert (response.status_code, response.json()["error"]) == (400, "invalid_request"), body
    shown = phone.present(counters.request().envelope)
    response = phone.send("POST", f"/presentations/{shown['id']}/accept", json={"format": "gif"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_request")


def test_a_preset_that_is_not_one(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    for client_id, purpose_id, code in (
        (BANK, "account_opening", "purpose_not_registered"),  # registered, but not one-way
        ("counter.nobody.example", "age_check", "unregistered_client"),
    ):
        status, error, description = refusal(
            lambda c=client_id, p=purpose_id: phone.present_preset(c, p)
        )
        assert (status, error, description.split(":")[0]) == (400, "untrusted_request", code)
