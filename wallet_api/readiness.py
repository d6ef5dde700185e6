"""Can the wallet service serve? One check for `jigap wallet serve` (before it listens) and
for ``GET /ready``: the database answers at this code's migration head, the sealing master
keys open with the deployment's passphrase, and a current trust list is held (without one the
service cannot check any credential, so it accepts none and judges no status).

At start, ``prepare_trust`` first syncs the trust store once when a trust list URL is
configured; a failed sync still starts a service that holds a list from before (it is the
last word until the next sync), and refuses one that holds nothing, giving the sync's failure
as the reason.
"""

from __future__ import annotations

from enum import StrEnum

from keys.errors import KeyManagementError
from servicekit import readiness as servicekit_readiness
from servicekit.db import UNAVAILABLE, describe_unavailable
from wallet_api.db import schema_state
from wallet_api.deployment import WalletDeployment
from wallet_api.trust import TrustUnavailableError

__all__ = ["NotReadyError", "Unreadiness", "check_ready", "check_trust", "prepare_trust"]


class Unreadiness(StrEnum):
    DATABASE_UNAVAILABLE = "database_unavailable"
    SCHEMA_BEHIND = "schema_behind"  # older than this code: `jigap wallet serve --migrate`
    SCHEMA_UNKNOWN = "schema_unknown"  # a revision this code does not know
    SEALING_KEY = "sealing_key"  # the master keys do not open (passphrase, damaged)
    TRUST_UNAVAILABLE = "trust_unavailable"  # no current trust list held: nothing can be checked


class NotReadyError(servicekit_readiness.NotReadyError):
    def __init__(self, reason: Unreadiness, detail: str) -> None:
        super().__init__(reason, detail)
        self.reason: Unreadiness = reason


def check_ready(deployment: WalletDeployment, *, trust: bool = True) -> None:
    """Nothing, or ``NotReadyError`` naming the first thing that stops the service;
    ``trust=False`` leaves the trust store out (`serve` checks it after syncing)."""
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
    if trust:
        check_trust(deployment)


def check_trust(deployment: WalletDeployment) -> None:
    """``NotReadyError`` unless the trust store holds a trust list that has not expired.
    Reads what is held (from disk the first time); never fetches."""
    try:
        store = deployment.trust.store()
    except TrustUnavailableError as exc:
        detail = str(exc)
        if deployment.settings.trust_list_url is None:
            detail += (
                "; no trust list URL is configured "
                "(`jigap wallet init --trust-list URL --anchor FILE`)"
            )
        raise NotReadyError(Unreadiness.TRUST_UNAVAILABLE, detail) from exc
    held = store.trust_list
    if held is not None and deployment.now() >= held.expires_at:
        raise NotReadyError(
            Unreadiness.TRUST_UNAVAILABLE,
            f"the trust list held (sequence {held.sequence}) expired at {held.expires_at}",
        )


def prepare_trust(deployment: WalletDeployment) -> None:
    """At start: sync the trust store once if a trust list URL is configured, then
    ``check_trust``. With nothing held, the reason given is the sync's own failure."""
    failure: TrustUnavailableError | None = None
    if deployment.settings.trust_list_url is not None:
        try:
            deployment.trust.refresh(force=True)
        except TrustUnavailableError as exc:  # refresh() logged it; what is held decides
            failure = exc
    try:
        check_trust(deployment)
    except NotReadyError:
        if failure is None:
            raise
        why = failure.__cause__ or failure  # the sync's own error
        raise NotReadyError(
            Unreadiness.TRUST_UNAVAILABLE,
            f"no current trust list held: the sync at start failed: {why}",
        ) from failure
