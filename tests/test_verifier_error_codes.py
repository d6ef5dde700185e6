"""Every reason the verifier can give, each reached by at least one case.

Cases are data: a builder makes the input from a fresh world, and names the code it expects.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from keys.encoding import b64url_decode, b64url_encode, json_loads_object
from keys.errors import KeyErrorCode
from keys.jwk import Algorithm, SigningKey
from keys.jws import sign_compact
from keys.trust_list import TRUST_LIST_TYP, TrustList, sign_trust_list
from tests._world import COUNTER, ISSUER, NONCE, NOW, REQUEST, STATUS_URI, World
from tests.test_counter_request import ANSWER_CASES
from verifier import ErrorCode, TrustStore, VerificationError, encode_envelope
from verifier.errors import _FROM_KEY_ERROR
from verifier.sd_jwt import MAX_DISCLOSURES, SdJwt, encode_disclosure, split_compact
from verifier.status_list import StatusValue, build_status_list_token
from wallet_api.presentation import prepare_presentation


@dataclass(frozen=True)
class Case:
    code: ErrorCode
    build: Callable[[World], str]
    policy: dict[str, Any] = field(default_factory=dict)
    now: int = NOW


def _with_kb(world: World, credential: str, claims: tuple[str, ...] = ("name",)) -> str:
    return world.present(credential, claims)


def _resign_kb(
    world: World, change: Callable[[dict[str, Any]], None], key: SigningKey | None = None
) -> str:
    """A presentation whose KB-JWT payload was changed and then signed again."""
    prepared = prepare_presentation(
        world.credential(),
        REQUEST,
        holder_algorithm=Algorithm.ES256,
        audience=COUNTER,
        nonce=NONCE,
        now=NOW,
    )
    _, payload_b64 = prepared.signing_input.decode().split(".")
    payload = json_loads_b64(payload_b64)
    change(payload)
    kb = sign_compact(payload, key or world.holder_key, {"typ": "kb+jwt"})
    return SdJwt(prepared.sd_jwt.issuer_jwt, prepared.sd_jwt.disclosures, kb).serialize()


def json_loads_b64(segment: str) -> dict[str, Any]:
    return json_loads_object(b64url_decode(segment))


def _flip_signature(token: str) -> str:
    head, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(signature))
    raw[5] ^= 0x40
    return f"{head}.{payload}.{b64url_encode(bytes(raw))}"


def _bad_issuer_signature(world: World) -> str:
    parts = split_compact(world.present())
    return SdJwt(_flip_signature(parts.issuer_jwt), parts.disclosures, parts.kb_jwt).serialize()


def _swap_issuer_payload(world: World) -> str:
    """The payload of one credential under the signature of another."""
    one, other = split_compact(world.present()), split_compact(world.credential(index=9))
    head, _, signature = one.issuer_jwt.split(".")
    payload = other.issuer_jwt.split(".")[1]
    return SdJwt(f"{head}.{payload}.{signature}", (), one.kb_jwt).serialize()


def _set_status(value: StatusValue) -> Callable[[World], str]:
    def build(world: World) -> str:
        world.status_list.set(7, value)
        world.publish_status()
        return world.present()

    return build


def _stale_status(world: World) -> str:
    world.publish_status(fetched_at=NOW - 86400 - 1, issued_at=NOW - 86400 - 1)
    return world.present()


def _unreferenced(world: World) -> str:
    parts = split_compact(world.present(claims=("name",)))
    stray = encode_disclosure("name", "임꺽정").encoded
    unbound = SdJwt(parts.issuer_jwt, (*parts.disclosures, stray), None)
    return world.present(unbound.serialize(), ("name",))  # a KB-JWT over the stray one too


def _duplicated(world: World) -> str:
    parts = split_compact(world.credential())
    name = next(d for d in parts.disclosures if b64url_decode(d).find(b'"name"') > 0)
    doubled = SdJwt(parts.issuer_jwt, (name, name), None).serialize()
    return world.present(doubled, ("name",))


def _kb_for_other_disclosures(world: World) -> str:
    with_address = split_compact(world.present(claims=("name", "address")))
    without = split_compact(world.present(claims=("name",)))
    return SdJwt(with_address.issuer_jwt, with_address.disclosures, without.kb_jwt).serialize()


def _foreign_token_as_credential(typ: str) -> Callable[[World], str]:
    def build(world: World) -> str:
        token = sign_compact(
            {"iss": "x"}, world.issuer_key, {"typ": typ, "kid": world.issuer_key.kid}
        )
        return token + "~"

    return build


def _status_list_as_credential(world: World) -> str:
    return (
        build_status_list_token(world.status_list, STATUS_URI, world.issuer_key, now=NOW, ttl=60)
        + "~"
    )


def _credential_as_kb_jwt(world: World) -> str:
    parts = split_compact(world.present())
    return SdJwt(parts.issuer_jwt, parts.disclosures, parts.issuer_jwt).serialize()


def _too_many_disclosures(world: World) -> str:
    parts = split_compact(world.credential())
    many = tuple(encode_disclosure("name", str(i)).encoded for i in range(MAX_DISCLOSURES + 1))
    return SdJwt(parts.issuer_jwt, many, None).serialize()


def _forged(**kwargs: Any) -> Callable[[World], str]:
    """A credential with a crafted payload, presented with every disclosure it has."""

    def build(world: World) -> str:
        disclosed = tuple(kwargs.get("disclosed", {"name": 0, "birth_date": 0}))
        return _with_kb(world, world.forged_credential(**kwargs), disclosed)

    return build


def _cnf_disclosed(world: World) -> str:
    cnf = {"jwk": world.holder_key.public_key.to_thumbprint_jwk()}
    credential = world.forged_credential(
        disclosed={"name": "홍길동", "birth_date": "1985-03-15", "cnf": cnf}, drop=("cnf",)
    )
    return _with_kb(world, credential, ("name", "birth_date", "cnf"))


def _small_order_holder_key(world: World) -> str:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes(32))}
    return _with_kb(world, world.forged_credential(payload_changes={"cnf": {"jwk": jwk}}))


def _off_curve_holder_key(world: World) -> str:
    jwk = dict(world.holder_key.public_key.to_thumbprint_jwk())
    y = int.from_bytes(b64url_decode(jwk["y"]), "big") ^ 1
    jwk["y"] = b64url_encode(y.to_bytes(32, "big"))
    return _with_kb(world, world.forged_credential(payload_changes={"cnf": {"jwk": jwk}}))


def _unknown_issuer_key(world: World) -> str:
    return _with_kb(world, world.forged_credential(key=SigningKey.generate()))


def _other_holder_signs(world: World) -> str:
    return world.present(holder_key=SigningKey.generate())


def _restricted_issuer(world: World) -> str:
    world.store.add_issuer(
        "https://rr.issuer.jigap.example",
        {"keys": [world.issuer_key.public_key.to_jwk()]},
        credential_types={"urn:jigap:civil-servant-id:1"},
    )
    return world.present()


def _credential_older_than_its_issuer(world: World) -> str:
    """Issued an hour before the trust list let its issuer issue: the issuer is current now,
    the credential's `iat` is not inside the issuer's window."""
    anchor = SigningKey.generate()
    entry = world.trusted_issuer(NOW - 60, NOW + 86400)
    trust_list = TrustList("https://trust.example", 1, NOW, NOW + 86400, {ISSUER: entry})
    world.store = TrustStore.from_trust_list(
        sign_trust_list(trust_list, anchor), anchor.public_key, now=NOW
    )
    world.publish_status()
    return world.present(world.credential(now=NOW - 3600))


def _status_fetched_in_the_future(world: World) -> str:
    world.publish_status(fetched_at=NOW + 3600, issued_at=NOW)
    return world.present()


def _disclosure_outside_alphabet_and_bad_signature(world: World) -> str:
    """Framing comes first: no signature is checked over text that is not an SD-JWT."""
    parts = split_compact(_bad_issuer_signature(world))
    first, *rest = parts.disclosures
    return SdJwt(parts.issuer_jwt, (first + "=", *rest), parts.kb_jwt).serialize()


def _too_long(world: World) -> str:
    return world.present() + "A" * 70_000


def _future_envelope_version(world: World) -> str:
    return "JG9:" + encode_envelope(world.present())[4:]


CASES: dict[str, Case] = {
    # input
    "not-an-sd-jwt": Case(ErrorCode.MALFORMED, lambda _: "hello counter"),
    "non-canonical-base64-in-jwt": Case(
        ErrorCode.MALFORMED, lambda w: w.present().replace(".", "=.", 1)
    ),
    "iat-as-string": Case(ErrorCode.MALFORMED, _forged(payload_changes={"iat": str(NOW)})),
    "exp-as-boolean": Case(ErrorCode.MALFORMED, _forged(payload_changes={"exp": True})),
    "status-index-as-string": Case(
        ErrorCode.MALFORMED,
        _forged(payload_changes={"status": {"status_list": {"idx": "7", "uri": STATUS_URI}}}),
    ),
    "kb-nonce-as-number": Case(
        ErrorCode.MALFORMED, lambda w: _resign_kb(w, lambda p: p.update(nonce=7))
    ),
    "input-too-long": Case(ErrorCode.TOO_LARGE, _too_long),
    "too-many-disclosures": Case(ErrorCode.TOO_LARGE, _too_many_disclosures),
    "unknown-envelope-version": Case(ErrorCode.UNSUPPORTED_FORMAT, _future_envelope_version),
    "kb-jwt-as-credential": Case(
        ErrorCode.WRONG_TOKEN_TYPE, _foreign_token_as_credential("kb+jwt")
    ),
    "trust-list-as-credential": Case(
        ErrorCode.WRONG_TOKEN_TYPE, _foreign_token_as_credential(TRUST_LIST_TYP)
    ),
    "status-list-as-credential": Case(ErrorCode.WRONG_TOKEN_TYPE, _status_list_as_credential),
    "credential-as-kb-jwt": Case(ErrorCode.WRONG_TOKEN_TYPE, _credential_as_kb_jwt),
    "crit-header": Case(ErrorCode.CRITICAL_HEADER, _forged(header_changes={"crit": ["exp"]})),
    # RFC 7797: with b64 false the signature would be over the raw payload; refused unlisted too
    "b64-header-not-in-crit": Case(
        ErrorCode.CRITICAL_HEADER, _forged(header_changes={"b64": True})
    ),
    "b64-header-in-crit": Case(
        ErrorCode.CRITICAL_HEADER, _forged(header_changes={"b64": False, "crit": ["b64"]})
    ),
    "zip-header": Case(ErrorCode.CRITICAL_HEADER, _forged(header_changes={"zip": "DEF"})),
    "typ-header-as-array": Case(
        ErrorCode.MALFORMED, _forged(header_changes={"typ": ["dc+sd-jwt"]})
    ),
    "cty-header-as-number": Case(ErrorCode.MALFORMED, _forged(header_changes={"cty": 1})),
    "crit-header-as-string": Case(ErrorCode.MALFORMED, _forged(header_changes={"crit": "exp"})),
    "crit-header-empty": Case(ErrorCode.MALFORMED, _forged(header_changes={"crit": []})),
    "jwk-header-as-string": Case(ErrorCode.MALFORMED, _forged(header_changes={"jwk": "eyJ"})),
    "x5c-header-as-string": Case(ErrorCode.MALFORMED, _forged(header_changes={"x5c": "MIIB"})),
    "kid-header-as-number": Case(ErrorCode.MALFORMED, _forged(header_changes={"kid": 7})),
    "disclosure-outside-alphabet-before-signature": Case(
        ErrorCode.MALFORMED, _disclosure_outside_alphabet_and_bad_signature
    ),
    "white-space-inside": Case(ErrorCode.MALFORMED, lambda w: w.present().replace("~", " ~", 1)),
    # signatures and keys
    "header-alg-none": Case(
        ErrorCode.UNSUPPORTED_ALGORITHM, _forged(header_changes={"alg": "none"})
    ),
    "header-alg-hs256": Case(
        ErrorCode.UNSUPPORTED_ALGORITHM, _forged(header_changes={"alg": "HS256"})
    ),
    "algorithm-outside-policy": Case(
        ErrorCode.UNSUPPORTED_ALGORITHM,
        lambda w: w.present(),
        policy={"algorithms": frozenset({Algorithm.EDDSA})},
    ),
    "flipped-issuer-signature": Case(ErrorCode.BAD_SIGNATURE, _bad_issuer_signature),
    "payload-of-another-credential": Case(ErrorCode.BAD_SIGNATURE, _swap_issuer_payload),
    "small-order-holder-key": Case(ErrorCode.INVALID_KEY, _small_order_holder_key),
    "off-curve-holder-key": Case(ErrorCode.INVALID_KEY, _off_curve_holder_key),
    "header-jwk": Case(
        ErrorCode.UNTRUSTED_KEY_REFERENCE, _forged(header_changes={"jwk": {"kty": "EC"}})
    ),
    "header-jku": Case(
        ErrorCode.UNTRUSTED_KEY_REFERENCE, _forged(header_changes={"jku": "https://evil.example"})
    ),
    "header-x5u": Case(
        ErrorCode.UNTRUSTED_KEY_REFERENCE, _forged(header_changes={"x5u": "https://evil.example"})
    ),
    "header-x5c": Case(
        ErrorCode.UNTRUSTED_KEY_REFERENCE, _forged(header_changes={"x5c": ["MIIB"]})
    ),
    "kid-not-in-store": Case(ErrorCode.UNKNOWN_KEY, _unknown_issuer_key),
    "no-kid": Case(ErrorCode.MISSING_KID, _forged(header_changes={"kid": None})),
    # trust
    "unknown-issuer": Case(
        ErrorCode.UNKNOWN_ISSUER, _forged(payload_changes={"iss": "https://evil.example"})
    ),
    "issuer-not-authorised-for-type": Case(ErrorCode.ISSUER_NOT_AUTHORISED, _restricted_issuer),
    "issued-before-the-issuer-was-trusted": Case(
        ErrorCode.ISSUER_NOT_AUTHORISED, _credential_older_than_its_issuer
    ),
    "type-not-accepted-by-policy": Case(
        ErrorCode.CREDENTIAL_TYPE_NOT_ACCEPTED,
        lambda w: w.present(),
        policy={"accepted_credential_types": frozenset({"civil_servant_id"})},
    ),
    "unknown-vct": Case(
        ErrorCode.UNKNOWN_CREDENTIAL_TYPE, _forged(payload_changes={"vct": "urn:jigap:unknown:1"})
    ),
    # time
    "expired-at-exp": Case(
        ErrorCode.EXPIRED, _forged(payload_changes={"exp": NOW}), policy={"clock_skew": 0}
    ),
    "issued-in-the-future": Case(
        ErrorCode.NOT_YET_VALID, _forged(payload_changes={"iat": NOW + 1}), policy={"clock_skew": 0}
    ),
    "not-before-in-the-future": Case(
        ErrorCode.NOT_YET_VALID, _forged(payload_changes={"nbf": NOW + 1}), policy={"clock_skew": 0}
    ),
    # status
    "revoked": Case(ErrorCode.REVOKED, _set_status(StatusValue.INVALID)),
    "suspended": Case(ErrorCode.SUSPENDED, _set_status(StatusValue.SUSPENDED)),
    "no-exp": Case(ErrorCode.MISSING_EXP, _forged(drop=("exp",))),
    "no-iat": Case(ErrorCode.MISSING_IAT, _forged(drop=("iat",))),
    "no-status-claim": Case(ErrorCode.STATUS_UNKNOWN, _forged(drop=("status",))),
    "status-list-not-held": Case(
        ErrorCode.STATUS_UNKNOWN,
        _forged(payload_changes={"status": {"status_list": {"idx": 1, "uri": "https://x/1"}}}),
    ),
    "status-list-too-old": Case(ErrorCode.STATUS_STALE, _stale_status),
    "status-list-fetched-in-the-future": Case(
        ErrorCode.STATUS_LIST_INVALID, _status_fetched_in_the_future
    ),
    "status-index-outside-list": Case(
        ErrorCode.STATUS_LIST_INVALID,
        _forged(payload_changes={"status": {"status_list": {"idx": 4096, "uri": STATUS_URI}}}),
    ),
    # selective disclosure
    "unreferenced-disclosure": Case(ErrorCode.DISCLOSURE_UNREFERENCED, _unreferenced),
    "duplicated-disclosure": Case(ErrorCode.DISCLOSURE_DUPLICATED, _duplicated),
    "sd-alg-sha-512": Case(
        ErrorCode.DISCLOSURE_BAD_DIGEST, _forged(payload_changes={"_sd_alg": "sha-512"})
    ),
    "digest-not-sha-256": Case(
        ErrorCode.DISCLOSURE_BAD_DIGEST, _forged(payload_changes={"_sd": ["abc"]})
    ),
    # SD-JWT VC §3.2.2.2: these are never disclosures; one that is must not be dropped unread
    "nbf-as-a-disclosure": Case(
        ErrorCode.DISCLOSURE_RESERVED_NAME,
        _forged(disclosed={"name": "홍길동", "birth_date": "1985-03-15", "nbf": NOW + 86400}),
    ),
    # disclosures are processed before key binding: the code names the disclosed `cnf`, not
    # the KB-JWT that finds no key in the signed payload
    "cnf-as-a-disclosure": Case(ErrorCode.DISCLOSURE_RESERVED_NAME, _cnf_disclosed),
    "disclosure-shadows-a-plain-claim": Case(
        ErrorCode.DISCLOSURE_RESERVED_NAME, _forged(plain={"name": "홍길동"})
    ),
    # holder binding
    "no-kb-jwt": Case(ErrorCode.KEY_BINDING_MISSING, lambda w: w.credential()),
    "kb-jwt-by-another-key": Case(ErrorCode.KEY_BINDING_INVALID, _other_holder_signs),
    "kb-jwt-for-other-disclosures": Case(ErrorCode.KEY_BINDING_INVALID, _kb_for_other_disclosures),
    "kb-jwt-from-the-future": Case(
        ErrorCode.KEY_BINDING_INVALID, lambda w: w.present(now=NOW + 1), policy={"clock_skew": 0}
    ),
    "kb-jwt-wrong-sd-hash": Case(
        ErrorCode.KEY_BINDING_INVALID, lambda w: _resign_kb(w, lambda p: p.update(sd_hash="A" * 43))
    ),
    "wrong-nonce": Case(ErrorCode.NONCE_MISMATCH, lambda w: w.present(nonce="replayed")),
    "wrong-audience": Case(
        ErrorCode.AUDIENCE_MISMATCH, lambda w: w.present(audience="https://other.example")
    ),
    "presentation-too-old": Case(
        ErrorCode.PRESENTATION_TOO_OLD, lambda w: w.present(now=NOW - 301), policy={"clock_skew": 0}
    ),
    # content
    "disclosed-claim-violates-schema": Case(
        ErrorCode.SCHEMA_VIOLATION, _forged(disclosed={"name": "홍길동", "birth_date": "yesterday"})
    ),
    "undeclared-claim": Case(
        ErrorCode.SCHEMA_VIOLATION, _forged(disclosed={"name": "홍길동", "nickname": "길동"})
    ),
    "required-claim-not-disclosed": Case(
        ErrorCode.MISSING_REQUIRED_CLAIM,
        lambda w: w.present(),
        policy={"required_claims": frozenset({"resident_registration_number"})},
    ),
}


@pytest.mark.parametrize("case_id", list(CASES))
def test_refused_with_its_code(case_id: str) -> None:
    case = CASES[case_id]
    world = World()
    text = case.build(world)
    result = world.verifier(**case.policy).verify(text, now=case.now)
    assert not result.valid
    assert result.error == case.code, result.detail
    assert result.claims == {}


@pytest.mark.parametrize("case_id", list(CASES))
def test_refused_in_the_qr_envelope_too(case_id: str) -> None:
    case = CASES[case_id]
    world = World()
    text = case.build(world)
    try:
        envelope = encode_envelope(text)
    except VerificationError:
        pytest.skip("not an SD-JWT the envelope can carry; covered above")
    result = world.verifier(**case.policy).verify(envelope, now=case.now)
    assert result.error == case.code, result.detail


def test_every_error_code_is_reached() -> None:
    # Answers judged against a request or a preset: tests/test_counter_request.py.
    reached = {case.code for case in CASES.values()} | {c.code for c in ANSWER_CASES.values()}
    assert set(ErrorCode) - reached == set()


def test_every_key_error_code_is_translated_or_declared_foreign() -> None:
    assert set(_FROM_KEY_ERROR) == set(KeyErrorCode)


def test_the_unmodified_presentation_is_valid() -> None:
    """The baseline every case above departs from."""
    world = World()
    result = world.verifier().verify(world.present(), now=NOW)
    assert result.valid, result.detail
    assert result.claims == {
        "name": "홍길동",
        "birth_date": "1985-03-15",
        "address": "서울특별시 종로구 세종대로 209",
    }


def test_a_policy_naming_an_unknown_type_is_refused_at_construction() -> None:
    world = World()
    with pytest.raises(ValueError, match="resident_register_extrac"):
        world.verifier(accepted_credential_types=frozenset({"resident_register_extrac"}))
    world.verifier(accepted_credential_types=frozenset({"urn:jigap:resident-register-extract:1"}))
