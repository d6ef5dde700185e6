"""jigap's offline verifier: what a bank or telecom counter installs.

    from verifier import TrustStore, Verifier, Policy, ErrorCode
    store = TrustStore.load("trust/")            # what `jigap verify sync` saved
    result = Verifier(store, Policy()).verify(qr_text)
    if not result.valid:
        print(result.error)                       # one code of the closed ErrorCode set

At a counter with a screen, ask first and judge the answer against the request (two QR codes):

    request = verifier.make_request(signer=key, client_id="counter.bank.example",
                                    purpose_id="account_opening")
    show(request.envelope)                        # "JR1:...": the signed request object
    result = verifier.verify_answer(answer_text, request)

Pure: no web framework, no database, no network (``jigap verify sync`` is the one online step).
"""

from verifier.envelope import decode_envelope, encode_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.openid4vp import (
    PresentationRequest,
    RequestError,
    RequestErrorCode,
    read_request,
    sign_request,
)
from verifier.policy import Policy
from verifier.result import CredentialStatus, VerificationResult
from verifier.trust_store import TrustStore
from verifier.verify import Verifier

__all__ = [
    "CredentialStatus",
    "ErrorCode",
    "Policy",
    "PresentationRequest",
    "RequestError",
    "RequestErrorCode",
    "TrustStore",
    "VerificationError",
    "VerificationResult",
    "Verifier",
    "decode_envelope",
    "encode_envelope",
    "read_request",
    "sign_request",
]
