"""Credential Issuer metadata (§12.2) and OAuth Authorization Server metadata (§12.3, RFC 8414).

The issuer is its own authorization server, so ``authorization_servers`` is omitted (§12.2.4)
and wallets find the token endpoint under ``/.well-known/oauth-authorization-server``.
Encryption is not supported, so neither encryption parameter is advertised.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from credential_schemas import CredentialType
from keys.jwk import Algorithm
from protocols.oid4vci.constants import (
    JWK_BINDING_METHOD,
    JWT_PROOF_TYPE,
    PRE_AUTHORIZED_CODE_GRANT,
    SD_JWT_VC_FORMAT,
)
from verifier.status_list_aggregation import STATUS_LIST_AGGREGATION_ENDPOINT

__all__ = [
    "IssuerEndpoints",
    "authorization_server_metadata",
    "credential_issuer_metadata",
    "well_known_url",
]

# Registry languages and the BCP 47 tags the issuer's own display objects carry.
_LOCALES = {"ko": "ko-KR", "en": "en-US"}


@dataclass(frozen=True, slots=True)
class IssuerEndpoints:
    """The absolute URLs of the issuer's endpoints."""

    token: str
    nonce: str
    credential: str
    deferred_credential: str
    notification: str

    @classmethod
    def for_issuer(cls, issuer_id: str) -> IssuerEndpoints:
        base = issuer_id.rstrip("/")
        return cls(
            token=f"{base}/token",
            nonce=f"{base}/nonce",
            credential=f"{base}/credential",
            deferred_credential=f"{base}/deferred_credential",
            notification=f"{base}/notification",
        )


def well_known_url(issuer_id: str, suffix: str) -> str:
    """Insert ``suffix`` between host and path (§12.2.2; RFC 8414 §3.1 drops a final '/')."""
    parts = urlsplit(issuer_id)
    if not parts.scheme or not parts.netloc or parts.query or parts.fragment:
        # §12.2.1: scheme, host, optional port and path; no query or fragment.
        raise ValueError("issuer identifier needs a scheme and host, and no query or fragment")
    if not suffix.startswith("/.well-known/"):
        raise ValueError("suffix must start with /.well-known/")
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, f"{suffix}{path}", "", ""))


def _algorithms(values: Sequence[str], what: str) -> list[str]:
    if not values:
        raise ValueError(f"{what} must not be empty")  # §12.2.4: non-empty arrays
    known = {algorithm.value for algorithm in Algorithm}
    unknown = [value for value in values if value not in known]
    if unknown:
        raise ValueError(f"{what}: unsupported algorithm {unknown[0]!r}")
    return list(dict.fromkeys(str(value) for value in values))


def _issuer_display(names: Mapping[str, str]) -> list[dict[str, str]]:
    unknown = sorted(set(names) - _LOCALES.keys())
    if unknown:
        raise ValueError(f"issuer display name in unknown language {unknown[0]!r}")
    # §12.2.4: one display object per language.
    return [{"name": names[lang], "locale": tag} for lang, tag in _LOCALES.items() if lang in names]


def _configuration(
    credential_type: CredentialType, signing: list[str], proof: list[str]
) -> dict[str, Any]:
    # Appendix A.3.2: `vct` beside the common parameters of §12.2.4.
    metadata = credential_type.metadata
    return {
        "format": SD_JWT_VC_FORMAT,
        "scope": credential_type.id,
        "vct": metadata["vct"],
        "cryptographic_binding_methods_supported": [JWK_BINDING_METHOD],
        "credential_signing_alg_values_supported": list(signing),
        # §12.2.4: present because binding methods are.
        "proof_types_supported": {JWT_PROOF_TYPE: {"proof_signing_alg_values_supported": proof}},
        "credential_metadata": metadata["credential_metadata"],
    }


def credential_issuer_metadata(
    issuer_id: str,
    *,
    credential_types: Sequence[CredentialType],
    names: Mapping[str, str],
    endpoints: IssuerEndpoints,
    batch_size: int,
    signing_algorithms: Sequence[str],
    proof_algorithms: Sequence[str],
    status_list_aggregation_endpoint: str | None = None,
) -> dict[str, Any]:
    """The unsigned metadata document (§12.2.4); ``names`` maps "ko"/"en" to the agency name.

    ``status_list_aggregation_endpoint`` names where the issuer lists all its status lists
    (Token Status List draft 20, "Status List Aggregation": an issuer MAY link it from its
    metadata, under this name), so that a verifier can sync them before meeting a credential.

    ``batch_size`` is the most proofs a credential request may carry; 1 means no batch issuance,
    so ``batch_credential_issuance`` is left out (§12.2.4: its ``batch_size`` is 2 or greater).
    """
    if type(batch_size) is not int or batch_size < 1:
        raise ValueError("batch_size must be a positive integer")
    if not credential_types:
        raise ValueError("credential_types must not be empty")  # §12.2.4: REQUIRED
    ids = [credential_type.id for credential_type in credential_types]
    if len(set(ids)) != len(ids):
        raise ValueError("two credential types share a configuration id")
    signing = _algorithms(signing_algorithms, "signing_algorithms")
    proof = _algorithms(proof_algorithms, "proof_algorithms")
    document: dict[str, Any] = {
        "credential_issuer": issuer_id,  # §12.2.4: identical to the identifier, byte for byte
        "credential_endpoint": endpoints.credential,
        "nonce_endpoint": endpoints.nonce,
        "deferred_credential_endpoint": endpoints.deferred_credential,
        "notification_endpoint": endpoints.notification,
    }
    if status_list_aggregation_endpoint is not None:
        document[STATUS_LIST_AGGREGATION_ENDPOINT] = status_list_aggregation_endpoint
    if batch_size >= 2:
        document["batch_credential_issuance"] = {"batch_size": batch_size}
    display = _issuer_display(names)
    if display:
        document["display"] = display
    document["credential_configurations_supported"] = {
        credential_type.id: _configuration(credential_type, signing, proof)
        for credential_type in credential_types
    }
    return document


def authorization_server_metadata(
    issuer_id: str, *, token_endpoint: str, status_list_aggregation_endpoint: str | None = None
) -> dict[str, Any]:
    """RFC 8414 §2 for a pre-authorized-code-only server; §12.3 lets it omit response types.

    The Token Status List draft registers ``status_list_aggregation_endpoint`` for this
    document (and RECOMMENDS it here for an issuer that is its own authorization server).
    """
    document: dict[str, Any] = {
        "issuer": issuer_id,
        "token_endpoint": token_endpoint,
        "grant_types_supported": [PRE_AUTHORIZED_CODE_GRANT],
        # §12.3: token requests with a pre-authorized code need no client_id.
        "pre-authorized_grant_anonymous_access_supported": True,
    }
    if status_list_aggregation_endpoint is not None:
        document[STATUS_LIST_AGGREGATION_ENDPOINT] = status_list_aggregation_endpoint
    return document
