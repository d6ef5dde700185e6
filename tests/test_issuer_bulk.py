"""Bulk offers (`POST /admin/offers/bulk`): CSV and JSON lines in, NDJSON out, on SQLite and
PostgreSQL.

Most tests go through FastAPI's ``TestClient``. Those about streaming call the ASGI app
directly (``Upload`` below): the request body is then handed over a chunk at a time as it is
made, and the test sees when each answer line leaves, which a client holding the whole body
cannot show.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import tracemalloc
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from credential_schemas import Registry
from issuer.api import create_app
from issuer.models import Approval, AuditEvent, Offer
from issuer.services.bulk_records import cell_converter
from servicekit.db import session_scope
from tests._issuer import IssuerWorld, make_settings, seed
from tests._wallet import Wallet

PUBLIC_URL = "http://127.0.0.1:8000"
BULK = "/admin/offers/bulk"
CSV = "text/csv"
JSONL = "application/x-ndjson"
REGISTRY = Registry.load()
RESIDENT = REGISTRY.get("resident_register_extract")  # mois issues it, nhis does not
COLUMNS = list(RESIDENT.claims_schema["properties"])
GOOD, OTHER = RESIDENT.examples[0], RESIDENT.examples[1]  # OTHER has no address_history
BOM = b"\xef\xbb\xbf"


# --- the deployment ----------------------------------------------------------------------------


@pytest.fixture
def limits() -> dict[str, Any]:
    """Settings a test overrides before seeding (``max_upload_rows``, ``max_body_bytes``, ...)."""
    return {}


@pytest.fixture
def world(database_url: str, tmp_path: Path, limits: dict[str, Any]) -> Iterator[IssuerWorld]:
    settings = make_settings(database_url, tmp_path / "data", PUBLIC_URL)
    world = seed(dataclasses.replace(settings, **limits))
    yield world
    world.deployment.engine.dispose()


@pytest.fixture
def app(world: IssuerWorld) -> FastAPI:
    return create_app(deployment=world.deployment)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as http:
        yield http


def admin(world: IssuerWorld, slug: str = "mois") -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[slug]}"}


def offers(world: IssuerWorld) -> list[Offer]:
    with session_scope(world.deployment.engine) as session:
        return list(session.exec(select(Offer)))


def audit(world: IssuerWorld, action: str) -> list[AuditEvent]:
    with session_scope(world.deployment.engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))


# --- uploads -----------------------------------------------------------------------------------


def cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def changed(claims: Mapping[str, Any] = GOOD, /, **changes: Any) -> dict[str, Any]:
    """``claims`` with some claims replaced, or left out where the new value is None."""
    merged = {**claims, **changes}
    return {name: value for name, value in merged.items() if value is not None}


def csv_record(values: Iterable[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(values)
    return out.getvalue().encode("utf-8")


def csv_row(claims: Mapping[str, Any], columns: list[str] = COLUMNS) -> bytes:
    return csv_record(cell(claims.get(name)) for name in columns)


HEADER = csv_record(COLUMNS)


def json_line(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8") + b"\n"


def post(
    client: TestClient,
    world: IssuerWorld,
    body: bytes,
    content_type: str = CSV,
    *,
    slug: str = "mois",
    credential_type: str = RESIDENT.id,
    **params: str,
) -> Any:
    return client.post(
        BULK,
        params={"credential_type": credential_type, **params},
        content=body,
        headers={**admin(world, slug), "Content-Type": content_type},
    )


def lines(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == JSONL
    assert response.headers["cache-control"] == "no-store"
    return [json.loads(line) for line in response.text.splitlines()]


def outcome(line: Mapping[str, Any]) -> str:
    """``created``, or the line's error code and reason."""
    if "offer_id" in line:
        return "created"
    return f"{line['error']}/{line.get('reason')}"


def by_row(answer: list[dict[str, Any]]) -> dict[int, str]:
    return {line["row"]: outcome(line) for line in answer if "row" in line}


# --- CSV ---------------------------------------------------------------------------------------

# One record each, in this order after the header (row 1): label, record, expected outcome.
_CELLS = [cell(GOOD.get(name)) for name in COLUMNS]
_NAME = "홍길동".encode()  # GOOD's first cell
CSV_CASES: list[tuple[str, bytes, str]] = [
    ("good", csv_row(GOOD), "created"),
    ("optional-claim-left-empty", csv_row(OTHER), "created"),
    ("schema-violation", csv_row(changed(sex="M")), "invalid_claims/schema_violation"),
    (
        "bad-rrn-check-digit",
        csv_row(changed(resident_registration_number="850315-1012349")),
        "invalid_claims/invalid_rrn",
    ),
    (
        "birth-date-against-rrn",
        csv_row(changed(birth_date="1985-03-16")),
        "invalid_claims/inconsistent_claims",
    ),
    ("empty-required-claim", csv_row(changed(name=None)), "invalid_claims/missing_required_claim"),
    ("a-cell-short", csv_record(_CELLS[:-1]), "invalid_request/wrong_column_count"),
    ("a-cell-over", csv_record([*_CELLS, "x"]), "invalid_request/wrong_column_count"),
    (
        "stray-quote-in-an-unquoted-cell",
        csv_row(GOOD).replace(_NAME, '홍"길동'.encode(), 1),
        "invalid_request/malformed_row",
    ),
    (
        "text-after-a-closing-quote",
        b'"' + _NAME + b'"x' + csv_row(GOOD)[len(_NAME) :],
        "invalid_request/malformed_row",
    ),
    (
        "quotes-and-commas-in-a-quoted-cell",
        csv_row(changed(address='서울특별시 종로구 "세종"대로 209, 3층')),
        "created",
    ),
    (
        "line-break-in-a-quoted-cell",  # one record still; the registry refuses the control
        csv_row(changed(address="서울특별시\n종로구 세종대로 209")),
        "invalid_claims/schema_violation",
    ),
    (
        "array-cell-not-json",
        csv_row(changed(address_history="[{")),
        "invalid_request/malformed_row",
    ),
    (
        "array-cell-with-a-duplicate-member",
        csv_row(GOOD).replace(b'"address', b'"address"": ""x"", ""address', 1),
        "invalid_request/duplicate_member",
    ),
    (
        "array-cell-of-the-wrong-type",
        csv_row(changed(address_history="7")),
        "invalid_claims/schema_violation",
    ),
    (
        "not-utf8",  # EUC-KR, as an old export might be
        csv_row(GOOD).replace(_NAME, "홍길동".encode("euc-kr"), 1),
        "invalid_request/not_utf8",
    ),
    ("blank", b",,,,,,,,,\r\n", "skipped"),
    ("good-after-the-bad", csv_row(OTHER), "created"),
]


@pytest.mark.parametrize(
    ("schema", "cell", "claim"),
    [
        pytest.param({"type": "integer"}, "42", 42, id="integer"),
        pytest.param({"type": "integer"}, "-7", -7, id="negative"),
        pytest.param({"type": "integer"}, "4x", "4x", id="integer-not-a-number-stays-text"),
        pytest.param({"type": "integer"}, "true", "true", id="integer-not-a-boolean"),
        pytest.param({"type": "integer"}, str(2**53), str(2**53), id="beyond-i-json-stays-text"),
        pytest.param({"type": "number"}, "1.5", 1.5, id="number"),
        pytest.param({"type": "boolean"}, "TRUE", True, id="boolean-as-excel-writes-it"),
        pytest.param({"type": "boolean"}, "false", False, id="boolean"),
        pytest.param({"type": "boolean"}, "yes", "yes", id="boolean-other-text-stays-text"),
        pytest.param({"type": "string", "format": "date"}, "2024-01-31", "2024-01-31", id="date"),
        pytest.param({"type": "string"}, "007", "007", id="digits-in-a-string-claim"),
        pytest.param({"enum": ["a", "b"]}, "a", "a", id="untyped"),
        pytest.param({"type": ["string", "null"]}, "12", "12", id="string-among-types"),
        pytest.param({"type": "array"}, "[1, 2]", [1, 2], id="array"),
        pytest.param({"type": "object"}, '{"a": 1}', {"a": 1}, id="object"),
    ],
)
def test_a_cell_becomes_a_claim_by_the_claim_s_schema_type(
    schema: dict[str, Any], cell: str, claim: Any
) -> None:
    converted = cell_converter("column", schema)(cell)
    assert (converted, type(converted)) == (claim, type(claim))


def csv_upload(*records: bytes) -> bytes:
    return HEADER + b"".join(records)


def test_a_csv_upload_answers_each_row_and_carries_on_past_bad_ones(
    client: TestClient, world: IssuerWorld
) -> None:
    answer = lines(post(client, world, csv_upload(*(record for _, record, _ in CSV_CASES))))

    rows = by_row(answer)  # the header is row 1
    got = {label: rows.get(number + 2, "skipped") for number, (label, _, _) in enumerate(CSV_CASES)}
    assert got == {label: want for label, _, want in CSV_CASES}
    created = [line for line in answer if "offer_id" in line]
    counted = [want for _, _, want in CSV_CASES if want != "skipped"]
    assert answer[-1] == {
        "summary": {
            "rows": len(counted),
            "created": counted.count("created"),
            "failed": len(counted) - counted.count("created"),
            "complete": True,
        }
    }
    assert sorted(o.id for o in offers(world)) == sorted(line["offer_id"] for line in created)


def test_error_lines_name_claims_and_columns_never_values(
    client: TestClient, world: IssuerWorld
) -> None:
    answer = lines(post(client, world, csv_upload(*(record for _, record, _ in CSV_CASES))))
    text = json.dumps(answer, ensure_ascii=False)
    for secret in ("850315-1012349", "1985-03-16", "홍길동", "서울특별시"):
        assert secret not in text
    errors = {line["row"]: line["error_description"] for line in answer if "error" in line}
    assert "resident_registration_number" in errors[5]
    assert "/sex" in errors[4]


def test_each_created_offer_is_redeemed_by_a_wallet(client: TestClient, world: IssuerWorld) -> None:
    answer = lines(post(client, world, csv_upload(csv_row(GOOD), csv_row(OTHER))))
    first, second = answer[0], answer[1]
    assert set(first) == {
        "row",
        "offer_id",
        "credential_offer_uri",
        "credential_offer_reference_uri",
        "tx_code",
        "expires_at",
    }
    wallet = Wallet(client, world.clock)
    by_value, _ = wallet.obtain(first["credential_offer_uri"], first["tx_code"])
    by_reference, _ = wallet.obtain(second["credential_offer_reference_uri"], second["tx_code"])
    assert len(by_value) == len(by_reference) == 1


def test_a_subject_column_and_a_bom(client: TestClient, world: IssuerWorld) -> None:
    columns = [*COLUMNS, "subject"]
    records = [
        csv_row({**GOOD, "subject": "case-0001"}, columns),
        csv_row(OTHER, columns),  # no subject: the resident registration number is used
        csv_row({**OTHER, "subject": "x" * 201}, columns),
    ]
    body = BOM + csv_record(columns) + b"".join(records)
    assert by_row(lines(post(client, world, body))) == {
        2: "created",
        3: "created",
        4: "invalid_request/malformed_row",
    }


def test_a_quoted_cell_left_open_at_the_end_is_refused(
    client: TestClient, world: IssuerWorld
) -> None:
    body = csv_upload(csv_row(GOOD), b'"' + csv_row(OTHER).rstrip(b"\r\n"))
    assert by_row(lines(post(client, world, body))) == {
        2: "created",
        3: "invalid_request/malformed_row",
    }


def test_a_row_as_long_as_the_schema_allows_is_taken(
    client: TestClient, world: IssuerWorld
) -> None:
    longest = {"address": "가" * 200, "issue_office": "가" * 100, "household_head_name": "가" * 100}
    longest_history = [{"address": "가" * 200, "moved_in": "2009-02-23"}] * 100
    long_row = csv_row(changed(address_history=longest_history, **longest))
    assert len(long_row) > 64 * 1024
    answer = lines(post(client, world, csv_upload(long_row, csv_row(GOOD))))
    assert by_row(answer) == {2: "created", 3: "created"}


@pytest.mark.parametrize("limits", [{"max_body_bytes": 4096}])
def test_a_row_over_the_size_of_one_offer_is_refused_and_the_next_read(
    client: TestClient, world: IssuerWorld
) -> None:
    history = [{"address": "가" * 100, "moved_in": "2009-02-23"}] * 12
    long_row = csv_row(changed(address_history=history))
    assert len(long_row) > world.settings.max_body_bytes
    # A quote left open swallows the rest of the upload (no quote after it): one long row.
    rest = csv_row(OTHER) * 40
    body = csv_upload(long_row, csv_row(GOOD), b'"' + rest)
    assert by_row(lines(post(client, world, body))) == {
        2: "invalid_request/row_too_long",
        3: "created",
        4: "invalid_request/row_too_long",
    }


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        pytest.param([*COLUMNS, "nickname"], "'nickname' is not a claim", id="unknown-claim"),
        pytest.param([*COLUMNS, "age_over_19"], "'age_over_19' is not a claim", id="derived"),
        pytest.param([*COLUMNS, "name"], "'name' twice", id="repeated"),
        pytest.param(["성명", *COLUMNS[1:]], "is not a claim", id="not-a-claim-name"),
    ],
)
def test_a_header_naming_what_is_not_a_claim_refuses_the_upload(
    client: TestClient, world: IssuerWorld, header: list[str], detail: str
) -> None:
    response = post(client, world, csv_record(header) + csv_row(GOOD))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert detail in response.json()["error_description"]
    assert offers(world) == []


def test_an_empty_csv_upload_is_refused_and_a_header_alone_is_zero_rows(
    client: TestClient, world: IssuerWorld
) -> None:
    assert post(client, world, b"").status_code == 400
    assert lines(post(client, world, BOM + HEADER)) == [
        {"summary": {"rows": 0, "created": 0, "failed": 0, "complete": True}}
    ]


# --- JSON lines --------------------------------------------------------------------------------

_DUPLICATE = b'{"claims": ' + json_line(GOOD).strip() + b', "claims": {}}\n'
JSONL_CASES: list[tuple[str, bytes, str]] = [
    ("good", json_line({"claims": GOOD}), "created"),
    ("good-with-subject", json_line({"claims": OTHER, "subject": "case-7"}), "created"),
    ("crlf-line-end", json_line({"claims": OTHER})[:-1] + b"\r\n", "created"),
    ("blank", b"  \r\n", "skipped"),
    (
        "derived-claim-supplied",
        json_line({"claims": changed(age_over_19=True)}),
        "invalid_claims/schema_violation",
    ),
    (
        "unknown-claim",
        json_line({"claims": changed(nickname="길동이")}),
        "invalid_claims/schema_violation",
    ),
    (
        "bad-rrn",
        json_line({"claims": changed(resident_registration_number="850315 1012348")}),
        "invalid_claims/invalid_rrn",
    ),
    ("not-json", b'{"claims": {"name": \n', "invalid_request/malformed_row"),
    ("duplicate-member", _DUPLICATE, "invalid_request/duplicate_member"),
    ("bare-claims-object", json_line(GOOD), "invalid_request/malformed_row"),
    (
        "unknown-member",
        json_line({"claims": GOOD, "tx_code": False}),
        "invalid_request/malformed_row",
    ),
    (
        "subject-not-text",
        json_line({"claims": GOOD, "subject": 7}),
        "invalid_request/malformed_row",
    ),
    ("array-line", json_line([GOOD]), "invalid_request/malformed_row"),
    ("nan", b'{"claims": {"name": NaN}}\n', "invalid_request/malformed_row"),
    ("not-utf8", b'{"claims": {"name": "\xb1\xe6"}}\n', "invalid_request/not_utf8"),
    (
        "too-long",
        json_line({"claims": GOOD, "subject": "x" * 256 * 1024}),
        "invalid_request/row_too_long",
    ),
    (
        "most-claims-missing",
        json_line({"claims": {"name": "x"}}),
        "invalid_claims/missing_required_claim",
    ),
    ("good-after-the-bad", json_line({"claims": GOOD}), "created"),
]


@pytest.mark.parametrize(
    "content_type", [JSONL, "application/jsonl", "application/x-ndjson; charset=utf-8"]
)
def test_a_json_lines_upload_answers_each_line(
    client: TestClient, world: IssuerWorld, content_type: str
) -> None:
    body = BOM + b"".join(record for _, record, _ in JSONL_CASES)
    answer = lines(post(client, world, body, content_type))

    rows = by_row(answer)
    got = {
        label: rows.get(number + 1, "skipped") for number, (label, _, _) in enumerate(JSONL_CASES)
    }
    assert got == {label: want for label, _, want in JSONL_CASES}
    assert answer[-1]["summary"] == {
        "rows": len(JSONL_CASES) - 1,
        "created": 4,
        "failed": len(JSONL_CASES) - 5,
        "complete": True,
    }


def test_an_empty_json_lines_upload_is_zero_rows(client: TestClient, world: IssuerWorld) -> None:
    assert lines(post(client, world, b"", JSONL))[-1]["summary"]["rows"] == 0


# --- options, refusals before the body, audit, isolation -----------------------------------------


def test_options_apply_to_every_row(client: TestClient, world: IssuerWorld) -> None:
    body = b"".join(json_line({"claims": claims}) for claims in (GOOD, OTHER))
    answer = lines(post(client, world, body, JSONL, tx_code="false", approval_required="true"))
    assert [line["tx_code"] for line in answer[:2]] == [None, None]
    for line in answer[:2]:
        shown = client.get(f"/admin/offers/{line['offer_id']}", headers=admin(world))
        assert shown.json()["approval"] == Approval.PENDING


@pytest.mark.parametrize(
    ("content_type", "params", "slug", "status", "code"),
    [
        pytest.param("text/plain", {}, "mois", 400, "invalid_request", id="content-type"),
        pytest.param(f"{CSV}; charset=euc-kr", {}, "mois", 400, "invalid_request", id="charset"),
        pytest.param(
            CSV, {"credential_type": "x"}, "mois", 400, "unknown_credential_type", id="unknown-type"
        ),
        pytest.param(CSV, {}, "nhis", 403, "forbidden", id="another-agency's-type"),
    ],
)
def test_what_refuses_a_whole_upload_before_any_row(
    client: TestClient,
    world: IssuerWorld,
    content_type: str,
    params: dict[str, str],
    slug: str,
    status: int,
    code: str,
) -> None:
    response = post(client, world, csv_upload(csv_row(GOOD)), content_type, slug=slug, **params)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert offers(world) == []


def test_the_upload_is_audited_with_its_counts_and_each_offer_too(
    client: TestClient, world: IssuerWorld
) -> None:
    answer = lines(post(client, world, csv_upload(csv_row(GOOD), csv_row(changed(sex="M")))))
    [bulk] = audit(world, "offer.bulk")
    assert bulk.detail == {
        "credential_type": RESIDENT.id,
        "format": "csv",
        "rows": 2,
        "created": 1,
        "failed": 1,
        "complete": True,
    }
    assert [event.target for event in audit(world, "offer.create")] == [answer[0]["offer_id"]]
    listed = client.get("/admin/audit-events", headers=admin(world)).json()
    assert [event["action"] for event in listed] == ["offer.create", "offer.bulk"]


def test_another_agency_cannot_see_the_offers(client: TestClient, world: IssuerWorld) -> None:
    [created, _] = lines(post(client, world, csv_upload(csv_row(GOOD))))
    path = f"/admin/offers/{created['offer_id']}"
    assert client.get(path, headers=admin(world)).status_code == 200
    assert client.get(path, headers=admin(world, "nhis")).status_code == 404
    assert client.get("/admin/audit-events", headers=admin(world, "nhis")).json() == []


@pytest.mark.parametrize("limits", [{"max_upload_rows": 2}])
def test_rows_over_the_limit_are_refused_with_one_line(
    client: TestClient, world: IssuerWorld
) -> None:
    body = csv_upload(*(csv_row(GOOD) for _ in range(5)))
    answer = lines(post(client, world, body))
    assert by_row(answer) == {2: "created", 3: "created", 4: "too_large/too_many_rows"}
    assert answer[-1]["summary"] == {"rows": 2, "created": 2, "failed": 0, "complete": False}
    assert len(offers(world)) == 2
    assert audit(world, "offer.bulk")[0].detail["complete"] is False


@pytest.mark.parametrize("limits", [{"max_upload_bytes": 8 * 1024}])
def test_an_upload_declared_over_the_limit_gets_413(client: TestClient, world: IssuerWorld) -> None:
    body = csv_upload(*(csv_row(GOOD) for _ in range(30)))
    assert len(body) > 8 * 1024
    response = post(client, world, body)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert offers(world) == []


# --- streaming: the ASGI app called directly ------------------------------------------------------


@dataclass
class Upload:
    """One request to the app: the body handed over chunk by chunk, the answer watched.

    ``read_after_sending`` makes the client read nothing until it has sent its whole body, as
    most HTTP/1.1 clients do; ``leave_after`` makes it disconnect after that many chunks.
    """

    chunks: Iterable[bytes]
    headers: Mapping[str, str]
    query: Mapping[str, str]
    read_after_sending: bool = False
    leave_after: int | None = None
    keep_lines: bool = True
    status: int | None = None
    lines: list[dict[str, Any]] = field(default_factory=list)
    line_count: int = 0
    chunks_sent: int = 0
    chunks_sent_at_first_line: int | None = None
    body_read: bool = False

    def run(self, app: FastAPI, seconds: float = 120) -> Upload:
        anyio.run(self._run, app, seconds)
        return self

    async def _run(self, app: FastAPI, seconds: float) -> None:
        sent_all = anyio.Event()
        source = iter(self.chunks)
        pending = bytearray()
        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},  # as uvicorn's
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": BULK,
            "raw_path": BULK.encode(),
            "root_path": "",
            "query_string": urlencode(self.query).encode(),
            "headers": [(k.lower().encode(), v.encode()) for k, v in self.headers.items()],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }

        async def receive() -> dict[str, Any]:
            self.body_read = True
            if self.leave_after is not None and self.chunks_sent >= self.leave_after:
                sent_all.set()
                return {"type": "http.disconnect"}
            chunk = next(source, None)
            if chunk is None:
                sent_all.set()
                return {"type": "http.request", "body": b"", "more_body": False}
            self.chunks_sent += 1
            await anyio.sleep(0)  # a network: the app gets to run between two chunks
            return {"type": "http.request", "body": chunk, "more_body": True}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.status = message["status"]
                return
            if self.read_after_sending:
                await sent_all.wait()
            pending.extend(message.get("body", b""))
            while b"\n" in pending:
                line, _, rest = bytes(pending).partition(b"\n")
                pending[:] = rest
                if self.chunks_sent_at_first_line is None:
                    self.chunks_sent_at_first_line = self.chunks_sent
                self.line_count += 1
                if self.keep_lines or line.startswith(b'{"summary"'):
                    self.lines.append(json.loads(line))

        with anyio.fail_after(seconds):  # a deadlock fails the test instead of hanging it
            await app(scope, receive, send)
        if pending:  # an error answer: one JSON object, no line end
            self.lines.append(json.loads(bytes(pending)))


def upload(
    world: IssuerWorld, chunks: Iterable[bytes], content_type: str = CSV, **options: Any
) -> Upload:
    return Upload(
        chunks,
        headers={**admin(world), "Content-Type": content_type},
        query={"credential_type": RESIDENT.id},
        **options,
    )


def csv_chunks(rows: int, row: bytes = csv_row(GOOD), per_chunk: int = 10) -> Iterator[bytes]:
    """A CSV upload made as it is sent: the header, then ``rows`` copies of ``row``."""
    yield HEADER
    for start in range(0, rows, per_chunk):
        yield row * min(per_chunk, rows - start)


def test_the_first_lines_leave_before_the_upload_has_arrived(
    app: FastAPI, world: IssuerWorld
) -> None:
    done = upload(world, csv_chunks(200)).run(app)
    assert done.lines[-1]["summary"]["created"] == 200
    assert done.chunks_sent == 21
    assert done.chunks_sent_at_first_line is not None
    assert done.chunks_sent_at_first_line <= 3


def test_a_client_that_reads_only_after_sending_gets_every_line(
    app: FastAPI, world: IssuerWorld
) -> None:
    """Were lines written straight to the client, this would wait for ever (see the route)."""
    done = upload(world, csv_chunks(60), read_after_sending=True).run(app)
    assert done.line_count == 61
    assert done.lines[-1]["summary"] == {"rows": 60, "created": 60, "failed": 0, "complete": True}


def test_chunks_cut_anywhere_give_the_same_answer(app: FastAPI, world: IssuerWorld) -> None:
    body = (
        BOM
        + csv_upload(
            csv_row(changed(address='서울 "세종"대로, 209\n3층')),  # quotes, comma, line break
            csv_row(OTHER),
            b'"x"y,' + csv_row(OTHER)[len("김영희,".encode()) :],
            csv_row(GOOD).replace(_NAME, '홍"길동'.encode(), 1),
            csv_row(changed(sex="M")),
        )
    )
    whole = upload(world, [body]).run(app)
    byte_by_byte = upload(world, (body[i : i + 1] for i in range(len(body)))).run(app)
    assert [outcome(line) for line in whole.lines[:-1]] == [
        "invalid_claims/schema_violation",
        "created",
        "invalid_request/malformed_row",
        "invalid_request/malformed_row",
        "invalid_claims/schema_violation",
    ]
    assert [outcome(line) for line in byte_by_byte.lines[:-1]] == [
        outcome(line) for line in whole.lines[:-1]
    ]
    assert byte_by_byte.lines[-1] == whole.lines[-1]


def test_no_token_is_refused_before_the_body_is_read(app: FastAPI, world: IssuerWorld) -> None:
    for headers in (
        {"Content-Type": CSV},
        {"Authorization": "Bearer jgat_nope", "Content-Type": CSV},
    ):
        done = Upload(csv_chunks(3), headers=headers, query={"credential_type": RESIDENT.id}).run(
            app
        )
        assert done.status == 401
        assert done.lines[0]["error"] == "unauthenticated"
        assert not done.body_read
    assert offers(world) == []


def test_a_client_leaving_mid_upload_leaves_whole_rows_only(
    app: FastAPI, world: IssuerWorld
) -> None:
    columns = [name for name in COLUMNS if name != "address"] + ["address"]
    row = csv_row(GOOD, columns)
    cut = row[: row.rindex("세종대로".encode())]  # would pass for a whole row, address cut short
    done = upload(world, [csv_record(columns) + row * 3 + cut, row], leave_after=1).run(app)
    assert by_row(done.lines) == {
        2: "created",
        3: "created",
        4: "created",
        5: "invalid_request/None",
    }
    assert done.lines[-1]["summary"] == {"rows": 3, "created": 3, "failed": 0, "complete": False}
    assert len(offers(world)) == 3
    assert audit(world, "offer.bulk")[0].detail["complete"] is False


@pytest.mark.parametrize("limits", [{"max_upload_bytes": 64 * 1024}])
def test_a_streamed_upload_going_over_the_limit_ends_with_an_error_line(
    app: FastAPI, world: IssuerWorld
) -> None:
    done = upload(world, csv_chunks(200, per_chunk=5)).run(app)
    assert done.status == 200  # the answer had begun: the limit is reported in it
    *rows, last_error, summary = done.lines
    assert {outcome(line) for line in rows} == {"created"}
    assert outcome(last_error) == "too_large/None"
    assert summary["summary"]["complete"] is False
    assert summary["summary"]["created"] == len(rows) == len(offers(world))


def fat_row(number: int) -> bytes:
    """A resident-register row of about 60 KB: the longest address history the schema allows."""
    history = [
        {
            "address": f"{number:06d} {'경기도 수원시 팔달구 효원로 ' * 13}"[:200],
            "moved_in": "2009-02-23",
        }
        for _ in range(100)
    ]
    return csv_row(changed(address_history=history))


@pytest.mark.slow
def test_memory_stays_far_below_the_upload_size(app: FastAPI, world: IssuerWorld) -> None:
    rows = 160
    upload(world, [HEADER, fat_row(0)]).run(app)  # caches and first-use imports, not counted
    size = len(HEADER) + sum(len(fat_row(n)) for n in range(rows))
    assert size > 8 * 1024 * 1024

    def chunks() -> Iterator[bytes]:
        yield HEADER
        for number in range(rows):
            yield fat_row(number)

    tracemalloc.start()
    try:
        done = upload(world, chunks(), keep_lines=False).run(app)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.lines[-1]["summary"] == {
        "rows": rows,
        "created": rows,
        "failed": 0,
        "complete": True,
    }
    # Holding the upload (or its answer) would take more than the upload's size.
    assert peak < size / 4, f"peak {peak:,} bytes for an upload of {size:,}"
