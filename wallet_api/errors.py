"""The wallet service's refusals: a closed set of codes, each with its HTTP status.

DPoP refusals keep RFC 9449's own codes (``protocols.dpop.DpopErrorCode``) and are answered
with a ``WWW-Authenticate: DPoP`` challenge (wallet_api.api.errors).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["WalletError", "WalletErrorCode"]


class WalletErrorCode(StrEnum):
    INVALID_REQUEST = "invalid_request"  # 400: not what the endpoint takes
    ACCOUNT_EXISTS = "account_exists"  # 409: this device key already has an account
    KEY_IN_USE = "key_in_use"  # 409: a recovery's new key is already some account's key
    # 400: wrong code, or no such account; the same answer for both, so ids cannot be probed.
    RECOVERY_REFUSED = "recovery_refused"
    RECOVERY_LOCKED = "recovery_locked"  # 403: too many wrong codes (docs/wallet.md)
    # 404: no such record, or another account's; the same answer for both.
    NOT_FOUND = "not_found"
    INVALID_OFFER = "invalid_offer"  # 400: not an OID4VCI credential offer we can take
    # 403: the trust list does not name this issuer, or not for this certificate type.
    UNTRUSTED_ISSUER = "untrusted_issuer"
    # 400: the agency refused the code or the transaction code (wrong, spent or expired).
    OFFER_REFUSED = "offer_refused"
    WRONG_STATE = "wrong_state"  # 409: not a step this offer is at (or it ran meanwhile)
    TOO_MANY_OFFERS = "too_many_offers"  # 409: too many offers under way for the account
    INVALID_SIGNATURE = "invalid_signature"  # 400: a phone's signature does not verify
    # 502: the agency cannot be reached in time, or answered nonsense.
    ISSUER_UNAVAILABLE = "issuer_unavailable"
    # 502: the agency sent a credential our verifier refuses: nothing was stored.
    CREDENTIAL_REFUSED = "credential_refused"
    TRUST_UNAVAILABLE = "trust_unavailable"  # 503: no trust list held: nothing can be checked
    # Presenting (docs/wallet.md): each refusal discloses nothing and consumes no copy.
    # 400: the counter's request fails a check of verifier.openid4vp.read_request; the
    # description starts with its RequestErrorCode (e.g. `unregistered_client: ...`).
    UNTRUSTED_REQUEST = "untrusted_request"
    REQUEST_REPLAYED = "request_replayed"  # 409: this wallet has already read this request
    # 409: no credential held of a type asked, or one that lacks claims asked (named).
    NO_MATCHING_CREDENTIAL = "no_matching_credential"
    # 409: the only matching credentials are revoked, suspended, expired or need re-issue.
    CREDENTIAL_UNUSABLE = "credential_unusable"
    NO_UNUSED_COPY = "no_unused_copy"  # 409: every copy was used: ask the agency for more
    COUNTER_UNAVAILABLE = "counter_unavailable"  # 502: the counter's server did not answer


_STATUS = {
    WalletErrorCode.INVALID_REQUEST: 400,
    WalletErrorCode.ACCOUNT_EXISTS: 409,
    WalletErrorCode.KEY_IN_USE: 409,
    WalletErrorCode.RECOVERY_REFUSED: 400,
    WalletErrorCode.RECOVERY_LOCKED: 403,
    WalletErrorCode.NOT_FOUND: 404,
    WalletErrorCode.INVALID_OFFER: 400,
    WalletErrorCode.UNTRUSTED_ISSUER: 403,
    WalletErrorCode.OFFER_REFUSED: 400,
    WalletErrorCode.WRONG_STATE: 409,
    WalletErrorCode.TOO_MANY_OFFERS: 409,
    WalletErrorCode.INVALID_SIGNATURE: 400,
    WalletErrorCode.ISSUER_UNAVAILABLE: 502,
    WalletErrorCode.CREDENTIAL_REFUSED: 502,
    WalletErrorCode.TRUST_UNAVAILABLE: 503,
    WalletErrorCode.UNTRUSTED_REQUEST: 400,
    WalletErrorCode.REQUEST_REPLAYED: 409,
    WalletErrorCode.NO_MATCHING_CREDENTIAL: 409,
    WalletErrorCode.CREDENTIAL_UNUSABLE: 409,
    WalletErrorCode.NO_UNUSED_COPY: 409,
    WalletErrorCode.COUNTER_UNAVAILABLE: 502,
}


class WalletError(Exception):
    def __init__(self, code: WalletErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.status = _STATUS[code]
        self.detail = detail
