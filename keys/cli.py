"""`jigap keys …`: key stores and the signed trust list, for agencies and the trust operator.

Exit codes: 0 done, 1 refused (one line on stderr naming the error code), 2 usage.
The passphrase comes from ``JIGAP_KEY_PASSPHRASE`` or a hidden prompt, never from an option
(options end up in shell history and process listings); a new store's passphrase has at least
``MIN_NEW_PASSPHRASE_CHARS`` characters. Times are shown as ISO 8601 with their zone (UTC);
``--json`` keeps machine values (seconds since the epoch).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from keys.encoding import json_dumps, json_loads, json_loads_object
from keys.errors import KeyErrorCode, KeyManagementError, TrustListError
from keys.jwk import Algorithm, public_key_from_jwk
from keys.relying_party import MAX_RELYING_PARTIES, RelyingParty, relying_party_from_entry
from keys.store import PASSPHRASE_ENV, FileKeyStore, KeyStatus, list_key_infos, read_key_info
from keys.trust_list import (
    MAX_ISSUERS,
    TrustList,
    sign_trust_list,
    trusted_issuer_from_entry,
    verify_trust_list,
)

__all__ = ["PASSPHRASE_ENV", "CliSettings", "app", "iso_time"]

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
_SECONDS_PER_DAY = 86_400
_MAX_INPUT_FILE = 16 * 1024 * 1024

app = typer.Typer(
    help="Key stores, public keys and the signed trust list.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
trust_list_app = typer.Typer(help="Create and check the signed trust list.", no_args_is_help=True)
app.add_typer(trust_list_app, name="trust-list")

_ExistingDir = Annotated[
    Path, typer.Option(file_okay=False, dir_okay=True, exists=True, help="Key store directory")
]


@dataclass(frozen=True, slots=True)
class CliSettings:
    """Passed as the click context object (``obj=``) to fix the clock, e.g. in tests."""

    clock: Callable[[], float] = time.time


def _now(ctx: typer.Context) -> int:
    settings = ctx.find_object(CliSettings) or CliSettings()
    return int(settings.clock())


@contextmanager
def _refusals() -> Iterator[None]:
    """Turn a refusal into its one-line reason and exit 1; anything else is a bug and raises."""
    try:
        yield
    except KeyManagementError as exc:
        detail = " ".join(exc.detail.split())
        typer.echo(f"refused: {exc.code}: {detail}", err=True)
        raise typer.Exit(EXIT_REFUSED) from exc


def _passphrase(*, confirm: bool) -> str:
    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env is not None:
        return from_env
    entered: str = typer.prompt(
        "Key store passphrase", hide_input=True, confirmation_prompt=confirm
    )
    return entered


def _read_input(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_INPUT_FILE + 1)
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror}") from exc
    if len(data) > _MAX_INPUT_FILE:
        raise typer.BadParameter(f"{path}: over {_MAX_INPUT_FILE} bytes")
    return data


def _echo_json(value: object) -> None:
    typer.echo(json_dumps(value).decode("utf-8"))


def iso_time(seconds: int) -> str:
    """A time for people: ISO 8601, with its zone."""
    return datetime.fromtimestamp(seconds, UTC).isoformat()


@app.command("list")
def list_keys(
    store: _ExistingDir,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per key")] = False,
) -> None:
    """Every key in the store, oldest first: kid, algorithm, active or retired, created.

    Reads only the keys' public halves: no passphrase needed.
    """
    with _refusals():
        infos = list_key_infos(store)
    for info in infos:
        if as_json:
            _echo_json(
                {
                    "kid": info.kid,
                    "alg": info.algorithm.value,
                    "status": info.status.value,
                    "created_at": info.created_at,
                }
            )
        else:
            typer.echo(
                f"{info.kid}  {info.algorithm.value}  {info.status.value}"
                f"  {iso_time(info.created_at)}"
            )


@app.command()
def generate(
    store: Annotated[Path, typer.Option(file_okay=False, help="Key store directory")],
    alg: Annotated[Algorithm, typer.Option(help="Signature algorithm")] = Algorithm.ES256,
) -> None:
    """Generate a key in the store; print its kid and public JWK."""
    with _refusals():
        key_store = FileKeyStore(store, _passphrase(confirm=True))
        info = key_store.generate(alg)
    typer.echo(info.kid)
    _echo_json(info.public_key.to_jwk())


@app.command()
def rotate(
    store: _ExistingDir,
    alg: Annotated[Algorithm, typer.Option(help="Algorithm of the new key")] = Algorithm.ES256,
) -> None:
    """Generate a new signing key and retire the active ones.

    Retired keys sign nothing new but stay in the store, and an issuer keeps publishing them
    while credentials they signed are unexpired, so those credentials still verify.
    """
    with _refusals():
        key_store = FileKeyStore(store, _passphrase(confirm=False))
        previous = [k for k in key_store.list_keys() if k.status is KeyStatus.ACTIVE]
        info = key_store.generate(alg)
        for old in previous:
            key_store.retire(old.kid)
    typer.echo(info.kid)
    for old in previous:
        typer.echo(f"retired {old.kid}", err=True)


@app.command("export-public")
def export_public(
    store: _ExistingDir,
    kid: Annotated[str, typer.Option(help="Key id (RFC 7638 thumbprint)")],
) -> None:
    """Print a key's public JWK (no passphrase needed)."""
    with _refusals():
        info = read_key_info(store, kid)
    _echo_json(info.public_key.to_jwk())


@trust_list_app.command("create")
def create_trust_list(
    ctx: typer.Context,
    anchor_store: _ExistingDir,
    anchor_kid: Annotated[str, typer.Option(help="Anchor key id in the store")],
    issuers: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="JSON list of issuer entries")
    ],
    operator: Annotated[str, typer.Option(help="Trust operator identifier (`iss`)")],
    sequence: Annotated[int, typer.Option(min=0, help="Publication number, above the last")],
    valid_days: Annotated[int, typer.Option(min=1, max=3660, help="Days until `exp`")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="Where to write the token")],
    relying_parties: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSON list of relying-party entries"),
    ] = None,
) -> None:
    """Sign a trust list with the operator's anchor key."""
    with _refusals():
        entries = json_loads(_read_input(issuers))
        if not isinstance(entries, list) or len(entries) > MAX_ISSUERS:
            raise TrustListError(
                KeyErrorCode.TRUST_LIST_INVALID, f"{issuers.name}: not a list of issuer entries"
            )
        if not entries:
            # A list that trusts nobody makes every counter refuse every certificate.
            raise TrustListError(KeyErrorCode.TRUST_LIST_INVALID, f"{issuers.name}: no issuers")
        parsed = [trusted_issuer_from_entry(entry) for entry in entries]
        parties = _relying_parties(relying_parties) if relying_parties else []
        now = _now(ctx)
        trust_list = TrustList(
            operator,
            sequence,
            now,
            now + valid_days * _SECONDS_PER_DAY,
            {issuer.id: issuer for issuer in parsed},
            {party.id: party for party in parties},
        )
        if len(trust_list.issuers) != len(parsed):
            raise TrustListError(KeyErrorCode.TRUST_LIST_INVALID, "an issuer is listed twice")
        if len(trust_list.relying_parties) != len(parties):
            raise TrustListError(KeyErrorCode.TRUST_LIST_INVALID, "a relying party is listed twice")
        anchor = FileKeyStore(anchor_store, _passphrase(confirm=False)).signer(anchor_kid)
        token = sign_trust_list(trust_list, anchor)
    try:
        out.write_text(token + "\n", encoding="ascii")
    except OSError as exc:
        raise typer.BadParameter(f"{out}: {exc.strerror}", param_hint="--out") from exc
    typer.echo(
        f"wrote {out}: operator {operator}, sequence {sequence}, {len(parsed)} issuers, "
        f"{len(parties)} relying parties, "
        f"valid {iso_time(now)} to {iso_time(trust_list.expires_at)}, digest {trust_list.digest}"
    )


def _relying_parties(path: Path) -> list[RelyingParty]:
    entries = json_loads(_read_input(path))
    if not isinstance(entries, list) or len(entries) > MAX_RELYING_PARTIES:
        raise TrustListError(
            KeyErrorCode.TRUST_LIST_INVALID, f"{path.name}: not a list of relying-party entries"
        )
    return [relying_party_from_entry(entry) for entry in entries]


@trust_list_app.command("verify")
def verify(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Trust list token")],
    anchor: Annotated[
        Path, typer.Option(exists=True, dir_okay=False, help="Pinned anchor public JWK")
    ],
    held_sequence: Annotated[
        int | None, typer.Option(min=0, help="Sequence of the list held now")
    ] = None,
    held_digest: Annotated[
        str | None, typer.Option(help="Digest of the list held now (for an equal sequence)")
    ] = None,
) -> None:
    """Check a trust list against the pinned anchor; print what it says."""
    with _refusals():
        anchor_key = public_key_from_jwk(json_loads_object(_read_input(anchor)))
        try:
            token = _read_input(file).decode("ascii").strip()
        except UnicodeDecodeError as exc:
            raise TrustListError(KeyErrorCode.TRUST_LIST_INVALID, "not a JWS") from exc
        trust_list = verify_trust_list(
            token,
            anchor_key,
            now=_now(ctx),
            held_sequence=held_sequence,
            held_digest=held_digest,
        )
    typer.echo(
        f"trust list from {trust_list.operator}: sequence {trust_list.sequence}, "
        f"valid {iso_time(trust_list.issued_at)} to {iso_time(trust_list.expires_at)}, "
        f"digest {trust_list.digest}"
    )
    for issuer in trust_list.issuers.values():
        types = ", ".join(sorted(issuer.credential_types))
        typer.echo(
            f"  {issuer.id} ({issuer.names['en']}): {len(issuer.jwks.keys)} keys, "
            f"{iso_time(issuer.valid_from)} to {iso_time(issuer.valid_until)}: {types}"
        )
    for party in trust_list.relying_parties.values():
        purposes = ", ".join(p.id for p in party.purposes)
        typer.echo(
            f"  relying party {party.id} ({party.names['en']}): {len(party.jwks.keys)} keys, "
            f"{iso_time(party.valid_from)} to {iso_time(party.valid_until)}: {purposes}"
        )
