"""`jigap issuer …`: set up a development deployment, migrate its database, run the service.

``init`` writes ``{data_dir}/issuer.env`` (mode 0600) with the deployment's settings and
secrets, creates the database, a development trust anchor, the sample agencies with their
signing keys, and prints each agency's admin API token (shown this once, stored hashed).
``serve`` reads that file (variables already set in the environment win), checks that the
deployment can issue (issuer.readiness) and only then runs uvicorn. ``migrate`` brings the
database to this code's schema. ``rotate-sealing-key`` rotates the master key that seals
personal data at rest (issuer.sealing_rotation).

Exit codes (docs/operations.md): 0 done, 1 refused (settings, a key that does not open, a
directory never initialised), 2 usage, 3 database unavailable (unreachable or locked),
4 database schema not at this code's head.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from issuer.observability import LOG_FORMAT_ENV, configure_logging, key_event
from issuer.settings import (
    DEPRECATED_PASSPHRASE_ENV,
    ENV_PREFIX,
    PASSPHRASE_ENV,
    Settings,
    SettingsError,
)
from keys.errors import KeyManagementError
from keys.store import FileKeyStore, write_atomically
from servicekit import commands
from servicekit.commands import (
    EXIT_DATABASE_UNAVAILABLE,
    EXIT_REFUSED,
    EXIT_SCHEMA,
    ServeOptions,
    serve_uvicorn,
)
from servicekit.commands import refuse as _refuse
from servicekit.observability import LogFormat, console

__all__ = [
    "EXIT_DATABASE_UNAVAILABLE",
    "EXIT_REFUSED",
    "EXIT_SCHEMA",
    "SAMPLE_AGENCIES_FILE",
    "app",
    "init_deployment",
    "read_env_file",
    "sample_agencies",
    "sample_relying_parties",
]

logger = logging.getLogger("jigap.issuer")
ENV_FILE = "issuer.env"

# The programme's first issuers, as data (a development deployment's sample agencies).
SAMPLE_AGENCIES_FILE = Path(__file__).parent / "sample_agencies.json"
# Counters registered in a development deployment, as data; `init` makes each a key store.
SAMPLE_RELYING_PARTIES_FILE = Path(__file__).parent / "sample_relying_parties.json"
COUNTERS_DIR = "counters"
_COUNTER_VALIDITY = 3650 * 86_400


def sample_agencies() -> list[dict[str, Any]]:
    agencies: list[dict[str, Any]] = json.loads(SAMPLE_AGENCIES_FILE.read_text("utf-8"))
    return agencies


def sample_relying_parties() -> list[dict[str, Any]]:
    """The sample counters' entries without what each deployment makes: keys and validity."""
    parties: list[dict[str, Any]] = json.loads(SAMPLE_RELYING_PARTIES_FILE.read_text("utf-8"))
    return parties


app = typer.Typer(
    help="The issuer service (OID4VCI, agency admin API).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_DataDir = commands.DataDirOption


def read_env_file(data_dir: Path) -> dict[str, str]:
    """``KEY=value`` lines of ``{data_dir}/issuer.env``; blank lines and ``#`` comments skipped."""
    return commands.read_env_file(data_dir / ENV_FILE)


def _environment(data_dir: Path) -> dict[str, str]:
    return {**read_env_file(data_dir), **os.environ, ENV_PREFIX + "DATA_DIR": str(data_dir)}


def init_deployment(
    data_dir: Path, *, public_url: str, database_url: str | None = None
) -> tuple[Settings, dict[str, str]]:
    """Create a development deployment in ``data_dir``; returns its settings and tokens."""
    # The service's stack is imported only when used: `jigap` starts fast without it.
    from sqlmodel import select

    from issuer.api.app import make_deployment
    from issuer.db import migrate
    from issuer.models import Agency
    from issuer.services.admin import create_agency_token
    from servicekit.db import session_scope

    # Owner-only: the directory holds the database (citizens' pending claims) and key stores.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    env = {
        ENV_PREFIX + "PUBLIC_URL": public_url,
        ENV_PREFIX + "DATA_DIR": str(data_dir),
        ENV_PREFIX + "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'issuer.sqlite3'}",
        PASSPHRASE_ENV: os.environ.get(PASSPHRASE_ENV, secrets.token_urlsafe(24)),
        ENV_PREFIX + "HMAC_KEY": os.environ.get(ENV_PREFIX + "HMAC_KEY", secrets.token_hex(32)),
    }
    settings = Settings.from_env(env)
    # Migrated here, not by make_deployment: its start-up sealing would open an existing
    # sealing key with this run's new passphrase before the refusal below could say why.
    deployment = make_deployment(settings, run_migrations=False)
    migrate(deployment.engine)
    tokens: dict[str, str] = {}
    try:
        with session_scope(deployment.engine) as session:
            if session.exec(select(Agency)).first() is not None:
                raise SettingsError(f"{settings.database_url} already holds agencies")
            if not any(settings.anchor_dir.glob("*.json")):
                FileKeyStore(settings.anchor_dir, settings.key_passphrase).generate()
            now = int(time.time())
            for sample in sample_agencies():
                slug = sample["slug"]
                agency = Agency(
                    slug=slug,
                    name_ko=sample["name"]["ko"],
                    name_en=sample["name"]["en"],
                    credential_types=sample["credential_types"],
                    created_at=now,
                )
                session.add(agency)
                session.flush()
                deployment.key_store(slug).generate()
                tokens[slug] = create_agency_token(session, agency=agency, label="init", now=now)
            deployment.sealer  # noqa: B018 - creates the master key that seals claims at rest
        _register_sample_counters(deployment, data_dir / COUNTERS_DIR, now)
    finally:
        deployment.engine.dispose()  # its pooled connections would outlive this call
    lines = [f"{name}={value}" for name, value in env.items()]
    write_atomically(data_dir / ENV_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    return settings, tokens


def _register_sample_counters(deployment: Any, counters_dir: Path, now: int) -> None:
    """Each sample counter gets a signing key in ``counters_dir/<id>`` (under the deployment's
    passphrase, as the agencies' keys) and is registered with the trust operator."""
    from issuer.services.relying_parties import register_relying_party

    for sample in sample_relying_parties():
        store = FileKeyStore(counters_dir / sample["id"], deployment.settings.key_passphrase)
        key = store.generate()
        entry = {
            **sample,
            "jwks": {"keys": [key.public_key.to_jwk()]},
            "valid_from": now,
            "valid_until": now + _COUNTER_VALIDITY,
            "response_uris": [],
        }
        register_relying_party(deployment, entry)


def _one_line_failures() -> AbstractContextManager[None]:
    """What an operator can fix becomes one line and an exit code, not a traceback."""
    return commands.one_line_failures((SettingsError, KeyManagementError))


@app.command()
def init(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    public_url: commands.PublicUrlOption = "http://127.0.0.1:8000",
    database_url: commands.DatabaseUrlOption = None,
) -> None:
    """Create a development deployment: database, trust anchor, sample agencies, tokens, and
    sample counters registered to ask for certificates (their keys under DIR/counters/)."""
    with _one_line_failures():
        settings, tokens = init_deployment(
            data_dir, public_url=public_url, database_url=database_url
        )
    table = Table(title="Agencies")
    table.add_column("agency")
    table.add_column("issuer identifier", overflow="fold")
    for slug in tokens:
        table.add_row(slug, escape(settings.issuer_id(slug)))
    console().print(table)
    # Plain lines, not table cells: a token shown once must never be cut to the terminal width.
    typer.echo("Admin API tokens (shown once; stored only hashed):")
    for slug, token in tokens.items():
        typer.echo(f"  {slug}: {token}")
    counters = ", ".join(party["id"] for party in sample_relying_parties())
    typer.echo(f"counters registered, their keys in {data_dir / COUNTERS_DIR}/: {counters}")
    typer.echo(f"settings and secrets: {data_dir / ENV_FILE} (mode 0600)")
    typer.echo(f"run: jigap issuer serve --data-dir {data_dir}")


def _settings(data_dir: Path) -> tuple[Settings, dict[str, str]]:
    """The deployment's settings, or one line saying why there are none."""
    if not (data_dir / ENV_FILE).is_file() and not (data_dir / "keys").is_dir():
        raise _refuse(
            f"refused: {data_dir} is not an issuer deployment (no {ENV_FILE}): "
            f"run `jigap issuer init --data-dir {data_dir}` first"
        )
    env = _environment(data_dir)
    if env.get(DEPRECATED_PASSPHRASE_ENV) and not env.get(PASSPHRASE_ENV):
        typer.echo(
            f"warning: {DEPRECATED_PASSPHRASE_ENV} is deprecated: name it {PASSPHRASE_ENV}",
            err=True,
        )
    with _one_line_failures():
        return Settings.from_env(env), env


@app.command()
def migrate(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    check: Annotated[
        bool, typer.Option("--check", help="Change nothing; exit 4 if behind the head")
    ] = False,
) -> None:
    """Bring the database's schema to this code's newest migration (Alembic)."""
    from issuer.db import migrate as upgrade
    from issuer.db import schema_state
    from servicekit.db import make_engine

    settings, _ = _settings(data_dir)
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    try:
        with _one_line_failures():
            before = schema_state(engine)
            if not before.at_head and not before.behind:
                raise _refuse(
                    f"refused: database schema at {before.current}, unknown to this code "
                    f"(head {before.head}): run the newer code's migrate",
                    EXIT_SCHEMA,
                )
            if check:
                if not before.at_head:
                    raise _refuse(
                        f"database schema at {before.current or 'nothing'}, head {before.head}",
                        EXIT_SCHEMA,
                    )
                typer.echo(f"database schema at the head ({before.head})")
                return
            upgrade(engine)
    finally:
        engine.dispose()
    if before.at_head:
        typer.echo(f"database schema already at the head ({before.head})")
    else:
        typer.echo(f"database schema migrated from {before.current or 'nothing'} to {before.head}")


@app.command()
def serve(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    host: commands.HostOption = None,
    port: commands.PortOption = None,
    workers: commands.WorkersOption = 1,
    run_migrations: commands.MigrateOption = False,
    log_format: Annotated[
        LogFormat | None,
        typer.Option(help=f"Log lines as text or JSON [env {LOG_FORMAT_ENV}; default text]"),
    ] = None,
    header_timeout: commands.HeaderTimeoutOption = 10.0,
    body_timeout: commands.BodyTimeoutOption = 30.0,
    keep_alive: commands.KeepAliveOption = 5,
    max_connections: commands.MaxConnectionsOption = 1000,
) -> None:
    """Check the deployment can issue, then run it with uvicorn (settings from issuer.env)."""
    # First: without the server extra, that is what to say (jigap_cli names the extra).
    import uvicorn  # noqa: F401

    settings, env = _settings(data_dir)
    serve_uvicorn(
        factory="issuer.api.app:create_served_app",
        protocol="issuer.api.app:IssuerSlowClientProtocol",
        public_url=settings.public_url,
        env=env,
        env_prefix=ENV_PREFIX,
        log_format_env=LOG_FORMAT_ENV,
        # ours (issuer.observability): text or JSON lines, no raw paths
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
    """Before listening (and before forking workers): the database answers, at the head (or
    migrated to it when asked), and every agency's signing key opens."""
    from issuer.api.app import make_deployment
    from issuer.db import migrate as upgrade
    from issuer.db import schema_state
    from issuer.readiness import check_ready
    from issuer.services.offers import seal_legacy_claims

    deployment = make_deployment(settings, run_migrations=False)
    try:
        with _one_line_failures():
            state = schema_state(deployment.engine)
            if run_migrations and state.behind:
                upgrade(deployment.engine)
                logger.info(
                    "database schema migrated",
                    extra={"event": "schema_migrated", "from": state.current, "to": state.head},
                )
            kids = check_ready(deployment)
            # Opens the sealing keys (a wrong passphrase stops here too) and seals the plain
            # claims of offers written before migration 0003, once, before any worker runs.
            seal_legacy_claims(deployment)
        for slug, kid in kids.items():
            key_event("ready", kid=kid, store=slug)
    finally:
        deployment.engine.dispose()


@app.command("rotate-sealing-key")
def rotate_sealing_key(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    resume: commands.ResumeOption = False,
    keep_old: commands.KeepOldOption = False,
    batch: commands.BatchOption = 200,
    grace: commands.GraceOption = 10.0,
) -> None:
    """A new master key for personal data at rest; every sealed value re-wrapped under it
    while the service runs; the old key file deleted once no row uses it."""
    from issuer.db import schema_state
    from issuer.sealing_rotation import rotate_sealing_key as rotate
    from issuer.services.deployment import SEALING_KEYS
    from keys.sealing import SealingKeyStore
    from servicekit.db import make_engine

    settings, _ = _settings(data_dir)
    engine = make_engine(settings.database_url, busy_seconds=settings.database_busy_seconds)
    try:
        with _one_line_failures():
            state = schema_state(engine)
            if not state.at_head:
                raise _refuse(
                    f"refused: database schema at {state.current or 'nothing'}, head "
                    f"{state.head}: run `jigap issuer migrate` first",
                    EXIT_SCHEMA,
                )
            store = SealingKeyStore(settings.keys_dir / SEALING_KEYS, settings.key_passphrase)
            report = rotate(
                engine, store, resume=resume, keep_old=keep_old, batch=batch, grace_seconds=grace
            )
    finally:
        engine.dispose()
    typer.echo(report.summary())


relying_party_app = typer.Typer(
    help="Register the counters (relying parties) the trust list names.", no_args_is_help=True
)
app.add_typer(relying_party_app, name="relying-party")


def _registry_deployment(data_dir: Path) -> Any:
    """The deployment, its schema at the head: what registering a counter writes into."""
    from issuer.api.app import make_deployment
    from issuer.db import schema_state

    settings, _ = _settings(data_dir)
    deployment = make_deployment(settings, run_migrations=False)
    with _one_line_failures():
        state = schema_state(deployment.engine)
    if not state.at_head:
        deployment.engine.dispose()
        raise _refuse(
            f"refused: database schema at {state.current or 'nothing'}, head {state.head}: "
            "run `jigap issuer migrate` first",
            EXIT_SCHEMA,
        )
    return deployment


@relying_party_app.command("add")
def add_relying_party(
    entry_file: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="The counter's entry (JSON)")
    ],
    data_dir: _DataDir = Path("jigap-issuer-data"),
) -> None:
    """Register a counter (or replace its registration); the next trust list names it."""
    from issuer.services.relying_parties import register_relying_party
    from keys.encoding import json_loads

    deployment = _registry_deployment(data_dir)
    try:
        with _one_line_failures():
            party = register_relying_party(deployment, json_loads(entry_file.read_bytes()))
    finally:
        deployment.engine.dispose()
    purposes = ", ".join(p.id for p in party.purposes)
    typer.echo(f"registered {party.id} ({party.names['en']}): {purposes}")


@relying_party_app.command("list")
def list_relying_parties(data_dir: _DataDir = Path("jigap-issuer-data")) -> None:
    """The registered counters and what each may ask for."""
    from issuer.services.relying_parties import registered_relying_parties
    from servicekit.db import session_scope

    deployment = _registry_deployment(data_dir)
    try:
        with _one_line_failures(), session_scope(deployment.read_engine) as session:
            parties = registered_relying_parties(session)
    finally:
        deployment.engine.dispose()
    for party in parties.values():
        typer.echo(f"{party.id} ({party.names['en']}), {len(party.jwks.keys)} keys")
        for purpose in party.purposes:
            asked = "; ".join(
                f"{c.vct}: " + ", ".join(".".join(map(str, p)) for p in c.claims)
                for c in purpose.credentials
            )
            one_way = f", one-way {purpose.one_way_seconds} s" if purpose.one_way_seconds else ""
            typer.echo(f"  {purpose.id} ({purpose.names['en']}{one_way}): {asked}")


@relying_party_app.command("remove")
def remove_relying_party(
    client_id: Annotated[str, typer.Argument(help="The counter's id")],
    data_dir: _DataDir = Path("jigap-issuer-data"),
) -> None:
    """Withdraw a counter: the next trust list no longer names it."""
    from issuer.services.relying_parties import remove_relying_party as remove

    deployment = _registry_deployment(data_dir)
    try:
        with _one_line_failures():
            removed = remove(deployment, client_id)
    finally:
        deployment.engine.dispose()
    if not removed:
        raise _refuse(f"refused: {client_id} is not registered")
    typer.echo(f"removed {client_id}")
