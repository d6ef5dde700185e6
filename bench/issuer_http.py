"""The issuer's credential endpoint over HTTP: `jigap issuer serve` (uvicorn, one worker) on
loopback, SQLite and, given a server, PostgreSQL.

A fresh deployment for each backend (``issuer.cli.init_deployment`` into a temporary
directory; on PostgreSQL a new schema, dropped after), served by the console script in a
subprocess, which is stopped by its pid at the end. Wallets are threads, each with its own
``httpx.Client`` (keep-alive) and one request in flight; the client threads and the server
share the machine's cores.

Two things are timed, each for 1, 10 and 50 concurrent wallets, one credential a request and
a batch of ten (ten key proofs):

- **credential request**: offers (one bulk upload), access tokens, nonces and the signed key
  proofs are all made beforehand, untimed; only ``POST /credential`` is timed;
- **wallet flow**: the offers are made beforehand (the agency's side) and the issuer metadata
  read once; timed, for each wallet, what a phone does: fetch the offer by reference, redeem
  the pre-authorized code with the transaction code, fetch a nonce, make and sign its key
  proofs, request the credentials.

Every cell runs once a round, the cells in turn (as ``bench/timing.py`` interleaves its cases,
so that a noisy moment hits them alike). A row gives the median over the rounds of the
credentials a second (each round: its units' credentials over its wall time), and the median
and 99th percentile of the timed unit's latency over all rounds; "share of in-process rate"
sets credentials a second against ``issue_sd_jwt_vc`` called in-process (no HTTP, no
database, no proof checks).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bench.report import Report
from issuer.cli import init_deployment
from issuer.settings import ENV_PREFIX
from keys.jwk import Algorithm, SigningKey
from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    make_jwt_proof,
    parse_offer_uri,
    well_known_url,
)
from servicekit.db import scratch_postgres_schema

__all__ = [
    "DATABASE_URL_ENV",
    "FULL",
    "QUICK",
    "Cell",
    "Plan",
    "Run",
    "http_report",
    "measure_backends",
]

DATABASE_URL_ENV = "JIGAP_TEST_DATABASE_URL"
AGENCY = "mois"
CREDENTIAL_TYPE = "resident_register_extract"
CREDENTIAL_REQUEST = "credential request"
WALLET_FLOW = "wallet flow"
JIGAP = Path(sys.executable).parent / "jigap"
STARTUP_SECONDS = 30.0
STOP_SECONDS = 15.0
REQUEST_SECONDS = 120.0
_READY_LINE = b"Application startup complete."


@dataclass(frozen=True)
class Plan:
    units: int  # timed units (requests, or wallet flows) per cell and round
    rounds: int  # each round runs every cell once, in turn, so drift hits them alike
    wallets: tuple[int, ...]
    batches: tuple[int, ...]


FULL = Plan(units=100, rounds=3, wallets=(1, 10, 50), batches=(1, 10))
QUICK = Plan(units=10, rounds=1, wallets=(1, 10), batches=(1, 10))


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time of all the units of one round
    latencies: tuple[float, ...]  # seconds, one per unit


@dataclass(frozen=True)
class Cell:
    backend: str
    timed: str  # CREDENTIAL_REQUEST or WALLET_FLOW
    wallets: int
    batch: int
    runs: tuple[Run, ...]  # one per round

    @property
    def rates(self) -> list[float]:
        return [len(run.latencies) * self.batch / run.seconds for run in self.runs]

    @property
    def credentials_per_second(self) -> float:
        return statistics.median(self.rates)

    @property
    def spread_percent(self) -> float:
        """Half the range of the rounds' rates, relative to their median."""
        return 50 * (max(self.rates) - min(self.rates)) / self.credentials_per_second

    @property
    def latencies(self) -> list[float]:
        return [latency for run in self.runs for latency in run.latencies]

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[98] * 1000


# --- the server -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Server:
    public_url: str
    issuer_id: str
    admin_token: str


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def _running_issuer(directory: Path, database_url: str) -> Iterator[_Server]:
    port = _free_port()
    public_url = f"http://127.0.0.1:{port}"
    data_dir = directory / "data"
    settings, tokens = init_deployment(data_dir, public_url=public_url, database_url=database_url)
    # The deployment's settings come from its issuer.env alone, not from this shell.
    env = {name: value for name, value in os.environ.items() if not name.startswith(ENV_PREFIX)}
    command = [
        str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    log = directory / "server.log"
    with log.open("wb") as log_file:
        # A session of its own: if it ignores SIGTERM, its group (it alone) is killed by id.
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_until_ready(process, f"{public_url}/openapi.json", log)
        yield _Server(public_url, settings.issuer_id(AGENCY), tokens[AGENCY])
    except Exception:
        # The log goes with the temporary directory: show its end while it is there.
        tail = log.read_text("utf-8", errors="replace").splitlines()[-40:]
        print("\n".join(["the issuer's log ends:", *tail]), file=sys.stderr)
        raise
    finally:
        _stop(process)


def _wait_until_ready(process: subprocess.Popen[bytes], probe_url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the issuer exited with {process.returncode}: see {log}")
        if _READY_LINE in log.read_bytes():
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(probe_url, timeout=5.0).status_code == httpx.codes.OK:
                    return
        time.sleep(0.1)
    raise RuntimeError(f"the issuer did not answer within {STARTUP_SECONDS} s: see {log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the group it leads: its pid
        process.wait(STOP_SECONDS)


# --- wallets --------------------------------------------------------------------------------------

Item = TypeVar("Item")


def _in_wallets(
    wallets: int, items: Sequence[Item], work: Callable[[httpx.Client, Item], None], probe: str
) -> Run:
    """``work`` on every item, ``wallets`` threads at a time, timed; each thread connects
    (``probe``) before the clock starts."""
    todo: queue.SimpleQueue[Item] = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    latencies: list[float] = []
    failures: list[BaseException] = []
    start = threading.Barrier(wallets + 1, timeout=STARTUP_SECONDS)

    def wallet() -> None:
        with httpx.Client(timeout=REQUEST_SECONDS) as client:
            client.get(probe).raise_for_status()
            start.wait()
            while not failures:
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                began = time.perf_counter()
                try:
                    work(client, item)
                except Exception as exc:  # reported below, after every thread has stopped
                    failures.append(exc)
                    return
                latencies.append(time.perf_counter() - began)

    threads = [threading.Thread(target=wallet, daemon=True) for _ in range(wallets)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join(REQUEST_SECONDS * len(items))
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} wallet(s) failed; the first: {failures[0]!r}")
    if len(latencies) != len(items):
        raise RuntimeError(f"{len(items) - len(latencies)} requests did not finish")
    return Run(elapsed, tuple(latencies))


@dataclass
class _Offer:
    reference_uri: str
    pre_authorized_code: str
    tx_code: str


@dataclass
class _Prepared:
    access_token: str
    body: dict[str, Any]


def _checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != httpx.codes.OK:
        raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text}")
    body: dict[str, Any] = response.json()
    return body


class _Issuer:
    """One agency of a running deployment, as the bench's wallets see it."""

    def __init__(self, server: _Server, client: httpx.Client) -> None:
        self.server = server
        self.metadata = _checked(
            client.get(well_known_url(server.issuer_id, WELL_KNOWN_CREDENTIAL_ISSUER))
        )
        self.token_endpoint = f"{server.issuer_id}/token"
        self.example = _example_claims()

    def offers(self, client: httpx.Client, count: int) -> list[_Offer]:
        """``count`` fresh offers, from one bulk upload (the agency's side: never timed)."""
        rows = (json.dumps({"claims": self.example}) + "\n" for _ in range(count))
        response = client.post(
            f"{self.server.public_url}/admin/offers/bulk",
            params={"credential_type": CREDENTIAL_TYPE},
            content="".join(rows).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {self.server.admin_token}",
                "Content-Type": "application/x-ndjson",
            },
        )
        lines = [json.loads(line) for line in response.text.splitlines()]
        made = [line for line in lines if "offer_id" in line]
        if response.status_code != httpx.codes.OK or len(made) != count:
            raise RuntimeError(f"bulk offers: {response.status_code} {lines[-1:]}")
        return [
            _Offer(
                line["credential_offer_reference_uri"],
                _pre_authorized_code(line["credential_offer_uri"]),
                line["tx_code"],
            )
            for line in made
        ]

    def token(self, client: httpx.Client, code: str, tx_code: str) -> str:
        form = {"grant_type": PRE_AUTHORIZED_CODE_GRANT, "pre-authorized_code": code}
        form["tx_code"] = tx_code
        return str(_checked(client.post(self.token_endpoint, data=form))["access_token"])

    def nonce(self, client: httpx.Client) -> str:
        return str(_checked(client.post(self.metadata["nonce_endpoint"]))["c_nonce"])

    def request_body(self, nonce: str, batch: int) -> dict[str, Any]:
        now = int(time.time())
        proofs = [
            make_jwt_proof(
                SigningKey.generate(Algorithm.ES256),
                audience=self.server.issuer_id,
                nonce=nonce,
                now=now,
            )
            for _ in range(batch)
        ]
        return {"credential_configuration_id": CREDENTIAL_TYPE, "proofs": {"jwt": proofs}}

    def credential(self, client: httpx.Client, prepared: _Prepared, batch: int) -> None:
        response = client.post(
            self.metadata["credential_endpoint"],
            json=prepared.body,
            headers={"Authorization": f"Bearer {prepared.access_token}"},
        )
        issued = _checked(response)["credentials"]
        if len(issued) != batch:
            raise RuntimeError(f"{len(issued)} credentials for a batch of {batch}")

    def flow(self, client: httpx.Client, offer: _Offer, batch: int) -> None:
        """What a phone does with an offer it has scanned (the metadata it knows already)."""
        parsed = parse_offer_uri(offer.reference_uri, allow_http=True)
        assert isinstance(parsed, str)  # an offer by reference: its URL
        grant = _checked(client.get(parsed))["grants"][PRE_AUTHORIZED_CODE_GRANT]
        access_token = self.token(client, grant["pre-authorized_code"], offer.tx_code)
        body = self.request_body(self.nonce(client), batch)
        self.credential(client, _Prepared(access_token, body), batch)


def _pre_authorized_code(offer_uri: str) -> str:
    parsed = parse_offer_uri(offer_uri, allow_http=True)
    assert not isinstance(parsed, str)  # an offer by value
    return str(parsed["grants"][PRE_AUTHORIZED_CODE_GRANT]["pre-authorized_code"])


def _example_claims() -> dict[str, Any]:
    from credential_schemas import Registry

    return dict(Registry.load().get(CREDENTIAL_TYPE).examples[0])


def _prepare(
    issuer: _Issuer, batch: int, out: list[_Prepared]
) -> Callable[[httpx.Client, _Offer], None]:
    def prepare(client: httpx.Client, offer: _Offer) -> None:
        token = issuer.token(client, offer.pre_authorized_code, offer.tx_code)
        out.append(_Prepared(token, issuer.request_body(issuer.nonce(client), batch)))

    return prepare


def _measure_server(
    server: _Server, backend: str, plan: Plan, between_rounds: Callable[[], None]
) -> list[Cell]:
    runs: dict[tuple[str, int, int], list[Run]] = {}
    with httpx.Client(timeout=REQUEST_SECONDS) as client:
        issuer = _Issuer(server, client)
        probe = well_known_url(server.issuer_id, WELL_KNOWN_CREDENTIAL_ISSUER)
        # Warm up: the first credential opens the agency's key store (scrypt, once a process).
        for offer in issuer.offers(client, 3):
            issuer.flow(client, offer, batch=1)
        for _ in range(plan.rounds):
            between_rounds()
            for batch in plan.batches:
                request = functools.partial(issuer.credential, batch=batch)
                flow = functools.partial(issuer.flow, batch=batch)
                for wallets in plan.wallets:
                    prepared: list[_Prepared] = []
                    offers = issuer.offers(client, plan.units)
                    _in_wallets(wallets, offers, _prepare(issuer, batch, prepared), probe)
                    timed = _in_wallets(wallets, prepared, request, probe)
                    runs.setdefault((CREDENTIAL_REQUEST, wallets, batch), []).append(timed)
                    offers = issuer.offers(client, plan.units)
                    timed = _in_wallets(wallets, offers, flow, probe)
                    runs.setdefault((WALLET_FLOW, wallets, batch), []).append(timed)
    return [Cell(backend, *key, tuple(cell_runs)) for key, cell_runs in runs.items()]


def measure_backends(
    plan: Plan,
    *,
    postgres_url: str | None,
    between_rounds: Callable[[], None] = lambda: None,
    log: Callable[[str], None] = print,
) -> list[Cell]:
    """Every cell of ``plan`` on SQLite, then on PostgreSQL if a server URL is given;
    ``between_rounds`` is called before each round (to sample the in-process rate)."""
    cells: list[Cell] = []
    backends = ["sqlite"] + (["postgresql"] if postgres_url else [])
    for backend in backends:
        with tempfile.TemporaryDirectory(prefix="jigap-bench-") as scratch:
            directory = Path(scratch)
            with contextlib.ExitStack() as stack:
                if backend == "sqlite":
                    database_url = f"sqlite:///{directory / 'issuer.sqlite3'}"
                else:
                    assert postgres_url is not None
                    database_url = stack.enter_context(
                        scratch_postgres_schema(postgres_url, prefix="bench_")
                    )
                log(f"measuring the issuer over HTTP on {backend} …")
                server = stack.enter_context(_running_issuer(directory, database_url))
                cells += _measure_server(server, backend, plan, between_rounds)
    return cells


def http_report(cells: Sequence[Cell], in_process_per_second: float, plan: Plan) -> Report:
    order = [CREDENTIAL_REQUEST, WALLET_FLOW]
    cells = sorted(cells, key=lambda c: (c.backend != "sqlite", order.index(c.timed), c.batch))
    rows = [
        (
            cell.backend,
            cell.timed,
            str(cell.wallets),
            str(cell.batch),
            f"{len(cell.runs)} x {len(cell.runs[0].latencies)}",
            f"{cell.credentials_per_second:,.0f}",
            f"±{cell.spread_percent:.0f} %" if len(cell.runs) > 1 else "",
            f"{cell.p50_ms:,.1f}",
            f"{cell.p99_ms:,.1f}",
            f"{cell.credentials_per_second / in_process_per_second:.1%}",
        )
        for cell in cells
    ]
    rows.append(
        ("in-process", "issue_sd_jwt_vc", "", "1", "", f"{in_process_per_second:,.0f}", "", "",
         "", "100%")
    )  # fmt: skip
    notes = [
        f"one uvicorn worker; {plan.rounds} round(s) of {plan.units} timed units a row, the "
        "rows in turn in each round; credentials/s: the median of the rounds",
        f"{CREDENTIAL_REQUEST}: only POST /credential timed (offer, token, nonce and key proofs "
        f"made before); {WALLET_FLOW}: offer by reference, token, nonce, key proofs, credential",
        "p50 and p99 of the timed unit over all rounds; the client threads share the "
        "machine with the server; in-process: the median of samples taken before each round",
    ]
    columns = (
        "backend",
        "timed",
        "wallets",
        "batch",
        "rounds x units",
        "credentials/s",
        "spread",
        "p50 ms",
        "p99 ms",
        "share of in-process rate",
    )
    return Report("Issuer service over HTTP (credential endpoint)", columns, rows, notes)


def postgres_url_from(option: str | None) -> str | None:
    return option or os.environ.get(DATABASE_URL_ENV) or None
