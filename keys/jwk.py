"""Keys as JWK (RFC 7517), named by their RFC 7638 thumbprint.

Two key types, each with exactly one algorithm: EC P-256 signs ES256, OKP Ed25519 signs EdDSA
(RFC 7518 §3.4, RFC 8037). The algorithm belongs to the key; no token can choose another.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, cast

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from keys._ed25519 import is_acceptable_public_key
from keys.encoding import b64url_decode, b64url_encode, json_dumps
from keys.errors import InvalidKeyError, KeyErrorCode, MalformedError, SignatureError


class Algorithm(StrEnum):
    ES256 = "ES256"
    EDDSA = "EdDSA"


_P256_FIELD_PRIME = 2**256 - 2**224 + 2**192 + 2**96 - 1
_COORDINATE_BYTES = 32
# Big-endian byte strings of one length compare as the numbers they spell.
_P256_FIELD_PRIME_BYTES = _P256_FIELD_PRIME.to_bytes(_COORDINATE_BYTES, "big")
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_ES256 = ec.ECDSA(hashes.SHA256())
_P256 = ec.SECP256R1()
# Members a public JWK may carry besides its key material; anything private is refused.
_PUBLIC_JWK_EXTRAS = frozenset({"kid", "use", "alg", "key_ops"})
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})

PublicKeyObject = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKeyObject = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def _thumbprint(members: dict[str, str]) -> str:
    # RFC 7638 §3: required members only, lexicographic order, no white space.
    canonical = json_dumps(dict(sorted(members.items())))
    return b64url_encode(hashlib.sha256(canonical).digest())


@dataclass(frozen=True, slots=True, eq=False)
class PublicKey:
    """A checked public key with its one algorithm and its thumbprint `kid`."""

    algorithm: Algorithm
    _required_members: tuple[tuple[str, str], ...]
    _key: PublicKeyObject
    # Computed on first use: a holder key checked once per presentation never needs it.
    _kid: str | None = field(default=None, compare=False)

    @property
    def kid(self) -> str:
        if self._kid is None:
            object.__setattr__(self, "_kid", _thumbprint(dict(self._required_members)))
        assert self._kid is not None  # noqa: S101 - set just above
        return self._kid

    def to_jwk(self) -> dict[str, str]:
        return {**dict(self._required_members), "kid": self.kid, "alg": self.algorithm.value}

    def to_thumbprint_jwk(self) -> dict[str, str]:
        """Only the required members: the smallest form, used for `cnf.jwk` in credentials."""
        return dict(self._required_members)

    def verify(self, signature: bytes, signing_input: bytes) -> None:
        """Raise ``SignatureError`` unless ``signature`` is this key's over ``signing_input``."""
        try:
            if self.algorithm is Algorithm.ES256:  # cheaper than isinstance on an ABC
                if len(signature) != 2 * _COORDINATE_BYTES:
                    raise SignatureError(KeyErrorCode.BAD_SIGNATURE, "ES256 signature length")
                r = int.from_bytes(signature[:_COORDINATE_BYTES], "big")
                s = int.from_bytes(signature[_COORDINATE_BYTES:], "big")
                der = encode_dss_signature(r, s)
                cast(ec.EllipticCurvePublicKey, self._key).verify(der, signing_input, _ES256)
            else:
                cast(ed25519.Ed25519PublicKey, self._key).verify(signature, signing_input)
        except InvalidSignature as exc:
            raise SignatureError(KeyErrorCode.BAD_SIGNATURE, "signature does not verify") from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.kid == self.kid

    def __hash__(self) -> int:
        return hash(self.kid)

    def __repr__(self) -> str:
        return f"PublicKey({self.algorithm.value}, kid={self.kid!r})"


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """A private key. ``repr`` never shows key material."""

    public_key: PublicKey
    _key: PrivateKeyObject

    @property
    def algorithm(self) -> Algorithm:
        return self.public_key.algorithm

    @property
    def kid(self) -> str:
        return self.public_key.kid

    @classmethod
    def generate(cls, algorithm: Algorithm = Algorithm.ES256) -> SigningKey:
        if algorithm is Algorithm.ES256:
            return cls.from_private_key(ec.generate_private_key(ec.SECP256R1()))
        return cls.from_private_key(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_private_key(cls, key: PrivateKeyObject) -> SigningKey:
        return cls(public_key_from_object(key.public_key()), key)

    def sign(self, signing_input: bytes) -> bytes:
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(signing_input, _ES256))
            return r.to_bytes(_COORDINATE_BYTES, "big") + s.to_bytes(_COORDINATE_BYTES, "big")
        return self._key.sign(signing_input)

    def to_pem(self, passphrase: bytes) -> bytes:
        """PKCS#8, encrypted with ``passphrase``: what a file key store keeps at rest."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(passphrase),
        )

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase)
        except ValueError as exc:
            raise InvalidKeyError(KeyErrorCode.WRONG_PASSPHRASE, "cannot decrypt key") from exc
        if isinstance(key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
            return cls.from_private_key(key)
        raise InvalidKeyError(KeyErrorCode.UNSUPPORTED_KEY, type(key).__name__)

    def __repr__(self) -> str:
        return f"SigningKey({self.algorithm.value}, kid={self.kid!r})"


class Signer(Protocol):
    """A private key that signs without being read: ``SigningKey`` is one, an HSM handle too."""

    @property
    def public_key(self) -> PublicKey: ...

    @property
    def algorithm(self) -> Algorithm: ...

    @property
    def kid(self) -> str: ...

    def sign(self, signing_input: bytes) -> bytes: ...


def public_key_from_object(key: PublicKeyObject) -> PublicKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidKeyError(KeyErrorCode.UNSUPPORTED_KEY, f"curve {key.curve.name}")
        numbers = key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": b64url_encode(numbers.x.to_bytes(_COORDINATE_BYTES, "big")),
            "y": b64url_encode(numbers.y.to_bytes(_COORDINATE_BYTES, "big")),
        }
        return PublicKey(Algorithm.ES256, tuple(members.items()), key)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    return PublicKey(Algorithm.EDDSA, tuple(members.items()), key)


def _member(jwk: Mapping[str, Any], name: str) -> str:
    value = jwk.get(name)
    if not isinstance(value, str):
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWK member {name!r} missing or not text")
    return value


def _coordinate(jwk: Mapping[str, Any], name: str, length: int) -> bytes:
    try:
        raw = b64url_decode(_member(jwk, name))
    except MalformedError as exc:
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWK {name!r}: {exc.detail}") from exc
    if len(raw) != length:
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWK {name!r} is not {length} bytes")
    return raw


def public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    """Check and load a public JWK; refuse private members, other curves and weak points."""
    if type(jwk) is not dict and not isinstance(jwk, Mapping):  # the cheap test first
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWK is not a JSON object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "private key material in a public JWK")
    kty, crv = _member(jwk, "kty"), _member(jwk, "crv")
    key: PublicKey
    if (kty, crv) == ("EC", "P-256"):
        x, y = _coordinate(jwk, "x", 32), _coordinate(jwk, "y", 32)
        if x >= _P256_FIELD_PRIME_BYTES or y >= _P256_FIELD_PRIME_BYTES:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "coordinate beyond the field")
        try:
            # from_encoded_point checks the point lies on the curve (SP 800-56A §5.6.2.3).
            obj: PublicKeyObject = ec.EllipticCurvePublicKey.from_encoded_point(
                _P256, b"\x04" + x + y
            )
        except ValueError as exc:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "point is not on P-256") from exc
        members = {"crv": crv, "kty": kty, "x": jwk["x"], "y": jwk["y"]}
        key = PublicKey(Algorithm.ES256, tuple(members.items()), obj)
    elif (kty, crv) == ("OKP", "Ed25519"):
        x = _coordinate(jwk, "x", 32)
        if not is_acceptable_public_key(x):
            raise InvalidKeyError(KeyErrorCode.WEAK_KEY, "small-order or invalid Ed25519 point")
        obj = ed25519.Ed25519PublicKey.from_public_bytes(x)
        members = {"crv": crv, "kty": kty, "x": jwk["x"]}
        key = PublicKey(Algorithm.EDDSA, tuple(members.items()), obj)
    else:
        raise InvalidKeyError(KeyErrorCode.UNSUPPORTED_KEY, f"kty {kty!r} crv {crv!r}")
    if "alg" in jwk and jwk["alg"] != key.algorithm.value:
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWK alg {jwk['alg']!r} does not fit")
    if "kid" in jwk and jwk["kid"] != key.kid:
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWK kid is not its RFC 7638 thumbprint")
    _check_signature_use(jwk)
    return key


def _check_signature_use(jwk: Mapping[str, Any]) -> None:
    """Every key jigap reads checks signatures: a JWK that says otherwise is refused."""
    if "use" in jwk and jwk["use"] != "sig":  # RFC 7517 §4.2
        raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWK use {jwk['use']!r} is not 'sig'")
    if "key_ops" in jwk:  # RFC 7517 §4.3: an array of distinct strings
        ops = jwk["key_ops"]
        if type(ops) is not list or not all(type(op) is str for op in ops):
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWK key_ops is not a list of names")
        if len(set(ops)) != len(ops) or "verify" not in ops:
            raise InvalidKeyError(
                KeyErrorCode.INVALID_KEY, f"JWK key_ops {ops!r} does not allow 'verify'"
            )


MAX_JWKS_KEYS = 16


@dataclass(frozen=True, slots=True)
class Jwks:
    """A JWK Set (RFC 7517 §5) indexed by thumbprint."""

    keys: Mapping[str, PublicKey]

    @classmethod
    def of(cls, *keys: PublicKey) -> Jwks:
        return cls({key.kid: key for key in keys})

    @classmethod
    def from_dict(cls, jwks: Mapping[str, Any]) -> Jwks:
        entries = jwks.get("keys") if isinstance(jwks, Mapping) else None
        if not isinstance(entries, list) or not entries:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWKS needs a non-empty 'keys' list")
        if len(entries) > MAX_JWKS_KEYS:
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, f"JWKS has over {MAX_JWKS_KEYS} keys")
        key_set = cls.of(*(public_key_from_jwk(entry) for entry in entries))
        if len(key_set.keys) != len(entries):
            raise InvalidKeyError(KeyErrorCode.INVALID_KEY, "JWKS lists one key twice")
        return key_set

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.to_jwk() for key in self.keys.values()]}

    def get(self, kid: str) -> PublicKey | None:
        return self.keys.get(kid)
