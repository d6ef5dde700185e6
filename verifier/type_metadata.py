"""SD-JWT VC Type Metadata (draft-ietf-oauth-sd-jwt-vc-12 §6-§9), generated from the registry.

Every certificate type gets one document, so a wallet that never heard of jigap can show a
resident-register extract with its Korean and English name and a label for every claim. Our
`vct`s are URNs (``urn:jigap:<id>:<version>``), not HTTPS URLs, so §6.3.1 does not apply; the
scheme defines its retrieval method (§6.3.3): ``GET {deployment}/type-metadata/{vct}``
(docs/interop.md). Integrity (§7): every credential carries ``vct#integrity``, the W3C
Subresource Integrity string of the exact bytes served, so a wallet can check what it fetched
and cache it for good (§6.3.4).

The bytes are a pure function of the type file: a published version is never edited (add
``v2``), so the integrity a credential carries stays right for as long as it lives.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from typing import Any

from credential_schemas import CredentialType
from verifier import sd_jwt_vc as vc

__all__ = [
    "TYPE_METADATA_PATH",
    "integrity",
    "type_metadata",
    "type_metadata_bytes",
    "type_metadata_integrity",
]

TYPE_METADATA_PATH = "/type-metadata"  # the scheme's retrieval method (§6.3.3): + "/" + vct
SD_ALWAYS, SD_NEVER = "always", "never"  # §9.4
_SRI_ALGORITHM = "sha256"  # W3C SRI §3.2: sha256, sha384 or sha512


def type_metadata(credential_type: CredentialType) -> dict[str, Any]:
    """The Type Metadata document of ``credential_type`` (§6.2): display (§8), claims (§9)."""
    registry_metadata = credential_type.metadata["credential_metadata"]
    claims = []
    for claim in registry_metadata["claims"]:
        path = claim["path"]
        entry: dict[str, Any] = {
            "path": path,
            "display": [
                {"locale": shown["locale"], "label": shown["name"]} for shown in claim["display"]
            ],
        }
        # §9.3 `mandatory` is the issuer's duty; a derived claim is left out with its source.
        if len(path) == 1 and path[0] in credential_type.derived_claim_names:
            entry["mandatory"] = False
        else:
            entry["mandatory"] = bool(claim.get("mandatory", False))
        if len(path) == 1:  # top-level claims are the disclosures (issuer/credential.py)
            disclosable = path[0] in credential_type.selectively_disclosable
            entry["sd"] = SD_ALWAYS if disclosable else SD_NEVER
        claims.append(entry)
    return {
        vc.VCT: credential_type.vct,
        "name": credential_type.display_name("en"),
        "description": (
            f"{credential_type.display_name('ko')} ({credential_type.display_name('en')}), "
            f"jigap certificate type {credential_type.id} version {credential_type.version}"
        ),
        "display": [
            {"locale": shown["locale"], "name": shown["name"]}
            for shown in registry_metadata["display"]
        ],
        "claims": claims,
    }


@functools.lru_cache(maxsize=1024)
def type_metadata_bytes(credential_type: CredentialType) -> bytes:
    """The exact bytes served and hashed: compact UTF-8 JSON, members in a fixed order."""
    document = type_metadata(credential_type)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def integrity(content: bytes) -> str:
    """W3C SRI "integrity metadata" (§3.1): algorithm, '-', standard base64 of the digest."""
    digest = hashlib.new(_SRI_ALGORITHM, content).digest()
    return f"{_SRI_ALGORITHM}-{base64.b64encode(digest).decode('ascii')}"


@functools.lru_cache(maxsize=1024)
def type_metadata_integrity(credential_type: CredentialType) -> str:
    """The ``vct#integrity`` a credential of ``credential_type`` carries (§3.2.2.2, §7)."""
    return integrity(type_metadata_bytes(credential_type))
