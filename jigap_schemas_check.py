"""`jigap schemas check DIR`: the onboarding lint an agency runs on a new certificate type file.

Each file of a types directory goes through the checks the registry applies when it loads
(``credential_schemas.type_file``), each named and reported on its own line, then one the
registry cannot make by itself: the QR budget. A check that cannot run because an earlier one
failed is reported as skipped. Exit 1 on any failure.

The QR budget: every valid example is issued with a throw-away ES256 key
(``issuer.credential``), the type's ``typical_presentation`` is selected from it as a counter's
DCQL query would be (``verifier.dcql_select``; paths an example lacks are left out), bound with
a KB-JWT as the wallet binds it, packed in the QR envelope, and must fit QR version 25 at error
correction M. A type that declares no typical presentation is measured with every selectively
disclosable claim; over the budget, that is a warning (declare what counters ask), while the
credential with nothing disclosed (its digests alone) must fit in any case.

This module sits above the layers it uses (registry, issuer, wallet, verifier): the registry
package itself may import none of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from credential_schemas import CredentialType, Registry, SchemaRegistryError
from credential_schemas.type_file import (
    RULE_CHECKS,
    build_type,
    check_meta_schema,
    check_naming,
    example_failures,
    read_json_file,
)
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.jwk import Algorithm, SigningKey
from verifier import encode_envelope
from verifier.dcql import SD_JWT_VC_FORMAT, parse_dcql_query
from verifier.dcql_select import NotSatisfiable, select_for_query
from wallet_api.presentation import prepare_key_binding

__all__ = [
    "MAX_QR_VERSION",
    "Finding",
    "Outcome",
    "QrMeasure",
    "check_directory",
    "present_paths",
    "qr_budget",
]

MAX_QR_VERSION = 25  # at error correction M: what counter scanners read at once
QR_ERROR_CORRECTION = "M"
_TYPE_DIRECTORY = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
_VERSION_FILE = re.compile(r"v([1-9][0-9]{0,2})\.json")
# A counter's request as the sample bank sends it: its client_id, a 22-character nonce.
_AUDIENCE = "counter.bank.example"
_NONCE = "bYbc3A8Mq9kQx2rTz5VwLg"
_ISSUER = "https://agency.issuer.jigap.example"
_STATUS = StatusReference(f"{_ISSUER}/status/1", 123_456)
_NOW = 1_800_000_000


class Outcome(StrEnum):
    PASSED = "pass"
    FAILED = "fail"
    WARNED = "warn"
    SKIPPED = "skip"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check of one file (or of the directory): what was checked and how it went."""

    path: Path
    check: str
    outcome: Outcome
    detail: str = ""


@dataclass(frozen=True, slots=True)
class QrMeasure:
    """The largest envelope among the valid examples' typical presentations."""

    version: int
    characters: int
    example: int
    paths: tuple[tuple[str | int | None, ...], ...]
    declared: bool  # the type declares its typical presentation


def check_directory(root: Path) -> list[Finding]:
    """Every check of every type file under ``root``, then the registry-wide ones."""
    if not root.is_dir():
        return [Finding(root, "layout", Outcome.FAILED, "not a directory")]
    findings: list[Finding] = []
    loaded: list[CredentialType] = []
    for path, type_id, version in _type_files(root, findings):
        checked = list(_check_file(path, type_id, version, loaded))
        findings += checked
    if not loaded and not any(f.outcome is Outcome.FAILED for f in findings):
        findings.append(Finding(root, "layout", Outcome.FAILED, "holds no certificate type"))
    if loaded and not any(f.outcome is Outcome.FAILED for f in findings):
        try:
            Registry(types=tuple(loaded))
        except SchemaRegistryError as error:
            findings.append(Finding(root, "registry", Outcome.FAILED, error.detail))
        else:
            findings.append(Finding(root, "registry", Outcome.PASSED, f"{len(loaded)} types"))
    return findings


def _type_files(root: Path, findings: list[Finding]) -> Iterator[tuple[Path, str, int]]:
    """The version files, as ``Registry.load`` finds them; anything else is a layout failure."""
    for type_dir in sorted(p for p in root.iterdir() if not p.name.startswith(".")):
        if not type_dir.is_dir() or _TYPE_DIRECTORY.fullmatch(type_dir.name) is None:
            findings.append(
                Finding(type_dir, "layout", Outcome.FAILED, "expected a snake_case type directory")
            )
            continue
        files = sorted(p for p in type_dir.iterdir() if not p.name.startswith("."))
        if not files:
            findings.append(Finding(type_dir, "layout", Outcome.FAILED, "holds no v1.json"))
        for file in files:
            match = _VERSION_FILE.fullmatch(file.name)
            if match is None:
                findings.append(
                    Finding(file, "layout", Outcome.FAILED, "expected v1.json, v2.json, ...")
                )
            else:
                yield file, type_dir.name, int(match.group(1))


def _check_file(
    path: Path, type_id: str, version: int, loaded: list[CredentialType]
) -> Iterator[Finding]:
    checks = [
        "file",
        "meta-schema",
        "naming",
        *(name for name, _ in RULE_CHECKS),
        "typical presentation",
        "examples",
        "qr budget",
    ]

    def skipped(after: str) -> Iterator[Finding]:
        for name in checks[checks.index(after) + 1 :]:
            yield Finding(path, name, Outcome.SKIPPED, f"needs {after}")

    try:
        doc = read_json_file(path)
    except SchemaRegistryError as error:
        yield Finding(path, "file", Outcome.FAILED, error.detail)
        yield from skipped("file")
        return
    yield Finding(path, "file", Outcome.PASSED)
    try:
        check_meta_schema(path, doc)
    except SchemaRegistryError as error:
        yield Finding(path, "meta-schema", Outcome.FAILED, error.detail)
        yield from skipped("meta-schema")
        return
    yield Finding(path, "meta-schema", Outcome.PASSED)

    def naming(path: Path, doc: Mapping[str, Any]) -> None:
        check_naming(path, doc, type_id, version)

    rules = [("naming", naming), *RULE_CHECKS]
    failed = False
    for name, rule in rules:
        try:
            rule(path, doc)
        except SchemaRegistryError as error:
            failed = True
            yield Finding(path, name, Outcome.FAILED, error.detail)
        else:
            yield Finding(path, name, Outcome.PASSED)
    if failed:
        yield from skipped(RULE_CHECKS[-1][0])
        return
    try:
        built = build_type(path, doc)
    except SchemaRegistryError as error:
        yield Finding(path, "typical presentation", Outcome.FAILED, error.detail)
        yield from skipped("typical presentation")
        return
    yield Finding(path, "typical presentation", Outcome.PASSED, _declared(built))
    failures = example_failures(doc, built)
    for failure in failures:
        yield Finding(path, "examples", Outcome.FAILED, failure)
    if failures:
        yield from skipped("examples")
        return
    examples = doc["examples"]
    yield Finding(
        path,
        "examples",
        Outcome.PASSED,
        f"{len(examples['valid'])} valid accepted, {len(examples['invalid'])} invalid refused"
        " with their codes",
    )
    loaded.append(built)
    yield _qr_finding(path, built)


def _declared(built: CredentialType) -> str:
    if not built.typical_presentation:
        return "not declared: every selectively disclosable claim is measured"
    return f"{len(built.typical_presentation)} claims paths"


def _qr_finding(path: Path, built: CredentialType) -> Finding:
    try:
        measured = qr_budget(built)
        floor = qr_budget(built, paths=())
    except ModuleNotFoundError as error:
        return Finding(path, "qr budget", Outcome.FAILED, f"cannot measure: {error}")
    shown = ", ".join(_path_text(p) for p in measured.paths) or "nothing"
    detail = (
        f"version {measured.version} ({measured.characters} characters; example"
        f" {measured.example}: {shown})"
    )
    if measured.version <= MAX_QR_VERSION:
        return Finding(path, "qr budget", Outcome.PASSED, detail)
    if floor.version > MAX_QR_VERSION:
        return Finding(
            path,
            "qr budget",
            Outcome.FAILED,
            f"version {floor.version} with nothing disclosed, over {MAX_QR_VERSION}:"
            " fewer selectively disclosable claims or smaller arrays",
        )
    if measured.declared:
        return Finding(
            path,
            "qr budget",
            Outcome.FAILED,
            f"{detail}, over {MAX_QR_VERSION}-{QR_ERROR_CORRECTION}",
        )
    return Finding(
        path,
        "qr budget",
        Outcome.WARNED,
        f"{detail}, over {MAX_QR_VERSION}: declare typical_presentation (version"
        f" {floor.version} with nothing disclosed)",
    )


def _path_text(path: Sequence[str | int | None]) -> str:
    return ".".join("*" if step is None else str(step) for step in path)


def qr_budget(
    credential_type: CredentialType,
    *,
    paths: Sequence[Sequence[str | int | None]] | None = None,
) -> QrMeasure:
    """The largest QR envelope of ``paths`` (default: the type's typical presentation) over
    the type's valid examples. Needs the ``image`` extra (qrcode) for the version."""
    from verifier.qr_image import qr_version

    declared = bool(credential_type.typical_presentation)
    if paths is None:
        paths = credential_type.typical_presentation or tuple(
            (name,)
            for name in credential_type.claim_names
            if name in credential_type.selectively_disclosable
        )
    issuer_key = SigningKey.generate(Algorithm.ES256)
    holder_key = SigningKey.generate(Algorithm.ES256)
    largest: QrMeasure | None = None
    for index, example in enumerate(credential_type.examples):
        credential = issue_sd_jwt_vc(
            credential_type,
            example,
            issuer_id=_ISSUER,
            signing_key=issuer_key,
            holder_key=holder_key.public_key,
            status=_STATUS,
            now=_NOW,
        ).compact
        shown, text = present_paths(credential_type, credential, paths, holder_key)
        envelope = encode_envelope(text)
        measure = QrMeasure(
            qr_version(envelope, QR_ERROR_CORRECTION), len(envelope), index, shown, declared
        )
        if largest is None or measure.characters > largest.characters:
            largest = measure
    assert largest is not None  # noqa: S101 - the meta-schema requires a valid example
    return largest


def present_paths(
    credential_type: CredentialType,
    credential: str,
    paths: Sequence[Sequence[str | int | None]],
    holder_key: SigningKey,
) -> tuple[tuple[tuple[str | int | None, ...], ...], str]:
    """The fewest disclosures of ``credential`` showing ``paths`` (those it has), bound with a
    KB-JWT for the sample bank's counter; the paths shown and the compact presentation."""
    wanted = [tuple(p) for p in paths]
    while True:
        query: dict[str, Any] = {
            "id": credential_type.id,
            "format": SD_JWT_VC_FORMAT,
            "meta": {"vct_values": [credential_type.vct]},
        }
        if wanted:
            query["claims"] = [{"path": list(p)} for p in wanted]
        try:
            selection = select_for_query(
                credential, parse_dcql_query({"credentials": [query]}).credentials[0]
            )
        except NotSatisfiable as missing:  # an optional claim this example does not have
            remaining = [p for p in wanted if p not in set(missing.missing)]
            if remaining == wanted:
                raise
            wanted = remaining
            continue
        prepared = prepare_key_binding(
            selection.sd_jwt,
            holder_algorithm=holder_key.algorithm,
            audience=_AUDIENCE,
            nonce=_NONCE,
            now=_NOW + 60,
        )
        return tuple(wanted), prepared.finish(holder_key.sign(prepared.signing_input))


def check(types: Path) -> None:
    """Check a types directory as an agency onboarding a type would: each check of each file
    on its own line; exit 1 on any failure."""
    import typer
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    findings = check_directory(types)
    colour = {Outcome.PASSED: "green", Outcome.FAILED: "red", Outcome.WARNED: "yellow"}
    current: Path | None = None
    for finding in findings:
        if finding.path != current:
            current = finding.path
            console.print(escape(str(finding.path)))
        style = colour.get(finding.outcome, "dim")
        detail = f": {escape(finding.detail)}" if finding.detail else ""
        console.print(f"  [{style}]{finding.outcome:<4}[/{style}] {finding.check}{detail}")
    failed = sum(1 for f in findings if f.outcome is Outcome.FAILED)
    files = len({f.path for f in findings if f.path.suffix == ".json"})
    if failed:
        console.print(f"[red]{failed} failed[/red] in {files} type files")
        raise typer.Exit(1)
    console.print(f"[green]ok[/green]: {files} type files in {escape(str(types))}")
