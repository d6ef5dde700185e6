"""DPoP proofs (RFC 9449): the server's checks of §4.3, each refusal naming its reason and code.

Every negative case is the accepted baseline with one thing changed, so a case fails for the
reason it names and no other. The RFC's own example proofs (§5 Figures 5 and 7, §7.1 Figure
13) are replayed at the time they carry.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import subprocess
import sys
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import protocols.dpop as dpop
from keys.encoding import b64url_decode, b64url_encode, json_dumps
from keys.errors import KeyErrorCode
from keys.jwk import Algorithm, SigningKey
from keys.jws import decode_compact
from protocols.dpop import (
    MAX_JTI_LENGTH,
    MAX_PROOF_LENGTH,
    DpopError,
    DpopErrorCode,
    DpopFailure,
    DpopPolicy,
    access_token_hash,
    make_dpop_proof,
    normalize_htu,
    verify_dpop_proof,
)

NOW = 1_700_000_000
METHOD = "POST"
URI = "https://wallet.example.kr/v1/credentials"
TOKEN = "eyJ.session-token.for-this-account"
NONCE = "n-2026-12-05T05:00"
POLICY = DpopPolicy(max_age=60, clock_skew=10)
BOTH_ALGORITHMS = DpopPolicy(algorithms=frozenset(Algorithm))

KEY = SigningKey.generate(Algorithm.ES256)
OTHER_KEY = SigningKey.generate(Algorithm.ES256)
ED_KEY = SigningKey.generate(Algorithm.EDDSA)
DROP = object()  # a header parameter or claim to leave out


def _encode(value: dict[str, Any] | bytes) -> str:
    return b64url_encode(value if isinstance(value, bytes) else json_dumps(value))


def _header(key: SigningKey = KEY, **changes: object) -> dict[str, Any]:
    header: dict[str, Any] = {
        "typ": "dpop+jwt",
        "alg": key.algorithm.value,
        "jwk": key.public_key.to_thumbprint_jwk(),
    }
    header.update(changes)
    return {name: value for name, value in header.items() if value is not DROP}


def _claims(**changes: object) -> dict[str, Any]:
    claims: dict[str, Any] = {"jti": "Vq3MJUEr1-Y0dvBoJXa8fw", "htm": METHOD, "htu": URI}
    claims["iat"] = NOW
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not DROP}


def _proof(
    header: dict[str, Any] | bytes | None = None,
    claims: dict[str, Any] | bytes | None = None,
    key: SigningKey | None = KEY,
) -> str:
    """A compact JWS over exactly these bytes, signed by ``key`` (or unsigned)."""
    signing_input = f"{_encode(_header() if header is None else header)}."
    signing_input += _encode(_claims() if claims is None else claims)
    signature = key.sign(signing_input.encode("ascii")) if key is not None else b""
    return f"{signing_input}.{b64url_encode(signature)}"


@dataclass(frozen=True)
class Request:
    """What the server knows of the request a proof came with."""

    method: str = METHOD
    uri: str = URI
    now: int = NOW
    policy: DpopPolicy = POLICY
    nonces: Container[str] | None = None
    access_token: str | None = None
    bound_jkt: str | None = None

    def verify(self, proof: str) -> dpop.DpopProof:
        return verify_dpop_proof(
            proof,
            method=self.method,
            uri=self.uri,
            now=self.now,
            policy=self.policy,
            nonces=self.nonces,
            access_token=self.access_token,
            bound_jkt=self.bound_jkt,
        )


WITH_NONCE = Request(nonces=frozenset({NONCE, "the-one-before"}))
WITH_TOKEN = Request(access_token=TOKEN, bound_jkt=KEY.kid)


@dataclass(frozen=True)
class Case:
    id: str
    proof: Callable[[], str]
    reason: DpopFailure
    request: Request = field(default_factory=Request)


def _with_claims(**changes: object) -> Callable[[], str]:
    return lambda: _proof(claims=_claims(**changes))


def _tampered_payload() -> str:
    header, _, signature = _proof().split(".")
    return f"{header}.{_encode(_claims(htm='GET'))}.{signature}"


def _oversized() -> str:
    return _proof(claims=_claims(padding="x" * MAX_PROOF_LENGTH))


def _duplicate_header_member() -> bytes:
    jwk = json_dumps(KEY.public_key.to_thumbprint_jwk()).decode()
    return f'{{"typ":"dpop+jwt","alg":"ES256","alg":"ES256","jwk":{jwk}}}'.encode()


def _duplicate_claim() -> bytes:
    return json_dumps(_claims())[:-1] + b',"htm":"GET"}'


def _off_curve_jwk() -> dict[str, str]:
    jwk = KEY.public_key.to_thumbprint_jwk()
    y = bytearray(b64url_decode(jwk["y"]))
    y[-1] ^= 1
    return {**jwk, "y": b64url_encode(bytes(y))}


def _hs256_proof() -> str:
    """The classic confusion: the public key's own bytes used as an HMAC secret."""
    unsigned = _proof(_header(alg="HS256"), key=None)
    secret = b64url_decode(KEY.public_key.to_thumbprint_jwk()["x"])
    mac = hmac.new(secret, unsigned[:-1].encode("ascii"), hashlib.sha256).digest()
    return unsigned + b64url_encode(mac)


# One claim changed, and what it is refused for.
CLAIM_CASES: list[tuple[str, dict[str, Any], DpopFailure]] = [
    ("jti-empty", {"jti": ""}, DpopFailure.INVALID_CLAIM),
    ("jti-too-long", {"jti": "j" * (MAX_JTI_LENGTH + 1)}, DpopFailure.INVALID_CLAIM),
    ("jti-a-number", {"jti": 12345}, DpopFailure.INVALID_CLAIM),
    ("htm-a-list", {"htm": ["POST"]}, DpopFailure.INVALID_CLAIM),
    ("iat-a-string", {"iat": str(NOW)}, DpopFailure.INVALID_CLAIM),
    ("iat-a-float", {"iat": NOW + 0.5}, DpopFailure.INVALID_CLAIM),
    ("iat-true", {"iat": True}, DpopFailure.INVALID_CLAIM),
    ("htu-relative", {"htu": "/v1/credentials"}, DpopFailure.INVALID_CLAIM),
    ("htu-not-http", {"htu": "ftp://wallet.example.kr/v1"}, DpopFailure.INVALID_CLAIM),
    (
        "htu-with-user-information",
        {"htu": "https://me@wallet.example.kr/v1/credentials"},
        DpopFailure.INVALID_CLAIM,
    ),
    (
        "htu-bad-port",
        {"htu": "https://wallet.example.kr:99999/"},
        DpopFailure.INVALID_CLAIM,
    ),
    ("htu-broken-percent", {"htu": URI + "%G1"}, DpopFailure.INVALID_CLAIM),
    # htm and htu (§4.3 points 8-9)
    ("htm-other-method", {"htm": "GET"}, DpopFailure.METHOD_MISMATCH),
    ("htm-lower-case", {"htm": "post"}, DpopFailure.METHOD_MISMATCH),
    ("htu-other-path", {"htu": URI + "/1"}, DpopFailure.URI_MISMATCH),
    (
        "htu-other-host",
        {"htu": "https://wallet.example.com/v1/credentials"},
        DpopFailure.URI_MISMATCH,
    ),
    (
        "htu-http-not-https",
        {"htu": "http://wallet.example.kr/v1/credentials"},
        DpopFailure.URI_MISMATCH,
    ),
    (
        "htu-other-port",
        {"htu": "https://wallet.example.kr:8443/v1/credentials"},
        DpopFailure.URI_MISMATCH,
    ),
    (
        "htu-path-case",
        {"htu": "https://wallet.example.kr/V1/credentials"},
        DpopFailure.URI_MISMATCH,
    ),
    # iat window (§4.3 point 11, §11.1)
    ("iat-too-old", {"iat": NOW - 61}, DpopFailure.TOO_OLD),
    ("iat-in-the-future", {"iat": NOW + 11}, DpopFailure.ISSUED_IN_FUTURE),
    # ath without a token (§7: a proof for a token is not usable without it)
    ("ath-without-a-token", {"ath": access_token_hash(TOKEN)}, DpopFailure.ATH_UNEXPECTED),
]

REFUSED = [
    # Form (§4.3 point 2), strict JOSE
    Case("two-parts", lambda: _proof().rsplit(".", 1)[0], DpopFailure.MALFORMED),
    Case("not-base64url", lambda: "!" + _proof(), DpopFailure.MALFORMED),
    Case("header-not-json", lambda: _proof(header=b"typ=dpop+jwt"), DpopFailure.MALFORMED),
    Case(
        "duplicate-header-member",
        lambda: _proof(header=_duplicate_header_member()),
        DpopFailure.MALFORMED,
    ),
    Case("duplicate-claim", lambda: _proof(claims=_duplicate_claim()), DpopFailure.MALFORMED),
    Case("claims-not-an-object", lambda: _proof(claims=b"[1,2]"), DpopFailure.MALFORMED),
    Case("jwk-not-an-object", lambda: _proof(_header(jwk="EC P-256")), DpopFailure.MALFORMED),
    Case("oversized", _oversized, DpopFailure.TOO_LARGE),
    Case("crit-header", lambda: _proof(_header(crit=["exp"])), DpopFailure.UNSUPPORTED_HEADER),
    Case(
        "x5c-header",
        lambda: _proof(_header(x5c=["MIIB"])),
        DpopFailure.UNSUPPORTED_HEADER,
    ),
    # typ (§4.3 point 4, §11.5)
    Case("typ-jwt", lambda: _proof(_header(typ="JWT")), DpopFailure.WRONG_TOKEN_TYPE),
    Case("typ-missing", lambda: _proof(_header(typ=DROP)), DpopFailure.WRONG_TOKEN_TYPE),
    Case(
        "typ-of-a-key-proof",
        lambda: _proof(_header(typ="openid4vci-proof+jwt")),
        DpopFailure.WRONG_TOKEN_TYPE,
    ),
    # alg (§4.3 point 5, §11.6): the policy's and the key's, never the token's choice
    Case(
        "alg-none",
        lambda: _proof(_header(alg="none"), key=None),
        DpopFailure.UNSUPPORTED_ALGORITHM,
    ),
    Case(
        "alg-hs256",
        _hs256_proof,
        DpopFailure.UNSUPPORTED_ALGORITHM,
    ),
    Case("alg-rs256", lambda: _proof(_header(alg="RS256")), DpopFailure.UNSUPPORTED_ALGORITHM),
    Case(
        "eddsa-outside-the-policy",
        lambda: _proof(_header(ED_KEY), key=ED_KEY),
        DpopFailure.UNSUPPORTED_ALGORITHM,
    ),
    Case(
        "alg-eddsa-with-a-p256-jwk",
        lambda: _proof(_header(alg="EdDSA"), key=ED_KEY),
        DpopFailure.ALGORITHM_KEY_MISMATCH,
        Request(policy=BOTH_ALGORITHMS),
    ),
    Case(
        "alg-es256-with-an-ed25519-jwk",
        lambda: _proof(_header(ED_KEY, alg="ES256")),
        DpopFailure.ALGORITHM_KEY_MISMATCH,
    ),
    # jwk (§4.3 points 6-7)
    Case("jwk-missing", lambda: _proof(_header(jwk=DROP)), DpopFailure.MISSING_KEY),
    Case(
        "jwk-holds-a-private-key",
        lambda: _proof(_header(jwk={**KEY.public_key.to_thumbprint_jwk(), "d": "AAAA"})),
        DpopFailure.INVALID_KEY,
    ),
    Case(
        "jwk-off-the-curve", lambda: _proof(_header(jwk=_off_curve_jwk())), DpopFailure.INVALID_KEY
    ),
    Case(
        "jwk-rsa",
        lambda: _proof(_header(jwk={"kty": "RSA", "n": "AQAB", "e": "AQAB"})),
        DpopFailure.INVALID_KEY,
    ),
    Case("signed-by-another-key", lambda: _proof(key=OTHER_KEY), DpopFailure.BAD_SIGNATURE),
    Case("payload-changed-after-signing", _tampered_payload, DpopFailure.BAD_SIGNATURE),
    # Claims (§4.3 point 3) and their types
    *(
        Case(f"{name}-missing", _with_claims(**{name: DROP}), reason)
        for name, reason in [
            ("jti", DpopFailure.MISSING_CLAIM),
            ("htm", DpopFailure.MISSING_CLAIM),
            ("htu", DpopFailure.MISSING_CLAIM),
            ("iat", DpopFailure.MISSING_CLAIM),
        ]
    ),
    *(Case(case_id, _with_claims(**changes), reason) for case_id, changes, reason in CLAIM_CASES),
    # nonce (§4.3 point 10, §8, §11.3)
    Case("nonce-missing", lambda: _proof(), DpopFailure.NONCE_MISSING, WITH_NONCE),
    Case(
        "nonce-stale",
        lambda: _proof(claims=_claims(nonce="n-2026-12-05T04:00")),
        DpopFailure.NONCE_STALE,
        WITH_NONCE,
    ),
    Case(
        "nonce-a-number",
        lambda: _proof(claims=_claims(nonce=20261205)),
        DpopFailure.INVALID_CLAIM,
        WITH_NONCE,
    ),
    # ath with a token (§4.3 point 12)
    Case("ath-missing", lambda: _proof(), DpopFailure.ATH_MISSING, WITH_TOKEN),
    Case(
        "ath-of-another-token",
        lambda: _proof(claims=_claims(ath=access_token_hash(TOKEN + "x"))),
        DpopFailure.ATH_MISMATCH,
        WITH_TOKEN,
    ),
    Case(
        "ath-the-token-itself",
        lambda: _proof(claims=_claims(ath=TOKEN)),
        DpopFailure.ATH_MISMATCH,
        WITH_TOKEN,
    ),
    Case(
        "ath-a-number",
        lambda: _proof(claims=_claims(ath=1)),
        DpopFailure.INVALID_CLAIM,
        WITH_TOKEN,
    ),
    Case(
        "token-bound-to-another-key",
        lambda: _proof(claims=_claims(ath=access_token_hash(TOKEN))),
        DpopFailure.KEY_MISMATCH,
        Request(access_token=TOKEN, bound_jkt=OTHER_KEY.kid),
    ),
    Case(
        "account-bound-to-another-key",
        lambda: _proof(),
        DpopFailure.KEY_MISMATCH,
        Request(bound_jkt=OTHER_KEY.kid),
    ),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda case: case.id)
def test_refused_proofs_name_their_reason_and_code(case: Case) -> None:
    with pytest.raises(DpopError) as refused:
        case.request.verify(case.proof())
    assert refused.value.reason is case.reason, refused.value.detail
    expected_code = {
        DpopFailure.NONCE_MISSING: DpopErrorCode.USE_DPOP_NONCE,
        DpopFailure.NONCE_STALE: DpopErrorCode.USE_DPOP_NONCE,
        DpopFailure.KEY_MISMATCH: DpopErrorCode.INVALID_TOKEN,
    }.get(case.reason, DpopErrorCode.INVALID_DPOP_PROOF)
    assert refused.value.code is expected_code


def test_every_reason_and_every_code_is_produced_by_a_case() -> None:
    assert {case.reason for case in REFUSED} == set(DpopFailure)
    produced_codes = set()
    for case in REFUSED:
        with pytest.raises(DpopError) as refused:
            case.request.verify(case.proof())
        produced_codes.add(refused.value.code)
    assert produced_codes == set(DpopErrorCode)


def test_every_key_layer_code_is_translated_in_one_place() -> None:
    assert set(dpop._FROM_KEY_ERROR) == set(KeyErrorCode)


@dataclass(frozen=True)
class Accepted:
    id: str
    proof: Callable[[], str]
    request: Request = field(default_factory=Request)


ACCEPTED = [
    Accepted("baseline", lambda: _proof()),
    Accepted(
        "query-and-fragment-of-the-request-ignored",
        lambda: _proof(),
        Request(uri=URI + "?page=2&sort=new#top"),
    ),
    *(
        Accepted(case_id, _with_claims(htu=htu))
        for case_id, htu in [
            ("htu-with-a-query", URI + "?page=2"),
            ("htu-host-upper-case", "https://WALLET.Example.KR/v1/credentials"),
            ("htu-scheme-upper-case", "HTTPS://wallet.example.kr/v1/credentials"),
            ("htu-default-port", "https://wallet.example.kr:443/v1/credentials"),
            ("htu-empty-port", "https://wallet.example.kr:/v1/credentials"),
            ("htu-dot-segments", "https://wallet.example.kr/v1/x/../credentials"),
            ("htu-percent-encoded-unreserved", "https://wallet.example.kr/v1/cr%65dentials"),
        ]
    ),
    Accepted(
        "percent-encoding-hex-case",
        lambda: _proof(claims=_claims(htu=URI + "/%e2%82%a9")),
        Request(uri=URI + "/%E2%82%A9"),
    ),
    Accepted(
        "ipv6-host-and-port",
        lambda: _proof(claims=_claims(htu="HTTP://[::1]:8080/x")),
        Request(uri="http://[::1]:8080/x"),
    ),
    Accepted("iat-oldest-accepted", lambda: _proof(claims=_claims(iat=NOW - 60))),
    Accepted("iat-latest-accepted", lambda: _proof(claims=_claims(iat=NOW + 10))),
    Accepted(
        "the-current-nonce",
        lambda: _proof(claims=_claims(nonce=NONCE)),
        WITH_NONCE,
    ),
    Accepted(
        "the-nonce-before",
        lambda: _proof(claims=_claims(nonce="the-one-before")),
        WITH_NONCE,
    ),
    Accepted(
        "ath-of-the-token",
        lambda: _proof(claims=_claims(ath=access_token_hash(TOKEN))),
        WITH_TOKEN,
    ),
    Accepted(
        "eddsa-when-the-policy-allows-it",
        lambda: _proof(_header(ED_KEY), key=ED_KEY),
        Request(policy=BOTH_ALGORITHMS),
    ),
    Accepted(
        "extra-header-and-claims-ignored",
        lambda: _proof(_header(kid="device-1"), _claims(client="jigap-android/1.0")),
    ),
]


@pytest.mark.parametrize("case", ACCEPTED, ids=lambda case: case.id)
def test_accepted_proofs(case: Accepted) -> None:
    verified = case.request.verify(case.proof())
    assert verified.jti == "Vq3MJUEr1-Y0dvBoJXa8fw"


def test_the_result_carries_what_replay_detection_needs() -> None:
    proof = _proof(claims=_claims(iat=NOW - 5, nonce=NONCE))
    verified = WITH_NONCE.verify(proof)
    assert verified.jkt == KEY.kid  # RFC 7638 thumbprint of the proof's jwk
    assert verified.public_key == KEY.public_key
    assert (verified.jti, verified.issued_at, verified.nonce) == (
        "Vq3MJUEr1-Y0dvBoJXa8fw",
        NOW - 5,
        NONCE,
    )
    # Kept until the iat check would refuse the proof anyway: one second later it does.
    assert verified.accepted_until == NOW - 5 + POLICY.max_age
    with pytest.raises(DpopError) as too_old:
        Request(now=verified.accepted_until + 1, nonces=WITH_NONCE.nonces).verify(proof)
    assert too_old.value.reason is DpopFailure.TOO_OLD


def test_an_access_token_is_never_checked_without_the_key_it_is_bound_to() -> None:
    with pytest.raises(ValueError, match="bound"):
        Request(access_token=TOKEN).verify(_proof(claims=_claims(ath=access_token_hash(TOKEN))))


def test_the_servers_own_uri_must_be_an_absolute_http_uri() -> None:
    with pytest.raises(ValueError):
        Request(uri="/v1/credentials").verify(_proof())


@pytest.mark.parametrize(
    "changes",
    [
        {"algorithms": frozenset()},
        {"algorithms": frozenset({"ES256"})},
        {"max_age": 0},
        {"clock_skew": -1},
    ],
    ids=["no-algorithm", "algorithm-as-text", "zero-max-age", "negative-skew"],
)
def test_a_policy_refuses_settings_that_would_accept_anything(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DpopPolicy(**changes)


@pytest.mark.parametrize(
    ("uri", "normal"),
    [
        ("HTTPS://Wallet.Example.KR:443", "https://wallet.example.kr/"),
        ("http://wallet.example.kr:80/a/./b/../c/", "http://wallet.example.kr/a/c/"),
        ("http://wallet.example.kr/a/b/..", "http://wallet.example.kr/a/"),
        ("http://wallet.example.kr/..", "http://wallet.example.kr/"),
        ("https://wallet.example.kr:8443/a//b?q#f", "https://wallet.example.kr:8443/a//b"),
        ("https://wallet.example.kr/%7euser/%2f%41", "https://wallet.example.kr/~user/%2FA"),
        ("https://[::1]/x", "https://[::1]/x"),
    ],
)
def test_htu_normal_form(uri: str, normal: str) -> None:
    """RFC 3986 §6.2.2 and §6.2.3, as RFC 9449 §4.3 asks before comparing `htu`."""
    assert normalize_htu(uri) == normal


# --- RFC 9449's own examples ----------------------------------------------------------------
# The key of every example proof (Figure 4) and its thumbprint (Figure 9, `cnf.jkt`).
RFC_JKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
_RFC_HEADER = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6IkVDIiwieCI6Imw4dEZyaHgtMzR0Vj"
    "NoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCRnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5"
    "VERWclUwQ2R2R1JEQSIsImNydiI6IlAtMjU2In19"
)
# Figure 5: the token request with an authorization code.
RFC_FIGURE_5 = (
    _RFC_HEADER + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2V"
    "ydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiM"
    "LvqRMUvwnQg4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
# Figure 7: the token request with a refresh token.
RFC_FIGURE_7 = (
    _RFC_HEADER + ".eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIjoiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2V"
    "ydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwiaWF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8"
    "cP2hjiaG5QsGSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA"
)
# Figures 13 and 14: the protected resource request, with the access token of Figure 6.
RFC_ACCESS_TOKEN = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC_ATH = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC_FIGURE_13 = (
    _RFC_HEADER + ".eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIjoiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXN"
    "vdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0ZWRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8yc"
    "jJaM0RaNTNFc05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71EOptxRimPPToA"
    "1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
RFC_TOKEN_REQUEST = Request(uri="https://server.example.com/token", policy=DpopPolicy())
RFC_RESOURCE_REQUEST = Request(
    method="GET",
    uri="https://resource.example.org/protectedresource",
    now=1562262618,
    policy=DpopPolicy(),
    access_token=RFC_ACCESS_TOKEN,
    bound_jkt=RFC_JKT,
)


@pytest.mark.parametrize(
    ("proof", "now", "jti"),
    [
        (RFC_FIGURE_5, 1562262616, "-BwC3ESc6acc2lTc"),
        (RFC_FIGURE_7, 1562265296, "-BwC3ESc6acc2lTc"),
    ],
    ids=["figure-5", "figure-7"],
)
def test_rfc_9449_token_request_proofs(proof: str, now: int, jti: str) -> None:
    verified = Request(uri=RFC_TOKEN_REQUEST.uri, now=now, policy=DpopPolicy()).verify(proof)
    assert (verified.jkt, verified.jti, verified.issued_at) == (RFC_JKT, jti, now)


def test_rfc_9449_resource_request_proof_and_its_ath() -> None:
    assert access_token_hash(RFC_ACCESS_TOKEN) == RFC_ATH  # Figures 13-14
    verified = RFC_RESOURCE_REQUEST.verify(RFC_FIGURE_13)
    assert (verified.jkt, verified.jti) == (RFC_JKT, "e1j3V_bKic8-LAEB")


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (dataclasses.replace(RFC_RESOURCE_REQUEST, access_token="Kz~8"), DpopFailure.ATH_MISMATCH),
        (dataclasses.replace(RFC_RESOURCE_REQUEST, now=NOW), DpopFailure.TOO_OLD),
        (dataclasses.replace(RFC_RESOURCE_REQUEST, method="POST"), DpopFailure.METHOD_MISMATCH),
    ],
    ids=["another-token", "replayed-years-later", "another-method"],
)
def test_rfc_9449_resource_proof_refused_out_of_its_request(
    request_: Request, reason: DpopFailure
) -> None:
    with pytest.raises(DpopError) as refused:
        request_.verify(RFC_FIGURE_13)
    assert refused.value.reason is reason


# --- Making proofs (the holder side) ---------------------------------------------------------


def test_made_proofs_verify_with_everything_the_server_checks() -> None:
    proof = make_dpop_proof(
        KEY, method="POST", uri=URI + "?page=2#top", now=NOW, nonce=NONCE, access_token=TOKEN
    )
    request = Request(nonces=frozenset({NONCE}), access_token=TOKEN, bound_jkt=KEY.kid)
    verified = request.verify(proof)
    assert verified.nonce == NONCE
    claims = decode_compact(proof, expected_typ="dpop+jwt", allow_key_reference=frozenset({"jwk"}))
    assert claims.unverified_claims()["htu"] == URI  # §4.2: without query and fragment
    assert claims.unverified_header["jwk"] == KEY.public_key.to_thumbprint_jwk()


def test_made_proofs_have_fresh_unguessable_jtis() -> None:
    jtis = {
        Request().verify(make_dpop_proof(KEY, method=METHOD, uri=URI, now=NOW)).jti
        for _ in range(50)
    }
    assert len(jtis) == 50
    assert all(len(jti) >= 16 for jti in jtis)  # §4.2: 96 random bits or more


def test_a_made_proof_is_bound_to_its_request() -> None:
    proof = make_dpop_proof(KEY, method="GET", uri=URI, now=NOW, jti="given-jti")
    assert Request(method="GET").verify(proof).jti == "given-jti"
    with pytest.raises(DpopError) as refused:
        Request(method="DELETE").verify(proof)
    assert refused.value.reason is DpopFailure.METHOD_MISMATCH


# --- Robustness and layering -------------------------------------------------------------------


@given(st.text(max_size=300))
def test_arbitrary_text_is_refused_with_a_reason(text: str) -> None:
    with pytest.raises(DpopError):
        Request().verify(text)


_VALID = make_dpop_proof(KEY, method=METHOD, uri=URI, now=NOW, nonce=NONCE)


@given(st.integers(0, len(_VALID) - 1), st.sampled_from("AQgw_-.~ "))
def test_a_proof_changed_in_one_character_is_refused_with_a_reason(
    position: int, replacement: str
) -> None:
    changed = _VALID[:position] + replacement + _VALID[position + 1 :]
    if changed == _VALID:
        return
    with pytest.raises(DpopError):
        WITH_NONCE.verify(changed)


def test_public_api_is_curated() -> None:
    assert set(dpop.__all__) == {
        "DPOP_HEADER",
        "DPOP_NONCE_HEADER",
        "DPOP_SCHEME",
        "DPOP_TYP",
        "MAX_JTI_LENGTH",
        "MAX_PROOF_LENGTH",
        "DpopError",
        "DpopErrorCode",
        "DpopFailure",
        "DpopPolicy",
        "DpopProof",
        "access_token_hash",
        "make_dpop_proof",
        "normalize_htu",
        "verify_dpop_proof",
    }
    assert all(getattr(dpop, name) is not None for name in dpop.__all__)


def test_the_protocol_core_pulls_in_no_service_code() -> None:
    probe = (
        "import sys, protocols.dpop\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'fastapi', 'starlette', 'sqlmodel', 'sqlalchemy', 'httpx', 'issuer', 'wallet_api'}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


def test_every_reason_and_code_is_explained_in_the_guide() -> None:
    guide = (Path(__file__).parents[1] / "docs" / "dpop.md").read_text()
    for reason in DpopFailure:
        assert f"| `{reason.value}` |" in guide, reason
    for code in DpopErrorCode:
        assert f"| `{code.value}` |" in guide, code
