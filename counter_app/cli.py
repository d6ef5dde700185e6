"""`jigap counter serve`: the counter app on this laptop, for the clerk's browser.

It refuses to start, in one line, when it could not check anything: no current trust list
(and no source to sync one from), a trust list that does not register this counter, or a key
that is not the counter's. Without a key store it offers the one-way presets only.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from keys.errors import KeyManagementError
from keys.jwk import Signer
from keys.store import PASSPHRASE_ENV, FileKeyStore, KeyStatus
from servicekit.observability import LogFormat

if TYPE_CHECKING:
    from counter_app.desk import Desk

app = typer.Typer(help="The counter app: check certificates with a webcam.", no_args_is_help=True)

DEFAULT_TRUST_DIR = os.environ.get("JIGAP_TRUST_DIR", "jigap-trust")
DEFAULT_PORT = 8600
LOG_FORMAT_ENV = "JIGAP_COUNTER_LOG_FORMAT"
LOG_FIELDS = ("event", "request_id", "method", "route", "status", "duration_ms", "reason")
LOG_FILE = "counter-log.jsonl"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
EXIT_REFUSED = 1


def _refuse(line: str) -> typer.Exit:
    sys.stderr.write(" ".join(line.split()) + "\n")
    return typer.Exit(EXIT_REFUSED)


@app.command()
def serve(
    client_id: Annotated[str, typer.Option(help="This counter's registered id (client_id)")],
    trust: Annotated[Path, typer.Option(help="Trust store directory (jigap verify sync)")] = Path(
        DEFAULT_TRUST_DIR
    ),
    key_store: Annotated[
        Path | None,
        typer.Option(file_okay=False, help="Key store of the counter's key (two-way requests)"),
    ] = None,
    kid: Annotated[
        str | None, typer.Option(help="The key's id (default: the store's registered key)")
    ] = None,
    host: Annotated[str, typer.Option(help="Loopback address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free)")] = DEFAULT_PORT,
    sync_from: Annotated[
        list[str] | None,
        typer.Option(help="Trust list URL for 'sync now' (default: the last sync's sources)"),
    ] = None,
    log: Annotated[
        Path | None, typer.Option(dir_okay=False, help=f"Counter log (default: TRUST/{LOG_FILE})")
    ] = None,
    max_status_age: Annotated[
        int, typer.Option(min=60, help="Seconds a status list is fresh for")
    ] = 86_400,
    request_lifetime: Annotated[
        int, typer.Option(min=30, max=600, help="Seconds a request may be answered in")
    ] = 300,
    log_format: Annotated[LogFormat | None, typer.Option(help="Log lines as text or JSON")] = None,
) -> None:
    """Serve the counter page on loopback; open the printed address in the browser."""
    import uvicorn  # first: without the counter extra, that is what to say

    from counter_app.app import create_app
    from counter_app.counter_log import CounterLog
    from counter_app.desk import Desk, DeskError
    from credential_schemas import Registry
    from servicekit.observability import configure_logging
    from verifier.policy import Policy
    from verifier.sync import remembered_sources

    if host not in _LOOPBACK:
        raise _refuse(f"refused: --host {host}: the counter app listens on loopback only")
    configure_logging(log_format, format_env=LOG_FORMAT_ENV, fields=LOG_FIELDS)
    sources = list(sync_from or remembered_sources(trust))
    signer = _signer(key_store, kid, client_id, trust) if key_store is not None else None
    desk = Desk(
        trust_dir=trust,
        client_id=client_id,
        signer=signer,
        log=CounterLog(log or trust / LOG_FILE),
        registry=Registry.load(),
        policy=Policy(max_status_age=max_status_age),
        sync_sources=sources,
        request_lifetime=request_lifetime,
    )
    try:
        _preflight(desk)
    except DeskError as exc:
        hint = "" if sources else f"; sync first: jigap verify sync TRUST_LIST_URL --into {trust}"
        raise _refuse(f"refused: {exc.code}: {exc.detail}{hint}") from None
    listening = socket.create_server((host, port), family=_family(host))
    address, bound_port = listening.getsockname()[:2]
    shown = f"[{address}]" if ":" in address else address
    mode = "two-way requests and one-way presets" if signer else "one-way presets only (no key)"
    sys.stderr.write(
        f"counter app of {client_id} ({mode}): http://{shown}:{bound_port}/ (Ctrl-C stops)\n"
    )
    config = uvicorn.Config(create_app(desk), log_config=None)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how a clerk closes it: exit 0
        uvicorn.Server(config).run(sockets=[listening])


def _preflight(desk: Desk) -> None:
    """The desk can check: a current trust list registers it (synced once more if it has a
    source and no usable list), and its key is one the registration names."""
    from counter_app.desk import DeskError, DeskErrorCode

    try:
        desk.registration()
    except DeskError:
        if not desk.sync_sources:
            raise
        desk.sync_now()  # an expired list, say: one sync may mend it
    party = desk.registration()
    if desk.signer is not None and party.jwks.get(desk.signer.kid) is None:
        raise DeskError(
            DeskErrorCode.NOT_REGISTERED, f"key {desk.signer.kid} is not one {party.id} registered"
        )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _signer(key_store: Path, kid: str | None, client_id: str, trust: Path) -> Signer:
    """The counter's signing key, unlocked with JIGAP_KEY_PASSPHRASE or a hidden prompt."""
    if not key_store.is_dir():
        raise _refuse(f"refused: --key-store {key_store}: no such directory")
    passphrase = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
        "Key store passphrase", hide_input=True, err=True
    )
    try:
        store = FileKeyStore(key_store, passphrase)
        if kid is None:
            registered = _registered_kids(trust, client_id)
            active = [
                info.kid
                for info in store.list_keys()
                if info.status is KeyStatus.ACTIVE and (not registered or info.kid in registered)
            ]
            if len(active) != 1:
                raise _refuse(f"refused: --key-store {key_store}: name the key with --kid")
            kid = active[0]
        return store.signer(kid)
    except KeyManagementError as exc:
        raise _refuse(f"refused: --key-store {key_store}: {exc.code}: {exc.detail}") from None


def _registered_kids(trust: Path, client_id: str) -> frozenset[str]:
    from verifier.trust_store import TrustStore

    try:
        party = TrustStore.load(trust, now=int(time.time())).relying_party(client_id)
    except Exception:
        return frozenset()
    return frozenset(party.jwks.keys) if party is not None else frozenset()
