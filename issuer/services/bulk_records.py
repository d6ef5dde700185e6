"""Bulk uploads, record by record: cutting the byte stream into CSV records or JSON lines,
and each record into one offer's claims and subject (see ``issuer.services.bulk``)."""

from __future__ import annotations

import csv
import io
import re
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from credential_schemas import CredentialType
from issuer.errors import AdminError, AdminErrorCode
from keys.encoding import json_loads
from keys.errors import KeyErrorCode, KeyManagementError

__all__ = [
    "MEDIA_TYPES",
    "SUBJECT_COLUMN",
    "CsvLayout",
    "CsvSplitter",
    "Record",
    "RecordReader",
    "Row",
    "RowError",
    "RowProblem",
    "Splitter",
    "UploadFormat",
    "cell_converter",
    "json_row",
    "malformed",
    "upload_format",
]

SUBJECT_COLUMN = "subject"
_MAX_SUBJECT = 200  # as for one offer (`OfferCreate.subject`)
_BOM = b"\xef\xbb\xbf"


class UploadFormat(StrEnum):
    CSV = "csv"
    JSON_LINES = "jsonl"


MEDIA_TYPES = {
    "text/csv": UploadFormat.CSV,
    "application/x-ndjson": UploadFormat.JSON_LINES,
    "application/jsonl": UploadFormat.JSON_LINES,
}


class RowProblem(StrEnum):
    """Why a row was refused (an error line's ``reason``), beside the registry's own codes
    (``schema_violation``, ``missing_required_claim``, ``invalid_rrn``, ...)."""

    MALFORMED_ROW = "malformed_row"  # broken CSV quoting, not JSON, not the row's shape
    DUPLICATE_MEMBER = "duplicate_member"  # a JSON object naming a member twice
    NOT_UTF8 = "not_utf8"
    ROW_TOO_LONG = "row_too_long"  # over settings.max_body_bytes
    WRONG_COLUMN_COUNT = "wrong_column_count"  # a CSV record with more or fewer cells
    TOO_MANY_ROWS = "too_many_rows"  # over settings.max_upload_rows: the rest is not read


def upload_format(content_type: str | None) -> UploadFormat:
    """The format a ``Content-Type`` names; only UTF-8 is taken."""
    media_type, *parameters = (content_type or "").split(";")
    found = MEDIA_TYPES.get(media_type.strip().lower())
    if found is None:
        raise AdminError(
            AdminErrorCode.INVALID_REQUEST,
            f"Content-Type must be one of {', '.join(MEDIA_TYPES)}",
        )
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() != "utf-8":
            raise AdminError(AdminErrorCode.INVALID_REQUEST, "the upload must be UTF-8")
    return found


class RowError(Exception):
    def __init__(self, code: AdminErrorCode, reason: RowProblem | None, detail: str) -> None:
        super().__init__(detail)
        self.code, self.reason, self.detail = code, reason, detail


def malformed(detail: str, reason: RowProblem = RowProblem.MALFORMED_ROW) -> RowError:
    return RowError(AdminErrorCode.INVALID_REQUEST, reason, detail)


# --- cutting the byte stream into records ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Record:
    number: int
    data: bytes | None  # None: over the row limit, dropped as it streamed past
    malformed: bool = False  # quoting the CSV splitter saw broken
    blank: bool = False


class Splitter:
    """JSON lines: a record ends at LF (JSON strings cannot hold a raw one)."""

    def __init__(self, max_bytes: int) -> None:
        self._max, self._kept, self._size = max_bytes, bytearray(), 0
        self.next_number = 1  # of the record being read
        self._reset()

    def _reset(self) -> None:
        self.malformed = False

    def _scan(self, data: bytes, pos: int) -> int:
        """Index just after the end of the current record in ``data``, or -1."""
        end = data.find(b"\n", pos)
        return end + 1 if end >= 0 else -1

    def _is_blank(self, data: bytes) -> bool:
        return not data.strip()

    def _at_end(self) -> None:
        """Called at the end of the upload with a record still open."""

    def feed(self, data: bytes) -> list[Record]:
        records, start = [], 0
        while start < len(data):
            end = self._scan(data, start)
            if end < 0:
                self._keep(data[start:])
                break
            self._keep(data[start:end])
            records.append(self._take())
            start = end
        return records

    def close(self) -> list[Record]:
        if not self._size:
            return []
        self._at_end()
        return [self._take()]

    def _keep(self, piece: bytes) -> None:
        self._size += len(piece)
        if self._size <= self._max:
            self._kept += piece
        elif self._kept:
            self._kept = bytearray()  # the row is refused: keep none of it

    def _take(self) -> Record:
        data = bytes(self._kept) if self._size <= self._max else None
        taken = Record(
            self.next_number,
            data,
            malformed=self.malformed,
            blank=data is not None and self._is_blank(data),
        )
        self._kept, self._size = bytearray(), 0
        self.next_number += 1
        self._reset()
        return taken


_OUTSIDE_QUOTES_STOP = re.compile(rb'[\n"]')
_QUOTE, _COMMA, _CR, _LF = 0x22, 0x2C, 0x0D, 0x0A


class CsvSplitter(Splitter):
    """RFC 4180 records: a record ends at LF outside quotes; a quoted field may hold LFs.

    Scanned at the byte level (the ASCII delimiters never occur inside a UTF-8 sequence), so a
    row that is not UTF-8 is that row's error, not the end of the upload. A quote opens a
    quoted field only at a field's start: a stray one elsewhere marks the record malformed
    instead of swallowing the records after it.
    """

    def _reset(self) -> None:
        super()._reset()
        self._quoted = False  # inside a quoted field
        self._quote_seen = False  # inside one, just after a quote: its end, or half of `""`
        self._field_start = True  # the last byte outside quotes ended a field

    def _is_blank(self, data: bytes) -> bool:
        return not data.rstrip(b"\r\n").strip(b",")

    def _at_end(self) -> None:
        if self._quoted and not self._quote_seen:
            self.malformed = True  # a quoted field never closed

    def _scan(self, data: bytes, pos: int) -> int:
        n = len(data)
        while pos < n:
            if self._quote_seen:
                self._quote_seen = False
                if data[pos] == _QUOTE:  # `""`: a quote inside the field
                    pos += 1
                    continue
                self._quoted = False
                if data[pos] not in (_COMMA, _CR, _LF):
                    self.malformed = True  # text after a closing quote
            if self._quoted:
                pos = data.find(b'"', pos) + 1
                if not pos:
                    return -1
                self._quote_seen = True
                continue
            stop = _OUTSIDE_QUOTES_STOP.search(data, pos)
            if stop is None:
                self._field_start = data[-1] == _COMMA
                return -1
            at = stop.start()
            if data[at] == _LF:
                return at + 1
            if (data[at - 1] == _COMMA) if at > pos else self._field_start:
                self._quoted = True
            else:
                self.malformed = True  # a quote inside an unquoted field
                self._field_start = False
            pos = at + 1
        return -1


class RecordReader:
    """Records from the upload's chunks, a chunk at a time; the BOM, if any, dropped."""

    def __init__(self, chunks: AsyncIterator[bytes], splitter: Splitter) -> None:
        self._chunks, self._splitter = chunks, splitter
        self._pending: deque[Record] = deque()
        self._head: bytes | None = b""  # the first bytes, until we know if they are a BOM
        self._ended = False

    @property
    def next_number(self) -> int:
        return self._pending[0].number if self._pending else self._splitter.next_number

    async def next(self) -> Record | None:
        """The next record; None at the end. Raises what the chunk source raises."""
        while not self._pending and not self._ended:
            chunk = await anext(self._chunks, None)
            if chunk is None:
                self._ended = True
                self._pending.extend(self._splitter.feed(self._unhead(b"", final=True)))
                self._pending.extend(self._splitter.close())
            else:
                self._pending.extend(self._splitter.feed(self._unhead(chunk)))
        return self._pending.popleft() if self._pending else None

    def _unhead(self, chunk: bytes, *, final: bool = False) -> bytes:
        if self._head is None:
            return chunk
        head = self._head + chunk
        if len(head) < len(_BOM) and not final:
            self._head = head
            return b""
        self._head = None
        return head.removeprefix(_BOM)

    async def drain(self) -> None:
        """Read the rest of the upload unlooked-at (bounded by the upload limit), so that a
        client that sends everything before it reads gets our answer, not a reset."""
        self._ended = True
        with suppress(AdminError):
            async for _ in self._chunks:
                pass


# --- records into claims -----------------------------------------------------------------------


def _text(record: Record) -> str:
    if record.data is None:
        raise malformed("row over the size one offer may have", RowProblem.ROW_TOO_LONG)
    try:
        return record.data.decode("utf-8")
    except UnicodeDecodeError:
        raise malformed("not UTF-8", RowProblem.NOT_UTF8) from None


def _json(text: str, where: str) -> Any:
    try:
        return json_loads(text)
    except KeyManagementError as exc:
        if exc.code is KeyErrorCode.DUPLICATE_MEMBER:
            raise malformed(f"{where}: a member named twice", RowProblem.DUPLICATE_MEMBER) from None
        raise malformed(f"{where}: not JSON") from None


def _subject(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not 0 < len(value) <= _MAX_SUBJECT):
        raise malformed(f"subject: a string of 1 to {_MAX_SUBJECT} characters")
    return value


Row = tuple[dict[str, Any], str | None]  # claims, subject


def json_row(record: Record) -> Row:
    value = _json(_text(record), "the line")
    if not isinstance(value, dict) or not isinstance(value.get("claims"), dict):
        raise malformed('a line is an object {"claims": {...}, "subject": "..."}')
    extra = sorted(set(value) - {"claims", SUBJECT_COLUMN})
    if extra:
        raise malformed(f"unknown member {extra[0][:40]!a}")
    return value["claims"], _subject(value.get(SUBJECT_COLUMN))


def _cells(record: Record) -> list[str]:
    text = _text(record)
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error:
        raise malformed("broken CSV quoting") from None
    if record.malformed or len(rows) != 1:
        raise malformed("broken CSV quoting")
    return rows[0]


_Converter = Callable[[str], Any]


def cell_converter(name: str, schema: Mapping[str, Any]) -> _Converter:
    """How a cell's text becomes the claim's value, by the claim's JSON Schema type."""
    declared = schema.get("type")
    types = declared if isinstance(declared, list) else [declared]
    if "string" in types or types[0] not in ("integer", "number", "boolean", "array", "object"):
        return str
    kind = types[0]
    if kind == "boolean":
        return lambda cell: {"true": True, "false": False}.get(cell.lower(), cell)
    if kind in ("integer", "number"):

        def number(cell: str) -> Any:
            # Not a number: the text goes on, and the schema names the claim and the type.
            with suppress(KeyManagementError):
                value = json_loads(cell)
                if isinstance(value, int | float) and not isinstance(value, bool):
                    return value
            return cell

        return number
    return lambda cell: _json(cell, f"column {name!a}")


@dataclass(frozen=True)
class CsvLayout:
    columns: tuple[tuple[str, _Converter], ...]

    @classmethod
    def of_header(cls, record: Record, credential_type: CredentialType) -> CsvLayout:
        try:
            names = _cells(record)
        except RowError as exc:
            raise AdminError(AdminErrorCode.INVALID_REQUEST, f"CSV header: {exc.detail}") from None
        claims = {
            name: schema
            for name, schema in credential_type.claims_schema["properties"].items()
            if name not in credential_type.derived_claim_names
        }
        columns: list[tuple[str, _Converter]] = []
        for name in names:
            if name != SUBJECT_COLUMN and name not in claims:
                raise AdminError(
                    AdminErrorCode.INVALID_REQUEST,
                    f"CSV header: column {name[:40]!a} is not a claim of {credential_type.id}",
                )
            if any(name == seen for seen, _ in columns):
                raise AdminError(
                    AdminErrorCode.INVALID_REQUEST, f"CSV header: column {name[:40]!a} twice"
                )
            columns.append(
                (name, str if name == SUBJECT_COLUMN else cell_converter(name, claims[name]))
            )
        return cls(tuple(columns))

    def row(self, record: Record) -> Row:
        cells = _cells(record)
        if len(cells) != len(self.columns):
            raise malformed(
                f"{len(cells)} cells for {len(self.columns)} columns",
                RowProblem.WRONG_COLUMN_COUNT,
            )
        values = {
            name: convert(cell)
            for (name, convert), cell in zip(self.columns, cells, strict=True)
            if cell
        }
        subject = values.pop(SUBJECT_COLUMN, None)
        return values, _subject(subject)
