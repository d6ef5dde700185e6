"""What both services' commands share (`jigap issuer …`, `jigap wallet …`): the settings file,
one line and an exit code for what an operator can fix, and ``serve`` around uvicorn.

Exit codes (docs/operations.md): 0 done, 1 refused (settings, a key that does not open, a
directory never initialised), 2 usage, 3 database unavailable (unreachable or locked),
4 database schema not at this code's head.

Imported by `jigap` at start-up even without the server extra: the service stack (uvicorn,
SQLAlchemy, FastAPI) is imported only inside the functions that use it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

import typer

from servicekit.observability import LogFormat, metrics_directory

__all__ = [
    "EXIT_DATABASE_UNAVAILABLE",
    "EXIT_REFUSED",
    "EXIT_SCHEMA",
    "EXIT_USAGE",
    "BodyTimeoutOption",
    "DataDirOption",
    "DatabaseUrlOption",
    "HeaderTimeoutOption",
    "HostOption",
    "KeepAliveOption",
    "MaxConnectionsOption",
    "MigrateOption",
    "PortOption",
    "PublicUrlOption",
    "ServeOptions",
    "WorkersOption",
    "one_line_failures",
    "read_env_file",
    "refuse",
    "serve_uvicorn",
]

EXIT_REFUSED, EXIT_USAGE, EXIT_DATABASE_UNAVAILABLE, EXIT_SCHEMA = 1, 2, 3, 4
# NotReadyError's reasons (each service's Unreadiness) that have an exit code of their own.
_EXIT_OF_UNREADINESS = {
    "database_unavailable": EXIT_DATABASE_UNAVAILABLE,
    "schema_behind": EXIT_SCHEMA,
    "schema_unknown": EXIT_SCHEMA,
}


# The options both services' commands take, with the same help (defaults are the service's).
DataDirOption = Annotated[Path, typer.Option(file_okay=False, help="Deployment data directory")]
PublicUrlOption = Annotated[str, typer.Option(help="Public origin (https; http on loopback)")]
DatabaseUrlOption = Annotated[
    str | None, typer.Option(help="SQLAlchemy URL (default: SQLite in the data directory)")
]
HostOption = Annotated[
    str | None, typer.Option(help="Address to listen on [default: the public URL's host]")
]
PortOption = Annotated[
    int | None, typer.Option(min=1, max=65535, help="Port [default: the public URL's port]")
]
WorkersOption = Annotated[int, typer.Option(min=1, max=64, help="Worker processes")]
# `rotate-sealing-key`, the same in both services.
ResumeOption = Annotated[
    bool, typer.Option("--resume", help="No new key: finish an interrupted rotation")
]
KeepOldOption = Annotated[
    bool, typer.Option("--keep-old", help="Keep the retired master key files")
]
BatchOption = Annotated[int, typer.Option(min=1, max=10_000, help="Rows per transaction")]
GraceOption = Annotated[
    float, typer.Option(min=0.0, help="Seconds for requests sealing under the old key to commit")
]
MigrateOption = Annotated[
    bool, typer.Option("--migrate", help="Migrate a database behind the head first")
]
HeaderTimeoutOption = Annotated[
    float, typer.Option(min=0.1, help="Seconds a request's headers may take to arrive")
]
BodyTimeoutOption = Annotated[
    float, typer.Option(min=0.1, help="Seconds a request's body may take to arrive")
]
KeepAliveOption = Annotated[
    int, typer.Option(min=1, help="Seconds an idle keep-alive connection stays open")
]
MaxConnectionsOption = Annotated[
    int, typer.Option(min=1, help="Open connections per worker; more are refused")
]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines of ``path``; blank lines and ``#`` comments skipped; none if absent."""
    if not path.exists():
        return {}
    values = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def refuse(message: str, code: int = EXIT_REFUSED) -> typer.Exit:
    """``message`` on one line of stderr; the exit to raise."""
    typer.echo(" ".join(message.split()), err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def one_line_failures(refused: tuple[type[Exception], ...]) -> Iterator[None]:
    """What an operator can fix becomes one line and an exit code, not a traceback:
    ``refused`` (the service's settings and key errors) exit 1, a ``NotReadyError`` by its
    reason, a database that cannot answer 3."""
    from servicekit.db import UNAVAILABLE, describe_unavailable
    from servicekit.readiness import NotReadyError

    try:
        yield
    except refused as exc:
        raise refuse(f"refused: {exc}") from exc
    except NotReadyError as exc:
        code = _EXIT_OF_UNREADINESS.get(str(exc.reason), EXIT_REFUSED)
        raise refuse(f"refused: {exc}", code) from exc
    except UNAVAILABLE as exc:
        raise refuse(f"refused: {describe_unavailable(exc)}", EXIT_DATABASE_UNAVAILABLE) from exc


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """``serve``'s options, the same in each service."""

    host: str | None
    port: int | None
    workers: int
    run_migrations: bool
    log_format: LogFormat | None
    header_timeout: float
    body_timeout: float
    keep_alive: int
    max_connections: int


def serve_uvicorn(
    *,
    factory: str,
    protocol: str,
    public_url: str,
    env: dict[str, str],
    env_prefix: str,
    log_format_env: str,
    configure_logging: Callable[[], None],
    preflight: Callable[[bool], None],
    options: ServeOptions,
) -> None:
    """Set the environment (``env``, the log format, the slow-client limits), run
    ``preflight(run_migrations)`` and then uvicorn on the app ``factory`` makes."""
    import uvicorn

    public = urlsplit(public_url)
    os.environ.update(env)
    if options.log_format is not None:
        os.environ[log_format_env] = options.log_format.value
    configure_logging()
    # Before anything imports prometheus-client (the service's api does): its mode is fixed then.
    with metrics_directory():
        from servicekit.timeouts import timeouts_environment

        os.environ.update(
            timeouts_environment(
                env_prefix,
                header_seconds=options.header_timeout,
                body_seconds=options.body_timeout,
                max_connections=options.max_connections,
            )
        )
        preflight(options.run_migrations)
        uvicorn.run(
            factory,
            factory=True,
            host=options.host or public.hostname or "127.0.0.1",
            port=options.port or public.port or (443 if public.scheme == "https" else 80),
            workers=options.workers,
            http=protocol,
            timeout_keep_alive=options.keep_alive,
            # uvicorn kills a worker that misses a 5 s health ping; one still importing on a
            # loaded machine is slow, not hung.
            timeout_worker_healthcheck=15,
            log_config=None,  # the service's: text or JSON lines, no raw paths
            access_log=False,  # URLs can carry offer ids: requests are logged by route template
        )
