"""jigap's offline verifier: what a bank or telecom counter installs.

    from verifier import TrustStore, Verifier, Policy, ErrorCode
    store = TrustStore.load("trust/")            # what `jigap verify sync` saved
    result = Verifier(store, Policy()).verify(qr_text)
    if not result.valid:
        print(result.error)                       # one code of the closed ErrorCode set

Pure: no web framework, no database, no network (``jigap verify sync`` is the one online step).
"""

from verifier.envelope import decode_envelope, encode_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.policy import Policy
from verifier.result import CredentialStatus, VerificationResult
from verifier.trust_store import TrustStore
from verifier.verify import Verifier

__all__ = [
    "CredentialStatus",
    "ErrorCode",
    "Policy",
    "TrustStore",
    "VerificationError",
    "VerificationResult",
    "Verifier",
    "decode_envelope",
    "encode_envelope",
]
