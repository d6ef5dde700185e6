"""Bulk offers: one upload of many citizens' claims, one credential offer per row.

The upload is read as it arrives and never held whole: records are cut from the byte stream,
each at most ``settings.max_body_bytes`` (what one offer's body may be), and each is decoded,
checked and turned into an offer in a transaction of its own. A crash part-way leaves whole
offers behind, never half of one; a bad row is answered with its error and the next row is
read.

Formats (``UploadFormat``), both UTF-8, strictly, with an optional byte-order mark (Korean
Excel writes one):

- CSV (RFC 4180: commas, double-quoted fields, CRLF or LF). The first record is the header:
  each column a claim of the type's schema (not a derived one: those are computed) or
  ``subject``; an unknown or repeated column refuses the whole upload before any row is read.
  Cells are text, converted by the claim's JSON Schema type: ``integer`` and ``number`` as
  JSON numbers, ``boolean`` as ``true``/``false`` (any case, as Excel writes ``TRUE``),
  ``array`` and ``object`` as JSON in the cell; every other claim, dates included, stays
  text. An empty cell is an absent claim. A record with only empty cells is skipped.
- JSON lines: one object a line, ``{"claims": {...}, "subject": "..."}`` (``subject``
  optional, no other member), the same shape as one offer's body. Blank lines are skipped.

Row numbers are those the agency sees in its file: a JSON line's line number; a CSV record's
number with the header as row 1, which is its row in a spreadsheet.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

import anyio

from credential_schemas import ClaimsError, CredentialType, RegistryErrorCode
from issuer.errors import AdminError, AdminErrorCode
from issuer.services.admin import AgencyPrincipal, make_offer, record
from issuer.services.bulk_records import (
    MEDIA_TYPES,
    SUBJECT_COLUMN,
    CsvLayout,
    CsvSplitter,
    Record,
    RecordReader,
    Row,
    RowError,
    RowProblem,
    Splitter,
    UploadFormat,
    json_row,
    upload_format,
)
from issuer.services.deployment import Deployment
from issuer.services.offers import CreatedOffer, credential_type_for
from servicekit.db import retrying, session_scope

__all__ = [
    "MEDIA_TYPES",
    "SUBJECT_COLUMN",
    "BulkOptions",
    "BulkResult",
    "BulkSummary",
    "BulkUpload",
    "RowCreated",
    "RowFailed",
    "RowProblem",
    "UploadFormat",
    "open_upload",
    "upload_format",
]


@dataclass(frozen=True, kw_only=True)
class BulkOptions:
    tx_code: bool = True
    approval_required: bool = False


@dataclass(frozen=True, slots=True)
class RowCreated:
    row: int
    offer: CreatedOffer


@dataclass(frozen=True, slots=True)
class RowFailed:
    row: int
    code: AdminErrorCode
    detail: str  # names claims and columns, never a value
    reason: RowProblem | RegistryErrorCode | None = None


@dataclass(frozen=True, slots=True)
class BulkSummary:
    rows: int
    created: int
    failed: int
    complete: bool  # False if the upload was cut short: too many rows, too large, abandoned


BulkResult = RowCreated | RowFailed | BulkSummary


# --- the upload --------------------------------------------------------------------------------


class BulkUpload:
    """An upload whose header (if any) has been accepted: ``results`` reads the rows."""

    def __init__(
        self,
        deployment: Deployment,
        principal: AgencyPrincipal,
        *,
        credential_type: CredentialType,
        upload_format: UploadFormat,
        options: BulkOptions,
        reader: RecordReader,
        parse: Callable[[Record], Row],
    ) -> None:
        self._deployment, self._principal = deployment, principal
        self._type, self._format, self._options = credential_type, upload_format, options
        self._reader, self._parse = reader, parse

    async def results(self) -> AsyncGenerator[BulkResult, None]:
        """One result a row, in order, then the summary; rows are read as they arrive.

        The ``offer.bulk`` audit event is committed before the summary is given.
        """
        limit = self._deployment.settings.max_upload_rows
        rows = created = 0
        complete = False
        try:
            while True:
                try:
                    next_record = await self._reader.next()
                except AdminError as exc:  # the upload broke off: over its size, or abandoned
                    yield RowFailed(self._reader.next_number, AdminErrorCode(exc.code), exc.detail)
                    break
                if next_record is None:
                    complete = True
                    break
                if next_record.blank:
                    continue
                if rows >= limit:
                    yield RowFailed(
                        next_record.number,
                        AdminErrorCode.TOO_LARGE,
                        f"over {limit} rows: this row and the rest of the upload were not read",
                        RowProblem.TOO_MANY_ROWS,
                    )
                    await self._reader.drain()
                    break
                rows += 1
                result = await anyio.to_thread.run_sync(self._offer, next_record)
                created += isinstance(result, RowCreated)
                yield result
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(self._audit, rows, created, complete)
        yield BulkSummary(rows=rows, created=created, failed=rows - created, complete=complete)

    @retrying
    def _offer(self, row: Record) -> RowCreated | RowFailed:
        """One row: parsed, checked, and its offer committed in a transaction of its own."""
        try:
            claims, subject = self._parse(row)
            self._type.validate(claims)  # again in make_offer; here for the registry's code
            with session_scope(self._deployment.engine) as session:
                created = make_offer(
                    session,
                    self._deployment,
                    self._principal,
                    type_id=self._type.id,
                    claims=claims,
                    subject=subject,
                    tx_code=self._options.tx_code,
                    approval_required=self._options.approval_required,
                )
        except RowError as exc:
            return RowFailed(row.number, exc.code, exc.detail, exc.reason)
        except ClaimsError as exc:
            return RowFailed(row.number, AdminErrorCode.INVALID_CLAIMS, exc.detail, exc.code)
        except AdminError as exc:
            return RowFailed(row.number, AdminErrorCode(exc.code), exc.detail)
        return RowCreated(row.number, created)

    @retrying
    def _audit(self, rows: int, created: int, complete: bool) -> None:
        with session_scope(self._deployment.engine) as session:
            record(
                session,
                self._principal,
                "offer.bulk",
                target=None,
                now=self._deployment.now(),
                detail={
                    "credential_type": self._type.id,
                    "format": str(self._format),
                    "rows": rows,
                    "created": created,
                    "failed": rows - created,
                    "complete": complete,
                },
            )


async def open_upload(
    deployment: Deployment,
    principal: AgencyPrincipal,
    *,
    type_id: str,
    upload_format: UploadFormat,
    options: BulkOptions,
    chunks: AsyncIterator[bytes],
) -> BulkUpload:
    """Check what can be refused before any row is answered: the type, and a CSV header.

    On refusal (``AdminError``) the rest of the upload has been read and dropped.
    """
    credential_type = credential_type_for(deployment, principal.agency, type_id)
    row_bytes = deployment.settings.max_body_bytes
    if upload_format is UploadFormat.JSON_LINES:
        reader = RecordReader(chunks, Splitter(row_bytes))
        parse: Callable[[Record], Row] = json_row
    else:
        reader = RecordReader(chunks, CsvSplitter(row_bytes))
        try:
            header = await reader.next()
            while header is not None and header.blank:
                header = await reader.next()
            if header is None:
                raise AdminError(AdminErrorCode.INVALID_REQUEST, "an empty upload: no CSV header")
            parse = CsvLayout.of_header(header, credential_type).row
        except AdminError:
            await reader.drain()
            raise
    return BulkUpload(
        deployment,
        principal,
        credential_type=credential_type,
        upload_format=upload_format,
        options=options,
        reader=reader,
        parse=parse,
    )
