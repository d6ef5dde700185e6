"""Can this deployment serve? One check for `jigap issuer serve` (before it listens) and for
``GET /ready`` (while it runs): the database answers and its schema is at this code's
migration head, and every agency's newest signing key opens with the deployment's passphrase.

A deployment that cannot sign must not start: it would grant access tokens, then fail every
credential request, leaving citizens' offers redeemed with nothing issued.
"""

from __future__ import annotations

from enum import StrEnum

from sqlmodel import Session, select

from issuer.db import schema_state
from issuer.models import Agency
from issuer.services.deployment import Deployment
from keys.errors import KeyManagementError
from servicekit import readiness as servicekit_readiness
from servicekit.db import UNAVAILABLE, describe_unavailable

__all__ = ["NotReadyError", "Unreadiness", "check_ready"]


class Unreadiness(StrEnum):
    DATABASE_UNAVAILABLE = "database_unavailable"  # unreachable, locked, refusing connections
    SCHEMA_BEHIND = "schema_behind"  # older than this code: `jigap issuer migrate`
    SCHEMA_UNKNOWN = "schema_unknown"  # a revision this code does not know (newer code ran?)
    SIGNING_KEY = "signing_key"  # an agency's key does not open (passphrase, damaged, missing)


class NotReadyError(servicekit_readiness.NotReadyError):
    def __init__(self, reason: Unreadiness, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason: Unreadiness = reason


def check_ready(deployment: Deployment) -> dict[str, str]:
    """Each agency's signing kid; or ``NotReadyError`` naming the first thing that would stop
    issuance."""
    try:
        state = schema_state(deployment.engine)
        if not state.at_head:
            if state.behind:
                raise NotReadyError(
                    Unreadiness.SCHEMA_BEHIND,
                    f"database schema at {state.current or 'nothing'}, this code needs "
                    f"{state.head}: run `jigap issuer migrate` (or serve --migrate)",
                )
            raise NotReadyError(
                Unreadiness.SCHEMA_UNKNOWN,
                f"database schema at {state.current}, unknown to this code (head {state.head})",
            )
        with Session(deployment.read_engine) as session:
            slugs = list(session.exec(select(Agency.slug).order_by(Agency.slug)))
    except UNAVAILABLE as exc:
        raise NotReadyError(Unreadiness.DATABASE_UNAVAILABLE, describe_unavailable(exc)) from exc
    kids: dict[str, str] = {}
    for slug in slugs:
        try:
            kids[slug] = deployment.signer(slug).kid
        except KeyManagementError as exc:
            detail = f"agency {slug}: {exc.code}: {exc.detail}"
            raise NotReadyError(Unreadiness.SIGNING_KEY, detail) from exc
        except (LookupError, OSError) as exc:
            raise NotReadyError(Unreadiness.SIGNING_KEY, f"agency {slug}: {exc}") from exc
    return kids
