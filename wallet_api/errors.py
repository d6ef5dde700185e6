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


_STATUS = {
    WalletErrorCode.INVALID_REQUEST: 400,
    WalletErrorCode.ACCOUNT_EXISTS: 409,
    WalletErrorCode.KEY_IN_USE: 409,
    WalletErrorCode.RECOVERY_REFUSED: 400,
    WalletErrorCode.RECOVERY_LOCKED: 403,
}


class WalletError(Exception):
    def __init__(self, code: WalletErrorCode, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.status = _STATUS[code]
        self.detail = detail
