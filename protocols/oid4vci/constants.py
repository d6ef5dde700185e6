"""Literals of OpenID for Verifiable Credential Issuance 1.0 (final), named once.

Other modules of the issuer and the wallet use these names, never the strings themselves.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AUTHORIZATION_CODE_GRANT",
    "CREDENTIAL_OFFER_PARAM",
    "CREDENTIAL_OFFER_SCHEME",
    "CREDENTIAL_OFFER_URI_PARAM",
    "JWK_BINDING_METHOD",
    "JWT_PROOF_TYPE",
    "PRE_AUTHORIZED_CODE_GRANT",
    "PRE_AUTHORIZED_CODE_PARAM",
    "PROOF_TYP",
    "SD_JWT_VC_FORMAT",
    "TX_CODE_PARAM",
    "WELL_KNOWN_CREDENTIAL_ISSUER",
    "WELL_KNOWN_OAUTH_AS",
    "NotificationEvent",
    "TxCodeInputMode",
]

# §4.1.1 and RFC 6749 §4.1.3: grant types.
PRE_AUTHORIZED_CODE_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
AUTHORIZATION_CODE_GRANT = "authorization_code"
# §4.1.1 (offer) and §6.1 (token request) share these parameter names.
PRE_AUTHORIZED_CODE_PARAM = "pre-authorized_code"
TX_CODE_PARAM = "tx_code"

# §4.1: the two ways of passing an offer, and §12.1.1 the wallet's fallback URL scheme.
CREDENTIAL_OFFER_PARAM = "credential_offer"
CREDENTIAL_OFFER_URI_PARAM = "credential_offer_uri"
CREDENTIAL_OFFER_SCHEME = "openid-credential-offer://"

# §12.2.2 and RFC 8414 §3: inserted between the host and the path of the issuer identifier.
WELL_KNOWN_CREDENTIAL_ISSUER = "/.well-known/openid-credential-issuer"
WELL_KNOWN_OAUTH_AS = "/.well-known/oauth-authorization-server"

# Appendix A.3.1: the SD-JWT VC format identifier.
SD_JWT_VC_FORMAT = "dc+sd-jwt"
# §12.2.4: key material in JWK form is what issued credentials are bound to.
JWK_BINDING_METHOD = "jwk"
# Appendix F.1: the `jwt` proof type and the `typ` its JWTs carry.
JWT_PROOF_TYPE = "jwt"
PROOF_TYP = "openid4vci-proof+jwt"


class TxCodeInputMode(StrEnum):
    """§4.1.1 `tx_code.input_mode`."""

    NUMERIC = "numeric"
    TEXT = "text"


class NotificationEvent(StrEnum):
    """§11.1 `event`."""

    CREDENTIAL_ACCEPTED = "credential_accepted"
    CREDENTIAL_FAILURE = "credential_failure"
    CREDENTIAL_DELETED = "credential_deleted"
