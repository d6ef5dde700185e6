"""Households and tables disclosed one element, one member at a time, end to end.

Credentials of the bundled types are made by our issuer (`issue_sd_jwt_vc`, recursive
disclosures as each type file declares them), the phone's answer is the wallet's selection for
the counter's DCQL query (`select_for_query`) bound by the wallet's KB-JWT, and the counter
judges it against its signed request (`Verifier.verify_answer`): only what was asked is shown,
other elements and members stay digests, and the answer is refused if it shows more. The IETF
reference implementation verifies the same nested credentials and presentations.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from credential_schemas import CredentialType
from issuer.credential import KOREA, StatusReference, issue_sd_jwt_vc
from keys.jwk import Jwks
from keys.relying_party import relying_party_from_entry
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from verifier import ErrorCode, TrustStore, Verifier, encode_envelope
from verifier import sd_jwt_vc as vc
from verifier.dcql import CredentialQuery, parse_dcql_query
from verifier.dcql_select import Selection, select_for_query
from verifier.openid4vp import PresentationRequest
from verifier.sd_jwt import SdJwt, decode_disclosure, split_compact
from wallet_api.presentation import prepare_key_binding, select_disclosures

from ._counter import (
    ANCHOR,
    DAY,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    NOW,
    REGISTRY,
    STATUS_URI,
    WOORI,
    WOORI_KEY,
    party_entry,
    payload_of,
    status_list_token,
)

HOUSEHOLD = REGISTRY.get("resident_register_copy")
INCOME = REGISTRY.get("income_amount_certificate")
DISABILITY = REGISTRY.get("disability_registration_certificate")
MARRIAGE = REGISTRY.get("marriage_certificate")
NESTED = (HOUSEHOLD, INCOME, DISABILITY, MARRIAGE)


def purpose(purpose_id: str, credential_type: CredentialType, *paths: list[Any]) -> Any:
    return {
        "id": purpose_id,
        "name": {"ko": purpose_id, "en": purpose_id},
        "credentials": [{"vct": credential_type.vct, "claims": list(paths)}],
    }


PURPOSES = [
    purpose("household_size", HOUSEHOLD, ["household_size"]),
    purpose("relations", HOUSEHOLD, ["household_members", None, "relation"]),
    purpose("head_of_household_row", HOUSEHOLD, ["household_members", 0, "relation"]),
    purpose("latest_income", INCOME, ["income_records", 0]),
    purpose("disability_degree", DISABILITY, ["disabilities", None, "severity"]),
    purpose("spouse_name", MARRIAGE, ["spouse", "name"]),
]


@pytest.fixture(scope="module")
def store() -> TrustStore:
    issuer = TrustedIssuer(
        id=ISSUER,
        names={"ko": "발급기관", "en": "Issuing agency"},
        jwks=Jwks.of(ISSUER_KEY.public_key),
        credential_types=frozenset(t.vct for t in NESTED),
        valid_from=NOW - 30 * DAY,
        valid_until=NOW + 365 * DAY,
    )
    party = relying_party_from_entry(party_entry(WOORI, WOORI_KEY.public_key, PURPOSES))
    token = sign_trust_list(
        TrustList(
            "https://trust.jigap.example",
            1,
            NOW - 60,
            NOW + 7 * DAY,
            {ISSUER: issuer},
            {WOORI: party},
        ),
        ANCHOR,
    )
    trusted = TrustStore.from_trust_list(token, ANCHOR.public_key, now=NOW)
    trusted.add_status_list(STATUS_URI, status_list_token(), fetched_at=NOW)
    return trusted


@pytest.fixture(scope="module")
def verifier(store: TrustStore) -> Verifier:
    return Verifier(store, registry=REGISTRY)


def issued(credential_type: CredentialType, example: int = 0) -> str:
    return issue_sd_jwt_vc(
        credential_type,
        credential_type.examples[example],
        issuer_id=ISSUER,
        signing_key=ISSUER_KEY,
        holder_key=HOLDER_KEY.public_key,
        status=StatusReference(STATUS_URI, 7),
        now=NOW - DAY,
    ).compact


def bound(sd_jwt: SdJwt, nonce: str) -> str:
    prepared = prepare_key_binding(
        sd_jwt, holder_algorithm=HOLDER_KEY.algorithm, audience=WOORI, nonce=nonce, now=NOW
    )
    return prepared.finish(HOLDER_KEY.sign(prepared.signing_input))


def ask(verifier: Verifier, purpose_id: str) -> PresentationRequest:
    return verifier.make_request(
        signer=WOORI_KEY, client_id=WOORI, purpose_id=purpose_id, now=NOW - 5
    )


def answer(verifier: Verifier, credential: str, request: PresentationRequest) -> Any:
    """The wallet's selection for the request, and the counter's verdict on it."""
    selection = select_for_query(credential, request.credential_query)
    result = verifier.verify_answer(
        encode_envelope(bound(selection.sd_jwt, request.nonce)), request, now=NOW
    )
    assert result.valid, result.detail
    return selection, dict(result.claims)


def by_values(
    credential_type: CredentialType, path: list[Any], values: list[Any]
) -> CredentialQuery:
    return parse_dcql_query(
        {
            "credentials": [
                {
                    "id": credential_type.id,
                    "format": "dc+sd-jwt",
                    "meta": {"vct_values": [credential_type.vct]},
                    "claims": [{"path": path, "values": values}],
                }
            ]
        }
    ).credentials[0]


def disclosed_values(selection: Selection) -> list[Any]:
    return [decode_disclosure(d).value for d in selection.sd_jwt.disclosures]


# -- the issuer conceals what the type file names, recursively --------------------------------


def test_each_household_member_is_a_digest_in_the_signed_payload() -> None:
    credential = issued(HOUSEHOLD)
    payload = payload_of(split_compact(credential).issuer_jwt)
    members = HOUSEHOLD.examples[0]["household_members"]
    # Always disclosed as an array, but every element is a digest: the count shows, no value.
    assert [set(element) for element in payload["household_members"]] == [{"..."}] * len(members)
    elements = [
        d.value
        for d in map(decode_disclosure, split_compact(credential).disclosures)
        if d.name is None
    ]
    assert len(elements) == len(members)
    for element in elements:  # the number is a disclosure of its own inside each element
        assert "resident_registration_number" not in element
        assert len(element["_sd"]) == 1
    assert {e["name"] for e in elements} == {m["name"] for m in members}


# -- a household: its size, its relations, one row --------------------------------------------


def test_household_size_shows_no_member(verifier: Verifier) -> None:
    selection, claims = answer(verifier, issued(HOUSEHOLD), ask(verifier, "household_size"))
    assert claims == {"household_members": [], "household_size": 4}
    assert len(selection.sd_jwt.disclosures) == 1


def test_relations_of_every_member_show_no_resident_registration_number(
    verifier: Verifier,
) -> None:
    _, claims = answer(verifier, issued(HOUSEHOLD), ask(verifier, "relations"))
    members = HOUSEHOLD.examples[0]["household_members"]
    assert [m["relation"] for m in claims["household_members"]] == [m["relation"] for m in members]
    assert all("resident_registration_number" not in m for m in claims["household_members"])
    assert set(claims) == {"household_members"}


def test_one_row_by_index_shows_no_other_member(verifier: Verifier) -> None:
    _, claims = answer(verifier, issued(HOUSEHOLD), ask(verifier, "head_of_household_row"))
    head = HOUSEHOLD.examples[0]["household_members"][0]
    assert claims == {
        "household_members": [
            {key: value for key, value in head.items() if key != "resident_registration_number"}
        ]
    }


def test_one_member_by_value_shows_that_member_alone() -> None:
    """ "Is there a spouse?": the wallet finds the element by value; the counter sees it at
    index 0 (the array closes up), and nothing of the others."""
    selection = select_for_query(
        issued(HOUSEHOLD), by_values(HOUSEHOLD, ["household_members", None, "relation"], ["spouse"])
    )
    assert selection.disclosed == (("household_members", 0, "relation"),)
    [spouse] = selection.claims["household_members"]
    assert spouse["relation"] == "spouse"
    assert "resident_registration_number" not in spouse
    assert len(selection.sd_jwt.disclosures) == 1
    text = json.dumps(disclosed_values(selection), ensure_ascii=False)
    for other in HOUSEHOLD.examples[0]["household_members"]:
        if other["relation"] != "spouse":
            assert other["name"] not in text


def test_showing_another_member_too_is_refused(verifier: Verifier) -> None:
    request = ask(verifier, "head_of_household_row")
    credential = issued(HOUSEHOLD)
    selection = select_for_query(credential, request.credential_query)
    every = split_compact(credential).disclosures
    extra = next(
        d
        for d in every
        if d not in selection.sd_jwt.disclosures and decode_disclosure(d).name is None
    )
    more = replace(selection.sd_jwt, disclosures=(*selection.sd_jwt.disclosures, extra))
    result = verifier.verify_answer(bound(more, request.nonce), request, now=NOW)
    assert result.error is ErrorCode.NOT_REQUESTED, result.detail


# -- a table: one tax year without the others -------------------------------------------------


def test_tax_paid_in_2025_shows_no_other_year() -> None:
    credential = issued(INCOME)
    selection = select_for_query(
        credential, by_values(INCOME, ["income_records", None, "tax_year"], [2025])
    )
    [row] = selection.claims["income_records"]
    assert row == INCOME.examples[0]["income_records"][0]
    assert row["tax_year"] == 2025 and INCOME.unit("income_records[].determined_tax") == "KRW"
    assert len(selection.sd_jwt.disclosures) == 1
    assert all(value["tax_year"] == 2025 for value in disclosed_values(selection))


def test_the_latest_year_by_index_is_judged_by_the_counter(verifier: Verifier) -> None:
    _, claims = answer(verifier, issued(INCOME), ask(verifier, "latest_income"))
    example = INCOME.examples[0]
    # `issued_on` is issued in the clear (always disclosed); of the table, one row.
    assert claims == {"income_records": [example["income_records"][0]], "issued_on": "2026-05-20"}


# -- nested members: a degree without the disability, a spouse's name without their number ----


def test_degree_of_disability_without_its_type(verifier: Verifier) -> None:
    _, claims = answer(verifier, issued(DISABILITY), ask(verifier, "disability_degree"))
    assert claims == {"disabilities": [{"severity": "severe"}, {"severity": "not_severe"}]}


def test_spouse_name_without_their_birth_date_or_number(verifier: Verifier) -> None:
    selection, claims = answer(verifier, issued(MARRIAGE), ask(verifier, "spouse_name"))
    assert claims == {"spouse": {"name": "김영희"}}
    assert len(selection.sd_jwt.disclosures) == 2  # the spouse object, then its name


def test_a_type_without_nested_declarations_still_shows_elements_whole() -> None:
    extract = REGISTRY.get("resident_register_extract")
    selection = select_for_query(
        issued(extract),
        parse_dcql_query(
            {
                "credentials": [
                    {
                        "id": "x",
                        "format": "dc+sd-jwt",
                        "meta": {"vct_values": [extract.vct]},
                        "claims": [{"path": ["address_history", None, "moved_in"]}],
                    }
                ]
            }
        ).credentials[0],
    )
    assert selection.claims["address_history"] == extract.examples[0]["address_history"]


# -- the reference implementation reads what we nest ------------------------------------------


def reference_payload(text: str, *, key_binding: bool) -> dict[str, Any]:
    issuer_jwk = JWK.from_json(json.dumps(ISSUER_KEY.public_key.to_jwk()))
    expected = {"expected_aud": WOORI, "expected_nonce": "n-0S6_WzA2Mj"} if key_binding else {}
    payload: dict[str, Any] = SDJWTVerifier(
        text, lambda _iss, _header: issuer_jwk, **expected
    ).get_verified_payload()
    return {k: v for k, v in payload.items() if k not in vc.REGISTERED_CLAIMS}


@pytest.mark.parametrize("credential_type", NESTED, ids=lambda t: t.id)
def test_reference_verifies_our_nested_credential(credential_type: CredentialType) -> None:
    example = credential_type.examples[0]
    expected = {**example, **credential_type.derive(example, _today())}
    assert reference_payload(issued(credential_type), key_binding=False) == expected


def test_reference_verifies_our_nested_presentation(verifier: Verifier) -> None:
    selection = select_for_query(
        issued(HOUSEHOLD), by_values(HOUSEHOLD, ["household_members", None, "relation"], ["spouse"])
    )
    text = bound(selection.sd_jwt, "n-0S6_WzA2Mj")
    ours = verifier.verify(text, now=NOW)
    assert ours.valid, ours.detail
    assert reference_payload(text, key_binding=True) == dict(ours.claims) == selection.claims


def _today() -> date:
    return datetime.fromtimestamp(NOW - DAY, KOREA).date()


def test_choosing_by_name_takes_the_top_level_claim_not_a_members(verifier: Verifier) -> None:
    """The wallet's by-name choice (tests, the demo): `name` is the applicant's, never a
    household member's `name` inside an element, and a claim chosen is shown whole."""
    credential = issued(HOUSEHOLD)
    chosen = select_disclosures(credential, ("name",))
    assert [decode_disclosure(d).name for d in chosen.disclosures] == ["name"]
    result = verifier.verify(bound(chosen, "n-0S6_WzA2Mj"), now=NOW)
    assert result.valid, result.detail
    assert result.claims["name"] == HOUSEHOLD.examples[0]["name"]
    assert result.claims["household_members"] == []  # in the clear, every element a digest
    members = HOUSEHOLD.examples[0]["household_members"]
    table = select_disclosures(credential, ("household_members",))  # in the clear: shown whole
    assert len(table.disclosures) == 2 * len(members)  # each row and each row's number
    whole = verifier.verify(bound(table, "n-0S6_WzA2Mj"), now=NOW)
    assert whole.valid, whole.detail
    assert whole.claims["household_members"] == members
    spouse = select_disclosures(issued(MARRIAGE), ("spouse",))
    assert len(spouse.disclosures) == 4  # the spouse and each of its three members
