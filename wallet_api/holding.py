"""What an account holds: its credentials listed, shown, deleted, exported, and their status.

Listing opens no sealed record: what a list needs (agency, type, dates, unused copies, each
copy's place in its status list) is in clear columns, and the display names come from the
registry and the trust list. Showing one credential opens one copy and decodes its claims.

A credential's status is judged from the trust store's status lists, fetched once for all
accounts (``wallet_api.trust``), at the moment it is asked for: revoked or suspended if the
agency says so of any copy; expired past its `exp`; needing re-issue once the account moved to
a new phone (its copies are bound to the old phone's keys); unknown while no list is held.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import delete
from sqlmodel import Session, col, select

from credential_schemas import CredentialType
from keys.jws import decode_compact
from servicekit.db import retrying, session_scope
from verifier import TrustStore
from verifier.sd_jwt import decode_disclosures, resolve_claims, split_compact
from verifier.sd_jwt_vc import CREDENTIAL_TYP, NOT_SELECTIVELY_DISCLOSABLE, REGISTERED_CLAIMS
from verifier.status_list import StatusValue
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.models import Account, Credential, CredentialCopy, Intake
from wallet_api.presentation_history import list_presentations
from wallet_api.sealed import copy_context
from wallet_api.trust import TrustUnavailableError, copy_status

__all__ = [
    "CredentialState",
    "credential_state",
    "delete_credential",
    "export_account",
    "list_credentials",
    "show_credential",
    "unusable_advice",
]

_MAX_ID_LENGTH = 64


class CredentialState(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    SUSPENDED = "suspended"
    EXPIRED = "expired"
    NEEDS_REISSUE = "needs_reissue"  # held on keys of a phone the account left
    UNKNOWN = "unknown"  # no status list held for it yet


class _CopyState(Protocol):
    """What judging a copy reads: a ``CredentialCopy`` row, or just these columns of it."""

    @property
    def status_uri(self) -> str | None: ...
    @property
    def status_index(self) -> int | None: ...
    @property
    def used_at(self) -> int | None: ...


@dataclass(frozen=True, slots=True)
class _ListedCopy:
    status_uri: str | None
    status_index: int | None
    used_at: int | None


@dataclass(frozen=True, slots=True)
class _Judged:
    state: CredentialState
    status_known_at: int | None


def _judge(
    credential: Credential, copies: Sequence[_CopyState], store: TrustStore | None, now: int
) -> _Judged:
    values = [
        copy_status(store, credential.issuer_id, c.status_uri, c.status_index)
        if store is not None
        else None
        for c in copies
    ]
    known = [v for v in values if v is not None and v.value is not None]
    known_at = min((v.known_at for v in known if v.known_at is not None), default=None)
    if any(v.value == StatusValue.INVALID for v in known):
        return _Judged(CredentialState.REVOKED, known_at)
    if any(v.value == StatusValue.SUSPENDED for v in known):
        return _Judged(CredentialState.SUSPENDED, known_at)
    if now >= credential.expires_at:
        return _Judged(CredentialState.EXPIRED, known_at)
    if credential.needs_reissue:
        return _Judged(CredentialState.NEEDS_REISSUE, known_at)
    if not known or len(known) < len(copies):
        return _Judged(CredentialState.UNKNOWN, known_at)
    return _Judged(CredentialState.VALID, known_at)


def credential_state(
    credential: Credential, copies: Sequence[_CopyState], store: TrustStore | None, now: int
) -> CredentialState:
    """What the citizen's list says of ``credential`` (presenting uses only a valid one)."""
    return _judge(credential, copies, store, now).state


def unusable_advice(states: set[CredentialState]) -> str:
    """What the citizen can do about credentials in ``states`` (none of them valid)."""
    if states == {CredentialState.UNKNOWN}:
        return "no status list is held for it yet: try again shortly"
    return "ask the agency to issue it again"


def _store(deployment: WalletDeployment) -> TrustStore | None:
    try:
        return deployment.trust.store()
    except TrustUnavailableError:
        return None


def _names(credential_type: CredentialType | None, fallback: str) -> dict[str, str]:
    if credential_type is None:
        return {"ko": fallback, "en": fallback}
    return {lang: credential_type.display_name(lang) for lang in ("ko", "en")}


def _issuer_names(store: TrustStore | None, issuer_id: str) -> dict[str, str]:
    listed = store.trust_list.issuers.get(issuer_id) if store and store.trust_list else None
    return dict(listed.names) if listed is not None else {"ko": issuer_id, "en": issuer_id}


def _summary(
    deployment: WalletDeployment,
    store: TrustStore | None,
    credential: Credential,
    copies: Sequence[_CopyState],
) -> dict[str, Any]:
    judged = _judge(credential, copies, store, deployment.now())
    credential_type = deployment.registry.by_vct(credential.vct)
    return {
        "credential_id": credential.id,
        "credential_type": credential.credential_type,
        "vct": credential.vct,
        "name": _names(credential_type, credential.credential_type),
        "issuer": {"id": credential.issuer_id, "name": _issuer_names(store, credential.issuer_id)},
        "received_at": credential.received_at,
        "expires_at": credential.expires_at,
        "status": str(judged.state),
        "status_known_at": judged.status_known_at,
        "copies": len(copies),
        "unused_copies": sum(1 for c in copies if c.used_at is None),
        # Whom to ask for a new one (revoked, expired, or held on a phone left behind).
        "reissue_from": credential.issuer_id
        if judged.state is not CredentialState.VALID and judged.state is not CredentialState.UNKNOWN
        else None,
    }


def list_credentials(deployment: WalletDeployment, account_id: str) -> list[dict[str, Any]]:
    with session_scope(deployment.read_engine) as session:
        credentials = session.exec(
            select(Credential)
            .where(Credential.account_id == account_id)
            .order_by(col(Credential.received_at), col(Credential.id))
        ).all()
        # The columns a list reads, not the rows: no sealed copy is loaded to be left unopened.
        copies: dict[str, list[_CopyState]] = defaultdict(list)
        for row in session.exec(
            select(
                CredentialCopy.credential_id,
                CredentialCopy.status_uri,
                CredentialCopy.status_index,
                CredentialCopy.used_at,
            ).where(CredentialCopy.account_id == account_id)
        ).all():
            credential_id, uri, index, used_at = row
            copies[credential_id].append(_ListedCopy(uri, index, used_at))
    store = _store(deployment)
    return [_summary(deployment, store, c, copies[c.id]) for c in credentials]


def _owned(session: Session, account_id: str, credential_id: str) -> Credential:
    """The account's credential; another account's is answered as none at all."""
    credential = (
        session.exec(
            select(Credential).where(
                Credential.id == credential_id, Credential.account_id == account_id
            )
        ).first()
        if len(credential_id) <= _MAX_ID_LENGTH
        else None
    )
    if credential is None:
        raise WalletError(WalletErrorCode.NOT_FOUND, "no such credential")
    return credential


def _claims_of(compact: str) -> dict[str, Any]:
    """Every claim the copy holds (all its disclosures), without the registered ones."""
    sd_jwt = split_compact(compact)
    signed = decode_compact(sd_jwt.issuer_jwt, expected_typ=CREDENTIAL_TYP).unverified_claims()
    claims = resolve_claims(
        signed,
        decode_disclosures(sd_jwt.disclosures),
        not_disclosable=NOT_SELECTIVELY_DISCLOSABLE,
    )
    return {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}


def _labelled(credential_type: CredentialType | None, claims: Mapping[str, Any]) -> list[Any]:
    rows = []
    for name, value in claims.items():
        labels = (
            {lang: credential_type.claim_label(name, lang) for lang in ("ko", "en")}
            if credential_type is not None
            else {"ko": name, "en": name}
        )
        rows.append({"name": name, "label": labels, "value": value})
    return rows


def show_credential(
    deployment: WalletDeployment, account_id: str, credential_id: str
) -> dict[str, Any]:
    """One credential with its claims, labelled from the registry (stored claims were checked
    by our verifier when they arrived: they are read here, not checked again)."""
    with session_scope(deployment.read_engine) as session:
        credential = _owned(session, account_id, credential_id)
        copies = list(
            session.exec(
                select(CredentialCopy).where(CredentialCopy.credential_id == credential.id)
            ).all()
        )
    store = _store(deployment)
    summary = _summary(deployment, store, credential, copies)
    copy = copies[0]
    compact = deployment.sealer.open(copy.sealed, context=copy_context(copy.id)).decode("ascii")
    credential_type = deployment.registry.by_vct(credential.vct)
    return {**summary, "claims": _labelled(credential_type, _claims_of(compact))}


@retrying
def delete_credential(deployment: WalletDeployment, account_id: str, credential_id: str) -> None:
    with session_scope(deployment.engine) as session:
        credential = _owned(session, account_id, credential_id)
        # The copies go with it (ON DELETE CASCADE), deleted here too for clarity.
        session.execute(
            delete(CredentialCopy).where(col(CredentialCopy.credential_id) == credential.id)
        )
        session.execute(delete(Credential).where(col(Credential.id) == credential.id))


def export_account(deployment: WalletDeployment, account_id: str) -> dict[str, Any]:
    """My data: everything the account holds, as JSON (GDPR-style access, PIPA art. 35)."""
    with session_scope(deployment.read_engine) as session:
        account = session.get(Account, account_id)
        if account is None:
            raise WalletError(WalletErrorCode.NOT_FOUND, "no such account")
        copies = list(
            session.exec(
                select(CredentialCopy).where(CredentialCopy.account_id == account_id)
            ).all()
        )
        intakes = list(session.exec(select(Intake).where(Intake.account_id == account_id)).all())
    credentials = list_credentials(deployment, account_id)
    by_credential: dict[str, list[CredentialCopy]] = defaultdict(list)
    for copy in copies:
        by_credential[copy.credential_id].append(copy)
    for credential in credentials:
        credential["copies"] = [
            {
                "copy_id": copy.id,
                "holder_key_thumbprint": copy.holder_jkt,
                "used_at": copy.used_at,
                "status_list": {"uri": copy.status_uri, "idx": copy.status_index}
                if copy.status_uri is not None
                else None,
                "sd_jwt_vc": deployment.sealer.open(
                    copy.sealed, context=copy_context(copy.id)
                ).decode("ascii"),
            }
            for copy in by_credential[credential["credential_id"]]
        ]
    return {
        "account": {
            "account_id": account.id,
            "created_at": account.created_at,
            "device_jkt": account.device_jkt,
            "device_jwk": account.device_jwk,
            "device_bound_at": account.device_bound_at,
            "recovery": "a recovery code is set (stored only as an HMAC, not exportable)",
        },
        "credentials": credentials,
        "presentations": list_presentations(deployment, account_id),  # who saw what, no values
        "offers": [
            {
                "intake_id": intake.id,
                "state": intake.state,
                "created_at": intake.created_at,
                "expires_at": intake.expires_at,
                **intake.summary,
            }
            for intake in intakes
        ],
        "exported_at": deployment.now(),
    }
