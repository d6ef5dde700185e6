"""SD-JWT VC (draft-ietf-oauth-sd-jwt-vc-12) and Key Binding JWT (RFC 9901 §4.3) literals.

The registered claims are the ones the format itself gives meaning to; everything else in a
credential belongs to its certificate type's schema.
"""

from __future__ import annotations

CREDENTIAL_TYP = "dc+sd-jwt"  # SD-JWT VC §3.2.1
KB_JWT_TYP = "kb+jwt"  # RFC 9901 §4.3

ISS = "iss"
IAT = "iat"
EXP = "exp"
NBF = "nbf"
SUB = "sub"
VCT = "vct"
CNF = "cnf"
JWK = "jwk"
STATUS = "status"
STATUS_LIST = "status_list"  # Token Status List §6.1
STATUS_INDEX = "idx"
STATUS_URI = "uri"
NONCE = "nonce"
AUD = "aud"

# Claims of the format, never of a certificate type: they are not selectively disclosable
# (SD-JWT VC §3.2.2.2) and are removed before the type's schema is applied.
REGISTERED_CLAIMS = frozenset({ISS, IAT, EXP, NBF, SUB, VCT, CNF, STATUS})
