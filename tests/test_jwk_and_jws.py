"""Keys (RFC 7517/7638/8037) and strict JWS (RFC 7515): the algorithm is the key's."""

from __future__ import annotations

import pytest

from keys.encoding import b64url_decode, b64url_encode, json_dumps
from keys.errors import InvalidKeyError, KeyErrorCode, KeyManagementError, SignatureError
from keys.jwk import Algorithm, Jwks, SigningKey, public_key_from_jwk
from keys.jws import decode_compact, sign_compact, verify_with

# RFC 8037 Appendix A.2/A.3: an Ed25519 public key and its RFC 7638 thumbprint.
RFC8037_PUBLIC_JWK = {
    "kty": "OKP",
    "crv": "Ed25519",
    "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
}
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
# RFC 8037 Appendix A.4: the JWS of "Example of Ed25519 signing".
RFC8037_JWS = (
    "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc."
    "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
)

# Every small-order Ed25519 point, canonical and not (RFC 8032 §5.1.3 decoding).
SMALL_ORDER_ED25519 = [
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "0100000000000000000000000000000000000000000000000000000000000000",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
]
P256_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1


def test_rfc8037_thumbprint() -> None:
    assert public_key_from_jwk(RFC8037_PUBLIC_JWK).kid == RFC8037_THUMBPRINT


def test_rfc8037_signature_verifies_and_a_flipped_bit_does_not() -> None:
    key = public_key_from_jwk(RFC8037_PUBLIC_JWK)
    header, payload, signature = RFC8037_JWS.split(".")
    key.verify(b64url_decode(signature), f"{header}.{payload}".encode())
    tampered = bytearray(b64url_decode(signature))
    tampered[0] ^= 1
    with pytest.raises(SignatureError) as caught:
        key.verify(bytes(tampered), f"{header}.{payload}".encode())
    assert caught.value.code == KeyErrorCode.BAD_SIGNATURE


@pytest.mark.parametrize("algorithm", list(Algorithm))
def test_sign_and_verify_round_trip(algorithm: Algorithm) -> None:
    key = SigningKey.generate(algorithm)
    token = sign_compact({"hello": "세계"}, key, {"typ": "test+jwt", "kid": key.kid})
    jws = decode_compact(token, expected_typ="test+jwt")
    assert jws.unverified_header["alg"] == algorithm.value
    assert verify_with(jws, key.public_key) == json_dumps({"hello": "세계"})
    assert public_key_from_jwk(key.public_key.to_jwk()) == key.public_key


def test_kid_is_the_rfc7638_thumbprint_of_the_required_members() -> None:
    key = SigningKey.generate()
    with_extras = {**key.public_key.to_jwk(), "use": "sig"}
    assert public_key_from_jwk(with_extras).kid == key.kid
    assert public_key_from_jwk(key.public_key.to_thumbprint_jwk()).kid == key.kid


@pytest.mark.parametrize("encoded", SMALL_ORDER_ED25519)
def test_small_order_ed25519_keys_are_refused(encoded: str) -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(bytes.fromhex(encoded))}
    with pytest.raises(InvalidKeyError) as caught:
        public_key_from_jwk(jwk)
    assert caught.value.code == KeyErrorCode.WEAK_KEY


def test_off_curve_ed25519_key_is_refused() -> None:
    # y = 2 has no x on edwards25519 (checked by the decoding itself).
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode((2).to_bytes(32, "little"))}
    with pytest.raises(InvalidKeyError) as caught:
        public_key_from_jwk(jwk)
    assert caught.value.code == KeyErrorCode.WEAK_KEY


def _ec_jwk(x: int, y: int) -> dict[str, str]:
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(x.to_bytes(32, "big")),
        "y": b64url_encode(y.to_bytes(32, "big")),
    }


def _valid_point() -> tuple[int, int]:
    jwk = SigningKey.generate().public_key.to_jwk()
    return int.from_bytes(b64url_decode(jwk["x"]), "big"), int.from_bytes(
        b64url_decode(jwk["y"]), "big"
    )


def test_off_curve_p256_key_is_refused() -> None:
    x, y = _valid_point()
    with pytest.raises(InvalidKeyError) as caught:
        public_key_from_jwk(_ec_jwk(x, (y + 1) % P256_PRIME))
    assert caught.value.code == KeyErrorCode.INVALID_KEY


def test_p256_coordinate_beyond_the_field_is_refused() -> None:
    x, y = _valid_point()
    # x + p is the same residue: a lenient parser would reduce it and accept.
    if x + P256_PRIME < 2**256:
        with pytest.raises(InvalidKeyError):
            public_key_from_jwk(_ec_jwk(x + P256_PRIME, y))
    with pytest.raises(InvalidKeyError):
        public_key_from_jwk(_ec_jwk(P256_PRIME, y))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        pytest.param({"d": "AAAA"}, KeyErrorCode.INVALID_KEY, id="private-member"),
        pytest.param({"kid": "not-the-thumbprint"}, KeyErrorCode.INVALID_KEY, id="kid-mismatch"),
        pytest.param({"alg": "EdDSA"}, KeyErrorCode.INVALID_KEY, id="alg-mismatch"),
        pytest.param({"crv": "P-384"}, KeyErrorCode.UNSUPPORTED_KEY, id="other-curve"),
        pytest.param({"kty": "RSA"}, KeyErrorCode.UNSUPPORTED_KEY, id="rsa"),
        pytest.param({"x": "AAAA"}, KeyErrorCode.INVALID_KEY, id="short-coordinate"),
        pytest.param({"x": 5}, KeyErrorCode.INVALID_KEY, id="coordinate-not-text"),
        # RFC 7517 §4.2-4.3: a key that says it is not for checking signatures is refused
        pytest.param({"use": "enc"}, KeyErrorCode.INVALID_KEY, id="use-enc"),
        pytest.param({"use": ["sig"]}, KeyErrorCode.INVALID_KEY, id="use-not-text"),
        pytest.param({"key_ops": ["sign"]}, KeyErrorCode.INVALID_KEY, id="key-ops-sign-only"),
        pytest.param({"key_ops": ["encrypt"]}, KeyErrorCode.INVALID_KEY, id="key-ops-encrypt"),
        pytest.param({"key_ops": []}, KeyErrorCode.INVALID_KEY, id="key-ops-empty"),
        pytest.param({"key_ops": "verify"}, KeyErrorCode.INVALID_KEY, id="key-ops-not-a-list"),
        pytest.param(
            {"key_ops": ["verify", "verify"]}, KeyErrorCode.INVALID_KEY, id="key-ops-repeated"
        ),
    ],
)
def test_bad_jwks_are_refused(change: dict[str, object], code: KeyErrorCode) -> None:
    jwk = {**SigningKey.generate().public_key.to_jwk(), **change}
    with pytest.raises(InvalidKeyError) as caught:
        public_key_from_jwk(jwk)
    assert caught.value.code == code


@pytest.mark.parametrize(
    "extras", [{"use": "sig"}, {"key_ops": ["verify"]}, {"key_ops": ["sign", "verify"]}]
)
def test_a_key_for_signatures_may_say_so(extras: dict[str, object]) -> None:
    key = SigningKey.generate().public_key
    assert public_key_from_jwk({**key.to_jwk(), **extras}) == key


def test_a_jwks_listing_one_key_twice_is_refused() -> None:
    jwk = SigningKey.generate().public_key.to_jwk()
    with pytest.raises(InvalidKeyError) as caught:
        Jwks.from_dict({"keys": [jwk, {**jwk, "use": "sig"}]})
    assert caught.value.code == KeyErrorCode.INVALID_KEY


def _token(header: dict[str, object], payload: bytes = b"{}", key: SigningKey | None = None) -> str:
    key = key or SigningKey.generate()
    protected = b64url_encode(json_dumps(header))
    signing_input = f"{protected}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


@pytest.mark.parametrize(
    ("token", "code"),
    [
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "crit": ["exp"]}),
            KeyErrorCode.CRITICAL_HEADER,
            id="crit",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "jwk": {}}), KeyErrorCode.EMBEDDED_KEY, id="jwk"
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "jku": "https://x"}),
            KeyErrorCode.EMBEDDED_KEY,
            id="jku",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "x5u": "https://x"}),
            KeyErrorCode.EMBEDDED_KEY,
            id="x5u",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "x5c": ["MII"]}),
            KeyErrorCode.EMBEDDED_KEY,
            id="x5c",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "other"}), KeyErrorCode.WRONG_TOKEN_TYPE, id="wrong-typ"
        ),
        pytest.param(_token({"alg": "ES256"}), KeyErrorCode.WRONG_TOKEN_TYPE, id="no-typ"),
        pytest.param(_token({"typ": "t"}), KeyErrorCode.MALFORMED_JWS, id="no-alg"),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "kid": 7}),
            KeyErrorCode.WRONG_JSON_TYPE,
            id="kid-number",
        ),
        # Registered parameters of the wrong JSON type (RFC 7515 §4.1), whatever else they are
        *(
            pytest.param(
                _token({"alg": "ES256", "typ": "t", name: value}),
                KeyErrorCode.WRONG_JSON_TYPE,
                id=f"{name}-{type(value).__name__}",
            )
            for name, value in [
                ("typ", ["t"]),
                ("cty", 1),
                ("jku", {"uri": "https://x"}),
                ("x5u", 1),
                ("x5t", None),
                ("x5t#S256", []),
                ("jwk", "eyJ"),
                ("x5c", "MII"),
                ("x5c", [1]),
                ("crit", "exp"),
                ("crit", []),
                ("crit", [1]),
            ]
        ),
        pytest.param(_token({"alg": 1, "typ": "t"}), KeyErrorCode.WRONG_JSON_TYPE, id="alg-int"),
        # RFC 7797 `b64` and `zip` change how the payload is read: refused, listed in crit or not
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "b64": False}),
            KeyErrorCode.CRITICAL_HEADER,
            id="b64-false",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "b64": True}),
            KeyErrorCode.CRITICAL_HEADER,
            id="b64-true",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "b64": False, "crit": ["b64"]}),
            KeyErrorCode.CRITICAL_HEADER,
            id="b64-in-crit",
        ),
        pytest.param(
            _token({"alg": "ES256", "typ": "t", "zip": "DEF"}),
            KeyErrorCode.CRITICAL_HEADER,
            id="zip",
        ),
        pytest.param("a.b", KeyErrorCode.MALFORMED_JWS, id="two-parts"),
        pytest.param(
            b64url_encode(b'{"alg":"ES256","typ":"t"}') + ".e30.AA==",
            KeyErrorCode.MALFORMED_BASE64,
            id="padded-signature",
        ),
        pytest.param(
            b64url_encode(b'{"alg":"ES256","alg":"none","typ":"t"}') + ".e30.AA",
            KeyErrorCode.DUPLICATE_MEMBER,
            id="duplicate-header-member",
        ),
        pytest.param("a" * 70000, KeyErrorCode.TOO_LARGE, id="too-large"),
    ],
)
def test_malformed_or_dangerous_tokens_are_refused(token: str, code: KeyErrorCode) -> None:
    with pytest.raises(KeyManagementError) as caught:
        decode_compact(token, expected_typ="t")
    assert caught.value.code == code


def test_a_key_reference_the_caller_allows_must_still_have_its_type() -> None:
    """An OID4VCI proof may carry `jwk`; a `jwk` that is not an object is still refused."""
    token = _token({"alg": "ES256", "typ": "t", "jwk": "eyJ"})
    with pytest.raises(KeyManagementError) as caught:
        decode_compact(token, expected_typ="t", allow_key_reference=frozenset({"jwk"}))
    assert caught.value.code == KeyErrorCode.WRONG_JSON_TYPE


@pytest.mark.parametrize("alg", ["none", "HS256", "EdDSA", "ES384", "RS256"])
def test_header_cannot_choose_the_algorithm(alg: str) -> None:
    key = SigningKey.generate(Algorithm.ES256)
    jws = decode_compact(_token({"alg": alg, "typ": "t"}, key=key), expected_typ="t")
    with pytest.raises(SignatureError) as caught:
        verify_with(jws, key.public_key)
    assert caught.value.code == KeyErrorCode.UNSUPPORTED_ALGORITHM


def test_signature_by_another_key_is_refused() -> None:
    jws = decode_compact(_token({"alg": "ES256", "typ": "t"}), expected_typ="t")
    with pytest.raises(SignatureError) as caught:
        verify_with(jws, SigningKey.generate().public_key)
    assert caught.value.code == KeyErrorCode.BAD_SIGNATURE


def test_es256_signature_of_wrong_length_is_refused() -> None:
    key = SigningKey.generate()
    with pytest.raises(SignatureError) as caught:
        key.public_key.verify(b"\x01" * 63, b"data")
    assert caught.value.code == KeyErrorCode.BAD_SIGNATURE


def test_jwks_round_trip_and_limits() -> None:
    keys = [SigningKey.generate().public_key, SigningKey.generate(Algorithm.EDDSA).public_key]
    jwks = Jwks.of(*keys)
    assert Jwks.from_dict(jwks.to_dict()).keys.keys() == {k.kid for k in keys}
    with pytest.raises(InvalidKeyError):
        Jwks.from_dict({"keys": []})
    with pytest.raises(InvalidKeyError):
        Jwks.from_dict({"keys": [keys[0].to_jwk()] * 17})


def test_signing_key_repr_shows_no_key_material() -> None:
    key = SigningKey.generate()
    assert repr(key) == f"SigningKey(ES256, kid={key.kid!r})"
