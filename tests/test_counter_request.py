"""The counter's request (OpenID4VP 1.0 request object, our profile) and answers judged against it.

Requests are read as a phone reads them (``read_request``): every ``RequestErrorCode`` is
reached by a case below, each built from a good request by one change and signed again (or not).
Answers are real: our issuer's credential, the phone's KB-JWT.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier

from keys.encoding import b64url_decode, b64url_encode
from keys.jwk import SigningKey
from keys.jws import sign_compact
from keys.relying_party import Purpose, relying_party_from_entry
from keys.trust_list import TrustList, sign_trust_list
from tests._counter import (
    ACCOUNT_OPENING,
    CLOSED,
    CLOSED_KEY,
    HEALTH,
    HOLDER_KEY,
    ISSUER,
    ISSUER_KEY,
    KB,
    KB_KEY,
    NOW,
    PARTIES,
    REGISTRY,
    REQUESTED,
    RESIDENT,
    RESPONSE_URI,
    STATUS_URI,
    WOORI,
    WOORI_KEY,
    Counter,
    header_of,
    payload_of,
    sign_raw,
    trust_store,
)
from tests._sd_jwt_builder import ISSUER_ID as BUILDER_ISSUER
from tests._sd_jwt_builder import SD, build_sd_jwt_vc
from verifier import ErrorCode, Policy, TrustStore, Verifier, encode_envelope
from verifier.dcql_select import select_for_query
from verifier.openid4vp import (
    MAX_REQUEST_LENGTH,
    MAX_REQUEST_LIFETIME,
    REQUEST_TYP,
    RESPONSE_MODE_DIRECT_POST,
    STATIC_AUDIENCE,
    PresentationRequest,
    RequestError,
    RequestErrorCode,
    read_request,
    sign_request,
)
from verifier.request_envelope import decode_request_envelope, encode_request_envelope
from verifier.sd_jwt import SdJwt, sd_hash


@pytest.fixture(scope="module")
def counter() -> Counter:
    return Counter()


def _purpose(store: TrustStore, purpose_id: str = "account_opening") -> Purpose:
    party = store.relying_party(WOORI)
    assert party is not None
    purpose = party.purpose(purpose_id)
    assert purpose is not None
    return purpose


def good_payload(store: TrustStore) -> dict[str, Any]:
    """What ``sign_request`` writes for Woori's account opening: the base every case changes."""
    token = sign_request(
        signer=WOORI_KEY, client_id=WOORI, purpose=_purpose(store), now=NOW, nonce="n" * 22
    )
    return payload_of(token)


def resign(
    store: TrustStore,
    change: Callable[[dict[str, Any]], None] = lambda _: None,
    *,
    key: SigningKey = WOORI_KEY,
    header: dict[str, Any] | None = None,
) -> str:
    payload = good_payload(store)
    change(payload)
    head = {"typ": REQUEST_TYP, "kid": key.kid, "alg": key.algorithm.value, **(header or {})}
    return sign_raw({k: v for k, v in head.items() if v is not None}, payload, key)


def setting(**members: Any) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload.update(members)


def dropping(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda payload: payload.pop(name)


def querying(**credential_changes: Any) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        payload["dcql_query"]["credentials"][0].update(credential_changes)

    return change


def asking(*paths: list[Any]) -> Callable[[dict[str, Any]], None]:
    return querying(claims=[{"path": path} for path in paths])


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        for one in changes:
            one(payload)

    return change


def _flip_signature(token: str) -> str:
    head, body, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[7] ^= 0x01
    return f"{head}.{body}.{b64url_encode(bytes(raw))}"


def _payload_swapped(store: TrustStore) -> str:
    head, _, signature = resign(store).split(".")
    other = resign(store, setting(nonce="m" * 22)).split(".")[1]
    return f"{head}.{other}.{signature}"


def _unsigned(store: TrustStore) -> str:
    head, body, _ = resign(store, header={"alg": "none"}).split(".")
    return f"{head}.{body}."


def _two_parts(store: TrustStore) -> str:
    return resign(store).rsplit(".", 1)[0]


def _not_json(_: TrustStore) -> str:
    header = {"typ": REQUEST_TYP, "kid": WOORI_KEY.kid, "alg": "ES256"}
    return sign_raw(header, b'{"client_id": "counter.woori.example",', WOORI_KEY)


def _two_queries(payload: dict[str, Any]) -> None:
    second = copy.deepcopy(payload["dcql_query"]["credentials"][0])
    payload["dcql_query"]["credentials"].append({**second, "id": "second"})


def _woori_purpose(purpose_id: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        woori = next(party for party in PARTIES if party["id"] == WOORI)
        registration = next(p for p in woori["purposes"] if p["id"] == purpose_id)
        payload["purpose"] = registration["name"]

    return change


@dataclass(frozen=True)
class Case:
    code: RequestErrorCode
    build: Callable[[TrustStore], str]


def changed(
    change: Callable[[dict[str, Any]], None],
    *,
    key: SigningKey = WOORI_KEY,
    header: dict[str, Any] | None = None,
) -> Callable[[TrustStore], str]:
    return lambda store: resign(store, change, key=key, header=header)


CASES: dict[str, Case] = {
    # the token itself
    "oversize": Case(
        RequestErrorCode.TOO_LARGE, changed(setting(padding="x" * MAX_REQUEST_LENGTH))
    ),
    "oversize-qr-text": Case(RequestErrorCode.TOO_LARGE, lambda _: "JR1:" + "0" * 20_000),
    "qr-text-not-base45": Case(RequestErrorCode.MALFORMED, lambda _: "JR1:abc"),
    "qr-text-of-an-unknown-version": Case(
        RequestErrorCode.UNSUPPORTED, lambda s: "JR9:" + encode_request_envelope(resign(s))[4:]
    ),
    "not-a-jws": Case(RequestErrorCode.MALFORMED, lambda _: "hello counter"),
    "two-parts-unsigned": Case(RequestErrorCode.MALFORMED, _two_parts),
    "payload-not-json": Case(RequestErrorCode.MALFORMED, _not_json),
    "wrong-typ": Case(RequestErrorCode.MALFORMED, changed(lambda _: None, header={"typ": "JWT"})),
    "no-typ": Case(RequestErrorCode.MALFORMED, changed(lambda _: None, header={"typ": None})),
    "crit-header": Case(
        RequestErrorCode.UNSUPPORTED, changed(lambda _: None, header={"crit": ["exp"]})
    ),
    "x5c-header": Case(
        RequestErrorCode.UNSUPPORTED, changed(lambda _: None, header={"x5c": ["MIIB"]})
    ),
    # who signed it
    "client-id-missing": Case(RequestErrorCode.MALFORMED, changed(dropping("client_id"))),
    "unregistered-client": Case(
        RequestErrorCode.UNREGISTERED_CLIENT, changed(setting(client_id="counter.evil.example"))
    ),
    "client-id-with-a-prefix": Case(
        RequestErrorCode.UNREGISTERED_CLIENT, changed(setting(client_id=f"x509_san_dns:{WOORI}"))
    ),
    "client-outside-its-validity": Case(
        RequestErrorCode.CLIENT_NOT_CURRENT, changed(setting(client_id=CLOSED), key=CLOSED_KEY)
    ),
    "key-of-another-counter": Case(
        RequestErrorCode.UNKNOWN_KEY, changed(lambda _: None, key=KB_KEY)
    ),
    "no-kid": Case(RequestErrorCode.UNKNOWN_KEY, changed(lambda _: None, header={"kid": None})),
    "forged-signature": Case(RequestErrorCode.BAD_SIGNATURE, lambda s: _flip_signature(resign(s))),
    "payload-of-another-request": Case(RequestErrorCode.BAD_SIGNATURE, _payload_swapped),
    "unsigned-alg-none": Case(RequestErrorCode.BAD_SIGNATURE, _unsigned),
    "header-alg-not-the-keys": Case(
        RequestErrorCode.BAD_SIGNATURE, changed(lambda _: None, header={"alg": "EdDSA"})
    ),
    # times
    "expired": Case(RequestErrorCode.EXPIRED, changed(setting(iat=NOW - 400, exp=NOW - 100))),
    "issued-in-the-future": Case(
        RequestErrorCode.NOT_YET_VALID, changed(setting(iat=NOW + 100, exp=NOW + 400))
    ),
    "not-before-in-the-future": Case(
        RequestErrorCode.NOT_YET_VALID, changed(setting(nbf=NOW + 100))
    ),
    "lifetime-too-long": Case(
        RequestErrorCode.LIFETIME_TOO_LONG,
        changed(setting(iat=NOW, exp=NOW + MAX_REQUEST_LIFETIME + 1)),
    ),
    "exp-before-iat": Case(RequestErrorCode.MALFORMED, changed(setting(exp=NOW - 1))),
    "iat-as-boolean": Case(RequestErrorCode.MALFORMED, changed(setting(iat=True))),
    # parameters
    "wrong-aud": Case(RequestErrorCode.UNSUPPORTED, changed(setting(aud="https://wallet.example"))),
    "no-aud": Case(RequestErrorCode.UNSUPPORTED, changed(dropping("aud"))),
    "transaction-data": Case(
        RequestErrorCode.UNSUPPORTED, changed(setting(transaction_data=["eyJ0eXBlIjoieCJ9"]))
    ),
    "request-uri-inside": Case(
        RequestErrorCode.MALFORMED, changed(setting(request_uri="https://woori.example/r"))
    ),
    "client-metadata-of-a-registered-client": Case(
        RequestErrorCode.MALFORMED, changed(setting(client_metadata={"vp_formats_supported": {}}))
    ),
    "response-type-code": Case(
        RequestErrorCode.UNSUPPORTED, changed(setting(response_type="code"))
    ),
    "response-mode-fragment": Case(
        RequestErrorCode.UNSUPPORTED, changed(setting(response_mode="fragment"))
    ),
    "redirect-uri": Case(
        RequestErrorCode.MALFORMED, changed(setting(redirect_uri="https://woori.example/cb"))
    ),
    "direct-post-without-response-uri": Case(
        RequestErrorCode.MALFORMED, changed(setting(response_mode=RESPONSE_MODE_DIRECT_POST))
    ),
    "response-uri-without-direct-post": Case(
        RequestErrorCode.MALFORMED, changed(setting(response_uri=RESPONSE_URI))
    ),
    "direct-post-to-an-unregistered-response-uri": Case(
        RequestErrorCode.RESPONSE_URI_NOT_REGISTERED,
        changed(
            setting(
                response_mode=RESPONSE_MODE_DIRECT_POST,
                response_uri="https://collector.evil.example/response",
            )
        ),
    ),
    "missing-nonce": Case(RequestErrorCode.MALFORMED, changed(dropping("nonce"))),
    "nonce-outside-url-safe-characters": Case(
        RequestErrorCode.MALFORMED, changed(setting(nonce="n0nce+with/slash=" + "a" * 10))
    ),
    "nonce-too-short": Case(RequestErrorCode.MALFORMED, changed(setting(nonce="n-0S6_WzA2Mj"))),
    "nonce-as-number": Case(RequestErrorCode.MALFORMED, changed(setting(nonce=12345))),
    "state-with-a-space": Case(RequestErrorCode.MALFORMED, changed(setting(state="a b"))),
    "scope-instead-of-a-query": Case(
        RequestErrorCode.UNSUPPORTED, changed(setting(scope="com.example.pid"))
    ),
    "no-query": Case(RequestErrorCode.MALFORMED, changed(dropping("dcql_query"))),
    # the query
    "query-not-an-object": Case(RequestErrorCode.INVALID_QUERY, changed(setting(dcql_query="[]"))),
    "query-empty": Case(RequestErrorCode.INVALID_QUERY, changed(setting(dcql_query={}))),
    "query-no-credentials": Case(
        RequestErrorCode.INVALID_QUERY, changed(setting(dcql_query={"credentials": []}))
    ),
    "query-other-format": Case(
        RequestErrorCode.INVALID_QUERY, changed(querying(format="mso_mdoc"))
    ),
    "query-trusted-authorities": Case(
        RequestErrorCode.INVALID_QUERY, changed(querying(trusted_authorities=[]))
    ),
    "query-path-no-type-has": Case(RequestErrorCode.INVALID_QUERY, changed(asking(["shoe_size"]))),
    "query-member-of-a-string": Case(
        RequestErrorCode.INVALID_QUERY, changed(asking(["address", "city"]))
    ),
    "query-unknown-type": Case(
        RequestErrorCode.INVALID_QUERY, changed(querying(meta={"vct_values": ["urn:x:unknown:1"]}))
    ),
    "two-credential-queries": Case(RequestErrorCode.UNSUPPORTED, changed(_two_queries)),
    "multiple-presentations": Case(RequestErrorCode.UNSUPPORTED, changed(querying(multiple=True))),
    "no-holder-binding": Case(
        RequestErrorCode.UNSUPPORTED, changed(querying(require_cryptographic_holder_binding=False))
    ),
    # why, and how much
    "no-purpose": Case(RequestErrorCode.MALFORMED, changed(dropping("purpose"))),
    "purpose-in-korean-only": Case(
        RequestErrorCode.MALFORMED, changed(setting(purpose={"ko": ACCOUNT_OPENING["ko"]}))
    ),
    "purpose-not-registered": Case(
        RequestErrorCode.PURPOSE_NOT_REGISTERED,
        changed(setting(purpose={"ko": "마케팅", "en": "Marketing"})),
    ),
    "purpose-name-changed-by-one-letter": Case(
        RequestErrorCode.PURPOSE_NOT_REGISTERED,
        changed(setting(purpose={**ACCOUNT_OPENING, "en": "Identity check to open accounts"})),
    ),
    "over-asking-a-claim-not-registered": Case(
        RequestErrorCode.OVER_ASKING,
        changed(asking(["name"], ["resident_registration_number"])),
    ),
    "over-asking-a-whole-object-when-a-member-is-registered": Case(
        RequestErrorCode.OVER_ASKING,
        changed(both(_woori_purpose("move_in_dates"), asking(["address_history"]))),
    ),
    "over-asking-another-member-of-each-element": Case(
        RequestErrorCode.OVER_ASKING,
        changed(
            both(_woori_purpose("move_in_dates"), asking(["address_history", None, "address"]))
        ),
    ),
    "over-asking-a-type-not-registered": Case(
        RequestErrorCode.OVER_ASKING,
        changed(querying(meta={"vct_values": [HEALTH]}, claims=[{"path": ["name"]}])),
    ),
    "over-asking-the-whole-credential": Case(
        RequestErrorCode.OVER_ASKING,
        changed(lambda p: p["dcql_query"]["credentials"][0].pop("claims")),
    ),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_a_bad_request_is_refused_with_its_code(counter: Counter, case_id: str) -> None:
    case = CASES[case_id]
    token = case.build(counter.store)
    with pytest.raises(RequestError) as caught:
        read_request(token, counter.store, now=NOW, registry=REGISTRY)
    assert caught.value.code is case.code, caught.value.detail


def test_every_request_error_code_is_reached() -> None:
    assert {case.code for case in CASES.values()} == set(RequestErrorCode)


def test_the_base_of_every_case_is_a_good_request(counter: Counter) -> None:
    request = read_request(resign(counter.store), counter.store, now=NOW, registry=REGISTRY)
    assert request.client_id == WOORI and request.purpose.id == "account_opening"


def test_a_whole_array_element_is_within_a_registration_of_every_element(counter: Counter) -> None:
    """The registered ``["address_history", null, "moved_in"]`` covers one element's member."""
    token = resign(
        counter.store,
        both(_woori_purpose("move_in_dates"), asking(["address_history", 0, "moved_in"])),
    )
    request = read_request(token, counter.store, now=NOW, registry=REGISTRY)
    assert request.purpose.id == "move_in_dates"


def test_unknown_members_are_ignored_and_iss_too(counter: Counter) -> None:
    """§5: a wallet MUST ignore parameters it does not know; `iss`, if present, is ignored."""
    token = resign(counter.store, setting(iss="https://someone.else", ui_locales="ko"))
    assert read_request(token, counter.store, now=NOW).client_id == WOORI


def test_a_request_at_the_edge_of_its_times_within_the_clock_skew(counter: Counter) -> None:
    token = resign(counter.store, setting(iat=NOW + 30, exp=NOW + 330))
    assert read_request(token, counter.store, now=NOW).issued_at == NOW + 30
    late = resign(counter.store, setting(iat=NOW - 329, exp=NOW - 29))
    assert read_request(late, counter.store, now=NOW).expires_at == NOW - 29


# -- signing and the round trip ----------------------------------------------------------------


def test_make_request_then_read_request_gives_the_same_request(counter: Counter) -> None:
    request = counter.verifier.make_request(
        signer=WOORI_KEY, client_id=WOORI, purpose_id="account_opening", now=NOW
    )
    assert request == read_request(request.token, counter.store, now=NOW + 10)
    assert request == read_request(request.envelope, counter.store, now=NOW + 10)
    assert request.envelope.startswith("JR")
    assert request.expires_at - request.issued_at == 300
    assert request.response_mode == "jigap_qr" and request.response_uri is None
    query = request.credential_query
    assert query.id == "resident_register_extract"
    assert query.vct_values == (RESIDENT,)
    assert [c.path for c in query.claims or ()] == [("name",), ("birth_date",), ("address",)]
    assert len(request.nonce) == 22 and request.nonce.isascii()

    header, payload = header_of(request.token), payload_of(request.token)
    assert header == {"typ": REQUEST_TYP, "kid": WOORI_KEY.kid, "alg": "ES256"}
    assert payload["aud"] == STATIC_AUDIENCE and payload["response_type"] == "vp_token"
    assert payload["purpose"] == ACCOUNT_OPENING


def test_two_requests_never_share_a_nonce(counter: Counter) -> None:
    nonces = {
        counter.verifier.make_request(
            signer=WOORI_KEY, client_id=WOORI, purpose_id="account_opening", now=NOW
        ).nonce
        for _ in range(20)
    }
    assert len(nonces) == 20


def test_a_direct_post_request_names_a_registered_response_uri(counter: Counter) -> None:
    request = counter.verifier.make_request(
        signer=WOORI_KEY,
        client_id=WOORI,
        purpose_id="account_opening",
        now=NOW,
        response_mode=RESPONSE_MODE_DIRECT_POST,
        response_uri=RESPONSE_URI,
        state="session-17",
    )
    assert (request.response_uri, request.state) == (RESPONSE_URI, "session-17")
    with pytest.raises(RequestError) as caught:
        counter.verifier.make_request(
            signer=WOORI_KEY,
            client_id=WOORI,
            purpose_id="account_opening",
            now=NOW,
            response_mode=RESPONSE_MODE_DIRECT_POST,
            response_uri="https://elsewhere.example/response",
        )
    assert caught.value.code is RequestErrorCode.RESPONSE_URI_NOT_REGISTERED


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ({"client_id": "counter.evil.example"}, RequestErrorCode.UNREGISTERED_CLIENT),
        ({"client_id": CLOSED, "signer": CLOSED_KEY}, RequestErrorCode.CLIENT_NOT_CURRENT),
        ({"purpose_id": "marketing"}, RequestErrorCode.PURPOSE_NOT_REGISTERED),
        ({"signer": KB_KEY}, RequestErrorCode.UNKNOWN_KEY),  # another counter's key
    ],
)
def test_make_request_asks_only_within_the_counters_registration(
    counter: Counter, arguments: dict[str, Any], code: RequestErrorCode
) -> None:
    given: dict[str, Any] = {
        "signer": WOORI_KEY,
        "client_id": WOORI,
        "purpose_id": "account_opening",
        "now": NOW,
        **arguments,
    }
    with pytest.raises(RequestError) as caught:
        counter.verifier.make_request(**given)
    assert caught.value.code is code


@pytest.mark.parametrize(
    "arguments",
    [
        {"lifetime": 0},
        {"lifetime": MAX_REQUEST_LIFETIME + 1},
        {"response_mode": "fragment"},
        {"response_mode": RESPONSE_MODE_DIRECT_POST},  # without a response_uri
        {"response_uri": RESPONSE_URI},  # without direct_post
        {"nonce": "short"},
        {"state": "a b"},
        {"vct": HEALTH},
    ],
)
def test_sign_request_refuses_what_no_phone_would_accept(
    counter: Counter, arguments: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"."):
        sign_request(
            signer=WOORI_KEY, client_id=WOORI, purpose=_purpose(counter.store), now=NOW, **arguments
        )


def test_a_purpose_of_two_types_needs_the_type_named(counter: Counter) -> None:
    purpose = _purpose(counter.store)
    two = replace(
        purpose, credentials=(*purpose.credentials, replace(purpose.credentials[0], vct=HEALTH))
    )
    with pytest.raises(ValueError, match="name the vct"):
        sign_request(signer=WOORI_KEY, client_id=WOORI, purpose=two, now=NOW)
    token = sign_request(signer=WOORI_KEY, client_id=WOORI, purpose=two, now=NOW, vct=HEALTH)
    assert payload_of(token)["dcql_query"]["credentials"][0]["meta"] == {"vct_values": [HEALTH]}


def test_an_eddsa_counter_signs_with_its_own_algorithm(counter: Counter) -> None:
    request = counter.verifier.make_request(
        signer=KB_KEY, client_id=KB, purpose_id="account_opening", now=NOW
    )
    assert header_of(request.token)["alg"] == "EdDSA"


# -- answers judged against their request --------------------------------------------------------


def _request(counter: Counter, client_id: str = WOORI, **kwargs: Any) -> PresentationRequest:
    signer = {WOORI: WOORI_KEY, KB: KB_KEY}[client_id]
    purpose = kwargs.pop("purpose_id", "account_opening")
    return counter.verifier.make_request(
        signer=signer, client_id=client_id, purpose_id=purpose, now=NOW, **kwargs
    )


def test_a_good_answer_is_valid_with_exactly_the_claims_asked(counter: Counter) -> None:
    request = _request(counter)
    answer = counter.answer(audience=request.client_id, nonce=request.nonce, now=NOW + 20)
    for shown in (answer, encode_envelope(answer)):
        result = counter.verifier.verify_answer(shown, request, now=NOW + 25)
        assert result.valid, result.detail
        assert dict(result.claims) == {
            "name": "홍길동",
            "birth_date": "1985-03-15",
            "address": "서울특별시 종로구 세종대로 209",
        }


@dataclass(frozen=True)
class AnswerCase:
    """An answer (text, the request it is judged against, the counter's clock) and its code."""

    code: ErrorCode
    build: Callable[[Counter], tuple[str, PresentationRequest, int]]


def _to_another_counter(counter: Counter) -> tuple[str, PresentationRequest, int]:
    """The phone answered KB's request; the answer is shown at Woori's counter."""
    theirs = _request(counter, KB)
    return counter.answer(audience=KB, nonce=theirs.nonce), _request(counter), NOW + 5


def _with_another_requests_nonce(counter: Counter) -> tuple[str, PresentationRequest, int]:
    first, second = _request(counter), _request(counter)
    return counter.answer(audience=WOORI, nonce=first.nonce), second, NOW + 5


def _answering(
    claims: tuple[str, ...] = REQUESTED,
    *,
    lifetime: int = 300,
    made: int = NOW,
    checked: int = NOW + 5,
    type_id: str = "resident_register_extract",
) -> Callable[[Counter], tuple[str, PresentationRequest, int]]:
    def build(counter: Counter) -> tuple[str, PresentationRequest, int]:
        request = _request(counter, lifetime=lifetime)
        credential = counter.credential(type_id)
        answer = counter.answer(
            audience=WOORI, nonce=request.nonce, claims=claims, now=made, credential=credential
        )
        return answer, request, checked

    return build


ANSWER_CASES: dict[str, AnswerCase] = {
    "to-another-counters-request": AnswerCase(ErrorCode.AUDIENCE_MISMATCH, _to_another_counter),
    "with-another-requests-nonce": AnswerCase(
        ErrorCode.NONCE_MISMATCH, _with_another_requests_nonce
    ),
    "a-claim-asked-for-missing": AnswerCase(
        ErrorCode.MISSING_REQUIRED_CLAIM, _answering(("name", "birth_date"))
    ),
    "a-disclosure-not-asked-for": AnswerCase(
        ErrorCode.NOT_REQUESTED, _answering((*REQUESTED, "resident_registration_number"))
    ),
    "after-the-request-expired": AnswerCase(
        ErrorCode.REQUEST_EXPIRED, _answering(lifetime=60, made=NOW + 59, checked=NOW + 60)
    ),
    "a-certificate-of-another-type": AnswerCase(
        ErrorCode.CREDENTIAL_TYPE_NOT_ACCEPTED,
        _answering(("name",), type_id="health_insurance_eligibility"),
    ),
    # the usual checks still run: a KB-JWT older than the policy allows (300 s + 30 s skew)
    "kb-jwt-too-old": AnswerCase(
        ErrorCode.PRESENTATION_TOO_OLD, _answering(lifetime=600, checked=NOW + 331)
    ),
}


@pytest.mark.parametrize("case_id", list(ANSWER_CASES))
def test_a_bad_answer_is_refused_with_its_code(counter: Counter, case_id: str) -> None:
    case = ANSWER_CASES[case_id]
    answer, request, now = case.build(counter)
    result = counter.verifier.verify_answer(answer, request, now=now)
    assert result.error is case.code, result.detail
    assert result.claims == {}


def test_the_refused_claim_is_named_for_the_operator(counter: Counter) -> None:
    answer, request, now = ANSWER_CASES["a-disclosure-not-asked-for"].build(counter)
    detail = counter.verifier.verify_answer(answer, request, now=now).detail
    assert "resident_registration_number" in detail
    answer, request, now = ANSWER_CASES["a-claim-asked-for-missing"].build(counter)
    assert "address" in counter.verifier.verify_answer(answer, request, now=now).detail


def test_the_answer_to_a_request_is_valid_until_the_request_expires(counter: Counter) -> None:
    answer, request, _ = ANSWER_CASES["after-the-request-expired"].build(counter)
    assert counter.verifier.verify_answer(answer, request, now=NOW + 59).valid


def test_an_answer_made_for_another_counter_is_valid_there(counter: Counter) -> None:
    theirs = _request(counter, KB)
    answer = counter.answer(audience=KB, nonce=theirs.nonce)
    assert counter.verifier.verify_answer(answer, theirs, now=NOW + 5).valid


def test_an_answer_is_bound_to_its_holder_whatever_the_policy_says(counter: Counter) -> None:
    """A counter's policy may accept unbound presentations; an answer to a request never."""
    lenient = Verifier(counter.store, Policy(require_holder_binding=False), REGISTRY)
    request = _request(counter)
    unbound = counter.answer(audience=WOORI, nonce=request.nonce).rsplit("~", 1)[0] + "~"
    assert lenient.verify(unbound, now=NOW).valid  # the policy's own rule, at large
    result = lenient.verify_answer(unbound, request, now=NOW)
    assert result.error is ErrorCode.KEY_BINDING_MISSING
    preset = lenient.verify_preset(unbound, WOORI, "age_check", now=NOW)
    assert preset.error is ErrorCode.KEY_BINDING_MISSING


# -- one-way presets ---------------------------------------------------------------------------


def test_a_preset_answer_is_accepted_within_its_window_and_refused_beyond(counter: Counter) -> None:
    answer = counter.answer(audience=WOORI, nonce="chosen-by-the-phone", claims=("age_over_19",))
    within = counter.verifier.verify_preset(answer, WOORI, "age_check", now=NOW + 60)
    assert within.valid, within.detail
    assert dict(within.claims) == {"age_over_19": True}
    beyond = counter.verifier.verify_preset(answer, WOORI, "age_check", now=NOW + 61)
    assert beyond.error is ErrorCode.PRESENTATION_TOO_OLD


def test_a_preset_answer_is_held_to_the_presets_registration(counter: Counter) -> None:
    verifier = counter.verifier
    more = counter.answer(audience=WOORI, nonce="n", claims=("age_over_19", "name"))
    assert (
        verifier.verify_preset(more, WOORI, "age_check", now=NOW).error is ErrorCode.NOT_REQUESTED
    )
    other_counter = counter.answer(audience=KB, nonce="n", claims=("age_over_19",))
    result = verifier.verify_preset(other_counter, WOORI, "age_check", now=NOW)
    assert result.error is ErrorCode.AUDIENCE_MISMATCH
    nothing = counter.answer(audience=WOORI, nonce="n", claims=())
    result = verifier.verify_preset(nothing, WOORI, "age_check", now=NOW)
    assert result.error is ErrorCode.MISSING_REQUIRED_CLAIM


@pytest.mark.parametrize(
    ("client_id", "purpose_id", "code"),
    [
        ("counter.evil.example", "age_check", RequestErrorCode.UNREGISTERED_CLIENT),
        (WOORI, "account_opening", RequestErrorCode.PURPOSE_NOT_REGISTERED),  # not one-way
        (WOORI, "marketing", RequestErrorCode.PURPOSE_NOT_REGISTERED),
        (CLOSED, "account_opening", RequestErrorCode.CLIENT_NOT_CURRENT),
    ],
)
def test_a_preset_the_store_does_not_register_is_the_counters_mistake(
    counter: Counter, client_id: str, purpose_id: str, code: RequestErrorCode
) -> None:
    with pytest.raises(RequestError) as caught:
        counter.verifier.verify_preset("anything", client_id, purpose_id, now=NOW)
    assert caught.value.code is code


# -- interop: the IETF reference implementation (PyPI sd-jwt 0.10.4) ------------------------------


def test_an_answer_to_a_request_verifies_with_the_reference_implementation(
    counter: Counter,
) -> None:
    """Its KB-JWT checked with aud = the request's client_id, nonce = the request's nonce."""
    request = _request(counter)
    answer = counter.answer(audience=request.client_id, nonce=request.nonce)
    issuer_jwk = JWK.from_json(json.dumps(ISSUER_KEY.public_key.to_jwk()))

    def key_for(unverified_issuer: str, unverified_header: Mapping[str, Any]) -> JWK:
        assert unverified_issuer == ISSUER and unverified_header["kid"] == ISSUER_KEY.kid
        return issuer_jwk

    payload = SDJWTVerifier(
        answer, key_for, expected_aud=request.client_id, expected_nonce=request.nonce
    ).get_verified_payload()
    assert {name: payload[name] for name in REQUESTED} == dict(
        counter.verifier.verify_answer(answer, request, now=NOW).claims
    )
    with pytest.raises(ValueError, match="nonce"):  # the reference refuses another request's
        SDJWTVerifier(
            answer, key_for, expected_aud=request.client_id, expected_nonce=_request(counter).nonce
        )


# -- the worked example of docs/counter-request.md is real ----------------------------------------

PROFILE_DOC = Path(__file__).parents[1] / "docs" / "counter-request.md"


def _doc_examples() -> dict[str, str]:
    text = PROFILE_DOC.read_text("utf-8")
    blocks = re.findall(r"<!-- example:(\w+) -->\n```\w*\n(.*?)```", text, flags=re.DOTALL)
    return {name: body.strip() for name, body in blocks}


def test_the_documented_request_is_signed_by_the_documented_counter_and_reads_as_shown() -> None:
    example = _doc_examples()
    token, payload = example["token"], json.loads(example["payload"])
    assert header_of(token) == json.loads(example["header"])
    assert payload_of(token) == payload
    assert decode_request_envelope(example["envelope"]) == token
    # A trust list naming the documented counter (with its documented key) reads it as valid.
    anchor = SigningKey.generate()
    party = relying_party_from_entry(json.loads(example["entry"]))
    trust_list = TrustList(
        "https://trust.example", 1, payload["iat"], payload["exp"], {}, {party.id: party}
    )
    store = TrustStore.from_trust_list(
        sign_trust_list(trust_list, anchor), anchor.public_key, now=payload["iat"]
    )
    request = read_request(example["envelope"], store, now=payload["iat"] + 10, registry=REGISTRY)
    assert request.purpose.id == "account_opening"
    key_binding = json.loads(example["kb_jwt"])
    assert (key_binding["aud"], key_binding["nonce"]) == (request.client_id, request.nonce)


def test_the_profile_documents_every_request_error_code() -> None:
    text = PROFILE_DOC.read_text("utf-8")
    for code in RequestErrorCode:
        assert f"`{code.value}`" in text, code


# -- nested disclosures: chosen by the wallet's selection, judged by the counter ---------------


def test_a_nested_answer_chosen_by_dcql_selection_is_valid_and_one_element_more_is_not() -> None:
    """Array elements and their members as disclosures of their own (any issuer may make them):
    the counter asked for the first address-history element; a second one is not requested."""
    example = REGISTRY.get("resident_register_extract").examples[0]
    claims: dict[str, Any] = {name: SD(value) for name, value in example.items()}
    claims["address_history"] = SD(
        [
            SD({name: SD(value) for name, value in element.items()})
            for element in example["address_history"]
        ]
    )
    claims["status"] = {"status_list": {"idx": 7, "uri": STATUS_URI}}
    built = build_sd_jwt_vc(
        claims, signer=ISSUER_KEY, holder_key=HOLDER_KEY.public_key, vct=RESIDENT, now=NOW
    )
    counter = Counter(trust_store(issuer_id=BUILDER_ISSUER))
    request = counter.verifier.make_request(
        signer=WOORI_KEY, client_id=WOORI, purpose_id="first_address", now=NOW
    )
    selection = select_for_query(built.compact, request.credential_query)

    def answered(sd_jwt: SdJwt) -> str:
        kb = sign_compact(
            {
                "iat": NOW,
                "aud": WOORI,
                "nonce": request.nonce,
                "sd_hash": sd_hash(sd_jwt.without_key_binding()),
            },
            HOLDER_KEY,
            {"typ": "kb+jwt"},
        )
        return replace(sd_jwt, kb_jwt=kb).serialize()

    result = counter.verifier.verify_answer(answered(selection.sd_jwt), request, now=NOW + 5)
    assert result.valid, result.detail
    assert dict(result.claims) == {"address_history": [example["address_history"][0]]}

    second = built.encoded(
        ("address_history", 1),
        ("address_history", 1, "address"),
        ("address_history", 1, "moved_in"),
    )
    more = replace(selection.sd_jwt, disclosures=(*selection.sd_jwt.disclosures, *sorted(second)))
    refused = counter.verifier.verify_answer(answered(more), request, now=NOW + 5)
    assert refused.error is ErrorCode.NOT_REQUESTED, refused.detail
    assert "'address_history', 1" in refused.detail
