"""What the verifier accepts from an issuer registered by hand, and what it never relaxes.

An issuer outside the scheme (``TrustStore.add_issuer``) may name its keys as it likes, leave
`kid`, `exp` or `iat` out where SD-JWT VC draft 12 allows it, when the policy says so; an issuer
from the signed trust list is always held to the scheme's rules.
"""

from __future__ import annotations

import pytest

from keys.errors import InvalidKeyError
from keys.jwk import Algorithm, Jwks, SigningKey
from keys.trust_list import TrustList, sign_trust_list
from tests._world import ISSUER, NOW, STATUS_URI, World
from verifier import ErrorCode, TrustStore
from verifier.status_list import build_status_list_token
from verifier.trust_store import MAX_KEYS_TRIED

LENIENT = {"require_kid": False, "require_exp": False, "require_iat": False}


def _named_world(kid: str) -> World:
    """A world whose issuer's JWKS names the key ``kid``, not its thumbprint."""
    world = World()
    world.store = TrustStore()
    jwk = {**world.issuer_key.public_key.to_jwk(), "kid": kid}
    world.store.add_issuer(ISSUER, {"keys": [jwk]})
    world.publish_status()
    return world


def test_a_kid_that_is_not_the_thumbprint_names_the_key() -> None:
    world = _named_world("doc-signer-05-25-2022")
    credential = world.forged_credential(header_changes={"kid": "doc-signer-05-25-2022"})
    result = world.verifier().verify(world.present(credential, ("name",)), now=NOW)
    assert result.valid, result.detail


def test_the_thumbprint_still_names_a_key_registered_under_another_kid() -> None:
    world = _named_world("doc-signer-05-25-2022")
    result = world.verifier().verify(world.present(world.forged_credential(), ("name",)), now=NOW)
    assert result.valid, result.detail


def test_a_declared_kid_naming_another_keys_thumbprint_is_refused() -> None:
    other = SigningKey.generate()
    jwk = {**SigningKey.generate().public_key.to_jwk(), "kid": other.kid}
    with pytest.raises(InvalidKeyError, match="names two keys"):
        TrustStore().add_issuer(ISSUER, {"keys": [jwk, other.public_key.to_jwk()]})


def test_one_kid_for_two_keys_is_refused() -> None:
    jwks = {
        "keys": [
            {**SigningKey.generate().public_key.to_jwk(), "kid": "k1"},
            {**SigningKey.generate().public_key.to_jwk(), "kid": "k1"},
        ]
    }
    with pytest.raises(InvalidKeyError, match="names two keys"):
        TrustStore().add_issuer(ISSUER, jwks)


def test_no_kid_is_refused_by_default_and_searched_when_the_policy_allows() -> None:
    world = World()
    others = [SigningKey.generate() for _ in range(MAX_KEYS_TRIED - 1)]
    world.store = TrustStore()
    world.store.add_issuer(
        ISSUER, Jwks.of(*(k.public_key for k in others), world.issuer_key.public_key)
    )
    world.publish_status()
    presentation = world.present(world.forged_credential(header_changes={"kid": None}), ("name",))
    assert world.verifier().verify(presentation, now=NOW).error == ErrorCode.MISSING_KID
    result = world.verifier(require_kid=False).verify(presentation, now=NOW)
    assert result.valid, result.detail


def test_no_kid_signed_by_none_of_the_issuers_keys_is_a_bad_signature() -> None:
    world = World()
    credential = world.forged_credential(header_changes={"kid": None}, key=SigningKey.generate())
    result = world.verifier(require_kid=False).verify(world.present(credential, ("name",)), now=NOW)
    assert result.error == ErrorCode.BAD_SIGNATURE


def test_the_key_search_is_bounded() -> None:
    world = World()
    many = [SigningKey.generate().public_key for _ in range(MAX_KEYS_TRIED)]
    world.store = TrustStore()
    world.store.add_issuer(ISSUER, Jwks.of(*many, world.issuer_key.public_key))
    world.publish_status()
    presentation = world.present(world.forged_credential(header_changes={"kid": None}), ("name",))
    result = world.verifier(require_kid=False).verify(presentation, now=NOW)
    assert result.error == ErrorCode.MISSING_KID
    assert f"at most {MAX_KEYS_TRIED}" in result.detail


def test_only_keys_of_the_headers_algorithm_are_tried() -> None:
    world = World()
    eddsa = [SigningKey.generate(Algorithm.EDDSA).public_key for _ in range(MAX_KEYS_TRIED)]
    world.store = TrustStore()
    world.store.add_issuer(ISSUER, Jwks.of(*eddsa, world.issuer_key.public_key))
    world.publish_status()
    presentation = world.present(world.forged_credential(header_changes={"kid": None}), ("name",))
    result = world.verifier(require_kid=False).verify(presentation, now=NOW)
    assert result.valid, result.detail  # nine keys, one of them ES256: one signature tried


@pytest.mark.parametrize(
    ("dropped", "code"), [("exp", ErrorCode.MISSING_EXP), ("iat", ErrorCode.MISSING_IAT)]
)
def test_missing_times_are_named_and_allowed_by_policy(dropped: str, code: ErrorCode) -> None:
    world = World()
    presentation = world.present(world.forged_credential(drop=(dropped,)), ("name",))
    refused = world.verifier().verify(presentation, now=NOW)
    assert refused.error == code
    assert "not an integer" not in refused.detail
    accepted = world.verifier(**{f"require_{dropped}": False}).verify(presentation, now=NOW)
    assert accepted.valid, accepted.detail
    assert (accepted.expires_at if dropped == "exp" else accepted.issued_at) is None


def test_a_disclosed_iat_without_exp_is_accepted_when_the_policy_allows() -> None:
    world = World()
    credential = world.forged_credential(
        disclosed={"name": "홍길동", "iat": NOW - 60}, drop=("iat", "exp")
    )
    presentation = world.present(credential, ("name", "iat"))
    assert world.verifier().verify(presentation, now=NOW).error == ErrorCode.MISSING_EXP
    result = world.verifier(require_exp=False).verify(presentation, now=NOW)
    assert result.valid, result.detail
    assert result.issued_at == NOW - 60


def _trust_list_world() -> tuple[World, TrustStore]:
    world = World()
    anchor = SigningKey.generate()
    entry = world.trusted_issuer(NOW - 3600, NOW + 3600)
    jws = sign_trust_list(
        TrustList("https://trust.example", 1, NOW, NOW + 600, {ISSUER: entry}), anchor
    )
    store = TrustStore.from_trust_list(jws, anchor.public_key.to_jwk(), now=NOW)
    token = build_status_list_token(
        world.status_list, STATUS_URI, world.issuer_key, now=NOW, ttl=60
    )
    store.add_status_list(STATUS_URI, token, fetched_at=NOW)
    return world, store


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"header_changes": {"kid": None}}, ErrorCode.MISSING_KID),
        ({"drop": ("exp",)}, ErrorCode.MISSING_EXP),
        ({"drop": ("iat",)}, ErrorCode.MISSING_IAT),
    ],
    ids=["no-kid", "no-exp", "no-iat"],
)
def test_the_trust_lists_issuers_are_never_relaxed(
    changes: dict[str, object], code: ErrorCode
) -> None:
    world, store = _trust_list_world()
    world.store = store
    presentation = world.present(world.forged_credential(**changes), ("name",))  # type: ignore[arg-type]
    assert (
        world.verifier().verify(world.present(world.forged_credential(), ("name",)), now=NOW).valid
    )
    assert world.verifier(**LENIENT).verify(presentation, now=NOW).error == code
