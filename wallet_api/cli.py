"""`jigap wallet …`: set up a wallet service deployment and run it.

``init`` writes ``{data_dir}/wallet.env`` (mode 0600) with the deployment's settings and
secrets, creates the database at this code's schema and the sealing master key, and pins the
trust anchor. ``serve`` reads that file (variables already set in the environment win), checks
that the service can serve (wallet_api.readiness) and only then runs uvicorn.
``rotate-sealing-key`` re-wraps everything sealed under a new master key while it serves.

Exit codes, the issuer's (docs/operations.md): 0 done, 1 refused (settings, a key that does not
open, a directory never initialised), 2 usage, 3 database unavailable, 4 database schema not at
this code's head.
"""

from __future__ import annotations

import logging
import os
import secrets
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated

import typer

from keys.encoding import json_dumps, json_loads_object
from keys.errors import KeyManagementError
from keys.jwk import public_key_from_jwk
from keys.store import PASSPHRASE_ENV, write_atomically
from servicekit import commands
from servicekit.commands import (
    EXIT_DATABASE_UNAVAILABLE,
    EXIT_REFUSED,
    EXIT_SCHEMA,
    ServeOptions,
    serve_uvicorn,
)
from servicekit.commands import refuse as _refuse
from servicekit.observability import LogFormat
from servicekit.public_url import public_url_problem
from verifier.trust_store import ANCHOR_FILE
from wallet_api.settings import ENV_PREFIX, Settings, SettingsError

__all__ = [
    "ENV_FILE",
    "EXIT_DATABASE_UNAVAILABLE",
    "EXIT_REFUSED",
    "EXIT_SCHEMA",
    "app",
    "init_wallet",
]

logger = logging.getLogger("jigap.wallet")
ENV_FILE = "wallet.env"

app = typer.Typer(
    help="The wallet service (accounts bound to the phone's keys).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_DataDir = commands.DataDirOption


def init_wallet(
    data_dir: Path,
    *,
    public_url: str,
    database_url: str | None = None,
    trust_list_url: str | None = None,
    anchor: Path | None = None,
) -> Settings:
    """Create a wallet deployment in ``data_dir``: settings file, database, sealing key, and
    the trust operator's anchor key pinned (``anchor``: a public JWK file) with the URL of the
    trust list it signs. An http:// trust list on a loopback host (development) lets the
    service talk to http:// issuers on loopback too; production is https only."""
    from wallet_api.db import migrate
    from wallet_api.deployment import make_deployment

    if (data_dir / ENV_FILE).exists():
        raise SettingsError(f"{data_dir} already holds a wallet deployment ({ENV_FILE})")
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        ENV_PREFIX + "PUBLIC_URL": public_url,
        ENV_PREFIX + "DATA_DIR": str(data_dir),
        ENV_PREFIX + "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'wallet.sqlite3'}",
        PASSPHRASE_ENV: os.environ.get(PASSPHRASE_ENV) or secrets.token_urlsafe(24),
        ENV_PREFIX + "HMAC_KEY": os.environ.get(ENV_PREFIX + "HMAC_KEY") or secrets.token_hex(32),
    }
    if (trust_list_url is None) != (anchor is None):
        raise SettingsError("give both the trust list's URL and its anchor key, or neither")
    if trust_list_url is not None and anchor is not None:
        problem = public_url_problem(trust_list_url, origin_only=False)
        if problem is not None:
            raise SettingsError(f"trust list URL: {problem}")
        env[ENV_PREFIX + "TRUST_LIST_URL"] = trust_list_url
        if trust_list_url.startswith("http://"):  # loopback only, as checked above
            env[ENV_PREFIX + "ALLOW_HTTP_ISSUERS"] = "1"
        anchor_jwk = _anchor_jwk(anchor)
    settings = Settings.from_env(env)
    if trust_list_url is not None:
        settings.trust_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(settings.trust_dir / ANCHOR_FILE, json_dumps(anchor_jwk), mode=0o644)
    deployment = make_deployment(settings, run_migrations=False)
    try:
        migrate(deployment.engine)
        deployment.sealer  # noqa: B018 - creates the master key that will seal credentials
    finally:
        deployment.engine.dispose()
    lines = [f"{name}={value}" for name, value in env.items()]
    write_atomically(data_dir / ENV_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    return settings


def _anchor_jwk(path: Path) -> dict[str, object]:
    """The trust operator's public key, as a JWK file: checked to be one before it is pinned."""
    try:
        jwk = json_loads_object(path.read_bytes())
        public_key_from_jwk(jwk)
    except OSError as exc:
        raise SettingsError(f"anchor key {path}: {exc.strerror}") from None
    except KeyManagementError as exc:
        raise SettingsError(f"anchor key {path}: not a public JWK ({exc.code})") from None
    if "d" in jwk:
        raise SettingsError(f"anchor key {path}: a private key; pin the public key only")
    return jwk


def _one_line_failures() -> AbstractContextManager[None]:
    """What an operator can fix becomes one line and an exit code, not a traceback."""
    return commands.one_line_failures((SettingsError, KeyManagementError))


@app.command()
def init(
    data_dir: _DataDir = Path("jigap-wallet-data"),
    public_url: commands.PublicUrlOption = "http://127.0.0.1:8100",
    database_url: commands.DatabaseUrlOption = None,
    trust_list: Annotated[
        str | None, typer.Option(help="URL of the trust list the wallet trusts issuers by")
    ] = None,
    anchor: Annotated[
        Path | None, typer.Option(help="The trust operator's public key (JWK file) to pin")
    ] = None,
) -> None:
    """Create a wallet deployment: settings and secrets, database, sealing master key, and
    the pinned trust anchor."""
    with _one_line_failures():
        init_wallet(
            data_dir,
            public_url=public_url,
            database_url=database_url,
            trust_list_url=trust_list,
            anchor=anchor,
        )
    typer.echo(f"settings and secrets: {data_dir / ENV_FILE} (mode 0600)")
    typer.echo(f"run: jigap wallet serve --data-dir {data_dir}")


@app.command()
def serve(
    data_dir: _DataDir = Path("jigap-wallet-data"),
    host: commands.HostOption = None,
    port: commands.PortOption = None,
    workers: commands.WorkersOption = 1,
    run_migrations: commands.MigrateOption = False,
    log_format: Annotated[LogFormat | None, typer.Option(help="Log lines as text or JSON")] = None,
    header_timeout: commands.HeaderTimeoutOption = 10.0,
    body_timeout: commands.BodyTimeoutOption = 30.0,
    keep_alive: commands.KeepAliveOption = 5,
    max_connections: commands.MaxConnectionsOption = 1000,
) -> None:
    """Check the service can serve, then run it with uvicorn (settings from wallet.env)."""
    import uvicorn  # noqa: F401 - first: without the server extra, that is what to say

    from wallet_api.observability import LOG_FORMAT_ENV, configure_logging

    if not (data_dir / ENV_FILE).is_file():
        raise _refuse(
            f"refused: {data_dir} is not a wallet deployment (no {ENV_FILE}): "
            f"run `jigap wallet init --data-dir {data_dir}` first"
        )
    env = {
        **commands.read_env_file(data_dir / ENV_FILE),
        **os.environ,
        ENV_PREFIX + "DATA_DIR": str(data_dir),
    }
    with _one_line_failures():
        settings = Settings.from_env(env)
    serve_uvicorn(
        factory="wallet_api.api.app:create_served_app",
        protocol="wallet_api.api.app:WalletSlowClientProtocol",
        public_url=settings.public_url,
        env=env,
        env_prefix=ENV_PREFIX,
        log_format_env=LOG_FORMAT_ENV,
        configure_logging=configure_logging,
        preflight=lambda migrate_first: _preflight(settings, run_migrations=migrate_first),
        options=ServeOptions(
            host=host,
            port=port,
            workers=workers,
            run_migrations=run_migrations,
            log_format=log_format,
            header_timeout=header_timeout,
            body_timeout=body_timeout,
            keep_alive=keep_alive,
            max_connections=max_connections,
        ),
    )


def _preflight(settings: Settings, *, run_migrations: bool) -> None:
    """Before listening: the database answers at the head (migrated when asked), the
    sealing master keys open, and the trust store, synced once now if a trust list URL is
    configured, holds a current trust list (without one no credential can be checked)."""
    from wallet_api.db import migrate, schema_state
    from wallet_api.deployment import make_deployment
    from wallet_api.readiness import check_ready, prepare_trust

    deployment = make_deployment(settings, run_migrations=False)
    try:
        with _one_line_failures():
            if run_migrations and schema_state(deployment.engine).behind:
                migrate(deployment.engine)
            check_ready(deployment, trust=False)  # a database down is said before any fetch
            prepare_trust(deployment)
    finally:
        deployment.engine.dispose()
        deployment.issuer_http.close()


def _settings(data_dir: Path) -> Settings:
    """The deployment's settings (``wallet.env``, the environment winning), or one line
    saying why there are none."""
    if not (data_dir / ENV_FILE).is_file():
        raise _refuse(
            f"refused: {data_dir} is not a wallet deployment (no {ENV_FILE}): "
            f"run `jigap wallet init --data-dir {data_dir}` first"
        )
    env = {
        **commands.read_env_file(data_dir / ENV_FILE),
        **os.environ,
        ENV_PREFIX + "DATA_DIR": str(data_dir),
    }
    with _one_line_failures():
        return Settings.from_env(env)


@app.command("rotate-sealing-key")
def rotate_sealing_key(
    data_dir: _DataDir = Path("jigap-wallet-data"),
    resume: commands.ResumeOption = False,
    keep_old: commands.KeepOldOption = False,
    batch: commands.BatchOption = 200,
    grace: commands.GraceOption = 10.0,
) -> None:
    """A new master key for what accounts hold; every sealed value re-wrapped under it while
    the service runs; the old key file deleted once no row uses it."""
    from keys.sealing import SealingKeyStore
    from servicekit.db import make_engine
    from wallet_api.db import schema_state
    from wallet_api.sealing_rotation import rotate_sealing_key as rotate

    settings = _settings(data_dir)
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    try:
        with _one_line_failures():
            state = schema_state(engine)
            if not state.at_head:
                raise _refuse(
                    f"refused: database schema at {state.current or 'nothing'}, head "
                    f"{state.head}: run `jigap wallet serve --migrate --data-dir {data_dir}` "
                    "first",
                    EXIT_SCHEMA,
                )
            store = SealingKeyStore(settings.sealing_dir, settings.key_passphrase)
            report = rotate(
                engine, store, resume=resume, keep_old=keep_old, batch=batch, grace_seconds=grace
            )
    finally:
        engine.dispose()
    typer.echo(report.summary())
