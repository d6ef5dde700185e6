"""SD-JWT VCs of any shape, for tests: nested objects, array elements, decoys (RFC 9901 §4.2).

Our issuer makes top-level disclosures only; a wallet and a counter must handle what any issuer
may make. Mark a value ``SD(...)`` to make it its own disclosure: an object member becomes
``[salt, name, value]`` behind `_sd`, an array element ``[salt, value]`` behind ``{"...": d}``.
Every `_sd` gets a decoy digest and every array holding a disclosed element a decoy element,
so selection is always tested with decoys in the way. Built with the tree's own
``encode_disclosure`` and ``sign_compact``: no second SD-JWT implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keys.jwk import PublicKey, Signer
from keys.jws import KID, TYP, sign_compact
from verifier import sd_jwt_vc as vc
from verifier.dcql import ClaimsPath
from verifier.sd_jwt import (
    ARRAY_ELEMENT_KEY,
    SD_ALG_KEY,
    SD_DIGESTS_KEY,
    SHA_256,
    Disclosure,
    decoy_digest,
    encode_disclosure,
)

ISSUER_ID = "https://issuer.example.kr"
VCT = "urn:jigap:test-person:1"
NOW = 1_767_268_800  # 2026-01-01T12:00:00Z


@dataclass(frozen=True)
class SD:
    """A value that is disclosed on its own."""

    value: Any


@dataclass(frozen=True)
class BuiltCredential:
    compact: str  # ``<JWT>~<D1>~…~<Dn>~``, as an issuer hands it out
    payload: dict[str, Any]  # the issuer JWT's payload
    # Each disclosure by its concrete path in the credential with every disclosure processed.
    disclosures: dict[ClaimsPath, Disclosure]

    def encoded(self, *paths: ClaimsPath) -> set[str]:
        return {self.disclosures[path].encoded for path in paths}


class _Encoder:
    def __init__(self, decoys: bool) -> None:
        self.decoys = decoys
        self.by_path: dict[ClaimsPath, Disclosure] = {}
        self.order: list[Disclosure] = []

    def _disclose(self, path: ClaimsPath, name: str | None, value: Any) -> Disclosure:
        disclosure = encode_disclosure(name, self.encode(value, path))
        self.by_path[path] = disclosure
        self.order.append(disclosure)
        return disclosure

    def encode(self, node: Any, path: ClaimsPath) -> Any:
        if isinstance(node, SD):
            raise TypeError("SD() marks an object member or an array element")
        if isinstance(node, Mapping):
            result: dict[str, Any] = {}
            digests = []
            for name, value in node.items():
                if isinstance(value, SD):
                    digests.append(self._disclose((*path, name), name, value.value).digest)
                else:
                    result[name] = self.encode(value, (*path, name))
            if digests:
                result[SD_DIGESTS_KEY] = digests + ([decoy_digest()] if self.decoys else [])
            return result
        if isinstance(node, list):
            elements: list[Any] = []
            if self.decoys and any(isinstance(e, SD) for e in node):
                elements.append({ARRAY_ELEMENT_KEY: decoy_digest()})  # dropped when processed
            for index, element in enumerate(node):
                if isinstance(element, SD):
                    disclosure = self._disclose((*path, index), None, element.value)
                    elements.append({ARRAY_ELEMENT_KEY: disclosure.digest})
                else:
                    elements.append(self.encode(element, (*path, index)))
            return elements
        return node


def build_sd_jwt_vc(
    claims: Mapping[str, Any],
    *,
    signer: Signer,
    holder_key: PublicKey | None = None,
    vct: str = VCT,
    decoys: bool = True,
    now: int = NOW,
) -> BuiltCredential:
    """Sign ``claims`` (with ``SD`` marks) as an SD-JWT VC of ``vct`` from ``ISSUER_ID``."""
    encoder = _Encoder(decoys)
    body = encoder.encode(claims, ())
    payload: dict[str, Any] = {
        vc.ISS: ISSUER_ID,
        vc.IAT: now - 3600,
        vc.EXP: now + 30 * 24 * 3600,
        vc.VCT: vct,
        SD_ALG_KEY: SHA_256,
        **body,
    }
    if holder_key is not None:
        payload[vc.CNF] = {vc.JWK: holder_key.to_thumbprint_jwk()}
    jwt = sign_compact(payload, signer, {TYP: vc.CREDENTIAL_TYP, KID: signer.kid})
    compact = "~".join((jwt, *(d.encoded for d in encoder.order))) + "~"
    return BuiltCredential(compact, payload, encoder.by_path)
