"""Status lists (IETF Token Status List, draft 20): slots for new credentials, status
changes, and the signed ``statuslist+jwt`` each agency publishes.

A slot is a random index in the agency's current list. Uniqueness is the database's job
(``uq_status_slot``): a clash, even with another process, fails the INSERT inside a
savepoint and we draw again. Slots are never freed, so an index is never reused. When
random draws keep clashing and the list is at least half used, a new list is opened.

Herd privacy: whoever fetches a list learns only that a credential is one of those it holds,
so a list must not be opened beside another that is far from full. Opening one is serialised
per agency: the opener locks the agency's row (PostgreSQL; SQLite admits one writer anyway)
and looks again for a list opened meanwhile, so first issuances racing each other share one.
Every published list has all of its ``size`` entries, used or not.

Every status change bumps the list's ``version`` in the same transaction; the published
token is rebuilt on the next fetch whose cached token is older than that version, so a
revocation is visible at once to anyone fetching, and to caches within ``ttl``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from issuer import observability as observe
from issuer.models import Agency, IssuedCredential, StatusListRecord
from issuer.services.deployment import Deployment
from issuer.tokens import token_hash
from keys.encoding import b64url_decode, json_loads_object
from keys.jws import KID
from servicekit.db import retrying, session_scope
from verifier.status_list import StatusList, StatusValue, build_status_list_token

__all__ = [
    "PublishedStatusList",
    "allocate_credential_slot",
    "published_status_list",
    "set_credential_status",
    "status_list_ids",
    "status_list_uri",
]

# Draws that clash before we open a new list. At load factor a, a draw clashes with
# probability a; eight clashes in a row happen before a = 0.5 about once in 256.
_DRAWS_PER_LIST = 8
# A streak of clashes below this share of slots used is bad luck (at a half, eight in a row
# come once in 256 draws), not a full list: keep drawing in it.
_FULL_ENOUGH = 0.5


def status_list_uri(deployment: Deployment, slug: str, list_id: int) -> str:
    return f"{deployment.issuer_id(slug)}/status-lists/{list_id}"


def allocate_credential_slot(
    session: Session, deployment: Deployment, *, agency: Agency, credential: IssuedCredential
) -> IssuedCredential:
    """Give ``credential`` a fresh random slot and insert it; returns it with its slot."""
    assert agency.id is not None  # noqa: S101 - agencies come from the database
    status_list = _newest_list(session, agency.id) or _open_list(
        session, deployment, agency.id, full=None
    )
    while True:
        for _ in range(_DRAWS_PER_LIST):
            credential.status_list_id = status_list.id  # type: ignore[assignment]
            credential.status_index = secrets.randbelow(status_list.size)
            try:
                with session.begin_nested():
                    session.add(credential)
                    session.flush()
            except IntegrityError:
                continue  # the savepoint's rollback made `credential` transient again
            return credential
        if _used_share(session, status_list) >= _FULL_ENOUGH:
            status_list = _open_list(session, deployment, agency.id, full=status_list)


def _newest_list(session: Session, agency_id: int) -> StatusListRecord | None:
    return session.exec(
        select(StatusListRecord)
        .where(StatusListRecord.agency_id == agency_id)
        .order_by(col(StatusListRecord.id).desc())
        .limit(1)
    ).first()


def _used_share(session: Session, status_list: StatusListRecord) -> float:
    used = session.exec(
        select(func.count()).where(IssuedCredential.status_list_id == status_list.id)
    ).one()
    return used / status_list.size


def _open_list(
    session: Session, deployment: Deployment, agency_id: int, *, full: StatusListRecord | None
) -> StatusListRecord:
    """A list after ``full`` (None: the agency's first), unless another transaction opened
    it first: then that one."""
    # Held to the end of the transaction: a second opener waits here, then finds this list.
    # FOR NO KEY UPDATE does not hold up the inserts that merely refer to the agency.
    session.get(Agency, agency_id, with_for_update={"key_share": True}, populate_existing=True)
    newest = _newest_list(session, agency_id)
    if newest is not None and (full is None or newest.id != full.id):
        return newest
    record = StatusListRecord(
        agency_id=agency_id, size=deployment.settings.status_list_size, created_at=deployment.now()
    )
    session.add(record)
    session.flush()
    return record


def set_credential_status(
    session: Session, *, credential: IssuedCredential, status: StatusValue, now: int
) -> None:
    """Change one credential's status and mark its list for re-publication."""
    credential.status = int(status)
    credential.status_changed_at = now
    session.add(credential)
    session.exec(
        update(StatusListRecord)
        .where(col(StatusListRecord.id) == credential.status_list_id)
        .values(version=StatusListRecord.version + 1)
    )


def _signing_kid(token: str) -> object:
    return json_loads_object(b64url_decode(token.split(".", 1)[0])).get(KID)


@dataclass(frozen=True, slots=True)
class PublishedStatusList:
    token: str
    issued_at: int
    ttl: int

    @property
    def etag(self) -> str:
        return '"' + token_hash(self.token)[:32] + '"'

    def max_age(self, now: int) -> int:
        """Seconds an HTTP cache may keep this token: what is left of its ``ttl``."""
        return max(0, self.issued_at + self.ttl - now)


@retrying
def published_status_list(
    deployment: Deployment, *, slug: str, list_id: int
) -> PublishedStatusList | None:
    """Agency ``slug``'s list ``list_id`` as a signed token: cached, or rebuilt if stale.

    Read in a read-only transaction, which on SQLite waits for no writer and holds none up
    (verifiers fetch often). A stale token is rebuilt outside any transaction and stored in a
    short one, only if no status changed meanwhile; otherwise the next fetch rebuilds again.
    """
    now, ttl = deployment.now(), deployment.settings.status_list_ttl_seconds
    with session_scope(deployment.read_engine) as session:
        record = session.get(StatusListRecord, list_id)
        agency = session.get(Agency, record.agency_id) if record is not None else None
        if record is None or agency is None or agency.slug != slug:
            return None
        if (
            record.token is not None
            and record.token_version == record.version
            and record.token_issued_at is not None
            and now < record.token_issued_at + ttl
            # After a key rotation, re-sign with the new key: the old one may soon leave the
            # JWKS.
            and _signing_kid(record.token) == deployment.signer(slug).kid
        ):
            return PublishedStatusList(record.token, record.token_issued_at, ttl)
        # The version and the statuses come from one snapshot.
        version, status_list = record.version, StatusList(record.size, record.bits)
        changed = session.exec(
            select(IssuedCredential.status_index, IssuedCredential.status).where(
                IssuedCredential.status_list_id == list_id, IssuedCredential.status != 0
            )
        )
        for index, status in changed:
            status_list.set(index, status)
    token = build_status_list_token(
        status_list,
        status_list_uri(deployment, slug, list_id),
        deployment.signer(slug),
        now=now,
        ttl=ttl,
    )
    with session_scope(deployment.engine) as session:
        session.exec(
            update(StatusListRecord)
            .where(col(StatusListRecord.id) == list_id, col(StatusListRecord.version) == version)
            .values(token=token, token_version=version, token_issued_at=now)
        )
    observe.status_list_signed(slug, list_id)
    return PublishedStatusList(token, now, ttl)


def status_list_ids(session: Session, *, agency_id: int) -> list[int]:
    rows = session.exec(
        select(StatusListRecord.id)
        .where(StatusListRecord.agency_id == agency_id)
        .order_by(col(StatusListRecord.id))
    )
    return [row for row in rows if row is not None]
