"""Making SD-JWT VCs (RFC 9901 §4, SD-JWT VC draft 12) from a certificate type and claims.

Top-level personal claims become disclosures unless the type lists them in
``always_disclosed``; the format's own claims (`iss`, `vct`, `cnf`, `status`, times) stay in
the signed payload. Below the top level, what the type's ``nested_disclosures`` names gets a
disclosure of its own, recursively (§4.2.4.2 object members in a nested `_sd`, §4.2.5 array
elements as ``{"...": digest}``): inner values are concealed first, so a disclosed element
holds the digests of its own members, and a counter shown one element or one member sees
nothing of the others but their digests.

Privacy: an array whose elements are disclosed one by one shows how many elements it has
(one digest each, in the signed payload every presentation carries); no decoy elements are
added, since each would lengthen every QR code (docs/registry.md). Top-level decoys
(``decoy_digests``) are kept.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from credential_schemas import CredentialType
from keys.jwk import PublicKey, Signer
from keys.jws import KID, TYP, sign_compact
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import (
    ARRAY_ELEMENT_KEY,
    SD_ALG_KEY,
    SD_DIGESTS_KEY,
    SHA_256,
    Disclosure,
    SdJwt,
    decoy_digest,
    encode_disclosure,
)
from verifier.type_metadata import type_metadata_integrity

# Ages are counted in the citizens' calendar: a birthday begins at midnight in Seoul, not in
# Greenwich (Korea keeps no daylight-saving time, so a fixed offset is exact).
KOREA = timezone(timedelta(hours=9), "KST")


@dataclass(frozen=True, slots=True)
class StatusReference:
    """Where a credential's status lives: index ``index`` of the list at ``uri``."""

    uri: str
    index: int

    def to_claim(self) -> dict[str, Any]:
        return {vc.STATUS_LIST: {vc.STATUS_INDEX: self.index, vc.STATUS_URI: self.uri}}


@dataclass(frozen=True, slots=True)
class IssuedCredential:
    sd_jwt: SdJwt
    disclosures: tuple[Disclosure, ...]
    issued_at: int
    expires_at: int

    @property
    def compact(self) -> str:
        return self.sd_jwt.serialize()


def issue_sd_jwt_vc(
    credential_type: CredentialType,
    claims: Mapping[str, Any],
    *,
    issuer_id: str,
    signing_key: Signer,
    holder_key: PublicKey,
    status: StatusReference,
    now: int,
    expires_at: int | None = None,
    vct_integrity: bool = False,
) -> IssuedCredential:
    """Validate ``claims`` against the type, add derived claims, and sign the credential.

    ``vct_integrity`` adds the digest of the type's metadata (``verifier.type_metadata``): it
    lengthens a counter's QR code by about 80 characters (docs/interop.md).
    """
    credential_type.validate(claims)
    today = datetime.fromtimestamp(now, KOREA).date()
    all_claims = {**claims, **credential_type.derive(claims, today)}
    if expires_at is None:
        expires_at = now + int(credential_type.validity.total_seconds())

    payload: dict[str, Any] = {
        vc.ISS: issuer_id,
        vc.IAT: now,
        vc.EXP: expires_at,
        vc.VCT: credential_type.vct,
    }
    if vct_integrity:  # §3.2.2.2, §7: binds the type metadata a wallet fetches for `vct`
        payload[vc.VCT_INTEGRITY] = type_metadata_integrity(credential_type)
    disclosures: list[Disclosure] = []
    digests = []
    for name, value in all_claims.items():
        concealed = _conceal(value, name, credential_type.nested_disclosures, disclosures)
        if name in credential_type.selectively_disclosable:
            disclosure = encode_disclosure(name, concealed)
            disclosures.append(disclosure)
            digests.append(disclosure.digest)
        else:
            payload[name] = concealed
    digests += [decoy_digest() for _ in range(credential_type.decoys)]
    # §4.2.4.1: digests in a random order so their position says nothing about the claim.
    _shuffle(digests)
    if digests:
        payload[SD_DIGESTS_KEY] = digests
    if disclosures or digests:
        payload[SD_ALG_KEY] = SHA_256
    payload[vc.CNF] = {vc.JWK: holder_key.to_thumbprint_jwk()}
    payload[vc.STATUS] = status.to_claim()

    header = {TYP: vc.CREDENTIAL_TYP, KID: signing_key.kid}
    jwt = sign_compact(payload, signing_key, header)
    # The holder receives the disclosures in a random order too.
    shuffled = list(disclosures)
    _shuffle(shuffled)
    sd_jwt = SdJwt(jwt, tuple(d.encoded for d in shuffled), None)
    return IssuedCredential(sd_jwt, tuple(shuffled), now, expires_at)


def _shuffle(items: list[Any]) -> None:
    random.SystemRandom().shuffle(items)


def _conceal(value: Any, at: str, nested: frozenset[str], disclosures: list[Disclosure]) -> Any:
    """``value`` (the claim at label path ``at``) with each nested part that ``nested`` names
    replaced by the digest of a new disclosure, appended to ``disclosures``; innermost first."""
    if not nested:  # most types: every claim is disclosed whole
        return value
    if type(value) is dict:
        out: dict[str, Any] = {}
        digests: list[str] = []
        for name, member in value.items():
            path = f"{at}.{name}"
            concealed = _conceal(member, path, nested, disclosures)
            if path in nested:  # §4.2.4.2: a member of a nested object, by its own `_sd`
                disclosure = encode_disclosure(name, concealed)
                disclosures.append(disclosure)
                digests.append(disclosure.digest)
            else:
                out[name] = concealed
        if digests:
            _shuffle(digests)
            out[SD_DIGESTS_KEY] = digests
        return out
    if type(value) is list:
        element = f"{at}[]"
        items: list[Any] = []
        for item in value:
            concealed = _conceal(item, element, nested, disclosures)
            if element in nested:  # §4.2.5: the element's place keeps only its digest
                disclosure = encode_disclosure(None, concealed)
                disclosures.append(disclosure)
                items.append({ARRAY_ELEMENT_KEY: disclosure.digest})
            else:
                items.append(concealed)
        return items
    return value
