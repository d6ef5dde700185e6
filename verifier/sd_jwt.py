"""SD-JWT mechanics (RFC 9901), the one implementation the issuer, wallet and verifier share.

Disclosure encoding and digests (§4.2), the compact form and its split (§4), `sd_hash`
(§4.3.1) and the processing of disclosures into claims (§7.1). Nothing here checks a
signature: callers verify the issuer-signed JWT first and pass its payload in.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from keys.encoding import b64url_decode, b64url_encode, json_dumps, json_loads
from keys.errors import MalformedError
from verifier.errors import ErrorCode, VerificationError

SEPARATOR = "~"
_JWS_SEPARATOR = "."  # RFC 7515 §7.1
SD_DIGESTS_KEY = "_sd"
SD_ALG_KEY = "_sd_alg"
ARRAY_ELEMENT_KEY = "..."
SD_HASH_KEY = "sd_hash"
SHA_256 = "sha-256"
SALT_BYTES = 16  # 128 bits (RFC 9901 §9.3 recommends at least 128)
# Names a disclosure may never claim (RFC 9901 §4.2.1).
RESERVED_CLAIM_NAMES = frozenset({SD_DIGESTS_KEY, ARRAY_ELEMENT_KEY})
MAX_DISCLOSURES = 64
MAX_CLAIM_DEPTH = 32  # as keys.encoding.MAX_JSON_DEPTH, for claims assembled from disclosures
_DIGEST_LENGTH = 43  # unpadded base64url of 32 bytes
# §4: the JWTs are base64url and `.`, the disclosures base64url, all joined by `~`. Deleting
# these bytes leaves nothing of a well-formed SD-JWT: a 2 KB presentation is checked in 1 µs,
# where a regular expression over the same text took 6 (docs/benchmarks.md).
_COMPACT_ALPHABET = (string.ascii_letters + string.digits + "-_.~").encode("ascii")


class Disclosure(NamedTuple):
    """One decoded disclosure; ``name`` is None for an array element (§4.2.2)."""

    encoded: str
    salt: str
    name: str | None
    value: Any

    @property
    def digest(self) -> str:
        return digest(self.encoded)


@dataclass(frozen=True, slots=True)
class SdJwt:
    """The compact form split: issuer-signed JWT, disclosures, optional KB-JWT."""

    issuer_jwt: str
    disclosures: tuple[str, ...]
    kb_jwt: str | None

    def without_key_binding(self) -> str:
        """``<JWT>~<D1>~…~<Dn>~``: what `sd_hash` covers, and what an issuer hands out."""
        return SEPARATOR.join((self.issuer_jwt, *self.disclosures)) + SEPARATOR

    def serialize(self) -> str:
        return self.without_key_binding() + (self.kb_jwt or "")


def digest(encoded: str) -> str:
    """§4.2.3: the hash is over the ASCII base64url text of the disclosure."""
    return b64url_encode(hashlib.sha256(encoded.encode("ascii")).digest())


def sd_hash(presentation_without_kb: str) -> str:
    return b64url_encode(hashlib.sha256(presentation_without_kb.encode("ascii")).digest())


def new_salt() -> str:
    return b64url_encode(secrets.token_bytes(SALT_BYTES))


def encode_disclosure(name: str | None, value: Any, salt: str | None = None) -> Disclosure:
    if name in RESERVED_CLAIM_NAMES:
        raise ValueError(f"{name!r} cannot be disclosed (RFC 9901 §4.2.1)")
    salt = new_salt() if salt is None else salt
    array = [salt, value] if name is None else [salt, name, value]
    encoded = b64url_encode(json_dumps(array))
    return Disclosure(encoded, salt, name, value)


def decoy_digest() -> str:
    """§4.2.5: indistinguishable from a real digest."""
    return b64url_encode(hashlib.sha256(secrets.token_bytes(32)).digest())


def split_compact(text: str, *, max_disclosures: int = MAX_DISCLOSURES) -> SdJwt:
    """§4: ``<JWT>~<D>~…~[KB-JWT]``; the empty-disclosure and the missing-`~` forms refused."""
    parts = text.split(SEPARATOR)
    if len(parts) < 2:
        raise VerificationError(ErrorCode.MALFORMED, "no '~': not an SD-JWT")
    if len(parts) - 2 > max_disclosures:
        raise VerificationError(ErrorCode.TOO_LARGE, f"over {max_disclosures} disclosures")
    issuer_jwt, disclosures, last = parts[0], parts[1:-1], parts[-1]
    if not issuer_jwt or "" in disclosures:
        raise VerificationError(ErrorCode.MALFORMED, "empty part in the SD-JWT")
    # White space, padding, standard base64 or a `.` in a disclosure: refused here, as framing,
    # so that no signature is checked over text that cannot be an SD-JWT.
    if (
        not text.isascii()
        or text.encode("ascii").translate(None, _COMPACT_ALPHABET)
        or any(_JWS_SEPARATOR in disclosure for disclosure in disclosures)
    ):
        raise VerificationError(ErrorCode.MALFORMED, "characters outside base64url, `.` and `~`")
    return SdJwt(issuer_jwt, tuple(disclosures), last or None)


def decode_disclosure(encoded: str) -> Disclosure:
    try:
        array = json_loads(b64url_decode(encoded))
    except MalformedError as exc:
        raise VerificationError(ErrorCode.MALFORMED, f"disclosure: {exc.detail}") from exc
    if not isinstance(array, list) or len(array) not in (2, 3):
        raise VerificationError(ErrorCode.MALFORMED, "disclosure is not a 2- or 3-element array")
    if not isinstance(array[0], str):
        raise VerificationError(ErrorCode.MALFORMED, "disclosure salt is not a string")
    if len(array) == 2:
        return Disclosure(encoded, array[0], None, array[1])
    if not isinstance(array[1], str):
        raise VerificationError(ErrorCode.MALFORMED, "disclosure claim name is not a string")
    if array[1] in RESERVED_CLAIM_NAMES:
        raise VerificationError(ErrorCode.DISCLOSURE_RESERVED_NAME, f"name {array[1]!r}")
    return Disclosure(encoded, array[0], array[1], array[2])


def decode_disclosures(encoded: Sequence[str]) -> dict[str, Disclosure]:
    """Index disclosures by digest; the same disclosure twice is refused (§7.1 step 3)."""
    by_digest: dict[str, Disclosure] = {}
    for text in encoded:
        disclosure = decode_disclosure(text)
        key = digest(text)
        if key in by_digest:
            raise VerificationError(ErrorCode.DISCLOSURE_DUPLICATED, "a disclosure appears twice")
        by_digest[key] = disclosure
    return by_digest


class _Resolver:
    """§7.1 steps 3-5: replace digests by disclosed claims, drop the undisclosed."""

    def __init__(self, disclosures: Mapping[str, Disclosure]) -> None:
        self._disclosures = disclosures
        self._seen_digests: set[str] = set()
        self.used = 0

    def _take(self, candidates: Iterable[Any]) -> list[Disclosure]:
        """Check each digest's form and that it appears once; return the disclosures found.

        A whole `_sd` array goes through in one call: a credential carries a dozen digests,
        decoys included, and a call for each would cost more than the checks themselves.
        """
        seen = self._seen_digests
        found = []
        for candidate in candidates:
            if type(candidate) is not str or len(candidate) != _DIGEST_LENGTH:
                raise VerificationError(
                    ErrorCode.DISCLOSURE_BAD_DIGEST, "digest is not a SHA-256 value"
                )
            if candidate in seen:
                raise VerificationError(ErrorCode.DISCLOSURE_BAD_DIGEST, "digest appears twice")
            seen.add(candidate)
            disclosure = self._disclosures.get(candidate)
            if disclosure is not None:
                found.append(disclosure)
        self.used += len(found)
        return found

    def resolve(self, node: Any, depth: int) -> Any:
        kind = type(node)
        if kind is dict:
            return self._resolve_object(node, depth + 1)
        if kind is list:
            return self._resolve_array(node, depth + 1)
        return node

    def _resolve_object(
        self,
        node: Mapping[str, Any],
        depth: int,
        *,
        skip: str | None = None,
        not_disclosable: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        # Each disclosure is depth-checked when parsed, but a chain of recursive disclosures
        # nests them into one another: bound the whole.
        if depth > MAX_CLAIM_DEPTH:
            raise VerificationError(ErrorCode.TOO_LARGE, "claims nested too deeply")
        # Copied whole at C speed; only the values that are objects or arrays are walked.
        result = dict(node)
        digests = result.pop(SD_DIGESTS_KEY, ())
        if skip is not None:
            result.pop(skip, None)
        for name, value in result.items():  # replaces values only: the keys stay as they are
            kind = type(value)
            if kind is dict:
                result[name] = self._resolve_object(value, depth + 1)
            elif kind is list:
                result[name] = self._resolve_array(value, depth + 1)
        if type(digests) is not list and digests != ():
            raise VerificationError(ErrorCode.DISCLOSURE_BAD_DIGEST, "`_sd` is not an array")
        if not digests:  # most nested objects: nothing to take
            return result
        for disclosure in self._take(digests):  # undisclosed claims and decoys are not found
            if disclosure.name is None:
                raise VerificationError(ErrorCode.MALFORMED, "array-element disclosure in `_sd`")
            if disclosure.name in result:
                raise VerificationError(
                    ErrorCode.DISCLOSURE_RESERVED_NAME, f"{disclosure.name!r} is already a claim"
                )
            if disclosure.name in not_disclosable:
                raise VerificationError(
                    ErrorCode.DISCLOSURE_RESERVED_NAME, f"{disclosure.name!r} may not be disclosed"
                )
            result[disclosure.name] = self.resolve(disclosure.value, depth)
        return result

    def _resolve_array(self, node: list[Any], depth: int) -> list[Any]:
        if depth > MAX_CLAIM_DEPTH:
            raise VerificationError(ErrorCode.TOO_LARGE, "claims nested too deeply")
        result = []
        for element in node:
            if type(element) is dict and ARRAY_ELEMENT_KEY in element:
                if len(element) != 1:
                    raise VerificationError(ErrorCode.MALFORMED, "`...` element with other keys")
                for disclosure in self._take((element[ARRAY_ELEMENT_KEY],)):
                    if disclosure.name is not None:
                        raise VerificationError(
                            ErrorCode.MALFORMED, "object disclosure in an array"
                        )
                    result.append(self.resolve(disclosure.value, depth))
            else:
                result.append(self.resolve(element, depth))
        return result


def resolve_claims(
    payload: Mapping[str, Any],
    disclosures: Mapping[str, Disclosure],
    *,
    not_disclosable: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The processed payload (§7.1): disclosed claims in place, `_sd`/`_sd_alg` gone.

    ``not_disclosable`` names top-level claims a profile forbids in a disclosure (SD-JWT VC
    §3.2.2.2): one disclosed is refused, never dropped, or a disclosed `nbf` would go unread.
    """
    sd_alg = payload.get(SD_ALG_KEY, SHA_256)
    if sd_alg != SHA_256:
        raise VerificationError(ErrorCode.DISCLOSURE_BAD_DIGEST, f"_sd_alg {sd_alg!r} unsupported")
    resolver = _Resolver(disclosures)
    # The payload is not copied: `_sd_alg` is left out of the top level as it is walked.
    claims = resolver._resolve_object(payload, 1, skip=SD_ALG_KEY, not_disclosable=not_disclosable)
    if resolver.used != len(disclosures):
        raise VerificationError(
            ErrorCode.DISCLOSURE_UNREFERENCED, "a disclosure is not referenced by the credential"
        )
    return claims
