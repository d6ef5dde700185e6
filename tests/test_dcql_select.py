"""Selecting the fewest disclosures for a DCQL query (OpenID4VP 1.0 §6.4, §7; RFC 9901 §7.1).

Each case names the query, the exact disclosures chosen (by the path where each sits) and what
the counter sees: ``Selection.claims`` is the presentation processed by the tree's own
``resolve_claims``, so "nothing else selectively disclosable" is asserted on what is shown, not
on what the selection says about itself. Credentials are built in every shape an issuer may
make (``tests/_sd_jwt_builder.py``) and from our issuer's resident-register extract; the
presentations made from selections verify with the IETF reference implementation too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from credential_schemas import CredentialType, Registry
from issuer.credential import IssuedCredential, StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_encode, json_dumps
from keys.jwk import SigningKey
from keys.jws import ALG, TYP
from verifier import dcql_select
from verifier import sd_jwt_vc as vc
from verifier.dcql import ClaimsPath, CredentialQuery, parse_dcql_query
from verifier.dcql_select import (
    NotSatisfiable,
    Selection,
    disclosure_paths,
    missing_claims,
    path_requested,
    select_for_query,
)
from verifier.errors import ErrorCode, VerificationError
from verifier.sd_jwt import (
    MAX_CLAIM_DEPTH,
    MAX_DISCLOSURES,
    SD_HASH_KEY,
    decode_disclosure,
    encode_disclosure,
    sd_hash,
    split_compact,
)
from wallet_api.presentation import PreparedPresentation

from ._sd_jwt_builder import ISSUER_ID, NOW, SD, VCT, BuiltCredential, build_sd_jwt_vc

AUDIENCE = "counter.woori.example"
NONCE = "bYbc3A8Mq9kQx2rTz5VwLg"

# Every shape: a nested object whose members are each disclosed, arrays of disclosed elements,
# an array of disclosed objects with disclosed members, an array of plain objects with
# disclosed members, and claims that are always visible.
PERSON: dict[str, Any] = {
    "given_name": SD("길동"),
    "family_name": SD("홍"),
    "address": SD(
        {
            "street": SD("세종대로 209"),
            "city": SD("서울특별시"),
            "postal_code": SD("03172"),
            "country": "KR",
        }
    ),
    "nationalities": SD([SD("KR"), SD("US")]),
    "address_history": [
        SD({"city": "수원시", "moved_in": SD("2009-02-23")}),
        SD({"city": "서울특별시", "moved_in": SD("2016-08-01")}),
    ],
    "degrees": [
        {"type": SD("학사"), "university": "KAIST"},
        {"type": SD("석사"), "university": "서울대학교"},
    ],
    "age_over_19": SD(True),
    "issuing_country": "KR",
}
# What any presentation of PERSON shows, with no disclosure at all.
ALWAYS_VISIBLE: dict[str, Any] = {
    "address_history": [],
    "degrees": [{"university": "KAIST"}, {"university": "서울대학교"}],
    "issuing_country": "KR",
}


@pytest.fixture(scope="module")
def issuer_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def holder_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture(scope="module")
def person(issuer_key: SigningKey, holder_key: SigningKey) -> BuiltCredential:
    return build_sd_jwt_vc(PERSON, signer=issuer_key, holder_key=holder_key.public_key)


def query(
    *claims: Mapping[str, Any],
    claim_sets: list[list[str]] | None = None,
    vct: str = VCT,
) -> CredentialQuery:
    """A credential query as a counter would send it, read by the DCQL parser."""
    credential: dict[str, Any] = {
        "id": "credential",
        "format": "dc+sd-jwt",
        "meta": {"vct_values": [vct]},
    }
    if claims:
        credential["claims"] = list(claims)
    if claim_sets is not None:
        credential["claim_sets"] = claim_sets
    return parse_dcql_query({"credentials": [credential]}).credentials[0]


def paths(*pointers: list[Any], vct: str = VCT) -> CredentialQuery:
    return query(*({"path": pointer} for pointer in pointers), vct=vct)


def chosen(selection: Selection) -> set[str]:
    return set(selection.sd_jwt.disclosures)


def test_the_credential_has_decoys_in_every_digest_list(person: BuiltCredential) -> None:
    """The premise of every case below: decoys sit beside the digests that selection follows."""
    payload_digests = len(person.payload["_sd"])
    in_payload = sum(1 for path in person.disclosures if len(path) == 1)

    assert payload_digests == in_payload + 1
    assert "nationalities" not in person.payload  # itself a disclosure
    assert "..." in person.payload["address_history"][0]  # the decoy element
    assert len(person.payload["address_history"]) == 3


# -- fewest disclosures, and exactly what the counter sees ------------------------------------

SELECTIONS = [
    pytest.param(
        [["given_name"]],
        [("given_name",)],
        {"given_name": "길동"},
        [("given_name",)],
        id="top-level-claim",
    ),
    pytest.param(
        [["address", "city"]],
        [("address",), ("address", "city")],
        {"address": {"city": "서울특별시", "country": "KR"}},
        [("address", "city")],
        id="nested-member-needs-its-parent-only",
    ),
    pytest.param(
        [["address"]],
        [("address",), ("address", "street"), ("address", "city"), ("address", "postal_code")],
        {
            "address": {
                "street": "세종대로 209",
                "city": "서울특별시",
                "postal_code": "03172",
                "country": "KR",
            }
        },
        [("address",)],
        id="object-shown-whole",
    ),
    pytest.param(
        [["nationalities", None]],
        [("nationalities",), ("nationalities", 0), ("nationalities", 1)],
        {"nationalities": ["KR", "US"]},
        [("nationalities", 0), ("nationalities", 1)],
        id="null-selects-every-element",
    ),
    pytest.param(
        [["nationalities", 0]],
        [("nationalities",), ("nationalities", 0)],
        {"nationalities": ["KR"]},
        [("nationalities", 0)],
        id="first-element-by-index",
    ),
    pytest.param(
        [["nationalities"]],
        [("nationalities",), ("nationalities", 0), ("nationalities", 1)],
        {"nationalities": ["KR", "US"]},
        [("nationalities",)],
        id="array-shown-whole",
    ),
    pytest.param(
        [["address_history", None, "moved_in"]],
        [
            ("address_history", 0),
            ("address_history", 0, "moved_in"),
            ("address_history", 1),
            ("address_history", 1, "moved_in"),
        ],
        {
            "address_history": [
                {"city": "수원시", "moved_in": "2009-02-23"},
                {"city": "서울특별시", "moved_in": "2016-08-01"},
            ]
        },
        [("address_history", 0, "moved_in"), ("address_history", 1, "moved_in")],
        id="member-of-every-disclosed-element",
    ),
    pytest.param(
        [["address_history", 0, "city"]],
        [("address_history", 0)],
        {"address_history": [{"city": "수원시"}]},
        [("address_history", 0, "city")],
        id="plain-member-of-a-disclosed-element",
    ),
    pytest.param(
        [["degrees", 1, "type"]],
        [("degrees", 1, "type")],
        {"degrees": [{"university": "KAIST"}, {"type": "석사", "university": "서울대학교"}]},
        [("degrees", 1, "type")],
        id="member-of-a-plain-element",
    ),
    pytest.param(
        [["degrees", None, "type"], ["given_name"], ["address", "postal_code"]],
        [
            ("degrees", 0, "type"),
            ("degrees", 1, "type"),
            ("given_name",),
            ("address",),
            ("address", "postal_code"),
        ],
        {
            "degrees": [
                {"type": "학사", "university": "KAIST"},
                {"type": "석사", "university": "서울대학교"},
            ],
            "given_name": "길동",
            "address": {"postal_code": "03172", "country": "KR"},
        },
        [
            ("degrees", 0, "type"),
            ("degrees", 1, "type"),
            ("given_name",),
            ("address", "postal_code"),
        ],
        id="several-claims",
    ),
    pytest.param(
        [["issuing_country"], ["degrees", 0, "university"]],
        [],
        {},
        [("issuing_country",), ("degrees", 0, "university")],
        id="always-visible-claims-need-nothing",
    ),
    pytest.param(
        [["address"], ["address", "city"]],
        [("address",), ("address", "street"), ("address", "city"), ("address", "postal_code")],
        {
            "address": {
                "street": "세종대로 209",
                "city": "서울특별시",
                "postal_code": "03172",
                "country": "KR",
            }
        },
        [("address",), ("address", "city")],
        id="overlapping-claims-disclosed-once",
    ),
]


@pytest.mark.parametrize(("pointers", "disclosed_at", "shown", "visible"), SELECTIONS)
def test_selection_is_the_fewest_disclosures(
    person: BuiltCredential,
    pointers: list[list[Any]],
    disclosed_at: list[ClaimsPath],
    shown: dict[str, Any],
    visible: list[ClaimsPath],
) -> None:
    selection = select_for_query(person.compact, paths(*pointers))

    assert chosen(selection) == person.encoded(*disclosed_at)
    assert len(selection.sd_jwt.disclosures) == len(disclosed_at)
    assert selection.claims == {**ALWAYS_VISIBLE, **shown}
    assert selection.disclosed == tuple(visible)
    assert selection.sd_jwt.issuer_jwt == split_compact(person.compact).issuer_jwt
    assert selection.sd_jwt.kb_jwt is None


def test_disclosures_keep_the_credentials_order(person: BuiltCredential) -> None:
    selection = select_for_query(person.compact, paths(["address"], ["nationalities"]))

    order = split_compact(person.compact).disclosures
    assert list(selection.sd_jwt.disclosures) == [d for d in order if d in chosen(selection)]


def test_no_claims_asked_discloses_nothing(person: BuiltCredential) -> None:
    """§6.4.1: without `claims`, only what is mandatory: the issuer JWT."""
    selection = select_for_query(person.compact, query())

    assert selection.sd_jwt.disclosures == ()
    assert selection.claims == ALWAYS_VISIBLE
    assert selection.disclosed == ()


# -- values (§6.3) and claim_sets (§6.4.1) ----------------------------------------------------


def test_values_select_only_matching_elements(person: BuiltCredential) -> None:
    selection = select_for_query(
        person.compact, query({"path": ["nationalities", None], "values": ["US"]})
    )

    assert chosen(selection) == person.encoded(("nationalities",), ("nationalities", 1))
    assert selection.claims["nationalities"] == ["US"]
    assert selection.disclosed == (("nationalities", 0),)  # where the counter sees it


def test_a_matching_value_is_disclosed(person: BuiltCredential) -> None:
    selection = select_for_query(person.compact, query({"path": ["age_over_19"], "values": [True]}))

    assert chosen(selection) == person.encoded(("age_over_19",))


def test_claim_sets_first_satisfiable_option(person: BuiltCredential) -> None:
    asked = query(
        {"id": "birth", "path": ["birth_date"]},
        {"id": "age", "path": ["age_over_19"]},
        {"id": "name", "path": ["given_name"]},
        claim_sets=[["birth", "name"], ["age"], ["name"]],
    )

    selection = select_for_query(person.compact, asked)

    assert chosen(selection) == person.encoded(("age_over_19",))
    assert selection.claims == {**ALWAYS_VISIBLE, "age_over_19": True}


def test_claim_sets_preferred_option_when_satisfiable(person: BuiltCredential) -> None:
    asked = query(
        {"id": "age", "path": ["age_over_19"]},
        {"id": "name", "path": ["given_name"]},
        claim_sets=[["name"], ["age"]],
    )

    assert chosen(select_for_query(person.compact, asked)) == person.encoded(("given_name",))


# -- NotSatisfiable: nothing disclosed, the missing paths named -------------------------------

UNSATISFIABLE = [
    pytest.param(paths(["birth_date"]), (("birth_date",),), id="claim-the-credential-lacks"),
    pytest.param(
        paths(["given_name"], ["birth_date"], ["address", "county"]),
        (("birth_date",), ("address", "county")),
        id="only-the-lacking-claims-named",
    ),
    pytest.param(paths(["nationalities", 2]), (("nationalities", 2),), id="index-out-of-range"),
    pytest.param(paths(["given_name", "x"]), (("given_name", "x"),), id="name-into-a-string"),
    pytest.param(paths(["address", None]), (("address", None),), id="null-into-an-object"),
    pytest.param(paths(["address", 0]), (("address", 0),), id="index-into-an-object"),
    pytest.param(
        query({"path": ["age_over_19"], "values": [False]}),
        (("age_over_19",),),
        id="values-mismatch",
    ),
    pytest.param(
        query({"path": ["age_over_19"], "values": [1]}),
        (("age_over_19",),),
        id="values-true-is-not-1",
    ),
    pytest.param(
        query({"path": ["address"], "values": ["서울특별시"]}),
        (("address",),),
        id="values-never-match-an-object",
    ),
    pytest.param(
        query({"path": ["nationalities", None], "values": ["JP"]}),
        (("nationalities", None),),
        id="values-match-no-element",
    ),
    # The second nationality alone would be the counter's first: the answer would not hold
    # ["nationalities", 1], and disclosing the first, unasked, is not allowed (§6.4).
    pytest.param(paths(["nationalities", 1]), (("nationalities", 1),), id="index-would-shift"),
    pytest.param(
        query(
            {"id": "birth", "path": ["birth_date"]},
            {"id": "rrn", "path": ["resident_registration_number"]},
            claim_sets=[["birth", "rrn"], ["rrn"]],
        ),
        (("birth_date",), ("resident_registration_number",)),
        id="no-claim-set-option-names-the-preferred",
    ),
    pytest.param(paths(["given_name"], vct="urn:jigap:other:1"), (("vct",),), id="wrong-vct"),
]


@pytest.mark.parametrize(("asked", "missing"), UNSATISFIABLE)
def test_not_satisfiable_names_missing_paths(
    person: BuiltCredential, asked: CredentialQuery, missing: tuple[ClaimsPath, ...]
) -> None:
    with pytest.raises(NotSatisfiable) as raised:
        select_for_query(person.compact, asked)

    assert raised.value.missing == missing
    assert raised.value.detail


def test_index_without_shift_when_the_earlier_element_is_asked_too(
    person: BuiltCredential,
) -> None:
    selection = select_for_query(person.compact, paths(["nationalities", 0], ["nationalities", 1]))

    assert selection.claims["nationalities"] == ["KR", "US"]
    assert selection.disclosed == (("nationalities", 0), ("nationalities", 1))


def test_index_that_another_claim_would_fill_is_refused(issuer_key: SigningKey) -> None:
    """Disclosing "en" and "ja" would show "ja" at index 1: the counter asking for index 1
    would accept the wrong language. Presence at the index is not enough; position is."""
    languages = build_sd_jwt_vc({"languages": [SD("ko"), SD("en"), SD("ja")]}, signer=issuer_key)
    asked = query({"path": ["languages", 1]}, {"path": ["languages", None], "values": ["ja"]})

    with pytest.raises(NotSatisfiable) as raised:
        select_for_query(languages.compact, asked)

    assert raised.value.missing == (("languages", 1),)
    with_first = query(
        {"path": ["languages", 0]},
        {"path": ["languages", 1]},
        {"path": ["languages", None], "values": ["ja"]},
    )
    selection = select_for_query(languages.compact, with_first)
    assert selection.claims == {"languages": ["ko", "en", "ja"]}
    assert selection.disclosed == (("languages", 0), ("languages", 1), ("languages", 2))


@pytest.mark.parametrize(
    ("credential", "code"),
    [
        pytest.param("not an sd-jwt", ErrorCode.MALFORMED, id="no-tilde"),
        pytest.param("e30.e30.sig~", ErrorCode.MALFORMED, id="issuer-jwt-not-a-jws"),
    ],
)
def test_a_broken_credential_is_a_verification_error(credential: str, code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as raised:
        select_for_query(credential, paths(["given_name"]))

    assert raised.value.code is code


def test_a_presentation_is_not_a_credential(
    person: BuiltCredential, holder_key: SigningKey
) -> None:
    presentation = present(select_for_query(person.compact, paths(["given_name"])), holder_key)

    with pytest.raises(VerificationError) as raised:
        select_for_query(presentation, paths(["given_name"]))

    assert raised.value.code is ErrorCode.MALFORMED


def test_a_stray_disclosure_in_the_credential_is_refused(person: BuiltCredential) -> None:
    stray = encode_disclosure("nickname", "길동이").encoded
    with pytest.raises(VerificationError) as raised:
        select_for_query(f"{person.compact}{stray}~", paths(["given_name"]))

    assert raised.value.code is ErrorCode.DISCLOSURE_UNREFERENCED


# -- what the counter uses: disclosure_paths, path_requested, missing_claims ------------------


def test_disclosure_paths_of_the_whole_credential(person: BuiltCredential) -> None:
    disclosures = [decode_disclosure(d) for d in split_compact(person.compact).disclosures]

    found = disclosure_paths(person.payload, disclosures)

    assert found == {d.digest: path for path, d in person.disclosures.items()}


def test_disclosure_paths_are_where_the_counter_sees_them(person: BuiltCredential) -> None:
    """The second nationality shown alone is the counter's element 0."""
    shown = [person.disclosures[("nationalities",)], person.disclosures[("nationalities", 1)]]

    found = disclosure_paths(person.payload, shown)

    assert found == {shown[0].digest: ("nationalities",), shown[1].digest: ("nationalities", 0)}


def test_disclosure_paths_refuse_what_processing_refuses(person: BuiltCredential) -> None:
    child_alone = [person.disclosures[("address", "city")]]
    twice = [person.disclosures[("given_name",)]] * 2

    with pytest.raises(VerificationError) as unreferenced:
        disclosure_paths(person.payload, child_alone)
    with pytest.raises(VerificationError) as duplicated:
        disclosure_paths(person.payload, twice)

    assert unreferenced.value.code is ErrorCode.DISCLOSURE_UNREFERENCED
    assert duplicated.value.code is ErrorCode.DISCLOSURE_DUPLICATED


def test_every_chosen_disclosure_is_requested(person: BuiltCredential) -> None:
    asked = paths(["address", "city"], ["address_history", None, "moved_in"], ["degrees", 1])
    selection = select_for_query(person.compact, asked)
    disclosures = [decode_disclosure(d) for d in selection.sd_jwt.disclosures]

    found = disclosure_paths(person.payload, disclosures)

    assert len(found) == len(disclosures) == 7
    assert all(path_requested(path, asked) for path in found.values())


REQUESTED = [
    pytest.param(("address",), True, id="on-the-way"),
    pytest.param(("address", "city"), True, id="the-claim-itself"),
    pytest.param(("address", "street"), False, id="a-sibling"),
    pytest.param(("nationalities", 3), True, id="null-is-any-index"),
    pytest.param(("degrees", 0, "type"), True, id="inside-an-asked-claim"),
    pytest.param(("degrees", 1, "type"), False, id="another-index"),
    pytest.param(("given_name",), False, id="not-asked"),
    pytest.param(("age_over_19",), False, id="not-asked-either"),
]


@pytest.mark.parametrize(("path", "requested"), REQUESTED)
def test_path_requested(path: ClaimsPath, requested: bool) -> None:
    asked = paths(["address", "city"], ["nationalities", None], ["degrees", 0])

    assert path_requested(path, asked) is requested


def test_nothing_is_requested_by_a_query_without_claims() -> None:
    assert not path_requested(("given_name",), query())


def test_missing_claims() -> None:
    claims = {"given_name": "길동", "nationalities": ["KR"], "age_over_19": True}

    assert missing_claims(claims, paths(["given_name"], ["nationalities", 0])) == ()
    assert missing_claims(claims, paths(["given_name"], ["nationalities", 1])) == (
        ("nationalities", 1),
    )
    assert missing_claims(claims, query({"path": ["age_over_19"], "values": [False]})) == (
        ("age_over_19",),
    )
    sets = query(
        {"id": "birth", "path": ["birth_date"]},
        {"id": "age", "path": ["age_over_19"]},
        claim_sets=[["birth"], ["age"]],
    )
    assert missing_claims(claims, sets) == ()
    assert missing_claims({"given_name": "길동"}, sets) == (("birth_date",),)
    assert missing_claims({}, query()) == ()


# -- a real credential from our issuer --------------------------------------------------------

RESIDENT_REGISTER = "resident_register_extract"


@pytest.fixture(scope="module")
def resident_type() -> CredentialType:
    return Registry.load().get(RESIDENT_REGISTER)


@pytest.fixture(scope="module")
def resident(
    resident_type: CredentialType, issuer_key: SigningKey, holder_key: SigningKey
) -> IssuedCredential:
    assert resident_type.source is not None
    example = json.loads(resident_type.source.read_text("utf-8"))["examples"]["valid"][0]
    return issue_sd_jwt_vc(
        resident_type,
        example,
        issuer_id=ISSUER_ID,
        signing_key=issuer_key,
        holder_key=holder_key.public_key,
        status=StatusReference("https://issuer.example.kr/status/1", 7),
        now=NOW - 3600,
    )


def by_name(credential: IssuedCredential) -> dict[str, str]:
    return {d.name: d.encoded for d in credential.disclosures if d.name is not None}


def test_real_credential_name_birth_date_address(
    resident: IssuedCredential, resident_type: CredentialType
) -> None:
    asked = paths(["name"], ["birth_date"], ["address"], vct=resident_type.vct)

    selection = select_for_query(resident.compact, asked)

    names = by_name(resident)
    assert chosen(selection) == {names["name"], names["birth_date"], names["address"]}
    assert selection.claims == {
        "name": "홍길동",
        "birth_date": "1985-03-15",
        "address": "서울특별시 종로구 세종대로 209",
    }


def test_real_credential_age_over_19_alone(
    resident: IssuedCredential, resident_type: CredentialType
) -> None:
    asked = query({"path": ["age_over_19"], "values": [True]}, vct=resident_type.vct)

    selection = select_for_query(resident.compact, asked)

    assert chosen(selection) == {by_name(resident)["age_over_19"]}
    assert selection.claims == {"age_over_19": True}


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_real_credential_any_subset_of_top_level_claims(
    data: st.DataObject, resident: IssuedCredential, resident_type: CredentialType
) -> None:
    names = by_name(resident)
    asked_names = data.draw(st.sets(st.sampled_from(sorted(names)), min_size=1))
    asked = query(*({"path": [name]} for name in sorted(asked_names)), vct=resident_type.vct)

    selection = select_for_query(resident.compact, asked)

    assert chosen(selection) == {names[name] for name in asked_names}
    assert set(selection.claims) == asked_names
    assert selection.disclosed == tuple((name,) for name in sorted(asked_names))


# -- bounds: a hostile credential ------------------------------------------------------------


def nested(depth: int) -> dict[str, Any]:
    """``{"a": SD({"a": SD(... {"leaf": SD(1)})})}``: a chain of ``depth`` disclosures."""
    node: dict[str, Any] = {"leaf": SD(1)}
    for _ in range(depth - 1):
        node = {"a": SD(node)}
    return node


def test_deepest_and_widest_credential_within_the_limits(issuer_key: SigningKey) -> None:
    """A chain of disclosures as deep as processing allows, beside an array of as many
    elements as a credential may carry: selection stays linear."""
    depth = MAX_CLAIM_DEPTH // 2 - 1  # each disclosed object nests its value one level deeper
    claims = {
        "deep": nested(depth),
        "wide": SD([SD(i) for i in range(MAX_DISCLOSURES - depth - 1)]),
        "plain": list(range(2000)),
    }
    credential = build_sd_jwt_vc(claims, signer=issuer_key, decoys=False)
    assert len(credential.disclosures) == MAX_DISCLOSURES

    whole = select_for_query(credential.compact, paths(["deep"], ["wide", None], ["plain", None]))

    assert len(whole.sd_jwt.disclosures) == MAX_DISCLOSURES
    assert len(whole.disclosed) == (MAX_DISCLOSURES - depth - 1) + 2000 + 1
    one = select_for_query(credential.compact, paths(["deep", "a", "a", "a"], ["wide", 0]))
    assert len(one.sd_jwt.disclosures) == depth + 2  # the chain shown whole, the array and one


def test_a_query_repeating_itself_over_a_long_array_stays_bounded(
    issuer_key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The largest query DCQL parsing lets through (64 claims, 16 claim_sets options of all of
    them) over a 60 KB credential: each claim is applied once, not once per option."""
    credential = build_sd_jwt_vc({"plain": list(range(9000)), "x": SD(1)}, signer=issuer_key)
    assert len(credential.compact) < 64 * 1024
    claims = [{"id": f"c{i}", "path": ["plain", None], "values": [i]} for i in range(63)]
    every_option = [f"c{i}" for i in range(63)]
    unanswerable = query(
        *claims, {"id": "absent", "path": ["absent"]}, claim_sets=[[*every_option, "absent"]] * 16
    )

    walks: list[object] = []
    point = dcql_select._point

    def counted(*args: Any, **kwargs: Any) -> Any:
        walks.append(args[1])
        return point(*args, **kwargs)

    monkeypatch.setattr(dcql_select, "_point", counted)
    with pytest.raises(NotSatisfiable) as raised:
        select_for_query(credential.compact, unanswerable)
    # Each of the 64 claims walked once over the held credential, not once per option (16x).
    assert len(walks) == 64
    answered = select_for_query(credential.compact, query(*claims))
    still_missing = missing_claims(answered.claims, unanswerable)

    assert raised.value.missing == (("absent",),)
    assert answered.disclosed == tuple(("plain", i) for i in range(63))
    assert answered.sd_jwt.disclosures == ()
    assert still_missing == (("absent",),)


def test_over_the_limits_refused_before_selecting(issuer_key: SigningKey) -> None:
    too_deep = build_sd_jwt_vc({"deep": nested(MAX_CLAIM_DEPTH)}, signer=issuer_key)
    too_many = build_sd_jwt_vc(
        {"wide": [SD(i) for i in range(MAX_DISCLOSURES + 1)]}, signer=issuer_key
    )

    for credential in (too_deep, too_many):
        with pytest.raises(VerificationError) as raised:
            select_for_query(credential.compact, paths(["deep"]))
        assert raised.value.code is ErrorCode.TOO_LARGE


# -- interop: the reference implementation verifies what a selection presents -----------------


def present(selection: Selection, holder_key: SigningKey) -> str:
    """Selection + KB-JWT, as the wallet's PreparedPresentation signs it."""
    header = {TYP: vc.KB_JWT_TYP, ALG: holder_key.algorithm.value}
    payload = {
        vc.IAT: NOW - 5,
        vc.AUD: AUDIENCE,
        vc.NONCE: NONCE,
        SD_HASH_KEY: sd_hash(selection.sd_jwt.without_key_binding()),
    }
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(payload))}"
    prepared = PreparedPresentation(selection.sd_jwt, signing_input.encode("ascii"))
    return prepared.finish(holder_key.sign(prepared.signing_input))


def reference_verify(presentation: str, issuer_key: SigningKey) -> dict[str, Any]:
    issuer_jwk = JWK.from_json(json.dumps(issuer_key.public_key.to_jwk()))

    def key_for(unverified_issuer: str, unverified_header: Mapping[str, Any]) -> JWK:
        assert unverified_issuer == ISSUER_ID
        assert unverified_header["kid"] == issuer_key.kid
        return issuer_jwk

    verified = SDJWTVerifier(presentation, key_for, expected_aud=AUDIENCE, expected_nonce=NONCE)
    payload: dict[str, Any] = verified.get_verified_payload()
    return {k: v for k, v in payload.items() if k not in vc.REGISTERED_CLAIMS}


@pytest.mark.parametrize(
    "pointers",
    [
        pytest.param([["address", "city"]], id="nested-member"),
        pytest.param([["address"], ["nationalities", None]], id="whole-object-and-array"),
        pytest.param([["address_history", None, "moved_in"]], id="array-of-disclosed-objects"),
        pytest.param([["degrees", 1, "type"], ["age_over_19"]], id="plain-elements"),
    ],
)
def test_reference_verifies_a_selection_of_nested_claims(
    person: BuiltCredential,
    issuer_key: SigningKey,
    holder_key: SigningKey,
    pointers: list[list[Any]],
) -> None:
    selection = select_for_query(person.compact, paths(*pointers))

    theirs = reference_verify(present(selection, holder_key), issuer_key)

    assert theirs == selection.claims


def test_reference_verifies_a_selection_of_our_credential(
    resident: IssuedCredential,
    resident_type: CredentialType,
    issuer_key: SigningKey,
    holder_key: SigningKey,
) -> None:
    asked = query(
        *({"path": [name]} for name in ("name", "birth_date", "address")), vct=resident_type.vct
    )
    selection = select_for_query(resident.compact, asked)

    theirs = reference_verify(present(selection, holder_key), issuer_key)

    assert theirs == selection.claims
    assert set(theirs) == {"name", "birth_date", "address"}


def test_reference_refuses_a_selection_for_another_counter(
    person: BuiltCredential, issuer_key: SigningKey, holder_key: SigningKey
) -> None:
    """The reference checks the KB-JWT `aud` against the request's: the test can fail."""
    presentation = present(select_for_query(person.compact, paths(["given_name"])), holder_key)
    issuer_jwk = JWK.from_json(json.dumps(issuer_key.public_key.to_jwk()))

    with pytest.raises(ValueError, match=r"aud"):
        SDJWTVerifier(
            presentation,
            lambda _iss, _header: issuer_jwk,
            expected_aud="counter.other.example",
            expected_nonce=NONCE,
        )
