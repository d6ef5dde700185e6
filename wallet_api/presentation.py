"""The holder's side of RFC 9901: choose disclosures, then bind them with a KB-JWT (§4.3).

The wallet API never holds the phone's private key, so building a presentation is two steps:
``prepare_key_binding`` returns the exact bytes the phone signs over the disclosures chosen
(by ``verifier.dcql_select.select_for_query``, the selection the wallet service and the holder
client's offline answer share), and ``PreparedPresentation.finish`` attaches the phone's
signature. ``prepare_presentation`` / ``build_presentation`` choose top-level claims by name
without reading the credential first (tests, the demo): the error-code tests build
presentations of deliberately broken credentials with them, which the DCQL selection refuses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any

from credential_schemas import CredentialType
from credential_schemas.errors import SchemaRegistryError
from keys.encoding import b64url_encode, json_dumps
from keys.errors import KeyManagementError
from keys.jwk import Algorithm, SigningKey
from keys.jws import ALG, TYP, decode_compact
from verifier import sd_jwt_vc as vc
from verifier.dcql import ClaimsPath
from verifier.dcql_select import Selection
from verifier.sd_jwt import (
    ARRAY_ELEMENT_KEY,
    SD_DIGESTS_KEY,
    SD_HASH_KEY,
    SdJwt,
    decode_disclosure,
    digest,
    sd_hash,
    split_compact,
)


@dataclass(frozen=True, slots=True)
class PreparedPresentation:
    """A presentation waiting for the holder's signature over ``signing_input``."""

    sd_jwt: SdJwt  # the chosen disclosures, no KB-JWT yet
    signing_input: bytes

    def finish(self, signature: bytes) -> str:
        kb_jwt = f"{self.signing_input.decode('ascii')}.{b64url_encode(signature)}"
        return SdJwt(self.sd_jwt.issuer_jwt, self.sd_jwt.disclosures, kb_jwt).serialize()


def select_disclosures(credential: str, requested_claims: Collection[str]) -> SdJwt:
    """Keep only the disclosures of the requested top-level claims, each shown whole (with
    every disclosure nested inside it, RFC 9901 §7.1): the fewest that answer. A nested
    member's disclosure is never taken for a top-level claim of the same name."""
    sd_jwt = split_compact(credential)
    decoded = {digest(d): decode_disclosure(d) for d in sd_jwt.disclosures}
    inside = {d: set(_digests_within(disclosure.value)) for d, disclosure in decoded.items()}
    nested = set().union(*inside.values())
    wanted = set(requested_claims)
    chosen = {d for d, disclosure in decoded.items() if disclosure.name in wanted} - nested
    # A requested claim issued in the clear is shown whole too: the elements and members
    # inside it that have disclosures of their own (an always-disclosed table's rows).
    in_clear = _unverified_payload(sd_jwt.issuer_jwt)
    chosen |= {d for name in wanted for d in _digests_within(in_clear.get(name))} & decoded.keys()
    frontier = list(chosen)
    while frontier:  # each digest is taken once, so this ends
        for inner in inside[frontier.pop()] & decoded.keys() - chosen:
            chosen.add(inner)
            frontier.append(inner)
    kept = tuple(d for d in sd_jwt.disclosures if digest(d) in chosen)
    return SdJwt(sd_jwt.issuer_jwt, kept, None)


def _unverified_payload(issuer_jwt: str) -> dict[str, Any]:
    """The issuer JWT's claims, unverified (the holder chooses, the counter verifies); none for
    a JWT that cannot be read, as the error-code tests make on purpose."""
    try:
        return decode_compact(issuer_jwt, expected_typ=vc.CREDENTIAL_TYP).unverified_claims()
    except KeyManagementError:
        return {}


def _digests_within(value: Any) -> Iterator[str]:
    """The digests a disclosed value refers to: its `_sd` members and `...` elements, at any
    depth (bounded: the value was parsed with the depth limit of keys.encoding)."""
    if isinstance(value, dict):
        for key, member in value.items():
            if key == SD_DIGESTS_KEY and isinstance(member, list):
                yield from (d for d in member if isinstance(d, str))
            elif key == ARRAY_ELEMENT_KEY and isinstance(member, str):
                yield member
            else:
                yield from _digests_within(member)
    elif isinstance(value, list):
        for item in value:
            yield from _digests_within(item)


def prepare_presentation(
    credential: str,
    requested_claims: Collection[str],
    *,
    holder_algorithm: Algorithm,
    audience: str,
    nonce: str,
    now: int,
) -> PreparedPresentation:
    return prepare_key_binding(
        select_disclosures(credential, requested_claims),
        holder_algorithm=holder_algorithm,
        audience=audience,
        nonce=nonce,
        now=now,
    )


def prepare_key_binding(
    chosen: SdJwt, *, holder_algorithm: Algorithm, audience: str, nonce: str, now: int
) -> PreparedPresentation:
    """The KB-JWT's signing input over ``chosen`` (RFC 9901 §4.3: `typ` kb+jwt, `iat`, `aud`,
    `nonce`, `sd_hash` of the presentation without the KB-JWT; OpenID4VP 1.0 §B.3.6: `aud` is
    the client_id, `nonce` the request's)."""
    chosen = SdJwt(chosen.issuer_jwt, chosen.disclosures, None)
    header = {TYP: vc.KB_JWT_TYP, ALG: holder_algorithm.value}
    payload = {
        vc.IAT: now,
        vc.AUD: audience,
        vc.NONCE: nonce,
        SD_HASH_KEY: sd_hash(chosen.without_key_binding()),
    }
    signing_input = f"{b64url_encode(json_dumps(header))}.{b64url_encode(json_dumps(payload))}"
    return PreparedPresentation(chosen, signing_input.encode("ascii"))


def build_presentation(
    credential: str,
    requested_claims: Collection[str],
    *,
    holder_key: SigningKey,
    audience: str,
    nonce: str,
    now: int,
) -> str:
    prepared = prepare_presentation(
        credential,
        requested_claims,
        holder_algorithm=holder_key.algorithm,
        audience=audience,
        nonce=nonce,
        now=now,
    )
    return prepared.finish(holder_key.sign(prepared.signing_input))


def request_hash(client_id: str, nonce: str) -> str:
    """What the wallet keeps of a counter's request: SHA-256 of its client_id and nonce, hex
    (the replay key, and the history's reference to the request; the nonce itself is not kept)."""
    return hashlib.sha256(json_dumps([client_id, nonce])).hexdigest()


def shown_claims(selection: Selection) -> list[tuple[ClaimsPath, Any]]:
    """What the counter will see, as the phone shows it before the citizen says yes: each
    claim the query matched (OpenID4VP 1.0 §7 concrete paths) with its value, and any claim the
    credential shows to everyone (not selectively disclosable), at the top level."""
    shown: list[tuple[ClaimsPath, Any]] = [
        (path, value_at(selection.claims, path)) for path in selection.disclosed
    ]
    covered = {path[0] for path in selection.disclosed if path}
    shown += [((name,), value) for name, value in selection.claims.items() if name not in covered]
    return shown


def value_at(claims: Any, path: ClaimsPath) -> Any:
    """The value at a concrete path (names and indices), or None if there is none."""
    node = claims
    for element in path:
        if isinstance(element, str) and isinstance(node, dict):
            node = node.get(element)
        elif type(element) is int and isinstance(node, list) and 0 <= element < len(node):
            node = node[element]
        else:
            return None
    return node


def path_name(path: ClaimsPath) -> str:
    """A claims path as the registry names claims: ``address_history[].address``."""
    return "".join(
        (f".{e}" if i else e) if isinstance(e, str) else "[]" for i, e in enumerate(path)
    )


def claim_label(credential_type: CredentialType | None, path: ClaimsPath) -> dict[str, str]:
    """The registry's Korean and English label of a claims path (``address_history[].address``
    for ``["address_history", 0, "address"]``; an element is labelled as its array), else the
    path itself."""
    name = path_name(path)
    candidate = name
    while credential_type is not None and candidate:
        try:
            return {lang: credential_type.claim_label(candidate, lang) for lang in ("ko", "en")}
        except SchemaRegistryError:
            if not candidate.endswith("[]"):
                break
            candidate = candidate[:-2]
    return {"ko": name, "en": name}
