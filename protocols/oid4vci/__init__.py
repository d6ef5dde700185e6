"""OpenID for Verifiable Credential Issuance 1.0 (final), the protocol core of both sides.

The issuer builds offers and metadata and parses requests with it; the wallet parses offers
and makes key proofs with it: one implementation, so that the two cannot drift apart. Pure
functions over dicts and strings: no HTTP, no database, the time passed in as ``now``. The
errors it raises carry the specs' codes (``protocols.oid4vci.errors``).
What it covers: the pre-authorized code flow with an optional transaction code
(§4, §6), the nonce endpoint (§7), the credential endpoint with `jwt` key proofs and batch
issuance (§8, Appendix F.1), deferred issuance (§9), notifications (§11), issuer and
authorization server metadata (§12.2, §12.3), credentials in the `dc+sd-jwt` format
(Appendix A.3). Not supported: the authorization code flow, credential identifiers,
encrypted requests and responses, `di_vp` and `attestation` proofs, `kid` and `x5c` binding.

Section numbers in this package are those of the 1.0 final text.
"""

from __future__ import annotations

from protocols.oid4vci.constants import (
    CREDENTIAL_OFFER_SCHEME,
    JWT_PROOF_TYPE,
    PRE_AUTHORIZED_CODE_GRANT,
    PROOF_TYP,
    SD_JWT_VC_FORMAT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
    NotificationEvent,
    TxCodeInputMode,
)
from protocols.oid4vci.metadata import (
    IssuerEndpoints,
    authorization_server_metadata,
    credential_issuer_metadata,
    well_known_url,
)
from protocols.oid4vci.offer import (
    InvalidOfferError,
    TxCodeSpec,
    credential_offer,
    offer_uri_by_reference,
    offer_uri_by_value,
    parse_offer_uri,
)
from protocols.oid4vci.proof import (
    KeyProof,
    jwt_proof_signing_input,
    make_jwt_proof,
    verify_jwt_proof,
)
from protocols.oid4vci.requests import (
    CredentialRequest,
    NotificationRequest,
    TokenRequest,
    parse_credential_request,
    parse_deferred_request,
    parse_notification_request,
    parse_token_request,
)

__all__ = [
    "CREDENTIAL_OFFER_SCHEME",
    "JWT_PROOF_TYPE",
    "PRE_AUTHORIZED_CODE_GRANT",
    "PROOF_TYP",
    "SD_JWT_VC_FORMAT",
    "WELL_KNOWN_CREDENTIAL_ISSUER",
    "WELL_KNOWN_OAUTH_AS",
    "CredentialRequest",
    "InvalidOfferError",
    "IssuerEndpoints",
    "KeyProof",
    "NotificationEvent",
    "NotificationRequest",
    "TokenRequest",
    "TxCodeInputMode",
    "TxCodeSpec",
    "authorization_server_metadata",
    "credential_issuer_metadata",
    "credential_offer",
    "jwt_proof_signing_input",
    "make_jwt_proof",
    "offer_uri_by_reference",
    "offer_uri_by_value",
    "parse_credential_request",
    "parse_deferred_request",
    "parse_notification_request",
    "parse_offer_uri",
    "parse_token_request",
    "verify_jwt_proof",
    "well_known_url",
]
