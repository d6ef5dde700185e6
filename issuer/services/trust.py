"""What the deployment publishes for verifiers: each agency's JWKS and the signed trust list.

A retired key stays published while a credential it signed is unexpired, so that rotation
(`jigap keys rotate`) never strands a citizen's credential; after that it drops out.

The trust list belongs to the trust operator. In a development deployment the operator's
anchor key sits in ``{data_dir}/anchor`` and the service signs the list itself whenever its
content changes (a new agency, a new or dropped key), with a sequence number the database
hands out, so that verifiers' rollback protection sees a strictly growing series.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from issuer.models import Agency, IssuedCredential, TrustListPublication
from issuer.services.deployment import Deployment
from issuer.services.issuance import agency_by_slug
from issuer.services.status_lists import status_list_ids, status_list_uri
from keys.jwk import Jwks, PublicKey
from keys.relying_party import RelyingParty
from keys.store import KeyStatus
from keys.trust_list import TrustedIssuer, TrustList, check_trust_list, sign_trust_list
from servicekit.db import session_scope

__all__ = [
    "TRUST_OPERATOR",
    "agency_jwks",
    "check_publishable",
    "current_trust_list",
    "published_keys",
    "status_list_aggregation",
    "status_list_aggregation_uri",
]

TRUST_OPERATOR = "jigap development trust operator"
_SECONDS_PER_DAY = 86_400
_ISSUER_VALIDITY_DAYS = 3650


def published_keys(session: Session, deployment: Deployment, agency: Agency) -> list[PublicKey]:
    """Active keys, and retired keys that still sign unexpired credentials."""
    assert agency.id is not None  # noqa: S101 - a stored agency
    now = deployment.now()
    return [
        info.public_key
        for info in deployment.key_store(agency.slug).list_keys()
        if info.status is KeyStatus.ACTIVE
        or session.exec(unexpired_credential_signed_by(agency.id, info.kid, now)).first()
        is not None
    ]


def unexpired_credential_signed_by(
    agency_id: int, kid: str, now: int
) -> SelectOfScalar[int | None]:
    """One credential of the agency's that ``kid`` signed and that is still valid, if any:
    one seek in ix_issuedcredential_key_expiry, however many credentials the agency has."""
    return (
        select(col(IssuedCredential.id))
        .where(
            IssuedCredential.agency_id == agency_id,
            IssuedCredential.signing_kid == kid,
            IssuedCredential.expires_at > now,
        )
        .limit(1)
    )


def agency_jwks(session: Session, deployment: Deployment, agency: Agency) -> Jwks:
    return Jwks.of(*published_keys(session, deployment, agency))


def status_list_aggregation_uri(deployment: Deployment, slug: str) -> str:
    """Where agency ``slug`` lists its status lists, named in its issuer metadata."""
    return f"{deployment.issuer_id(slug)}/status-lists"


def status_list_aggregation(deployment: Deployment, *, slug: str) -> list[str] | None:
    """The URIs of every status list of agency ``slug`` (None: no such agency).

    List ids are global, so without this a verifier cannot find an agency's lists before it
    meets a credential that names one (Token Status List draft 20, "Status List Aggregation").
    """
    with session_scope(deployment.read_engine) as session:
        agency = agency_by_slug(session, slug)
        if agency is None or agency.id is None:
            return None
        ids = status_list_ids(session, agency_id=agency.id)
    return [status_list_uri(deployment, slug, list_id) for list_id in ids]


def check_publishable(
    session: Session, deployment: Deployment, relying_parties: Mapping[str, RelyingParty]
) -> None:
    """Raise ``TrustListError`` unless a list naming ``relying_parties`` could be published."""
    draft = _trust_list_content(session, deployment, sequence=0)
    check_trust_list(dataclasses.replace(draft, relying_parties=dict(relying_parties)))


def _trust_list_content(session: Session, deployment: Deployment, sequence: int) -> TrustList:
    # Imported here: relying_parties checks its entries against this module's draft list.
    from issuer.services.relying_parties import registered_relying_parties

    now = deployment.now()
    issuers = {}
    for agency in session.exec(select(Agency).order_by(col(Agency.slug))):
        issuer_id = deployment.issuer_id(agency.slug)
        vcts = frozenset(deployment.registry.get(t).vct for t in agency.credential_types)
        issuers[issuer_id] = TrustedIssuer(
            id=issuer_id,
            names={"ko": agency.name_ko, "en": agency.name_en},
            jwks=agency_jwks(session, deployment, agency),
            credential_types=vcts,
            valid_from=agency.created_at,
            valid_until=agency.created_at + _ISSUER_VALIDITY_DAYS * _SECONDS_PER_DAY,
        )
    return TrustList(
        operator=TRUST_OPERATOR,
        sequence=sequence,
        issued_at=now,
        expires_at=now + deployment.settings.trust_list_days * _SECONDS_PER_DAY,
        issuers=issuers,
        relying_parties=registered_relying_parties(session),
    )


def current_trust_list(deployment: Deployment) -> str | None:
    """The signed trust list; re-signed when its content changed or half its life is gone.

    Read in a read-only transaction (on SQLite it waits for no writer and holds none up); a
    new publication is stored in a short transaction of its own.
    """
    if not deployment.settings.anchor_dir.is_dir():
        return None
    now = deployment.now()
    with session_scope(deployment.read_engine) as session:
        latest = session.exec(
            select(TrustListPublication)
            .order_by(col(TrustListPublication.sequence).desc())
            .limit(1)
        ).first()
        draft = _trust_list_content(session, deployment, sequence=0)
    half_life = (draft.expires_at - draft.issued_at) // 2
    if (
        latest is not None
        and latest.digest == _content_digest(draft)
        and now < latest.expires_at - half_life
    ):
        return latest.token
    anchor = deployment.anchor_signer()
    if anchor is None:
        return None
    next_sequence = (latest.sequence if latest is not None else 0) + 1
    trust_list = dataclasses.replace(draft, sequence=next_sequence)
    token = sign_trust_list(trust_list, anchor)
    try:
        with session_scope(deployment.engine) as session:
            session.add(
                TrustListPublication(
                    sequence=next_sequence,
                    digest=_content_digest(trust_list),
                    token=token,
                    issued_at=trust_list.issued_at,
                    expires_at=trust_list.expires_at,
                )
            )
    except IntegrityError:
        # Another request or process published this sequence first: serve theirs.
        with session_scope(deployment.read_engine) as session:
            theirs = session.get(TrustListPublication, next_sequence)
            return theirs.token if theirs is not None else None
    return token


def _content_digest(trust_list: TrustList) -> str:
    """The digest of what the list says, without its sequence and times."""
    return dataclasses.replace(trust_list, sequence=0, issued_at=0, expires_at=1).digest
