"""The signed trust list: round trips, every refusal by code, and `jigap keys trust-list`."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import keys.trust_list as trust_list_module
from keys.cli import PASSPHRASE_ENV, CliSettings, app
from keys.encoding import b64url_encode, json_dumps
from keys.errors import KeyErrorCode, KeyManagementError, TrustListError
from keys.jwk import Algorithm, Jwks, SigningKey
from keys.jws import sign_compact
from keys.store import MIN_SCRYPT_N, FileKeyStore
from keys.trust_list import (
    MAX_CREDENTIAL_TYPES,
    MAX_ISSUERS,
    TRUST_LIST_CLOCK_SKEW,
    TRUST_LIST_TYP,
    TrustedIssuer,
    TrustList,
    sign_trust_list,
    trusted_issuer_from_entry,
    verify_trust_list,
)
from verifier import ErrorCode, TrustStore, VerificationError

NOW = 1_700_000_000
DAY = 86_400
ANCHOR = SigningKey.generate(Algorithm.ES256)
OTHER = SigningKey.generate(Algorithm.ES256)
ED_ANCHOR = SigningKey.generate(Algorithm.EDDSA)
ISSUER_KEY = SigningKey.generate(Algorithm.ES256)
HEALTH_KEY = SigningKey.generate(Algorithm.EDDSA)
ISSUER_ID = "https://issuer.gov.kr/resident-register"
RESIDENT = "https://types.jigap.go.kr/resident-register-extract/v1"
HEALTH = "https://types.jigap.go.kr/health-insurance-eligibility/v1"


def _entry(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": ISSUER_ID,
        "name": {"ko": "행정안전부", "en": "Ministry of the Interior and Safety"},
        "jwks": {"keys": [ISSUER_KEY.public_key.to_jwk()]},
        "credential_types": [RESIDENT],
        "valid_from": NOW - DAY,
        "valid_until": NOW + 365 * DAY,
    }
    entry.update(overrides)
    return entry


def _jwk(**members: Any) -> dict[str, Any]:
    return {**ISSUER_KEY.public_key.to_jwk(), **members}


def _thumbprint_jwk() -> dict[str, Any]:
    return ISSUER_KEY.public_key.to_thumbprint_jwk()


def _claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "https://trust.jigap.go.kr",
        "iat": NOW,
        "exp": NOW + 7 * DAY,
        "sequence": 42,
        "issuers": [_entry()],
    }
    claims.update(overrides)
    return claims


def _token(claims: dict[str, Any] | bytes, key: SigningKey = ANCHOR, **header: Any) -> str:
    return sign_compact(claims, key, {"typ": TRUST_LIST_TYP, "kid": key.kid, **header})


def _verify(token: str, *, now: int = NOW, **held: Any) -> TrustList:
    return verify_trust_list(token, ANCHOR.public_key, now=now, **held)


def _refused(token: str, code: KeyErrorCode, **kwargs: Any) -> None:
    with pytest.raises(KeyManagementError) as caught:
        _verify(token, **kwargs)
    assert caught.value.code is code, caught.value.detail


def _trust_list(**overrides: Any) -> TrustList:
    issuers = [trusted_issuer_from_entry(_entry()), trusted_issuer_from_entry(_health_entry())]
    fields: dict[str, Any] = {
        "operator": "https://trust.jigap.go.kr",
        "sequence": 42,
        "issued_at": NOW,
        "expires_at": NOW + 7 * DAY,
        "issuers": {issuer.id: issuer for issuer in issuers},
    }
    fields.update(overrides)
    return TrustList(**fields)


def _health_entry() -> dict[str, Any]:
    return _entry(
        id="https://nhis.or.kr",
        name={"ko": "국민건강보험공단", "en": "National Health Insurance Service"},
        jwks={"keys": [HEALTH_KEY.public_key.to_jwk()]},
        credential_types=[HEALTH, RESIDENT],
    )


# -- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("anchor", [ANCHOR, ED_ANCHOR], ids=["ES256", "EdDSA"])
def test_round_trip(anchor: SigningKey) -> None:
    trust_list = _trust_list()
    verified = verify_trust_list(sign_trust_list(trust_list, anchor), anchor.public_key, now=NOW)
    assert verified == trust_list
    issuer = verified.issuers["https://nhis.or.kr"]
    assert issuer.credential_types == frozenset({HEALTH, RESIDENT})
    assert issuer.jwks.get(HEALTH_KEY.kid) == HEALTH_KEY.public_key
    assert issuer.names["ko"] == "국민건강보험공단"


def test_digest_is_the_content_not_the_token() -> None:
    trust_list = _trust_list()
    first = _verify(sign_trust_list(trust_list, ANCHOR))
    again = _verify(sign_trust_list(trust_list, ANCHOR))  # ES256 signatures differ every time
    reordered = _verify(_token(_claims(issuers=[_health_entry(), _entry()], sequence=42)))
    assert first.digest == again.digest == trust_list.digest
    assert reordered.digest == trust_list.digest
    assert _trust_list(sequence=43).digest != trust_list.digest


def test_may_issue_is_exact_at_its_boundaries() -> None:
    issuer = trusted_issuer_from_entry(_entry(valid_from=100, valid_until=200))
    assert issuer.may_issue(RESIDENT, 100)
    assert issuer.may_issue(RESIDENT, 199)
    assert not issuer.may_issue(RESIDENT, 99)
    assert not issuer.may_issue(RESIDENT, 200)
    assert not issuer.may_issue(HEALTH, 150)


# -- time and rollback --------------------------------------------------------------------------


def test_expiry_is_exact() -> None:
    token = _token(_claims(exp=NOW + 100))
    assert _verify(token, now=NOW + 99).expires_at == NOW + 100
    _refused(token, KeyErrorCode.TRUST_LIST_EXPIRED, now=NOW + 100)


def test_not_yet_valid_is_exact() -> None:
    token = _token(_claims(iat=NOW + TRUST_LIST_CLOCK_SKEW))
    assert _verify(token).issued_at == NOW + TRUST_LIST_CLOCK_SKEW
    _refused(token, KeyErrorCode.TRUST_LIST_NOT_YET_VALID, now=NOW - 1)


def test_rollback() -> None:
    token = _token(_claims(sequence=42))
    held = _verify(token)
    assert _verify(token, held_sequence=41).sequence == 42
    assert _verify(token, held_sequence=42, held_digest=held.digest) == held
    _refused(token, KeyErrorCode.TRUST_LIST_ROLLBACK, held_sequence=43)
    # The same number with other content, or with identity not shown, is refused too.
    changed = _token(_claims(sequence=42, exp=NOW + 8 * DAY))
    _refused(changed, KeyErrorCode.TRUST_LIST_ROLLBACK, held_sequence=42, held_digest=held.digest)
    _refused(token, KeyErrorCode.TRUST_LIST_ROLLBACK, held_sequence=42)


# -- who signed, and how the token names it ---------------------------------------------------

SIGNER_REFUSALS = [
    pytest.param(_token(_claims(), OTHER), KeyErrorCode.TRUST_LIST_WRONG_SIGNER, id="other-key"),
    pytest.param(
        _token(_claims(), OTHER, kid=ANCHOR.kid),
        KeyErrorCode.TRUST_LIST_WRONG_SIGNER,
        id="other-key-claiming-anchor-kid",
    ),
    pytest.param(
        _token(_claims(), ED_ANCHOR, kid=ANCHOR.kid),
        KeyErrorCode.TRUST_LIST_WRONG_SIGNER,
        id="other-algorithm",
    ),
    pytest.param(
        sign_compact(_claims(), ANCHOR, {"typ": TRUST_LIST_TYP}),
        KeyErrorCode.TRUST_LIST_WRONG_SIGNER,
        id="no-kid",
    ),
    pytest.param(
        _token(_claims(), kid="anchor"),
        KeyErrorCode.TRUST_LIST_WRONG_SIGNER,
        id="kid-not-thumbprint",
    ),
    pytest.param(
        sign_compact(_claims(), ANCHOR, {"typ": "JWT", "kid": ANCHOR.kid}),
        KeyErrorCode.WRONG_TOKEN_TYPE,
        id="typ-jwt",
    ),
    pytest.param(
        _token(_claims(), jwk=ANCHOR.public_key.to_jwk()), KeyErrorCode.EMBEDDED_KEY, id="jwk"
    ),
    pytest.param(
        _token(_claims(), jku="https://x.example/jwks"), KeyErrorCode.EMBEDDED_KEY, id="jku"
    ),
    pytest.param(
        _token(_claims(), x5u="https://x.example/cert"), KeyErrorCode.EMBEDDED_KEY, id="x5u"
    ),
    pytest.param(_token(_claims(), x5c=["MIIB"]), KeyErrorCode.EMBEDDED_KEY, id="x5c"),
    pytest.param("a.b.c.d", KeyErrorCode.MALFORMED_JWS, id="four-parts"),
]


@pytest.mark.parametrize(("token", "code"), SIGNER_REFUSALS)
def test_signer_and_form_refusals(token: str, code: KeyErrorCode) -> None:
    _refused(token, code)


def test_tampered_payload_is_a_wrong_signer() -> None:
    header, _, signature = _token(_claims()).split(".")
    payload = b64url_encode(json_dumps(_claims(sequence=10**6)))
    _refused(f"{header}.{payload}.{signature}", KeyErrorCode.TRUST_LIST_WRONG_SIGNER)


# -- malformed content, each with its own detail --------------------------------------------

_ENOUGH_ISSUERS = [_entry(id=f"https://issuer{i}.gov.kr") for i in range(MAX_ISSUERS + 1)]
INVALID_CLAIMS = [
    pytest.param({k: v for k, v in _claims().items() if k != "iss"}, "iss", id="no-iss"),
    pytest.param(_claims(iss=""), "iss", id="empty-iss"),
    pytest.param(_claims(jti="x"), "unknown ['jti']", id="unknown-claim"),
    pytest.param(_claims(iat=str(NOW)), "iat", id="iat-string"),
    pytest.param(_claims(exp=float(NOW + DAY)), "exp", id="exp-float"),
    pytest.param(_claims(sequence=True), "sequence", id="sequence-bool"),
    pytest.param(_claims(sequence="43"), "sequence", id="sequence-string"),
    pytest.param(_claims(sequence=-1), "sequence", id="sequence-negative"),
    pytest.param(_claims(exp=NOW), "iat is not before exp", id="exp-at-iat"),
    pytest.param(_claims(issuers={"id": ISSUER_ID}), "issuers must be a list", id="issuers-object"),
    pytest.param(_claims(issuers=_ENOUGH_ISSUERS), "at most 1000", id="too-many-issuers"),
    pytest.param(_claims(issuers=[_entry(), _entry()]), "listed twice", id="duplicate-issuer"),
    pytest.param(_claims(issuers=["https://a.kr"]), "not an object", id="entry-string"),
    pytest.param(_claims(issuers=[_entry(id="http://a.kr")]), "https URL", id="id-http"),
    pytest.param(
        _claims(issuers=[_entry(id="http://localhost.a.kr")]), "https URL", id="id-http-lookalike"
    ),
    pytest.param(_claims(issuers=[_entry(id="https://a.kr/?x=1")]), "https URL", id="id-query"),
    pytest.param(_claims(issuers=[_entry(id="https://a.kr#f")]), "https URL", id="id-fragment"),
    pytest.param(_claims(issuers=[_entry(id="https://u@a.kr")]), "https URL", id="id-userinfo"),
    pytest.param(_claims(issuers=[_entry(id="https://a.kr:99999")]), "https URL", id="id-port"),
    pytest.param(_claims(issuers=[_entry(id="https:///path")]), "https URL", id="id-no-host"),
    pytest.param(_claims(issuers=[_entry(id=7)]), "https URL", id="id-number"),
    pytest.param(_claims(issuers=[_entry(extra=1)]), "unknown ['extra']", id="entry-extra"),
    pytest.param(_claims(issuers=[_entry(name={"ko": "가"})]), "name", id="name-no-en"),
    pytest.param(
        _claims(issuers=[_entry(name={"ko": "가", "en": "A", "ja": "ア"})]), "name", id="name-extra"
    ),
    pytest.param(_claims(issuers=[_entry(name={"ko": " ", "en": "A"})]), "empty", id="name-blank"),
    pytest.param(_claims(issuers=[_entry(jwks={"keys": []})]), "jwks", id="jwks-empty"),
    pytest.param(
        _claims(issuers=[_entry(jwks={"keys": [{**ISSUER_KEY.public_key.to_jwk(), "d": "AA"}]})]),
        "jwks",
        id="jwks-private",
    ),
    pytest.param(_claims(issuers=[_entry(credential_types=[])]), "1 to 300", id="no-types"),
    pytest.param(
        _claims(
            issuers=[_entry(credential_types=[f"t{i}" for i in range(MAX_CREDENTIAL_TYPES + 1)])]
        ),
        "1 to 300",
        id="too-many-types",
    ),
    pytest.param(
        _claims(issuers=[_entry(credential_types=[RESIDENT, RESIDENT])]), "distinct", id="dup-type"
    ),
    pytest.param(_claims(issuers=[_entry(credential_types=[1])]), "distinct", id="type-number"),
    pytest.param(_claims(issuers=[_entry(credential_types=RESIDENT)]), "1 to 300", id="types-str"),
    pytest.param(_claims(issuers=[_entry(valid_from=True)]), "valid_from", id="valid-from-bool"),
    pytest.param(_claims(issuers=[_entry(valid_until=None)]), "valid_until", id="valid-until-null"),
    pytest.param(
        _claims(issuers=[_entry(valid_from=5, valid_until=5)]), "not before", id="empty-validity"
    ),
    # One key, two issuers: either could sign as the other. A `kid` is the thumbprint, so the
    # same key under another `kid` is refused by the JWK check, and without one by this check.
    pytest.param(
        _claims(issuers=[_entry(), _health_entry() | {"jwks": _entry()["jwks"]}]),
        "listed under",
        id="one-key-two-issuers",
    ),
    pytest.param(
        _claims(issuers=[_entry(), _health_entry() | {"jwks": {"keys": [_thumbprint_jwk()]}}]),
        "listed under",
        id="one-thumbprint-two-issuers",
    ),
    pytest.param(
        _claims(issuers=[_entry(jwks={"keys": [_jwk(), _thumbprint_jwk()]})]),
        "twice",
        id="one-key-twice-in-a-jwks",
    ),
    pytest.param(
        _claims(issuers=[_entry(jwks={"keys": [_jwk(use="enc")]})]), "use", id="key-for-encryption"
    ),
    pytest.param(
        _claims(issuers=[_entry(jwks={"keys": [_jwk(key_ops=["sign"])]})]),
        "verify",
        id="key-ops-without-verify",
    ),
    pytest.param(
        _claims(issuers=[_entry(jwks={"keys": [_jwk(key_ops="verify")]})]),
        "key_ops",
        id="key-ops-not-a-list",
    ),
]


@pytest.mark.parametrize(("claims", "detail"), INVALID_CLAIMS)
def test_invalid_content(claims: dict[str, Any], detail: str) -> None:
    with pytest.raises(TrustListError) as caught:
        _verify(_token(claims))
    assert caught.value.code is KeyErrorCode.TRUST_LIST_INVALID
    assert detail in caught.value.detail


def test_a_signing_key_may_say_what_it_is_for() -> None:
    entry = _entry(jwks={"keys": [_jwk(use="sig", key_ops=["verify"])]})
    assert ISSUER_ID in _verify(_token(_claims(issuers=[entry]))).issuers


def test_a_key_held_by_one_issuer_is_not_added_to_another() -> None:
    store = TrustStore()
    store.add_issuer(ISSUER_ID, Jwks.of(ISSUER_KEY.public_key))
    store.add_issuer(ISSUER_ID, Jwks.of(ISSUER_KEY.public_key))  # the same issuer again: fine
    with pytest.raises(VerificationError) as caught:
        store.add_issuer("https://nhis.or.kr", {"keys": [_thumbprint_jwk()]})
    assert caught.value.code == ErrorCode.INVALID_KEY
    assert set(store.issuers) == {ISSUER_ID}


@pytest.mark.parametrize("payload", [b"[]", b"not json", b'{"a":1,"a":2}'], ids=str)
def test_payload_that_is_not_a_json_object(payload: bytes) -> None:
    _refused(_token(payload), KeyErrorCode.TRUST_LIST_INVALID)


@pytest.mark.parametrize(
    "issuer_id", ["http://127.0.0.1:8000/agencies/mois", "http://localhost/x", "http://[::1]:9/"]
)
def test_http_is_admitted_on_a_loopback_host_only(issuer_id: str) -> None:
    # A development deployment on the counter's own machine (`jigap demo`, tests).
    assert issuer_id in _verify(_token(_claims(issuers=[_entry(id=issuer_id)]))).issuers


def test_empty_issuer_list_is_valid() -> None:
    assert _verify(_token(_claims(issuers=[]))).issuers == {}


def test_signing_refuses_what_verifiers_would_refuse() -> None:
    issuer = trusted_issuer_from_entry(_entry())
    broken = TrustedIssuer(issuer.id, {"ko": "가"}, issuer.jwks, issuer.credential_types, 1, 2)
    with pytest.raises(TrustListError) as caught:
        sign_trust_list(_trust_list(issuers={issuer.id: broken}), ANCHOR)
    assert caught.value.code is KeyErrorCode.TRUST_LIST_INVALID


def test_public_names_are_guarded() -> None:
    assert sorted(trust_list_module.__all__) == [
        "MAX_CREDENTIAL_TYPES",
        "MAX_ISSUERS",
        "MAX_TRUST_LIST_LENGTH",
        "TRUST_LIST_CLOCK_SKEW",
        "TRUST_LIST_TYP",
        "TrustList",
        "TrustedIssuer",
        "check_trust_list",
        "sign_trust_list",
        "trusted_issuer_from_entry",
        "verify_trust_list",
    ]


# -- nothing from outside raises anything but KeyManagementError -----------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
_entries = st.fixed_dictionaries(
    {},
    optional={
        "id": st.sampled_from([ISSUER_ID, "https://a.kr", "http://a.kr"]) | _json,
        "name": st.just(_entry()["name"]) | _json,
        "jwks": st.just(_entry()["jwks"]) | _json,
        "credential_types": st.just([RESIDENT]) | _json,
        "valid_from": st.sampled_from([0, NOW]) | _json,
        "valid_until": st.sampled_from([NOW + 1, NOW]) | _json,
    },
)
_payloads = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just("op") | _json,
        "iat": st.sampled_from([NOW, NOW + 10**6]) | _json,
        "exp": st.sampled_from([NOW + 1, NOW]) | _json,
        "sequence": st.sampled_from([0, 42]) | _json,
        "issuers": st.lists(_entries | _json, max_size=3) | _json,
    },
)
_fuzz = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_fuzz
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_key_management_errors(token: str) -> None:
    for candidate in (token, f"{token}.{token}.{token}"):
        with contextlib.suppress(KeyManagementError):
            _verify(candidate)


@_fuzz
@given(_payloads)
def test_arbitrary_signed_payloads_raise_only_key_management_errors(claims: dict[str, Any]) -> None:
    try:
        trust_list = _verify(_token(claims), held_sequence=1)
    except KeyManagementError:
        return
    assert trust_list.sequence >= 1


# -- `jigap keys trust-list create|verify` ----------------------------------------------------

runner = CliRunner()
PASSPHRASE = "operator passphrase"


@pytest.fixture
def operator(tmp_path: Path) -> dict[str, Path | str]:
    store = FileKeyStore(tmp_path / "anchor", PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
    info = store.generate()
    anchor_file = tmp_path / "anchor.jwk"
    anchor_file.write_text(json.dumps(info.public_key.to_jwk()))
    issuers_file = tmp_path / "issuers.json"
    issuers_file.write_text(json.dumps([_entry(), _health_entry()], ensure_ascii=False))
    return {
        "store": tmp_path / "anchor",
        "kid": info.kid,
        "anchor": anchor_file,
        "issuers": issuers_file,
        "out": tmp_path / "trust-list.jwt",
    }


def _create(operator: dict[str, Path | str], *extra: str, sequence: int = 7) -> Any:
    args = [
        "trust-list", "create",
        "--anchor-store", str(operator["store"]), "--anchor-kid", str(operator["kid"]),
        "--issuers", str(operator["issuers"]), "--operator", "https://trust.jigap.go.kr",
        "--sequence", str(sequence), "--valid-days", "7", "--out", str(operator["out"]),
        *extra,
    ]  # fmt: skip
    return runner.invoke(app, args, env={PASSPHRASE_ENV: PASSPHRASE}, obj=CliSettings(lambda: NOW))


def _check(operator: dict[str, Path | str], *extra: str, now: int = NOW) -> Any:
    args = ["trust-list", "verify", str(operator["out"]), "--anchor", str(operator["anchor"])]
    return runner.invoke(app, [*args, *extra], obj=CliSettings(lambda: now))


def test_cli_create_then_verify(operator: dict[str, Path | str]) -> None:
    created = _create(operator)
    assert created.exit_code == 0, created.output
    assert "sequence 7, 2 issuers" in created.stdout
    anchor = FileKeyStore(operator["store"], PASSPHRASE).signer(str(operator["kid"])).public_key
    token = Path(operator["out"]).read_text().strip()
    trust_list = verify_trust_list(token, anchor, now=NOW)
    assert (trust_list.sequence, trust_list.expires_at) == (7, NOW + 7 * DAY)
    checked = _check(operator)
    assert checked.exit_code == 0, checked.output
    assert f"digest {trust_list.digest}" in checked.stdout
    assert ISSUER_ID in checked.stdout
    same = _check(operator, "--held-sequence", "7", "--held-digest", trust_list.digest)
    assert same.exit_code == 0, same.output


@pytest.mark.parametrize(
    ("extra", "now", "code"),
    [
        (["--held-sequence", "8"], NOW, "trust_list_rollback"),
        (["--held-sequence", "7"], NOW, "trust_list_rollback"),
        ([], NOW + 7 * DAY, "trust_list_expired"),
    ],
    ids=["older", "same-without-digest", "expired"],
)
def test_cli_verify_refusals(
    operator: dict[str, Path | str], extra: list[str], now: int, code: str
) -> None:
    assert _create(operator).exit_code == 0
    result = _check(operator, *extra, now=now)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"refused: {code}:")
    assert len(result.stderr.splitlines()) == 1


def test_cli_verify_with_another_anchor(operator: dict[str, Path | str], tmp_path: Path) -> None:
    assert _create(operator).exit_code == 0
    other = tmp_path / "other.jwk"
    other.write_text(json.dumps(OTHER.public_key.to_jwk()))
    result = _check({**operator, "anchor": other})
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (1, "trust_list_wrong_signer")


@pytest.mark.parametrize(
    ("issuers", "code"),
    [
        ("{not json", "malformed_json"),
        ('{"issuers": []}', "trust_list_invalid"),
        (json.dumps([_entry(id="http://a.kr")]), "trust_list_invalid"),
        (json.dumps([_entry(), _entry()]), "trust_list_invalid"),
    ],
    ids=["not-json", "object", "bad-entry", "duplicate"],
)
def test_cli_create_refuses_bad_input(
    operator: dict[str, Path | str], issuers: str, code: str
) -> None:
    Path(operator["issuers"]).write_text(issuers)
    result = _create(operator)
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (1, code)
    assert not Path(operator["out"]).exists()


def test_cli_create_with_a_wrong_passphrase(operator: dict[str, Path | str]) -> None:
    args = ["trust-list", "create", "--anchor-store", str(operator["store"])]
    args += ["--anchor-kid", str(operator["kid"]), "--issuers", str(operator["issuers"])]
    args += ["--operator", "op", "--sequence", "1", "--valid-days", "1"]
    args += ["--out", str(operator["out"])]
    result = runner.invoke(app, args, env={PASSPHRASE_ENV: "wrong"})
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (1, "wrong_passphrase")


def test_cli_verify_refuses_unreadable_inputs(
    operator: dict[str, Path | str], tmp_path: Path
) -> None:
    Path(operator["out"]).write_bytes(b"\xff\xfe")
    result = _check(operator)
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (1, "trust_list_invalid")
    bad_anchor = tmp_path / "bad.jwk"
    bad_anchor.write_text("{")
    result = _check({**operator, "anchor": bad_anchor})
    assert (result.exit_code, result.stderr.split(":")[1].strip()) == (1, "malformed_json")


def test_cli_refuses_an_oversized_input_as_usage(operator: dict[str, Path | str]) -> None:
    Path(operator["issuers"]).write_bytes(b" " * (16 * 1024 * 1024 + 1))
    assert _create(operator).exit_code == 2


@pytest.mark.parametrize(
    "extra", [["--sequence", "-1"], ["--valid-days", "0"]], ids=["negative-sequence", "zero-days"]
)
def test_cli_usage_errors_exit_2(operator: dict[str, Path | str], extra: list[str]) -> None:
    assert _create(operator, *extra).exit_code == 2


def test_cli_create_into_a_missing_directory_is_a_usage_error(
    operator: dict[str, Path | str], tmp_path: Path
) -> None:
    result = _create({**operator, "out": tmp_path / "missing" / "trust-list.jwt"})
    assert result.exit_code == 2


def test_cli_create_names_relying_parties_and_verify_prints_them(
    operator: dict[str, Path | str], tmp_path: Path
) -> None:
    from tests.test_relying_party import rp_entry

    parties = tmp_path / "relying-parties.json"
    parties.write_text(json.dumps([rp_entry()], ensure_ascii=False))
    created = _create(operator, "--relying-parties", str(parties))
    assert created.exit_code == 0, created.output
    assert "2 issuers, 1 relying parties" in created.stdout
    checked = _check(operator)
    assert "relying party counter.woori.example (Woori Bank): 1 keys" in checked.stdout
    assert "account_opening, age_check" in checked.stdout
    parties.write_text(json.dumps([rp_entry(), rp_entry()], ensure_ascii=False))
    twice = _create(operator, "--relying-parties", str(parties))
    assert (twice.exit_code, twice.stderr.split(":")[1].strip()) == (1, "trust_list_invalid")
