"""The citizen's history of presentations ("who saw what"), the presets, and answers the phone
built offline.

Every presentation is a row of ``wallet_presentations``: to whom (the relying party's id and
its name on the trust list), why (the registered purpose), which credential type, which claims
(OpenID4VP 1.0 §7 concrete paths and their labels, never a value), when, and a hash of the
request (client_id and nonce) that names it without keeping it. Nothing else about the counter
is kept. The citizen lists and deletes them; deleting the account deletes them all.

A phone without network answers at the counter from copies it downloaded (the holder client's
``answer_offline``, the same selection and KB-JWT code as the service's) and reports the answer
here when back online: the copy is marked used, so the service never offers it again.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select

from keys.relying_party import MAX_PATH_LENGTH, ClaimsPath
from servicekit.db import retrying, session_scope
from verifier.openid4vp import RESPONSE_MODE_QR
from wallet_api.deployment import WalletDeployment
from wallet_api.errors import WalletError, WalletErrorCode
from wallet_api.models import Credential, CredentialCopy, Presentation
from wallet_api.presentation import claim_label
from wallet_api.presentation_rows import PresentationState, history_entry, owned
from wallet_api.receiving import trust_store

__all__ = [
    "MAX_DISCLOSED",
    "delete_presentation",
    "get_presentation",
    "list_presentations",
    "list_presets",
    "record_offline",
]

MAX_DISCLOSED = 64  # as verifier.dcql's claims per query
_MAX_NAME = 200
_MAX_PATH_ELEMENT = 256
_REQUEST_HASH = re.compile(r"[0-9a-f]{64}")
_CLOCK_SKEW_SECONDS = 300  # a phone's clock ahead of ours
_OFFLINE_REPORT_DAYS = 90  # an answer reported later than this is refused as implausible


def list_presentations(deployment: WalletDeployment, account_id: str) -> list[dict[str, Any]]:
    """Newest first."""
    with session_scope(deployment.read_engine) as session:
        rows = session.exec(
            select(Presentation)
            .where(Presentation.account_id == account_id)
            .order_by(col(Presentation.created_at).desc(), col(Presentation.id))
        ).all()
    now = deployment.now()
    return [history_entry(row, now) for row in rows]


def get_presentation(
    deployment: WalletDeployment, account_id: str, presentation_id: str
) -> dict[str, Any]:
    with session_scope(deployment.read_engine) as session:
        return history_entry(owned(session, account_id, presentation_id), deployment.now())


@retrying
def delete_presentation(
    deployment: WalletDeployment, account_id: str, presentation_id: str
) -> None:
    """Forget one (one under way with it: nothing of it can be answered after)."""
    with session_scope(deployment.engine) as session:
        presentation = owned(session, account_id, presentation_id)
        session.execute(delete(Presentation).where(col(Presentation.id) == presentation.id))


def list_presets(deployment: WalletDeployment) -> list[dict[str, Any]]:
    """The registered one-way purposes of current relying parties (a counter with no screen):
    who, why, which claims, how long the counter accepts the answer."""
    store = trust_store(deployment)
    now = deployment.now()
    parties = store.trust_list.relying_parties if store.trust_list is not None else {}
    presets = []
    for party in sorted(parties.values(), key=lambda p: p.id):
        if not party.is_current(now):
            continue
        for purpose in party.purposes:
            if purpose.one_way_seconds is None:
                continue
            credentials = []
            for registered in purpose.credentials:
                credential_type = deployment.registry.by_vct(registered.vct)
                credentials.append(
                    {
                        "vct": registered.vct,
                        "credential_type": credential_type.id if credential_type else None,
                        "claims": [
                            {"path": list(path), "label": claim_label(credential_type, path)}
                            for path in registered.claims
                        ],
                    }
                )
            presets.append(
                {
                    "client_id": party.id,
                    "relying_party": {"id": party.id, "name": dict(party.names)},
                    "purpose_id": purpose.id,
                    "purpose": dict(purpose.names),
                    "one_way_seconds": purpose.one_way_seconds,
                    "credentials": credentials,
                }
            )
    return presets


def _claims_path(value: object) -> ClaimsPath:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_PATH_LENGTH:
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "a claims path is a list of 1 to 8")
    for element in value:
        is_name = isinstance(element, str) and 0 < len(element) <= _MAX_PATH_ELEMENT
        if not (is_name or (type(element) is int and element >= 0)):
            raise WalletError(
                WalletErrorCode.INVALID_REQUEST, "a concrete claims path holds names and indices"
            )
    if not isinstance(value[0], str):
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "a claims path starts with a name")
    return tuple(value)


def _names(value: Mapping[str, str]) -> dict[str, str]:
    if set(value) != {"ko", "en"} or not all(0 < len(v) <= _MAX_NAME for v in value.values()):
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "a purpose is named in ko and en")
    return dict(value)


@retrying
def record_offline(
    deployment: WalletDeployment,
    account_id: str,
    *,
    client_id: str,
    purpose: Mapping[str, str],
    copy_id: str,
    disclosed: Sequence[object],
    request_hash: str,
    answered_at: int,
) -> dict[str, Any]:
    """An answer the phone built without network: recorded as answered then, its copy used."""
    now = deployment.now()
    if not now - _OFFLINE_REPORT_DAYS * 86400 <= answered_at <= now + _CLOCK_SKEW_SECONDS:
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "answered_at is not a plausible time")
    if not _REQUEST_HASH.fullmatch(request_hash):
        raise WalletError(WalletErrorCode.INVALID_REQUEST, "request_hash is 64 hex digits")
    if len(disclosed) > MAX_DISCLOSED:
        raise WalletError(WalletErrorCode.INVALID_REQUEST, f"at most {MAX_DISCLOSED} claims")
    paths = [_claims_path(p) for p in disclosed]
    names = _names(purpose)
    store = trust_store(deployment)
    party = store.relying_party(client_id)
    if party is None:  # checked by the phone against the store it held then
        raise WalletError(WalletErrorCode.UNTRUSTED_REQUEST, "unregistered_client: not listed now")
    with session_scope(deployment.engine) as session:
        copy = session.exec(
            select(CredentialCopy).where(
                CredentialCopy.id == copy_id, CredentialCopy.account_id == account_id
            )
        ).first() if len(copy_id) <= 64 else None  # fmt: skip
        credential = session.get(Credential, copy.credential_id) if copy is not None else None
        if copy is None or credential is None:
            raise WalletError(WalletErrorCode.NOT_FOUND, "no such copy")
        # Used now if it was not already; the answer was given either way.
        session.execute(
            update(CredentialCopy)
            .where(col(CredentialCopy.id) == copy.id, col(CredentialCopy.used_at).is_(None))
            .values(used_at=answered_at)
        )
        credential_type = deployment.registry.by_vct(credential.vct)
        presentation = Presentation(
            id=uuid.uuid4().hex,
            account_id=account_id,
            created_at=answered_at,
            expires_at=answered_at,
            state=str(PresentationState.OFFLINE),
            client_id=party.id,
            relying_party_name=dict(party.names),
            purpose_name=names,
            credential_type=credential.credential_type,
            disclosed=[
                {"path": list(path), "label": claim_label(credential_type, path)} for path in paths
            ],
            request_hash=request_hash,
            response_mode=RESPONSE_MODE_QR,
            answered_at=answered_at,
        )
        session.add(presentation)
        session.flush()
        return history_entry(presentation, now)
