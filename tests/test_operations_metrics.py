"""The database counts of ``/metrics``, read from a real database on both backends: exact at
every scrape by default, kept for ``metrics_database_seconds`` when a deployment asks."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine, text

from issuer import metrics
from issuer.db import migrate
from servicekit.db import make_engine, read_only


def issued(exposition: bytes) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["agency"], sample.labels["credential_type"]): sample.value
        for family in text_string_to_metric_families(exposition.decode("utf-8"))
        for sample in family.samples
        if sample.name == "jigap_credentials_issued_total"
    }


def add_credentials(engine: Engine, count: int, first_index: int) -> None:
    with engine.begin() as connection:
        for index in range(first_index, first_index + count):
            connection.execute(
                text(
                    "INSERT INTO issuedcredential (agency_id, credential_type, status_list_id, "
                    "status_index, status, signing_kid, subject_hash, issued_at, expires_at) "
                    "VALUES (1, 'resident_register_extract', 1, :i, 0, 'k', 'h', 0, 0)"
                ),
                {"i": index},
            )


def test_counts_are_exact_unless_a_cache_is_asked(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO agency (id, slug, name_ko, name_en, credential_types, created_at)"
                    " VALUES (1, 'mois', 'ko', 'en', '[]', 0)"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO statuslistrecord (id, agency_id, size, bits, created_at, version)"
                    " VALUES (1, 1, 4096, 2, 0, 0)"
                )
            )
        reader, key = read_only(engine), ("mois", "resident_register_extract")
        add_credentials(engine, 3, 0)
        assert issued(metrics.render(reader, database_cache_seconds=60))[key] == 3

        add_credentials(engine, 2, 3)

        assert issued(metrics.render(reader, database_cache_seconds=60))[key] == 3  # kept
        assert issued(metrics.render(reader))[key] == 5  # the default counts every time
    finally:
        engine.dispose()
