"""`jigap schemas`: the certificate registry, for the operators who add types to it.

``jigap schemas check`` (the onboarding lint) is ``jigap_schemas_check``: it issues and
presents examples, which this package, below the issuer and the wallet, may not do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Column, Table

from credential_schemas.credential_type import CredentialType, iter_claim_paths
from credential_schemas.errors import SchemaRegistryError
from credential_schemas.registry import Registry

app = typer.Typer(
    help="The certificate registry: list, show and check type files.", no_args_is_help=True
)
_Directory = Annotated[
    Path | None, typer.Option("--types", help="A types directory (default: the bundled one)")
]


def _load(types: Path | None) -> Registry:
    try:
        return Registry.load(types)
    except SchemaRegistryError as exc:
        Console(stderr=True).print(f"[red]refused[/red] {escape(str(exc))}")
        raise typer.Exit(1) from exc


@app.command("list")
def list_types(types: _Directory = None) -> None:
    """Every certificate type, with its vct and validity."""
    # Identifiers are what operators copy: fold them, never cut them short.
    table = Table(
        Column("id", overflow="fold"),
        "version",
        Column("vct", overflow="fold"),
        "이름",
        "name",
        "claims",
        "validity",
    )
    for credential_type in _load(types).types:
        table.add_row(
            credential_type.id,
            str(credential_type.version),
            credential_type.vct,
            credential_type.display_name("ko"),
            credential_type.display_name("en"),
            str(len(credential_type.claim_names)),
            f"{credential_type.validity.days} days",
        )
    Console().print(table)


@app.command()
def show(type_id: str, types: _Directory = None) -> None:
    """The claims of one type, nested ones too: labels, units, and how each is disclosed."""
    registry = _load(types)
    try:
        credential_type = registry.get(type_id)
    except SchemaRegistryError as exc:
        Console(stderr=True).print(f"[red]{exc.code}[/red]: {escape(exc.detail)}")
        raise typer.Exit(1) from exc
    table = Table("claim", "라벨", "label", "disclosure", title=credential_type.vct)
    names = [path.name for path in iter_claim_paths(credential_type.claims_schema)]
    for name in (*names, *(d.name for d in credential_type.derived)):
        table.add_row(
            name,
            credential_type.claim_label(name, "ko"),
            credential_type.claim_label(name, "en"),
            _disclosure(credential_type, name),
        )
    Console().print(table)


def _disclosure(credential_type: CredentialType, name: str) -> str:
    if "." not in name:
        shown = "always" if name in credential_type.always_disclosed else "selective"
    else:
        apart = credential_type.is_selectively_disclosable(name)
        shown = "apart" if apart else "with its parent"
    if credential_type.is_selectively_disclosable(f"{name}[]"):
        shown += ", each element apart"
    if name in credential_type.derived_claim_names:
        shown += " (derived)"
    unit = credential_type.unit(name)
    return f"{shown}; in {unit}" if unit else shown
