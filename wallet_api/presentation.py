"""The holder's side of RFC 9901: choose disclosures, then bind them with a KB-JWT (§4.3).

The wallet API never holds the phone's private key, so building a presentation is two steps:
``prepare_presentation`` returns the exact bytes the phone signs, ``finish_presentation``
attaches the phone's signature. ``build_presentation`` does both for a key held in-process
(tests, the reference client).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from keys.encoding import b64url_encode, json_dumps
from keys.jwk import Algorithm, SigningKey
from keys.jws import ALG, TYP
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import SD_HASH_KEY, SdJwt, decode_disclosure, sd_hash, split_compact


@dataclass(frozen=True, slots=True)
class PreparedPresentation:
    """A presentation waiting for the holder's signature over ``signing_input``."""

    sd_jwt: SdJwt  # the chosen disclosures, no KB-JWT yet
    signing_input: bytes

    def finish(self, signature: bytes) -> str:
        kb_jwt = f"{self.signing_input.decode('ascii')}.{b64url_encode(signature)}"
        return SdJwt(self.sd_jwt.issuer_jwt, self.sd_jwt.disclosures, kb_jwt).serialize()


def select_disclosures(credential: str, requested_claims: Collection[str]) -> SdJwt:
    """Keep only the disclosures of the requested top-level claims: the fewest that answer."""
    sd_jwt = split_compact(credential)
    wanted = set(requested_claims)
    chosen = tuple(d for d in sd_jwt.disclosures if decode_disclosure(d).name in wanted)
    return SdJwt(sd_jwt.issuer_jwt, chosen, None)


def prepare_presentation(
    credential: str,
    requested_claims: Collection[str],
    *,
    holder_algorithm: Algorithm,
    audience: str,
    nonce: str,
    now: int,
) -> PreparedPresentation:
    chosen = select_disclosures(credential, requested_claims)
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
