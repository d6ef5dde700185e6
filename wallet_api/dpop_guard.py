"""The wallet service's half of DPoP (RFC 9449) that ``protocols.dpop`` leaves to a server:
nonces it hands out, replayed proofs, and the account a proof's key is bound to.

Both live in the database, so that every worker process agrees:

- a nonce is a row (``DpopNonce``). One is handed out for ``nonce_rotate_seconds`` and
  accepted for twice as long, so a client that fetched one just before the rotation is not
  refused; whichever worker first finds none fresh inserts the next (two at once is harmless:
  both are valid). The same transaction sweeps expired nonces and replay rows, so both tables
  stay the size of a few minutes of traffic.
- a proof used is a row (``DpopReplay``) keyed by SHA-256 of its (jkt, jti), kept until the
  proof's ``accepted_until``: the primary key makes a second use lose the insert.

The request's URI is the service's configured public URL and the raw request path, never a
Host header (docs/dpop.md, "what the wallet service must add").
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Container
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from protocols.dpop import DpopError, DpopErrorCode, DpopFailure, DpopProof, verify_dpop_proof
from servicekit.db import retrying, session_scope
from wallet_api.deployment import WalletDeployment
from wallet_api.models import Account, DpopNonce, DpopReplay

__all__ = ["DeviceProof", "DpopRefusal", "DpopRefusedError", "check_proof", "current_nonce"]


class DpopRefusal(StrEnum):
    """The wallet's own reasons, beside ``protocols.dpop.DpopFailure``'s."""

    HEADER_COUNT = "header_count"  # not exactly one DPoP header (§4.3 points 1-2)
    REPLAY = "replay"  # this (jkt, jti) was used before (§11.1)
    UNKNOWN_KEY = "unknown_key"  # no account is bound to the proof's key (now)


class DpopRefusedError(Exception):
    """A request refused for its proof: ``code`` for the client, ``reason`` for the logs."""

    def __init__(self, code: DpopErrorCode, reason: DpopFailure | DpopRefusal) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeviceProof:
    """A request whose proof passed: the key, and the account bound to it (if required)."""

    proof: DpopProof
    account_id: str | None

    @property
    def jkt(self) -> str:
        return self.proof.jkt


class _AcceptedNonces(Container[str]):
    """The nonces accepted now, asked of the database only for the one a proof carries."""

    def __init__(self, session: Session, now: int) -> None:
        self._session = session
        self._now = now

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, str) or len(value) > 64:
            return False
        found = self._session.exec(
            select(DpopNonce.value).where(
                DpopNonce.value == value, col(DpopNonce.expires_at) > self._now
            )
        ).first()
        return found is not None


@retrying
def current_nonce(deployment: WalletDeployment) -> str:
    """The nonce to hand out now (§8), a new one if the newest is due for rotation.

    A process remembers the nonce it last handed out while it is not yet due for rotation: a
    nonce lives twice the rotation period and is only swept once expired, so the one
    remembered is still in the table (every worker accepts it) for at least one more period.
    """
    now = deployment.now()
    rotate = deployment.settings.nonce_rotate_seconds
    remembered = deployment.handed_out_nonce
    if remembered is not None and remembered[1] > now - rotate:
        return remembered[0]
    with session_scope(deployment.read_engine) as session:
        fresh = session.exec(
            select(DpopNonce.value, DpopNonce.issued_at)
            .where(col(DpopNonce.issued_at) > now - rotate)
            .order_by(col(DpopNonce.issued_at).desc())
        ).first()
    if fresh is not None:
        deployment.handed_out_nonce = (fresh[0], fresh[1])
        return fresh[0]
    value = secrets.token_urlsafe(24)  # 192 bits: unpredictable (§8)
    with session_scope(deployment.engine) as session:
        session.execute(delete(DpopNonce).where(col(DpopNonce.expires_at) <= now))
        session.execute(delete(DpopReplay).where(col(DpopReplay.expires_at) < now))
        session.add(DpopNonce(value=value, issued_at=now, expires_at=now + 2 * rotate))
    deployment.handed_out_nonce = (value, now)
    return value


def _proof_id(proof: DpopProof) -> str:
    return hashlib.sha256(f"{proof.jkt}.{proof.jti}".encode()).hexdigest()


def check_proof(
    deployment: WalletDeployment,
    proofs: list[str],
    *,
    method: str,
    path: str,
    account_required: bool,
) -> DeviceProof:
    """Verify the request's ``DPoP`` header values for ``method`` at ``path`` (raw, without
    the query), record the proof as used, and find the account bound to its key."""
    if len(proofs) != 1:
        raise DpopRefusedError(DpopErrorCode.INVALID_DPOP_PROOF, DpopRefusal.HEADER_COUNT)
    now = deployment.now()
    try:
        with session_scope(deployment.engine) as session:
            proof = verify_dpop_proof(
                proofs[0],
                method=method,
                uri=deployment.settings.public_url + path,
                now=now,
                policy=deployment.dpop_policy,
                nonces=_AcceptedNonces(session, now),
            )
            account_id = session.exec(
                select(Account.id).where(Account.device_jkt == proof.jkt)
            ).first()
            if account_required and account_id is None:
                raise DpopRefusedError(DpopErrorCode.INVALID_DPOP_PROOF, DpopRefusal.UNKNOWN_KEY)
            session.add(DpopReplay(proof_id=_proof_id(proof), expires_at=proof.accepted_until))
            session.flush()
    except DpopError as exc:
        raise DpopRefusedError(exc.code, exc.reason) from None
    except IntegrityError:
        raise DpopRefusedError(DpopErrorCode.INVALID_DPOP_PROOF, DpopRefusal.REPLAY) from None
    return DeviceProof(proof, account_id)
