"""`jigap verify`: sync a trust store while online, check presentations while offline.

A counter with a screen asks first: `jigap verify request` prints a signed request's QR text
(and writes its image), `jigap verify check --request FILE` judges the answer against it. A
counter without one checks a one-way preset: `jigap verify check --preset CLIENT_ID:PURPOSE_ID`.
Exit codes: 0 valid (or the request shown), 1 invalid or refused (the code on one line),
2 usage (an option, a file or a store that cannot be used; one line too).
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from keys.cli import CliSettings, iso_time
from keys.encoding import json_dumps
from keys.errors import KeyManagementError
from keys.store import PASSPHRASE_ENV, FileKeyStore
from verifier import counter
from verifier.envelope import is_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.openid4vp import (
    MAX_REQUEST_LIFETIME,
    PresentationRequest,
    RequestError,
    RequestErrorCode,
    read_request,
)
from verifier.policy import Policy
from verifier.result import VerificationResult
from verifier.sync import Outcome, SyncError, remembered_sources, sync_trust_store
from verifier.trust_store import TrustStore
from verifier.verify import Verifier

app = typer.Typer(help="Offline verification of jigap QR presentations.", no_args_is_help=True)
DEFAULT_TRUST_DIR = os.environ.get("JIGAP_TRUST_DIR", "jigap-trust")
_IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF")
_MAX_TEXT_FILE = 1024 * 1024
_MAX_NAME_SHOWN = 300
EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
_IMAGE_SUFFIXES = (".png", ".svg")


def _now(ctx: typer.Context) -> int:
    """The clock: ``CliSettings`` passed as the context object fixes it (tests)."""
    return int((ctx.find_object(CliSettings) or CliSettings(clock=time.time)).clock())


def _fail(line: str, exit_code: int) -> typer.Exit:
    sys.stderr.write(" ".join(line.split()) + "\n")  # one line, never wrapped
    return typer.Exit(exit_code)


def _load_store(trust: Path, now: int) -> TrustStore:
    try:
        return TrustStore.load(trust, now=now)
    except (VerificationError, KeyManagementError) as exc:
        raise _fail(f"trust store {trust}: {exc.code}: {_detail(exc)}", EXIT_USAGE) from exc


@app.command()
def sync(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="The trust list, and status lists if named: URLs or files. Given the trust"
            " list's URL alone, every issuer's status lists are found through its metadata."
            " None: those of the last sync into the store.",
            show_default=False,
        ),
    ] = None,
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
    if not sources:
        sources = remembered_sources(into)
        if not sources:
            raise _fail(f"no sources given, and no earlier sync into {into} to repeat", EXIT_USAGE)
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
def request(
    ctx: typer.Context,
    client_id: Annotated[str, typer.Option(help="This counter's registered id (client_id)")],
    purpose: Annotated[str, typer.Option(help="The registered purpose's id")],
    key_store: Annotated[
        Path, typer.Option(file_okay=False, exists=True, help="Key store of the counter's key")
    ],
    kid: Annotated[str, typer.Option(help="The signing key's id in the key store")],
    trust: Annotated[Path, typer.Option(help="Trust store directory")] = Path(DEFAULT_TRUST_DIR),
    lifetime: Annotated[
        int, typer.Option(min=1, max=MAX_REQUEST_LIFETIME, help="Seconds it may be answered in")
    ] = 300,
    out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Write the QR image (.png or .svg)")
    ] = None,
    save: Annotated[
        Path | None, typer.Option(dir_okay=False, help="Keep the request for check --request")
    ] = None,
) -> None:
    """Sign a request for a registered purpose; print its QR text (OpenID4VP 1.0 request object).

    The key store's passphrase comes from JIGAP_KEY_PASSPHRASE or a hidden prompt.
    Exit 0 shown, 1 refused (not registered, wrong key or passphrase), 2 usage.
    """
    if out is not None and out.suffix.lower() not in _IMAGE_SUFFIXES:
        raise typer.BadParameter("the image is .png or .svg", param_hint="--out")
    now = _now(ctx)
    store = _load_store(trust, now)
    try:
        passphrase = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
            "Key store passphrase", hide_input=True, err=True
        )
        signer = FileKeyStore(key_store, passphrase).signer(kid)
        made = Verifier(store).make_request(
            signer=signer, client_id=client_id, purpose_id=purpose, now=now, lifetime=lifetime
        )
    except (KeyManagementError, RequestError) as exc:
        raise _fail(f"refused: {exc.code}: {exc.detail}", EXIT_INVALID) from exc
    envelope = made.envelope
    try:
        if save is not None:
            save.write_text(made.token + "\n", encoding="ascii")
        if out is not None:
            _write_image(out, envelope)
    except ModuleNotFoundError as exc:  # images need the `image` extra
        raise _fail(str(exc), EXIT_USAGE) from exc
    except OSError as exc:
        raise _fail(f"{exc.filename}: {exc.strerror}", EXIT_USAGE) from exc
    sys.stdout.write(envelope + "\n")
    sys.stderr.write(
        f"request of {made.client_id} for {made.purpose.names['en']}: answer by"
        f" {iso_time(made.expires_at)}{f'; saved in {save}' if save else ''}\n"
    )


def _write_image(path: Path, text: str) -> None:
    from verifier.qr_image import render_png, render_svg

    if path.suffix.lower() == ".png":
        path.write_bytes(render_png(text))
    else:
        path.write_text(render_svg(text), encoding="utf-8")


@app.command()
def check(
    ctx: typer.Context,
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
    request_file: Annotated[
        Path | None,
        typer.Option("--request", dir_okay=False, help="The request it answers (request --save)"),
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="A one-way preset it answers: CLIENT_ID:PURPOSE_ID")
    ] = None,
) -> None:
    """Verify one presentation offline. Exit 0 valid, 1 invalid, 2 usage error.

    With --request, the answer must be bound to that request (its audience and nonce), of the
    type it asks for, with every claim it asks for and no other; with --preset, likewise for a
    registered one-way purpose, within its window.
    """
    answering = [
        name for name, given in (("--request", request_file), ("--preset", preset)) if given
    ]
    if len(answering) > 1 or (answering and (audience or nonce)):
        named = ", ".join(answering)
        raise _fail(f"{named}: the audience and nonce come from the request", EXIT_USAGE)
    now = _now(ctx)
    store = _load_store(trust, now)
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
    judge: Callable[[str], VerificationResult] = functools.partial(verifier.verify, now=now)
    if request_file is not None:
        asked = _read_request_file(request_file, store, verifier, now)
        if isinstance(asked, VerificationResult):  # expired: the verdict on any answer
            _print_result(asked, as_json)
            raise typer.Exit(EXIT_INVALID)
        judge = functools.partial(verifier.verify_answer, request=asked, now=now)
    elif preset is not None:
        client_id, _, purpose_id = preset.partition(":")
        try:
            counter.preset(store, client_id, purpose_id, now)  # the counter's configuration
        except RequestError as exc:
            raise _fail(f"--preset {preset}: {exc.code}: {exc.detail}", EXIT_USAGE) from exc
        judge = functools.partial(
            verifier.verify_preset, client_id=client_id, purpose_id=purpose_id, now=now
        )
    try:
        result = _verify_argument(judge, presentation)
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


def _read_request_file(
    path: Path, store: TrustStore, verifier: Verifier, now: int
) -> PresentationRequest | VerificationResult:
    """The request a counter saved (its token, or its QR text), checked again as a phone would."""
    try:
        with path.open("rb") as file:
            text = file.read(_MAX_TEXT_FILE).decode("utf-8", errors="replace")
        return read_request(text, store, now=now, registry=verifier.registry)
    except OSError as exc:
        raise _fail(f"--request {path}: {exc.strerror}", EXIT_USAGE) from exc
    except RequestError as exc:
        if exc.code is RequestErrorCode.EXPIRED:
            return VerificationResult.failure(ErrorCode.REQUEST_EXPIRED, exc.detail)
        raise _fail(f"--request {path}: {exc.code}: {exc.detail}", EXIT_USAGE) from exc


def _verify_argument(
    judge: Callable[[str], VerificationResult], argument: str
) -> VerificationResult:
    """A file if one has that name; else the presentation's text if it looks like one; else a
    file that cannot be read, which raises ``OSError``: a usage error, not a verdict."""
    if argument == "-":
        return judge(sys.stdin.read(_MAX_TEXT_FILE))
    path = Path(argument)
    if not _is_file(path) and _looks_like_presentation(argument):
        return judge(argument)
    with path.open("rb") as file:  # a directory raises IsADirectoryError (an OSError)
        head = file.read(_MAX_TEXT_FILE + 1)
    if head.startswith(_IMAGE_MAGIC):
        from verifier.qr_image import read_qr_image

        try:
            text = read_qr_image(path)
        except VerificationError as exc:
            return VerificationResult.failure(exc.code, exc.detail)
        return judge(text)
    return judge(head.decode("utf-8", errors="replace"))


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
