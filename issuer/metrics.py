"""Prometheus metrics of the issuer (``GET /metrics``), the same from whichever worker answers.

Two sources, chosen so that several worker processes behind one port agree:

- what the database already records is counted there at scrape time (``DatabaseCollector``:
  credentials issued by agency and type, offers by agency and state; two GROUP BY queries on
  indexed columns): every worker reads the same rows, and a restart loses nothing;
- what only a process sees (requests, their latency, refused protocol attempts, status-list
  signatures) is a prometheus-client counter. Under `jigap issuer serve` these run in
  prometheus-client's multiprocess mode (a directory of per-process files that any worker
  sums at scrape time; see ``servicekit.observability.metrics_directory``), so a scrape that
  reaches any worker sees the sum of all of them. A process started otherwise (tests, an
  embedding) keeps them in memory.

Labels are closed sets: route templates (never a raw path), methods, status codes, error
codes, agency slugs and credential types from the database. Nothing a client sends becomes
a label as it is. The request metrics and the scrape plumbing are ``servicekit.metrics``'s,
which the wallet service uses too; the names here keep the ``jigap_`` prefix.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from issuer.models import Agency, IssuedCredential, Offer
from servicekit import metrics as servicekit_metrics
from servicekit.metrics import CONTENT_TYPE

__all__ = [
    "CONTENT_TYPE",
    "HTTP_METRICS",
    "PROTOCOL_REFUSALS",
    "STATUS_LIST_SIGNATURES",
    "TX_CODE_REFUSALS",
    "DatabaseCollector",
    "render",
]

HTTP_METRICS = servicekit_metrics.http_metrics("jigap")
# registry=None: each scrape's registry adds them (render), or multiprocess mode sums them.
PROTOCOL_REFUSALS = Counter(
    "jigap_protocol_refusals",
    "OID4VCI/OAuth requests refused, by route and error code (e.g. invalid_grant at the token "
    "endpoint, invalid_token at the credential endpoint)",
    ["route", "error"],
    registry=None,
)
TX_CODE_REFUSALS = Counter(
    "jigap_transaction_code_refusals",
    "Wrong transaction codes, each spending one of an offer's attempts",
    ["agency"],
    registry=None,
)
STATUS_LIST_SIGNATURES = Counter(
    "jigap_status_list_signatures",
    "Status list tokens signed (stale, changed, or after a key rotation)",
    ["agency"],
    registry=None,
)
_PROCESS_METRICS: tuple[Collector, ...] = (
    *HTTP_METRICS.collectors,
    PROTOCOL_REFUSALS,
    TX_CODE_REFUSALS,
    STATUS_LIST_SIGNATURES,
)


class DatabaseCollector(Collector):
    """Counts the database keeps anyway, read when Prometheus scrapes.

    The two queries scan their tables (about 130 ms on PostgreSQL and 250 ms on SQLite for
    200,000 credentials and 50,000 offers): a large deployment keeps the result for
    ``cache_seconds`` in each process (``JIGAP_ISSUER_METRICS_DATABASE_SECONDS``).
    """

    def __init__(self, engine: Engine, *, cache_seconds: float = 0.0) -> None:
        self._engine = engine  # a read-only engine (servicekit.db.read_only)
        self._cache_seconds = cache_seconds

    def collect(self) -> Iterator[Metric]:
        key = str(self._engine.url)
        cached = _COLLECTED.get(key)
        now = time.monotonic()
        if cached is None or now - cached[0] >= self._cache_seconds:
            cached = (now, list(self._query()))
            _COLLECTED[key] = cached
        yield from cached[1]

    def _query(self) -> Iterator[Metric]:
        issued = CounterMetricFamily(
            "jigap_credentials_issued",
            "Credentials issued, by agency and credential type",
            labels=["agency", "credential_type"],
        )
        offers = GaugeMetricFamily(
            "jigap_offers", "Credential offers, by agency and state", labels=["agency", "state"]
        )
        with Session(self._engine) as session:
            for slug, credential_type, count in session.exec(
                select(Agency.slug, IssuedCredential.credential_type, func.count())
                .join(Agency, col(Agency.id) == col(IssuedCredential.agency_id))
                .group_by(Agency.slug, IssuedCredential.credential_type)
            ):
                issued.add_metric([slug, credential_type], count)
            for slug, state, count in session.exec(
                select(Agency.slug, Offer.state, func.count())
                .join(Agency, col(Agency.id) == col(Offer.agency_id))
                .group_by(Agency.slug, Offer.state)
            ):
                offers.add_metric([slug, state], count)
        yield issued
        yield offers


_COLLECTED: dict[str, tuple[float, list[Metric]]] = {}


def render(engine: Engine, *, database_cache_seconds: float = 0.0) -> bytes:
    """The exposition text of every metric (Prometheus text format 0.0.4)."""
    database = DatabaseCollector(engine, cache_seconds=database_cache_seconds)
    return servicekit_metrics.render(_PROCESS_METRICS, [database])
