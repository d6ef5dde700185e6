"""Making SD-JWT VCs (RFC 9901 §4, SD-JWT VC draft 12) from a certificate type and claims.

Top-level personal claims become disclosures, in the order the schema lists them; the
format's own claims (`iss`, `vct`, `cnf`, `status`, times) stay in the signed payload.
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
    for name, value in all_claims.items():
        if name in credential_type.selectively_disclosable:
            disclosures.append(encode_disclosure(name, value))
        else:
            payload[name] = value
    digests = [d.digest for d in disclosures]
    digests += [decoy_digest() for _ in range(credential_type.decoys)]
    # §4.2.4.1: digests in a random order so their position says nothing about the claim.
    random.SystemRandom().shuffle(digests)
    if digests:
        payload[SD_DIGESTS_KEY] = digests
        payload[SD_ALG_KEY] = SHA_256
    payload[vc.CNF] = {vc.JWK: holder_key.to_thumbprint_jwk()}
    payload[vc.STATUS] = status.to_claim()

    header = {TYP: vc.CREDENTIAL_TYP, KID: signing_key.kid}
    jwt = sign_compact(payload, signing_key, header)
    # The holder receives the disclosures in a random order too.
    shuffled = list(disclosures)
    random.SystemRandom().shuffle(shuffled)
    sd_jwt = SdJwt(jwt, tuple(d.encoded for d in shuffled), None)
    return IssuedCredential(sd_jwt, tuple(shuffled), now, expires_at)
