"""Strict everywhere a key or token comes in, not only in the presentation path."""

from __future__ import annotations

import pytest

from keys.encoding import b64url_decode, b64url_encode, json_loads_object
from keys.errors import InvalidKeyError, KeyErrorCode, KeyManagementError
from keys.jwk import Jwks, SigningKey
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from tests._world import ISSUER, NOW, RESIDENT, STATUS_URI, World, sign_raw
from verifier import ErrorCode, TrustStore, VerificationError, decode_envelope, encode_envelope
from verifier.sd_jwt import encode_disclosure, resolve_claims, split_compact
from verifier.sd_jwt_vc import NOT_SELECTIVELY_DISCLOSABLE
from verifier.status_list import build_status_list_token

SMALL_ORDER_ED25519 = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes(32))}


def _off_curve_p256() -> dict[str, str]:
    jwk = SigningKey.generate().public_key.to_thumbprint_jwk()
    jwk["y"] = jwk["x"]  # (x, x) is not on P-256 for any x a generator gives
    return jwk


def _trust_list() -> TrustList:
    entry = TrustedIssuer(
        ISSUER,
        {"ko": "발급기관", "en": "Issuer"},
        Jwks.of(SigningKey.generate().public_key),
        frozenset({"urn:jigap:resident-register-extract:1"}),
        NOW - 10,
        NOW + 10,
    )
    return TrustList("https://trust.example", 1, NOW, NOW + 60, {ISSUER: entry})


@pytest.mark.parametrize(
    "bad_key", [SMALL_ORDER_ED25519, _off_curve_p256()], ids=["small-order", "off-curve"]
)
def test_weak_keys_are_refused_when_an_issuer_is_added(bad_key: dict[str, str]) -> None:
    with pytest.raises(InvalidKeyError):
        TrustStore().add_issuer(ISSUER, {"keys": [bad_key]})


@pytest.mark.parametrize(
    "bad_key", [SMALL_ORDER_ED25519, _off_curve_p256()], ids=["small-order", "off-curve"]
)
def test_weak_keys_are_refused_in_a_trust_list(bad_key: dict[str, str]) -> None:
    anchor = SigningKey.generate()
    claims = _trust_list().to_claims()
    claims["issuers"][0]["jwks"] = {"keys": [bad_key]}
    token = sign_raw(
        {"alg": "ES256", "typ": "jigap-trust-list+jwt", "kid": anchor.kid}, claims, anchor
    )
    with pytest.raises(KeyManagementError) as caught:
        TrustStore.from_trust_list(token, anchor.public_key.to_jwk(), now=NOW)
    assert caught.value.code == KeyErrorCode.TRUST_LIST_INVALID


def test_weak_anchor_is_refused() -> None:
    anchor = SigningKey.generate()
    token = sign_trust_list(_trust_list(), anchor)
    with pytest.raises(InvalidKeyError) as caught:
        TrustStore.from_trust_list(token, SMALL_ORDER_ED25519, now=NOW)
    assert caught.value.code == KeyErrorCode.WEAK_KEY


def test_a_credential_is_not_a_status_list() -> None:
    world = World()
    credential = split_compact(world.credential()).issuer_jwt
    with pytest.raises(VerificationError) as caught:
        world.store.add_status_list(STATUS_URI, credential)
    assert caught.value.code == ErrorCode.WRONG_TOKEN_TYPE


def test_a_credential_is_not_a_trust_list() -> None:
    world = World()
    credential = split_compact(world.credential()).issuer_jwt
    with pytest.raises(KeyManagementError) as caught:
        TrustStore.from_trust_list(credential, world.issuer_key.public_key.to_jwk(), now=NOW)
    assert caught.value.code == KeyErrorCode.WRONG_TOKEN_TYPE


def test_a_status_list_is_not_a_trust_list() -> None:
    world = World()
    token = build_status_list_token(
        world.status_list, STATUS_URI, world.issuer_key, now=NOW, ttl=60
    )
    with pytest.raises(KeyManagementError) as caught:
        TrustStore.from_trust_list(token, world.issuer_key.public_key.to_jwk(), now=NOW)
    assert caught.value.code == KeyErrorCode.WRONG_TOKEN_TYPE


def test_a_status_list_signed_by_an_unknown_key_is_refused() -> None:
    world = World()
    stranger = SigningKey.generate()
    token = build_status_list_token(world.status_list, STATUS_URI, stranger, now=NOW, ttl=60)
    with pytest.raises(VerificationError) as caught:
        world.store.add_status_list(STATUS_URI, token)
    assert caught.value.code == ErrorCode.UNKNOWN_KEY


def test_duplicate_member_in_the_signed_payload_is_refused() -> None:
    """A second `iss` after the signed one: two parsers could read two issuers."""
    world = World()
    good = split_compact(world.credential())
    header, payload, _ = good.issuer_jwt.split(".")
    raw = b64url_decode(payload)
    doubled = raw[:-1] + b',"iss":"https://evil.example"}'
    signing_input = f"{header}.{b64url_encode(doubled)}"
    jwt = f"{signing_input}.{b64url_encode(world.issuer_key.sign(signing_input.encode()))}"
    presentation = world.present(f"{jwt}~{'~'.join(good.disclosures)}~")
    result = world.verifier().verify(presentation, now=NOW)
    assert result.error == ErrorCode.MALFORMED


def test_a_boolean_claim_given_as_a_number_is_a_schema_violation() -> None:
    world = World()
    credential = world.forged_credential(disclosed={"name": "홍길동", "age_over_19": 1})
    result = world.verifier().verify(world.present(credential, ["name", "age_over_19"]), now=NOW)
    assert result.error == ErrorCode.SCHEMA_VIOLATION


def test_a_number_given_as_a_string_in_the_kb_jwt_is_malformed() -> None:
    world = World()
    parts = split_compact(world.present())
    assert parts.kb_jwt is not None
    kb_header = {"typ": "kb+jwt", "alg": "ES256"}
    from keys.encoding import b64url_decode

    payload = json_loads_object(b64url_decode(parts.kb_jwt.split(".")[1]))
    payload["iat"] = str(payload["iat"])
    kb = sign_raw(kb_header, payload, world.holder_key)
    text = f"{parts.issuer_jwt}~{'~'.join(parts.disclosures)}~{kb}"
    assert world.verifier().verify(text, now=NOW).error == ErrorCode.MALFORMED


# -- SD-JWT VC §3.2.2.2: the claims that are never selectively disclosed ------------------------

_SIGNED = {
    "nbf": NOW - 60,
    "exp": NOW + 86400,
    "vct#integrity": "sha256-WRL5ca/xGgX3c1VLmXfh+9cLlJNXN+TsMk+PmKjZ5t0=",
    "status": {"status_list": {"idx": 7, "uri": STATUS_URI}},
}


@pytest.mark.parametrize("name", sorted(NOT_SELECTIVELY_DISCLOSABLE))
def test_a_registered_claim_as_a_disclosure_is_refused(name: str) -> None:
    world = World()
    value = {
        **_SIGNED,
        "iss": ISSUER,
        "vct": world.registry.get(RESIDENT).vct,
        "cnf": {"jwk": world.holder_key.public_key.to_thumbprint_jwk()},
    }[name]
    # Moved out of the signed payload into a disclosure (`iss` stays: the key is found by it).
    credential = world.forged_credential(
        disclosed={"name": "홍길동", "birth_date": "1985-03-15", name: value},
        drop=() if name == "iss" else (name,),
    )
    presentation = world.present(credential, ["name", "birth_date", name])
    result = world.verifier().verify(presentation, now=NOW)
    assert result.error == ErrorCode.DISCLOSURE_RESERVED_NAME, result.detail


@pytest.mark.parametrize("name", ["iat", "sub"])
def test_iat_and_sub_may_be_disclosed(name: str) -> None:
    world = World()
    value = {"iat": NOW - 60, "sub": "urn:jigap:citizen:7"}[name]
    credential = world.forged_credential(
        disclosed={"name": "홍길동", "birth_date": "1985-03-15", name: value}, drop=(name,)
    )
    result = world.verifier().verify(world.present(credential, ["name", name]), now=NOW)
    assert result.valid, result.detail
    assert result.claims == {"name": "홍길동"}  # registered: not a claim of the type
    if name == "iat":
        assert result.issued_at == NOW - 60  # read from the disclosure, not missing


def test_a_disclosed_iat_is_held_to_the_time_checks() -> None:
    world = World()
    credential = world.forged_credential(
        disclosed={"name": "홍길동", "iat": NOW + 3600}, drop=("iat",)
    )
    result = world.verifier().verify(world.present(credential, ["name", "iat"]), now=NOW)
    assert result.error == ErrorCode.NOT_YET_VALID


def test_a_registered_name_deeper_down_is_an_ordinary_claim() -> None:
    """Only the top level is the credential's: `exp` inside an object is the type's business."""
    resolved = resolve_claims(
        {"address": {"_sd": [(d := encode_disclosure("exp", 1)).digest]}},
        {d.digest: d},
        not_disclosable=NOT_SELECTIVELY_DISCLOSABLE,
    )
    assert resolved == {"address": {"exp": 1}}


# -- framing: the alphabet of each part is checked at the split -------------------------------

_PRESENTATION = World().present()


@pytest.mark.parametrize(
    "text",
    [
        _PRESENTATION.replace("~", "~+", 1),  # standard base64 in a disclosure
        _PRESENTATION.replace("~", "=~", 1),  # padding at the end of the issuer JWT
        _PRESENTATION.replace("~", "~a.", 1),  # a `.` in a disclosure
        _PRESENTATION.replace(".", ". ", 1),  # white space inside
        _PRESENTATION.replace("~", "~\n", 1),
        _PRESENTATION.replace(".", ".é", 1),  # not ASCII
        _PRESENTATION[:-3] + "\u0661\u0662\u0663",  # digits, but not base64url's
        _PRESENTATION + "~",  # a KB-JWT followed by more
    ],
    ids=["plus", "padding", "dot-in-disclosure", "space", "newline", "non-ascii", "arabic", "tail"],
)
def test_characters_outside_the_alphabet_are_malformed_at_the_split(text: str) -> None:
    with pytest.raises(VerificationError) as caught:
        split_compact(text)
    assert caught.value.code == ErrorCode.MALFORMED


def test_the_split_accepts_every_form_of_rfc_9901() -> None:
    parts = split_compact(_PRESENTATION)
    assert split_compact(parts.without_key_binding()).kb_jwt is None
    assert split_compact(f"{parts.issuer_jwt}~").disclosures == ()


# -- scanner white space: `verify` and `decode_envelope` strip it alike -----------------------


@pytest.mark.parametrize("padding", ["\r\n", "\t", " ", "\n\n"], ids=repr)
def test_verify_and_the_envelope_strip_the_same_white_space(padding: str) -> None:
    world = World()
    plain = world.present()
    qr = encode_envelope(plain)
    assert decode_envelope(padding + qr + padding) == plain
    for text in (plain, qr):
        result = world.verifier().verify(padding + text + padding, now=NOW)
        assert result.valid, result.detail


@pytest.mark.parametrize("form", ["plain", "envelope"])
def test_other_white_space_is_refused_by_both(form: str) -> None:
    world = World()
    plain = world.present()
    text = plain if form == "plain" else encode_envelope(plain)
    for padded in (text + "\u3000", text[:30] + "\n" + text[30:], text[:31] + "\t" + text[31:]):
        assert world.verifier().verify(padded, now=NOW).error == ErrorCode.MALFORMED
