"""Interoperability with the IETF SD-JWT reference implementation (PyPI ``sd-jwt`` 0.10.4).

Both directions, on a certificate type of our registry and ES256 keys:

- what jigap issues and presents, the reference ``SDJWTVerifier`` accepts, with the same
  disclosed claims;
- what the reference ``SDJWTIssuer`` and ``SDJWTHolder`` make (our payload format: `iss`,
  `iat`, `exp`, `vct`, `cnf`, `status`; `typ` ``dc+sd-jwt``; a KB-JWT), our verifier accepts,
  with the same claims. The reference serialises JSON with spaces and ``\\uXXXX`` escapes; that
  is fine, since digests and signatures cover the encoded text.

And where we are stricter, one test each shows the reference accepting what we refuse. The
reference's KB-JWT takes its `iat` from ``time.time()``; the tests pin it to the injected clock
by replacing ``sd_jwt.holder.time``, a name of the reference implementation, not of ours.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from credential_schemas import CredentialType, Registry
from issuer.credential import IssuedCredential, StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_decode
from keys.jwk import Jwks, SigningKey
from verifier import ErrorCode, Policy, TrustStore, Verifier, encode_envelope
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import encode_disclosure, split_compact
from verifier.status_list import StatusList, build_status_list_token
from wallet_api.presentation import build_presentation

NOW = 1_767_268_800  # 2026-01-01T12:00:00Z, the counter's clock in every test
DAY = 24 * 3600
ISSUER_ID = "https://rr.gov.example.kr"
STATUS_URI = "https://rr.gov.example.kr/status/1"
STATUS_INDEX = 4242
AUDIENCE = "https://bank.example.kr/counter/17"
NONCE = "n-0S6_WzA2Mj"
RESIDENT_REGISTER = "resident_register_extract"
REQUESTED = ("name", "birth_date", "address")


# -- fixtures: fixed keys, the registry, a trust store ----------------------------------------


@pytest.fixture(scope="module")
def issuer_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def holder_private() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def issuer_key(issuer_private: ec.EllipticCurvePrivateKey) -> SigningKey:
    return SigningKey.from_private_key(issuer_private)


@pytest.fixture(scope="module")
def holder_key(holder_private: ec.EllipticCurvePrivateKey) -> SigningKey:
    return SigningKey.from_private_key(holder_private)


@pytest.fixture(scope="module")
def resident_type() -> CredentialType:
    return Registry.load().get(RESIDENT_REGISTER)


@pytest.fixture(scope="module")
def resident_claims(resident_type: CredentialType) -> dict[str, Any]:
    """The first valid example of the type's own file."""
    assert resident_type.source is not None
    claims: dict[str, Any] = json.loads(resident_type.source.read_text("utf-8"))["examples"][
        "valid"
    ][0]
    return claims


@pytest.fixture(scope="module")
def verifier(issuer_key: SigningKey) -> Verifier:
    store = TrustStore()
    store.add_issuer(ISSUER_ID, Jwks.of(issuer_key.public_key))
    status_token = build_status_list_token(
        StatusList(16 * 1024), STATUS_URI, issuer_key, now=NOW - 600, ttl=DAY
    )
    store.add_status_list(STATUS_URI, status_token, fetched_at=NOW - 60)
    return Verifier(store, Policy(expected_audience=AUDIENCE, expected_nonce=NONCE))


# -- helpers ----------------------------------------------------------------------------------


def issue(
    resident_type: CredentialType,
    claims: Mapping[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
    *,
    now: int,
    expires_at: int | None = None,
) -> IssuedCredential:
    return issue_sd_jwt_vc(
        resident_type,
        claims,
        issuer_id=ISSUER_ID,
        signing_key=issuer_key,
        holder_key=holder_key.public_key,
        status=StatusReference(STATUS_URI, STATUS_INDEX),
        now=now,
        expires_at=expires_at,
    )


def present(credential: str, holder_key: SigningKey, *, now: int, claims: tuple[str, ...]) -> str:
    return build_presentation(
        credential, claims, holder_key=holder_key, audience=AUDIENCE, nonce=NONCE, now=now
    )


def reference_verify(
    text: str, issuer_key: SigningKey, *, key_binding: bool = True
) -> dict[str, Any]:
    """The reference verifier, given our issuer's public key through its callback."""
    issuer_jwk = JWK.from_json(json.dumps(issuer_key.public_key.to_jwk()))

    def key_for(unverified_issuer: str, unverified_header: Mapping[str, Any]) -> JWK:
        assert unverified_issuer == ISSUER_ID
        assert unverified_header["kid"] == issuer_key.kid
        return issuer_jwk

    expected = {"expected_aud": AUDIENCE, "expected_nonce": NONCE} if key_binding else {}
    payload: dict[str, Any] = SDJWTVerifier(text, key_for, **expected).get_verified_payload()
    return payload


def certificate_claims(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A processed payload without the format's own claims: what a certificate says."""
    return {name: value for name, value in payload.items() if name not in vc.REGISTERED_CLAIMS}


def with_derived(resident_type: CredentialType, claims: Mapping[str, Any]) -> dict[str, Any]:
    return {**claims, **resident_type.derive(claims, datetime.fromtimestamp(NOW, UTC).date())}


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part: dict[str, Any] = json.loads(b64url_decode(token.split(".")[index]))
    return part


# -- ours -> reference ------------------------------------------------------------------------


def test_reference_verifies_our_credential_with_every_claim(
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
) -> None:
    credential = issue(resident_type, resident_claims, issuer_key, holder_key, now=NOW - 3600)

    payload = reference_verify(credential.compact, issuer_key, key_binding=False)

    assert certificate_claims(payload) == with_derived(resident_type, resident_claims)
    assert payload[vc.VCT] == resident_type.vct
    assert payload[vc.CNF] == {vc.JWK: holder_key.public_key.to_thumbprint_jwk()}


def test_reference_verifies_our_presentation_with_key_binding(
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
    verifier: Verifier,
) -> None:
    credential = issue(resident_type, resident_claims, issuer_key, holder_key, now=NOW - 3600)
    presentation = present(credential.compact, holder_key, now=NOW - 5, claims=REQUESTED)

    payload = reference_verify(presentation, issuer_key)
    ours = verifier.verify(presentation, now=NOW)

    assert ours.valid, ours.error
    expected = {name: resident_claims[name] for name in REQUESTED}
    assert certificate_claims(payload) == expected
    assert dict(ours.claims) == expected


# -- reference -> ours ------------------------------------------------------------------------


@pytest.fixture
def reference_presentation(
    monkeypatch: pytest.MonkeyPatch,
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_private: ec.EllipticCurvePrivateKey,
    holder_private: ec.EllipticCurvePrivateKey,
    issuer_key: SigningKey,
) -> str:
    """Issued by ``SDJWTIssuer`` and presented by ``SDJWTHolder``, in our payload format."""
    user_claims: dict[Any, Any] = {
        vc.ISS: ISSUER_ID,
        vc.IAT: NOW - 3600,
        vc.EXP: NOW + 90 * DAY,
        vc.VCT: resident_type.vct,
        vc.STATUS: StatusReference(STATUS_URI, STATUS_INDEX).to_claim(),
    }
    for name, value in with_derived(resident_type, resident_claims).items():
        user_claims[SDObj(name)] = value
    holder_jwk = JWK.from_pyca(holder_private)
    issuance = SDJWTIssuer(
        user_claims,
        JWK.from_pyca(issuer_private),
        holder_key=holder_jwk,  # the reference writes `cnf.jwk` itself
        sign_alg="ES256",
        extra_header_parameters={"typ": vc.CREDENTIAL_TYP, "kid": issuer_key.kid},
    ).sd_jwt_issuance
    # The reference's KB-JWT `iat` is `int(time())`: set its clock to ours.
    monkeypatch.setattr("sd_jwt.holder.time", lambda: NOW - 5)
    holder = SDJWTHolder(issuance)
    holder.create_presentation(
        dict.fromkeys(REQUESTED, True),
        nonce=NONCE,
        aud=AUDIENCE,
        holder_key=holder_jwk,
        sign_alg="ES256",
    )
    presentation: str = holder.sd_jwt_presentation
    return presentation


def test_reference_key_binding_jwt_has_our_shape(reference_presentation: str) -> None:
    kb_jwt = split_compact(reference_presentation).kb_jwt
    assert kb_jwt is not None
    assert jwt_part(kb_jwt, 0) == {"alg": "ES256", "typ": vc.KB_JWT_TYP}
    assert set(jwt_part(kb_jwt, 1)) == {vc.NONCE, vc.AUD, vc.IAT, "sd_hash"}
    assert jwt_part(kb_jwt, 1)[vc.IAT] == NOW - 5


def test_our_verifier_accepts_a_reference_presentation(
    reference_presentation: str,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    verifier: Verifier,
) -> None:
    ours = verifier.verify(reference_presentation, now=NOW)
    theirs = reference_verify(reference_presentation, issuer_key)

    assert ours.valid, ours.error
    assert ours.holder_bound
    expected = {name: resident_claims[name] for name in REQUESTED}
    assert dict(ours.claims) == expected
    assert certificate_claims(theirs) == expected


def test_our_verifier_accepts_a_reference_presentation_in_a_qr_envelope(
    reference_presentation: str, resident_claims: dict[str, Any], verifier: Verifier
) -> None:
    """The envelope is lossless for the reference's JSON spelling (spaces, escapes) too."""
    ours = verifier.verify(encode_envelope(reference_presentation), now=NOW)

    assert ours.valid, ours.error
    assert dict(ours.claims) == {name: resident_claims[name] for name in REQUESTED}


# -- where we are stricter than the reference -------------------------------------------------


def test_expired_credential_accepted_by_reference_refused_by_us(
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
    verifier: Verifier,
) -> None:
    """The reference leaves `exp` unchecked (a TODO in ``SDJWTVerifier._verify_sd_jwt``)."""
    credential = issue(
        resident_type,
        resident_claims,
        issuer_key,
        holder_key,
        now=NOW - 100 * DAY,
        expires_at=NOW - 10 * DAY,
    )
    presentation = present(credential.compact, holder_key, now=NOW - 5, claims=REQUESTED)

    theirs = reference_verify(presentation, issuer_key)
    ours = verifier.verify(presentation, now=NOW)

    assert theirs[vc.EXP] < NOW  # accepted all the same
    assert ours.error is ErrorCode.EXPIRED


def test_unreferenced_disclosure_accepted_by_reference_refused_by_us(
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
    verifier: Verifier,
) -> None:
    """RFC 9901 §7.1 step 5: a disclosure no digest refers to makes the SD-JWT invalid. The
    reference indexes it, ignores it, and accepts (its KB-JWT `sd_hash` covers it, correctly)."""
    credential = issue(resident_type, resident_claims, issuer_key, holder_key, now=NOW - 3600)
    stray = encode_disclosure("nickname", "길동이")
    padded = f"{credential.compact}{stray.encoded}~"
    presentation = present(padded, holder_key, now=NOW - 5, claims=(*REQUESTED, "nickname"))
    assert stray.encoded in split_compact(presentation).disclosures

    theirs = reference_verify(presentation, issuer_key)
    ours = verifier.verify(presentation, now=NOW)

    assert "nickname" not in theirs
    assert certificate_claims(theirs) == {name: resident_claims[name] for name in REQUESTED}
    assert ours.error is ErrorCode.DISCLOSURE_UNREFERENCED


def test_year_old_key_binding_accepted_by_reference_refused_by_us(
    resident_type: CredentialType,
    resident_claims: dict[str, Any],
    issuer_key: SigningKey,
    holder_key: SigningKey,
    verifier: Verifier,
) -> None:
    """The reference never reads the KB-JWT's `iat`: a presentation replayed a year later
    passes. Ours allows ``Policy.max_presentation_age`` (5 minutes by default)."""
    credential = issue(
        resident_type,
        resident_claims,
        issuer_key,
        holder_key,
        now=NOW - 400 * DAY,
        expires_at=NOW + 30 * DAY,
    )
    presentation = present(credential.compact, holder_key, now=NOW - 365 * DAY, claims=REQUESTED)

    theirs = reference_verify(presentation, issuer_key)
    ours = verifier.verify(presentation, now=NOW)

    assert certificate_claims(theirs) == {name: resident_claims[name] for name in REQUESTED}
    assert ours.error is ErrorCode.PRESENTATION_TOO_OLD
