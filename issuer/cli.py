"""`jigap issuer …`: set up a development deployment, and run the service.

``init`` writes ``{data_dir}/issuer.env`` (mode 0600) with the deployment's settings and
secrets, creates the database, a development trust anchor, the sample agencies with their
signing keys, and prints each agency's admin API token (shown this once, stored hashed).
``serve`` reads that file (variables already set in the environment win) and runs uvicorn.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from issuer.settings import ENV_PREFIX, Settings, SettingsError
from keys.store import FileKeyStore, write_atomically

__all__ = ["SAMPLE_AGENCIES_FILE", "app", "init_deployment", "read_env_file", "sample_agencies"]

ENV_FILE = "issuer.env"
EXIT_REFUSED = 1

# The programme's first issuers, as data (a development deployment's sample agencies).
SAMPLE_AGENCIES_FILE = Path(__file__).parent / "sample_agencies.json"


def sample_agencies() -> list[dict[str, Any]]:
    agencies: list[dict[str, Any]] = json.loads(SAMPLE_AGENCIES_FILE.read_text("utf-8"))
    return agencies


app = typer.Typer(help="The issuer service (OID4VCI, agency admin API).", no_args_is_help=True)

_DataDir = Annotated[Path, typer.Option(file_okay=False, help="Deployment data directory")]


def read_env_file(data_dir: Path) -> dict[str, str]:
    """``KEY=value`` lines of ``{data_dir}/issuer.env``; blank lines and ``#`` comments skipped."""
    path = data_dir / ENV_FILE
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _environment(data_dir: Path) -> dict[str, str]:
    return {**read_env_file(data_dir), **os.environ, ENV_PREFIX + "DATA_DIR": str(data_dir)}


def init_deployment(
    data_dir: Path, *, public_url: str, database_url: str | None = None
) -> tuple[Settings, dict[str, str]]:
    """Create a development deployment in ``data_dir``; returns its settings and tokens."""
    # The service's stack is imported only when used: `jigap` starts fast without it.
    from sqlmodel import select

    from issuer.api.app import make_deployment
    from issuer.db import migrate, session_scope
    from issuer.models import Agency
    from issuer.services.admin import create_agency_token

    data_dir.mkdir(parents=True, exist_ok=True)
    env = {
        ENV_PREFIX + "PUBLIC_URL": public_url,
        ENV_PREFIX + "DATA_DIR": str(data_dir),
        ENV_PREFIX + "DATABASE_URL": database_url or f"sqlite:///{data_dir / 'issuer.sqlite3'}",
        ENV_PREFIX + "KEY_PASSPHRASE": os.environ.get(
            ENV_PREFIX + "KEY_PASSPHRASE", secrets.token_urlsafe(24)
        ),
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
    finally:
        deployment.engine.dispose()  # its pooled connections would outlive this call
    lines = [f"{name}={value}" for name, value in env.items()]
    write_atomically(data_dir / ENV_FILE, ("\n".join(lines) + "\n").encode("utf-8"))
    return settings, tokens


@app.command()
def init(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    public_url: Annotated[str, typer.Option(help="Public origin (https; http on loopback)")] = (
        "http://127.0.0.1:8000"
    ),
    database_url: Annotated[
        str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in the data directory)")
    ] = None,
) -> None:
    """Create a development deployment: database, trust anchor, sample agencies, tokens."""
    try:
        settings, tokens = init_deployment(
            data_dir, public_url=public_url, database_url=database_url
        )
    except SettingsError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    table = Table(title="Agencies")
    table.add_column("agency")
    table.add_column("issuer identifier", overflow="fold")
    for slug in tokens:
        table.add_row(slug, escape(settings.issuer_id(slug)))
    Console().print(table)
    # Plain lines, not table cells: a token shown once must never be cut to the terminal width.
    typer.echo("Admin API tokens (shown once; stored only hashed):")
    for slug, token in tokens.items():
        typer.echo(f"  {slug}: {token}")
    typer.echo(f"settings and secrets: {data_dir / ENV_FILE} (mode 0600)")
    typer.echo(f"run: jigap issuer serve --data-dir {data_dir}")


@app.command()
def serve(
    data_dir: _DataDir = Path("jigap-issuer-data"),
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes")] = 1,
) -> None:
    """Run the service with uvicorn (settings from the environment and issuer.env)."""
    import uvicorn

    env = _environment(data_dir)
    try:
        Settings.from_env(env)  # refuse to start on bad settings, before forking workers
    except SettingsError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc
    os.environ.update(env)
    uvicorn.run(
        "issuer.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # URLs can carry offer ids: keep them out of logs by default
    )
