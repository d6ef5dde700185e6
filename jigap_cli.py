"""The `jigap` command: one sub-command per component.

The plain install (`pip install jigap`) is the verifier alone. A command that needs an extra
(`jigap issuer …` and `jigap demo` need `server`; reading QR images needs `image`) says in one
line which one to install, instead of a traceback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import typer

import jigap_schemas_check
from counter_app.cli import app as counter_app
from credential_schemas.cli import app as schemas_app
from issuer.cli import app as issuer_app
from keys.cli import app as keys_app
from verifier.cli import app as verify_app
from wallet_api.cli import app as wallet_app

EXIT_USAGE = 2
_PIPED_COLUMNS = 10_000
# The top-level module each extra brings, and the extra that brings it.
_EXTRA_OF_MODULE = {
    **dict.fromkeys(
        ("fastapi", "starlette", "sqlmodel", "sqlalchemy", "alembic", "uvicorn", "psycopg"),
        "server",
    ),
    "multipart": "server",
    "python_multipart": "server",
    **dict.fromkeys(("zxingcpp", "PIL", "qrcode"), "image"),
}
_DEMO_MODULES = ("fastapi", "sqlmodel", "uvicorn", "zxingcpp", "PIL", "qrcode")


def missing_extra(module: str | None) -> str | None:
    """The extra that brings ``module`` (a dotted name), if it is one of an extra's."""
    return _EXTRA_OF_MODULE.get((module or "").partition(".")[0])


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


class _Jigap(typer.Typer):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if not sys.stdout.isatty():
            # Piped or redirected, output for people is not folded at 80 columns: every rich
            # Console of every sub-command takes its width from COLUMNS when it is set.
            os.environ.setdefault("COLUMNS", str(_PIPED_COLUMNS))
        try:
            return super().__call__(*args, **kwargs)
        except ModuleNotFoundError as exc:
            extra = missing_extra(exc.name)
            if extra is None:
                raise
            sys.stderr.write(
                f"this command needs the {extra} extra (no module {exc.name!r}):"
                f" pip install 'jigap[{extra}]'\n"
            )
            raise SystemExit(EXIT_USAGE) from None


app = _Jigap(
    help="jigap (지갑): government certificates as verifiable credentials.",
    no_args_is_help=True,
)
app.add_typer(verify_app, name="verify")
app.add_typer(keys_app, name="keys")
schemas_app.command("check")(jigap_schemas_check.check)
app.add_typer(schemas_app, name="schemas")
app.add_typer(issuer_app, name="issuer")
app.add_typer(wallet_app, name="wallet")
app.add_typer(counter_app, name="counter")


def _version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"jigap {version('jigap')}")
        raise typer.Exit


@app.callback()
def main(
    show_version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """jigap (지갑): government certificates as verifiable credentials."""


@app.command()
def demo(
    out: str = typer.Option(
        "demo-output",
        help="Directory for keys, trust store and QR images: new, empty, or a previous demo's",
    ),
    port: int = typer.Option(
        8000, min=0, max=65535, help="Loopback port of the demo's issuer (0: any free port)"
    ),
) -> None:
    """End to end on this machine: trust anchor, issuers, every type issued, QR, offline check."""
    if not all(_importable(module) for module in _DEMO_MODULES):
        typer.echo(
            "jigap demo needs the server and image extras: pip install 'jigap[server,image]'",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    from jigap_demo import run_demo

    raise typer.Exit(run_demo(out, port=port))


@app.command()
def serve(
    out: str = typer.Option(
        "demo-output",
        help="Directory for keys, trust store and QR images: new, empty, or a previous demo's",
    ),
    port: int = typer.Option(
        8000, min=0, max=65535, help="Loopback port of the issuer (0: any free port)"
    ),
) -> None:
    """The demo's story, then its services kept running to explore (Ctrl-C stops them)."""
    if not all(_importable(module) for module in _DEMO_MODULES):
        typer.echo(
            "jigap serve needs the server and image extras: pip install 'jigap[server,image]'",
            err=True,
        )
        raise typer.Exit(EXIT_USAGE)
    from jigap_demo import run_demo

    raise typer.Exit(run_demo(out, port=port, keep_serving=True))


if __name__ == "__main__":
    app()
