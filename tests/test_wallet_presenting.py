"""Presenting at a counter through the wallet service: the counter's signed request, what the
phone is shown (who, why, exactly which claims), the phone's signature, the answer the counter's
own verifier accepts; one copy per presentation; the history without values; presets."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from sqlmodel import select

from keys.encoding import b64url_encode
from servicekit.db import session_scope
from tests import _presenting, _two_services
from tests._presenting import (
    ACCOUNT_OPENING,
    AGE_CHECK,
    BANK,
    STORE,
    Counters,
    refusal,
)
from tests._two_services import Pair
from verifier import TrustStore
from verifier.envelope import decode_envelope
from verifier.qr_image import qr_version, read_qr_image
from verifier.sd_jwt import split_compact
from wallet_api import answering
from wallet_api.errors import WalletError
from wallet_api.models import CredentialCopy, Presentation, SeenRequest

world, client, pair = _two_services.world, _two_services.client, _two_services.pair  # fixtures
counters = _presenting.counters  # fixture


def _copies_used(pair: Pair) -> int:
    with session_scope(pair.wallet.engine) as session:
        return sum(1 for c in session.exec(select(CredentialCopy)) if c.used_at is not None)


def test_a_counters_request_is_shown_signed_and_accepted_by_the_counter(
    counters: Counters,
) -> None:
    phone = counters.holder(copies=3)
    request = counters.request()
    assert request.envelope.startswith("JR1:")

    shown = phone.present(request.envelope)
    assert shown["state"] == "asked"
    assert shown["relying_party"] == {"id": BANK, "name": {"ko": f"{BANK} (ko)", "en": BANK}}
    assert shown["purpose"] == ACCOUNT_OPENING
    assert shown["credential"]["type"] == "resident_register_extract"
    assert shown["expires_at"] == request.expires_at
    resident = counters.pair.wallet.registry.get("resident_register_extract")
    held = {
        row["name"]: row["value"] for row in phone.credential(shown["credential"]["id"])["claims"]
    }
    assert [(row["path"], row["label"], row["value"]) for row in shown["disclosed"]] == [
        ([name], {lang: resident.claim_label(name, lang) for lang in ("ko", "en")}, held[name])
        for name in ("name", "birth_date", "address")
    ]
    assert _copies_used(counters.pair) == 0  # shown, nothing taken yet

    signing = phone.accept_presentation(shown["id"])
    assert signing["holder_jkt"] in {k.kid for k in phone.keys.list_keys()}
    assert _copies_used(counters.pair) == 1
    answer = phone.sign_presentation(shown["id"], signing)
    assert answer["state"] == "answered" and answer["envelope"].startswith("JG1:")
    assert "png" not in answer and "svg" not in answer

    verdict = counters.verifier().verify_answer(answer["envelope"], request, now=counters.now())
    assert verdict.valid, verdict.error
    assert {k: verdict.claims[k] for k in ("name", "birth_date", "address")} == {
        k: held[k] for k in ("name", "birth_date", "address")
    }
    assert "resident_registration_number" not in verdict.claims  # only what was asked

    metrics = counters.pair.wallet_http.get("/metrics").text
    assert 'jigap_wallet_presentations_total{outcome="answered",response_mode="jigap_qr"}' in (
        metrics
    )
    # The working data (the copy's disclosures) is gone once answered.
    with session_scope(counters.pair.wallet.engine) as session:
        row = session.get(Presentation, shown["id"])
        assert row is not None and row.sealed_state is None and row.answered_at is not None


def test_each_presentation_uses_another_copy(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    first = phone.answer(counters.request().envelope)
    second = phone.answer(counters.request().envelope)
    one, two = (split_compact(decode_envelope(a["envelope"])) for a in (first, second))
    # Another copy: another issuer signature, other disclosures (salts), another holder key.
    assert one.issuer_jwt != two.issuer_jwt
    assert not set(one.disclosures) & set(two.disclosures)
    assert _copies_used(counters.pair) == 2
    [held] = phone.credentials()
    assert held["unused_copies"] == 0
    status, error, description = refusal(lambda: phone.present(counters.request().envelope))
    assert (status, error) == (409, "no_unused_copy")
    assert "ask the agency for more copies" in description


def test_the_answer_as_png_and_svg_reads_back_and_fits_the_qr_budget(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    for image_format in ("png", "svg"):
        request = counters.request()
        shown = phone.present(request.token)  # the plain compact JWS is read too
        answer = phone.sign_presentation(
            shown["id"], phone.accept_presentation(shown["id"], image_format)
        )
        image = base64.b64decode(answer[image_format])
        if image_format == "png":
            assert read_qr_image(image) == answer["envelope"]
        else:
            assert image.startswith((b"<?xml", b"<svg"))
        # Name, birth date and address of a resident-register extract: within version 25-M.
        assert qr_version(answer["envelope"], "M") <= 25
        verdict = counters.verifier().verify_answer(answer["envelope"], request, counters.now())
        assert verdict.valid, verdict.error


def test_the_history_lists_who_saw_which_claims_without_values(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    held = phone.credential(phone.credentials()[0]["credential_id"])
    answered = phone.answer(counters.request().envelope)
    refused = phone.present(counters.request().envelope)
    phone.refuse(refused["id"])

    history = phone.presentations()
    assert [e["state"] for e in history] == ["refused", "answered"] or {
        e["state"] for e in history
    } == {"refused", "answered"}
    entry = next(e for e in history if e["id"] == answered["id"])
    assert entry["relying_party"]["id"] == BANK and entry["purpose"] == ACCOUNT_OPENING
    assert [row["path"] for row in entry["disclosed"]] == [["name"], ["birth_date"], ["address"]]
    assert entry["request_hash"] and entry["answered_at"] is not None
    text = str(history)
    for claim in held["claims"]:
        assert str(claim["value"]) not in text  # no value of any claim
    with session_scope(counters.pair.wallet.engine) as session:
        for row in session.exec(select(Presentation)):
            assert str(held["claims"][0]["value"]) not in str(row.model_dump())

    phone.delete_presentation(answered["id"])
    assert [e["id"] for e in phone.presentations()] == [refused["id"]]
    status, error, _ = refusal(lambda: phone.delete_presentation(answered["id"]))
    assert (status, error) == (404, "not_found")


def test_a_preset_is_answered_with_no_request(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    [preset] = phone.presets()
    assert (preset["client_id"], preset["purpose_id"]) == (STORE, "age_check")
    assert preset["purpose"] == AGE_CHECK and preset["one_way_seconds"] == 60
    assert preset["credentials"][0]["claims"][0]["path"] == ["age_over_19"]

    shown = phone.present_preset(STORE, "age_check")
    assert [row["path"] for row in shown["disclosed"]] == [["age_over_19"]]
    answer = phone.sign_presentation(shown["id"], phone.accept_presentation(shown["id"]))
    verifier = counters.verifier()
    verdict = verifier.verify_preset(answer["envelope"], STORE, "age_check", counters.now())
    assert verdict.valid, verdict.error
    assert verdict.claims.get("age_over_19") is True
    assert "name" not in verdict.claims
    late = verifier.verify_preset(answer["envelope"], STORE, "age_check", counters.now() + 120)
    assert not late.valid  # the one-way window is the purpose's 60 s


def test_another_account_cannot_see_or_answer_a_presentation(counters: Counters) -> None:
    phone = counters.holder(copies=2)
    shown = phone.present(counters.request().envelope)
    other = counters.pair.registered_phone()
    for call in (
        lambda: other.accept_presentation(shown["id"]),
        lambda: other.refuse(shown["id"]),
        lambda: other.delete_presentation(shown["id"]),
        lambda: other.call("GET", f"/presentations/{shown['id']}"),
    ):
        assert refusal(call)[:2] == (404, "not_found")
    assert other.presentations() == []
    signing = phone.accept_presentation(shown["id"])
    signature = phone.keys.sign(signing["holder_jkt"], signing["signing_input"].encode("ascii"))
    path, body = f"/presentations/{shown['id']}/signature", {"signature": b64url_encode(signature)}
    assert refusal(lambda: other.call("POST", path, json=body))[:2] == (404, "not_found")
    assert phone.sign_presentation(shown["id"], signing)["state"] == "answered"


def test_deleting_the_account_deletes_its_history(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    phone.answer(counters.request().envelope)
    phone.delete_account()
    with session_scope(counters.pair.wallet.engine) as session:
        assert list(session.exec(select(Presentation))) == []
        assert len(list(session.exec(select(SeenRequest)))) == 1  # a hash, until the request's exp


def test_two_presentations_racing_for_the_last_copy_take_it_once(counters: Counters) -> None:
    phone = counters.holder(copies=1)
    account_id = phone.me()["account_id"]
    shown = [phone.present(counters.request().envelope)["id"] for _ in range(2)]
    barrier = threading.Barrier(2)

    def accept(presentation_id: str) -> str:
        barrier.wait()
        try:
            answering.accept(counters.pair.wallet, account_id, presentation_id)
        except WalletError as exc:
            return str(exc.code)
        return "accepted"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(accept, shown))
    assert outcomes == ["accepted", "no_unused_copy"]
    assert _copies_used(counters.pair) == 1


def test_the_answer_verifies_with_the_reference_implementation(counters: Counters) -> None:
    """PyPI `sd-jwt` (the IETF reference), its KB-JWT checked with the request's audience
    (the client_id) and nonce, the issuer's key from the trust list."""
    phone = counters.holder(copies=1)
    request = counters.request()
    answer = decode_envelope(phone.answer(request.envelope)["envelope"])
    store = TrustStore.load(counters.pair.wallet.settings.trust_dir, now=counters.now())

    def key_for(unverified_issuer: str, unverified_header: Mapping[str, Any]) -> JWK:
        entry = store.issuer(unverified_issuer)
        assert entry is not None
        key = entry.jwks.get(unverified_header["kid"])
        assert key is not None
        return JWK.from_json(json.dumps(key.to_jwk()))

    payload = SDJWTVerifier(
        answer, key_for, expected_aud=BANK, expected_nonce=request.nonce
    ).get_verified_payload()
    assert {"name", "birth_date", "address"} <= set(payload)
    assert "resident_registration_number" not in payload
