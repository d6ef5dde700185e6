"""Registered relying parties in the trust list: parsing, every refusal, and what they allow."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from keys.errors import KeyErrorCode, TrustListError
from keys.jwk import Algorithm, SigningKey
from keys.jws import sign_compact
from keys.relying_party import path_covers, relying_party_from_entry
from keys.trust_list import (
    TRUST_LIST_TYP,
    TrustList,
    sign_trust_list,
    trusted_issuer_from_entry,
    verify_trust_list,
)
from verifier import TrustStore

NOW = 1_700_000_000
DAY = 86_400
ANCHOR = SigningKey.generate(Algorithm.ES256)
ISSUER_KEY = SigningKey.generate(Algorithm.ES256)
COUNTER_KEY = SigningKey.generate(Algorithm.ES256)
RESIDENT = "urn:jigap:resident-register-extract:1"


def rp_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "counter.woori.example",
        "name": {"ko": "우리은행", "en": "Woori Bank"},
        "jwks": {"keys": [COUNTER_KEY.public_key.to_jwk()]},
        "valid_from": NOW - DAY,
        "valid_until": NOW + 365 * DAY,
        "response_uris": ["https://verify.woori.example/oid4vp/response"],
        "purposes": [
            {
                "id": "account_opening",
                "name": {"ko": "계좌 개설 본인 확인", "en": "Identity check to open an account"},
                "credentials": [
                    {"vct": RESIDENT, "claims": [["name"], ["birth_date"], ["address"]]}
                ],
            },
            {
                "id": "age_check",
                "name": {"ko": "만 19세 이상 확인", "en": "Age check: 19 or over"},
                "credentials": [{"vct": RESIDENT, "claims": [["age_over_19"]]}],
                "one_way_seconds": 60,
            },
        ],
    }
    entry.update(overrides)
    return entry


def issuer_entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": "https://issuer.gov.kr/resident-register",
        "name": {"ko": "행정안전부", "en": "Ministry of the Interior and Safety"},
        "jwks": {"keys": [ISSUER_KEY.public_key.to_jwk()]},
        "credential_types": [RESIDENT],
        "valid_from": NOW - DAY,
        "valid_until": NOW + 365 * DAY,
    }
    entry.update(overrides)
    return entry


def trust_list(*parties: dict[str, Any], issuer: dict[str, Any] | None = None) -> TrustList:
    issuer_parsed = trusted_issuer_from_entry(issuer or issuer_entry())
    relying = {p["id"]: relying_party_from_entry(p) for p in parties}
    return TrustList(
        "https://trust.jigap.go.kr",
        7,
        NOW,
        NOW + 7 * DAY,
        {issuer_parsed.id: issuer_parsed},
        relying,
    )


def refused(entry: object, fragment: str) -> None:
    with pytest.raises(TrustListError) as caught:
        relying_party_from_entry(entry)
    assert caught.value.code is KeyErrorCode.TRUST_LIST_INVALID
    assert fragment in caught.value.detail


def test_an_entry_reads_into_typed_values_and_back_to_the_same_entry() -> None:
    party = relying_party_from_entry(rp_entry())
    assert party.names["en"] == "Woori Bank"
    assert party.is_current(NOW) and not party.is_current(NOW + 366 * DAY)
    opening = party.purpose("account_opening")
    assert opening is not None and opening.one_way_seconds is None
    assert opening.allows(RESIDENT, ("address",))
    assert not opening.allows(RESIDENT, ("resident_registration_number",))
    assert not opening.allows("urn:jigap:health-insurance-eligibility:1", ("name",))
    preset = party.purpose_named({"ko": "만 19세 이상 확인", "en": "Age check: 19 or over"})
    assert preset is not None and preset.id == "age_check" and preset.one_way_seconds == 60
    assert party.purpose_named({"ko": "만 19세 이상 확인", "en": "Age check"}) is None
    assert relying_party_from_entry(party.to_entry()) == party


@pytest.mark.parametrize(
    ("registered", "requested", "covered"),
    [
        (("address",), ("address",), True),
        (("address",), ("address", "city"), True),  # below a registered claim
        (("address", "city"), ("address",), False),  # the whole object is more
        (("history", None), ("history", 3), True),
        (("history", None), ("history", None, "address"), True),
        (("history", 3), ("history", None), False),  # every element is more than one
        (("history", None), ("history", "x"), False),
        (("history", 0), ("history", 0), True),
        (("name",), ("birth_date",), False),
    ],
)
def test_a_registered_path_covers_itself_and_what_lies_below(
    registered: tuple[Any, ...], requested: tuple[Any, ...], covered: bool
) -> None:
    assert path_covers(registered, requested) is covered


def _without(member: str) -> dict[str, Any]:
    entry = rp_entry()
    del entry[member]
    return entry


def _purpose_with(**changes: Any) -> dict[str, Any]:
    entry = rp_entry()
    entry["purposes"][0].update(changes)
    return entry


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ([], "not an object"),
        (rp_entry(id="verifier_attestation:woori"), "DNS-style"),
        (rp_entry(id="https://woori.example"), "DNS-style"),
        (rp_entry(id="Woori"), "DNS-style"),
        (_without("purposes"), "missing ['purposes']"),
        ({**rp_entry(), "extra": 1}, "unknown ['extra']"),
        (rp_entry(name={"ko": "우리은행"}), "name must hold"),
        (rp_entry(name={"ko": " ", "en": "Woori"}), "a name is empty"),
        (rp_entry(valid_from=NOW, valid_until=NOW), "valid_from is not before"),
        (rp_entry(valid_from=True), "not a non-negative integer"),
        (rp_entry(response_uris=["ftp://woori.example/r"]), "not an https URL"),
        (rp_entry(response_uris=["http://woori.example/r"]), "not an https URL"),
        (rp_entry(response_uris=["https://a.example/r", "https://a.example/r"]), "twice"),
        (rp_entry(purposes=[]), "purposes must be a list of 1"),
        (rp_entry(purposes=[rp_entry()["purposes"][0]] * 2), "purpose id is used twice"),
        (_purpose_with(id="Account Opening"), "purpose id"),
        (_purpose_with(credentials=[]), "credentials must be a list of 1"),
        (_purpose_with(one_way_seconds=3600), "one_way_seconds must be"),
        (_purpose_with(one_way_seconds=5), "one_way_seconds must be"),
        (_purpose_with(credentials=[{"vct": RESIDENT, "claims": [[0]]}]), "starts with a claim"),
        (_purpose_with(credentials=[{"vct": RESIDENT, "claims": [["a", -1]]}]), "an index or"),
        (_purpose_with(credentials=[{"vct": RESIDENT, "claims": [["a"], ["a"]]}]), "twice"),
        (_purpose_with(credentials=[{"vct": RESIDENT, "claims": [["a"] * 9]}]), "claims path"),
        (_purpose_with(credentials=[{"vct": RESIDENT}]), "missing ['claims']"),
        (
            _purpose_with(
                credentials=[{"vct": RESIDENT, "claims": [["a"]]}, {"vct": RESIDENT, "claims": []}]
            ),
            "claims of",
        ),
    ],
)
def test_a_malformed_entry_is_refused_naming_its_fault(entry: object, fragment: str) -> None:
    refused(entry, fragment)


def test_two_purposes_with_one_name_are_refused_a_request_names_its_purpose() -> None:
    entry = rp_entry()
    entry["purposes"][1]["name"] = copy.deepcopy(entry["purposes"][0]["name"])
    refused(entry, "same name")


def test_a_signed_list_carries_its_relying_parties_to_the_verifier_store() -> None:
    token = sign_trust_list(trust_list(rp_entry()), ANCHOR)
    store = TrustStore.from_trust_list(token, ANCHOR.public_key, now=NOW)
    party = store.relying_party("counter.woori.example")
    assert party is not None and party.jwks.get(COUNTER_KEY.kid) is not None
    assert store.relying_party("counter.unknown.example") is None


def test_a_list_without_relying_parties_keeps_its_claims_and_digest() -> None:
    plain = trust_list()
    assert "relying_parties" not in plain.to_claims()
    read = verify_trust_list(sign_trust_list(plain, ANCHOR), ANCHOR.public_key, now=NOW)
    assert read.relying_parties == {} and read.digest == plain.digest
    assert trust_list(rp_entry()).digest != plain.digest


def test_a_key_held_by_an_issuer_and_a_counter_is_refused() -> None:
    shared = rp_entry(jwks={"keys": [ISSUER_KEY.public_key.to_jwk()]})
    with pytest.raises(TrustListError) as caught:
        sign_trust_list(trust_list(shared), ANCHOR)
    assert "is listed under" in caught.value.detail


def test_the_same_counter_twice_and_a_list_that_is_not_a_list_are_refused() -> None:
    claims = trust_list(rp_entry()).to_claims()
    for parties, fragment in (
        ([rp_entry(), rp_entry()], "listed twice"),
        ({"id": "x"}, "must be a list"),
    ):
        token_claims = {**claims, "relying_parties": parties}
        token = sign_compact(token_claims, ANCHOR, {"typ": TRUST_LIST_TYP, "kid": ANCHOR.kid})
        with pytest.raises(TrustListError) as caught:
            verify_trust_list(token, ANCHOR.public_key, now=NOW)
        assert fragment in caught.value.detail
