"""SD-JWT VC (draft-ietf-oauth-sd-jwt-vc-12) and Key Binding JWT (RFC 9901 §4.3) literals.

The registered claims are the ones the format itself gives meaning to; everything else in a
credential belongs to its certificate type's schema.
"""

from __future__ import annotations

CREDENTIAL_TYP = "dc+sd-jwt"  # SD-JWT VC §3.2.1
# §5: the issuer's keys, at this suffix inserted between the host and the path of `iss`.
WELL_KNOWN_JWT_VC_ISSUER = "/.well-known/jwt-vc-issuer"
JWT_VC_ISSUER_ISSUER = "issuer"  # §5.2: identical to `iss`
JWT_VC_ISSUER_JWKS = "jwks"
KB_JWT_TYP = "kb+jwt"  # RFC 9901 §4.3

ISS = "iss"
IAT = "iat"
EXP = "exp"
NBF = "nbf"
SUB = "sub"
VCT = "vct"
VCT_INTEGRITY = "vct#integrity"
CNF = "cnf"
JWK = "jwk"
STATUS = "status"
STATUS_LIST = "status_list"  # Token Status List §6.1
STATUS_INDEX = "idx"
STATUS_URI = "uri"
NONCE = "nonce"
AUD = "aud"

# SD-JWT VC §3.2.2.2: these "MUST NOT be included in the Disclosures"; `sub` and `iat` MAY be.
NOT_SELECTIVELY_DISCLOSABLE = frozenset({ISS, NBF, EXP, CNF, VCT, VCT_INTEGRITY, STATUS})
# Claims of the format, never of a certificate type: removed before the type's schema is
# applied.
REGISTERED_CLAIMS = NOT_SELECTIVELY_DISCLOSABLE | {IAT, SUB}
