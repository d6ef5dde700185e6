"""Can the wallet service serve? One check for `jigap wallet serve` (before it listens) and
for ``GET /ready``: the database answers at this code's migration head, and the sealing master
keys open with the deployment's passphrase."""

from __future__ import annotations

from enum import StrEnum

from keys.errors import KeyManagementError
from servicekit import readiness as servicekit_readiness
from servicekit.db import UNAVAILABLE, describe_unavailable
from wallet_api.db import schema_state
from wallet_api.deployment import WalletDeployment

__all__ = ["NotReadyError", "Unreadiness", "check_ready"]


class Unreadiness(StrEnum):
    DATABASE_UNAVAILABLE = "database_unavailable"
    SCHEMA_BEHIND = "schema_behind"  # older than this code: `jigap wallet serve --migrate`
    SCHEMA_UNKNOWN = "schema_unknown"  # a revision this code does not know
    SEALING_KEY = "sealing_key"  # the master keys do not open (passphrase, damaged)


class NotReadyError(servicekit_readiness.NotReadyError):
    def __init__(self, reason: Unreadiness, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason: Unreadiness = reason


def check_ready(deployment: WalletDeployment) -> None:
    """Nothing, or ``NotReadyError`` naming the first thing that stops the service."""
    try:
        state = schema_state(deployment.engine)
    except UNAVAILABLE as exc:
        raise NotReadyError(Unreadiness.DATABASE_UNAVAILABLE, describe_unavailable(exc)) from exc
    if not state.at_head:
        if state.behind:
            raise NotReadyError(
                Unreadiness.SCHEMA_BEHIND,
                f"database schema at {state.current or 'nothing'}, this code needs "
                f"{state.head}: run `jigap wallet serve --migrate`",
            )
        raise NotReadyError(
            Unreadiness.SCHEMA_UNKNOWN,
            f"database schema at {state.current}, unknown to this code (head {state.head})",
        )
    try:
        deployment.sealer  # noqa: B018 - opens the master keys
    except KeyManagementError as exc:
        raise NotReadyError(Unreadiness.SEALING_KEY, f"{exc.code}: {exc.detail}") from exc
