"""The `jigap` command: one sub-command per component."""

from __future__ import annotations

import typer

from credential_schemas.cli import app as schemas_app
from issuer.cli import app as issuer_app
from keys.cli import app as keys_app
from verifier.cli import app as verify_app

app = typer.Typer(
    help="jigap (지갑): government certificates as verifiable credentials.",
    no_args_is_help=True,
)
app.add_typer(verify_app, name="verify")
app.add_typer(keys_app, name="keys")
app.add_typer(schemas_app, name="schemas")
app.add_typer(issuer_app, name="issuer")


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
    out: str = typer.Option("demo-output", help="Directory for keys, trust store and QR images"),
) -> None:
    """End to end on this machine: trust anchor, issuers, every type issued, QR, offline check."""
    from jigap_demo import run_demo

    raise typer.Exit(run_demo(out))


if __name__ == "__main__":
    app()
