"""`jigap verify`: sync a trust store while online, check presentations while offline."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keys.cli import iso_time
from keys.encoding import json_dumps
from keys.errors import KeyManagementError
from verifier.envelope import is_envelope
from verifier.errors import VerificationError
from verifier.policy import Policy
from verifier.result import VerificationResult
from verifier.sync import Outcome, SyncError, sync_trust_store
from verifier.trust_store import TrustStore
from verifier.verify import Verifier

app = typer.Typer(help="Offline verification of jigap QR presentations.", no_args_is_help=True)
DEFAULT_TRUST_DIR = os.environ.get("JIGAP_TRUST_DIR", "jigap-trust")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
_MAX_TEXT_FILE = 1024 * 1024
_MAX_NAME_SHOWN = 300
EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


@app.command()
def sync(
    sources: Annotated[
        list[str],
        typer.Argument(
            help="The trust list, and status lists if named: URLs or files. Given the trust"
            " list's URL alone, every issuer's status lists are found through its metadata."
        ),
    ],
    into: Annotated[Path, typer.Option("--into", help="Trust store directory")] = Path(
        DEFAULT_TRUST_DIR
    ),
    anchor: Annotated[
        Path | None, typer.Option(help="Trust anchor JWK to pin (first sync only)")
    ] = None,
) -> None:
    """Fetch and check a trust list and status lists, and save them for offline use.

    Exit 0 when every list synced, 1 when one failed or the sync was refused.
    """
    console = Console(stderr=True)
    try:
        report = sync_trust_store(sources, into, anchor_file=anchor)
    except (SyncError, VerificationError, KeyManagementError) as exc:
        code = getattr(exc, "code", "error")
        sys.stderr.write(f"sync refused: {code}: {_detail(exc)}\n")  # one line, never wrapped
        raise typer.Exit(EXIT_INVALID) from exc
    if console.is_terminal:
        table = Table("what", "source", "outcome", "detail", title=f"trust store {into}")
        for row in report.rows:
            style = "red" if row.outcome is Outcome.FAILED else ""
            cells = (row.what, row.source, row.outcome.value, row.detail)
            table.add_row(*map(escape, cells), style=style)
        console.print(table)
    else:  # a log or a pipe: one whole line per list, never wrapped or cut
        for row in report.rows:
            sys.stderr.write(f"{row.outcome.value}\t{row.what}\t{row.source}\t{row.detail}\n")
    sys.stderr.write(f"saved in {into}: {report.status_lists_held} status lists held\n")
    if report.failed:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def check(
    presentation: Annotated[str, typer.Argument(help="QR image, text file, '-' or the text")],
    trust: Annotated[Path, typer.Option(help="Trust store directory")] = Path(DEFAULT_TRUST_DIR),
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON")] = False,
    audience: Annotated[str | None, typer.Option(help="Expected KB-JWT audience")] = None,
    nonce: Annotated[str | None, typer.Option(help="Expected KB-JWT nonce")] = None,
    credential_type: Annotated[
        list[str] | None, typer.Option("--type", help="Accepted type (id or vct)")
    ] = None,
    require: Annotated[list[str] | None, typer.Option(help="Required claim")] = None,
    max_age: Annotated[int, typer.Option(help="Max KB-JWT age, seconds")] = 300,
    max_status_age: Annotated[int, typer.Option(help="Max status list age, seconds")] = 86400,
) -> None:
    """Verify one presentation offline. Exit 0 valid, 1 invalid, 2 usage error."""
    try:
        store = TrustStore.load(trust)
    except (VerificationError, KeyManagementError) as exc:
        Console(stderr=True).print(
            f"trust store {escape(str(trust))}: {exc.code}: {escape(_detail(exc))}"
        )
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        policy = Policy(
            expected_audience=audience,
            expected_nonce=nonce,
            accepted_credential_types=frozenset(credential_type or ()),
            required_claims=frozenset(require or ()),
            max_presentation_age=max_age,
            max_status_age=max_status_age,
        )
        verifier = Verifier(store, policy)
    except ValueError as exc:  # a policy that could accept nothing, e.g. a misspelt --type
        Console(stderr=True).print(escape(str(exc)))
        raise typer.Exit(EXIT_USAGE) from exc
    try:
        result = _verify_argument(verifier, presentation)
    except ModuleNotFoundError as exc:  # an image given to a verifier installed without `image`
        Console(stderr=True).print(escape(str(exc)))
        raise typer.Exit(EXIT_USAGE) from exc
    except OSError as exc:  # a file named that is missing or unreadable: not a certificate
        reason = exc.strerror or type(exc).__name__
        named = presentation if len(presentation) <= _MAX_NAME_SHOWN else "the argument"
        sys.stderr.write(f"{named!r}: {reason}\n")
        raise typer.Exit(EXIT_USAGE) from exc
    _print_result(result, as_json)
    raise typer.Exit(EXIT_VALID if result.valid else EXIT_INVALID)


def _verify_argument(verifier: Verifier, argument: str) -> VerificationResult:
    """A file if one has that name; else the presentation's text if it looks like one; else a
    file that cannot be read, which raises ``OSError``: a usage error, not a verdict."""
    if argument == "-":
        return verifier.verify(sys.stdin.read(_MAX_TEXT_FILE))
    path = Path(argument)
    if not _is_file(path) and _looks_like_presentation(argument):
        return verifier.verify(argument)
    with path.open("rb") as file:  # a directory raises IsADirectoryError (an OSError)
        head = file.read(_MAX_TEXT_FILE + 1)
    if head.startswith(_IMAGE_MAGIC):
        return verifier.verify_image(path)
    return verifier.verify(head.decode("utf-8", errors="replace"))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a presentation is no file name: too long for the file system, say
        return False


def _looks_like_presentation(argument: str) -> bool:
    """An envelope (``JGn:``) or an SD-JWT, which always holds a '~' (RFC 9901 §4)."""
    text = argument.strip()
    return is_envelope(text) or "~" in text


def _print_result(result: VerificationResult, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json_dumps(result.to_dict()).decode() + "\n")
        return
    console = Console()
    if not result.valid:
        console.print(f"[bold red]INVALID[/bold red] {result.error}: {escape(result.detail)}")
        return
    console.print(
        f"[bold green]VALID[/bold green] {result.credential_type} from {result.issuer}"
        f" (holder bound: {result.holder_bound}, status {result.status} as of"
        f" {_known_at(result.status_known_at)})"
    )
    table = Table("claim", "value")
    for name, value in result.claims.items():
        shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        table.add_row(escape(name), escape(shown))
    console.print(table)


def _known_at(seconds: int | None) -> str:
    return "unknown" if seconds is None else iso_time(seconds)


def _detail(exc: Exception) -> str:
    return str(getattr(exc, "detail", exc))
