"""Accounts bound to the phone's device key, and recovery when the phone is lost.

An account is its device key's thumbprint (RFC 7638) and public JWK, and a recovery code
stored as HMAC-SHA256 under the deployment's key: the code is shown once, at registration or
recovery, and never stored or logged as it is. Every state change is conditional on the state
it was decided from (``UPDATE … WHERE``), so that two requests racing cannot both win: one
recovery re-binds the account, the other finds the code already spent.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import CursorResult, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from keys.jwk import PublicKey
from servicekit.db import retrying, session_scope
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.models import Account, Credential

__all__ = [
    "AccountView",
    "Bound",
    "delete_account",
    "find_account",
    "recover_account",
    "recovery_hash",
    "register_account",
]

# Crockford's base32: no I, L, O, U, so a code read aloud or copied by hand survives.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_CHARACTERS = 20  # 100 bits
_GROUP = 4
_MAX_ID_LENGTH = 64
_REFUSED = "wrong recovery code, or no such account"  # one answer for both: ids not probed


@dataclass(frozen=True, slots=True)
class AccountView:
    account_id: str
    created_at: int
    device_jkt: str
    device_bound_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "created_at": self.created_at,
            "device_jkt": self.device_jkt,
            "device_bound_at": self.device_bound_at,
        }


@dataclass(frozen=True, slots=True)
class Bound:
    """An account just bound to a device key, with its recovery code (shown this once)."""

    account: AccountView
    recovery_code: str

    def to_json(self) -> dict[str, Any]:
        return {**self.account.to_json(), "recovery_code": self.recovery_code}


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_CHARACTERS))
    return "-".join(raw[i : i + _GROUP] for i in range(0, _CODE_CHARACTERS, _GROUP))


def recovery_hash(hmac_key: bytes, code: str) -> str:
    """What is stored of a recovery code: HMAC-SHA256 of it without separators, upper case."""
    normal = code.replace("-", "").replace(" ", "").upper()
    return hmac.new(hmac_key, normal.encode("utf-8"), hashlib.sha256).hexdigest()


def _view(account: Account) -> AccountView:
    return AccountView(account.id, account.created_at, account.device_jkt, account.device_bound_at)


@retrying
def register_account(deployment: WalletDeployment, key: PublicKey) -> Bound:
    """A new account bound to ``key`` (the key of the registration's DPoP proof)."""
    now = deployment.now()
    code = _new_recovery_code()
    account = Account(
        id=uuid.uuid4().hex,
        created_at=now,
        device_jkt=key.kid,
        device_jwk=dict(key.to_jwk()),
        device_bound_at=now,
        recovery_hash=recovery_hash(deployment.settings.hmac_key, code),
    )
    exists = WalletError(WalletErrorCode.ACCOUNT_EXISTS, "this device key has an account")
    try:
        with session_scope(deployment.engine) as session:
            if _bound(session, key.kid):
                raise exists
            session.add(account)
    except IntegrityError:
        raise exists from None  # the same key registering twice at once: the unique key's loser
    return Bound(_view(account), code)


def _bound(session: Session, jkt: str) -> bool:
    return session.exec(select(Account.id).where(Account.device_jkt == jkt)).first() is not None


def find_account(deployment: WalletDeployment, jkt: str) -> AccountView | None:
    """The account bound to device key ``jkt`` now; None once it is re-bound or deleted."""
    with session_scope(deployment.read_engine) as session:
        account = session.exec(select(Account).where(Account.device_jkt == jkt)).first()
        return None if account is None else _view(account)


@retrying
def delete_account(deployment: WalletDeployment, jkt: str) -> bool:
    """Delete the account bound to ``jkt`` and everything of it; False if none is."""
    with session_scope(deployment.engine) as session:
        # Credentials, their copies and offers under way reference the account with ON DELETE
        # CASCADE: the database deletes them with it, in this transaction.
        result = session.execute(delete(Account).where(col(Account.device_jkt) == jkt))
        return _rowcount(result) == 1


def _rowcount(result: Any) -> int:
    assert isinstance(result, CursorResult)  # noqa: S101 - an UPDATE/DELETE's result
    return result.rowcount


@retrying
def recover_account(
    deployment: WalletDeployment, *, account_id: str, code: str, new_key: PublicKey
) -> Bound:
    """Re-bind ``account_id`` to ``new_key`` if ``code`` is its recovery code.

    The old device key stops working at the commit (every request looks its key up). A wrong
    code spends one of ``recovery_attempts``; when they are spent the recovery is locked.
    """
    given = recovery_hash(deployment.settings.hmac_key, code)
    try:
        return _recover(deployment, account_id, given, new_key)
    except IntegrityError:
        # Two accounts recovered onto one new key at once: the unique device key's loser.
        raise WalletError(WalletErrorCode.KEY_IN_USE, "this device key is an account's") from None


def _recover(
    deployment: WalletDeployment, account_id: str, given: str, new_key: PublicKey
) -> Bound:
    settings = deployment.settings
    now = deployment.now()
    wrong: WalletError | None = None
    bound: Bound | None = None
    with session_scope(deployment.engine) as session:
        if _bound(session, new_key.kid):
            raise WalletError(WalletErrorCode.KEY_IN_USE, "this device key is an account's")
        account = session.get(Account, account_id) if len(account_id) <= _MAX_ID_LENGTH else None
        if account is None:
            raise WalletError(WalletErrorCode.RECOVERY_REFUSED, _REFUSED)
        if account.recovery_failures >= settings.recovery_attempts:
            raise _locked()
        if account.spent_recovery_hash is not None and hmac.compare_digest(
            account.spent_recovery_hash, given
        ):
            raise WalletError(WalletErrorCode.RECOVERY_REFUSED, _REFUSED)
        if not hmac.compare_digest(account.recovery_hash, given):
            # Counted in the database, conditionally: two wrong tries at once spend two.
            spent = session.execute(
                update(Account)
                .where(
                    col(Account.id) == account_id,
                    col(Account.recovery_failures) < settings.recovery_attempts,
                )
                .values(recovery_failures=col(Account.recovery_failures) + 1)
            )
            wrong = (
                _locked()
                if _rowcount(spent) == 0
                else WalletError(WalletErrorCode.RECOVERY_REFUSED, _REFUSED)
            )
        else:
            new_code = _new_recovery_code()
            # One winner: the row changes only if its code is still the one just checked.
            won = session.execute(
                update(Account)
                .where(
                    col(Account.id) == account_id,
                    col(Account.recovery_hash) == given,
                    col(Account.recovery_failures) < settings.recovery_attempts,
                )
                .values(
                    device_jkt=new_key.kid,
                    device_jwk=dict(new_key.to_jwk()),
                    device_bound_at=now,
                    recovery_hash=recovery_hash(settings.hmac_key, new_code),
                    recovery_failures=0,
                    spent_recovery_hash=given,
                )
            )
            if _rowcount(won) == 0:
                raise WalletError(WalletErrorCode.RECOVERY_REFUSED, _REFUSED)
            # The credentials held are bound (`cnf`) to the old phone's keys, which the new
            # phone does not hold: each now needs its agency (`issuer_id`) to issue it again.
            session.execute(
                update(Credential)
                .where(col(Credential.account_id) == account_id)
                .values(needs_reissue=True)
            )
            bound = Bound(AccountView(account_id, account.created_at, new_key.kid, now), new_code)
    if wrong is not None:
        raise wrong  # after the commit: the spent attempt stays spent
    assert bound is not None  # noqa: S101 - either wrong or bound was set above
    return bound


def _locked() -> WalletError:
    return WalletError(
        WalletErrorCode.RECOVERY_LOCKED,
        "too many wrong recovery codes: this account can no longer be recovered; register a "
        "new account and ask the agencies to issue the certificates again",
    )
