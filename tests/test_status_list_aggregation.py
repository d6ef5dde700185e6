"""Where a counter finds an issuer's status lists: the pure rules, case by case."""

from __future__ import annotations

from typing import Any

import pytest

from verifier.status_list_aggregation import (
    MAX_LISTS_PER_ISSUER,
    AggregationError,
    aggregation_endpoint,
    credential_issuer_metadata_url,
    status_list_uris,
)

ISSUER = "https://issuer.example/agencies/mois"
ENDPOINT = f"{ISSUER}/status-lists"


def test_the_metadata_url_puts_the_well_known_suffix_before_the_path() -> None:
    assert credential_issuer_metadata_url(ISSUER) == (
        "https://issuer.example/.well-known/openid-credential-issuer/agencies/mois"
    )
    assert credential_issuer_metadata_url("https://issuer.example/") == (
        "https://issuer.example/.well-known/openid-credential-issuer"
    )


@pytest.mark.parametrize(
    "issuer_id",
    [
        "did:web:issuer.example",
        "file:///etc/passwd",
        "https://x.example/?q=1",
        "/a",
        "http://issuer.example",
    ],
)
def test_an_identifier_that_is_no_url_has_no_metadata(issuer_id: str) -> None:
    with pytest.raises(AggregationError):
        credential_issuer_metadata_url(issuer_id)


def test_the_aggregation_endpoint_is_read_from_the_issuers_own_metadata() -> None:
    metadata = {"credential_issuer": ISSUER, "status_list_aggregation_endpoint": ENDPOINT}
    assert aggregation_endpoint(metadata, ISSUER) == ENDPOINT


_AT = "status_list_aggregation_endpoint"


@pytest.mark.parametrize(
    ("metadata", "reason"),
    [
        ({"credential_issuer": "https://other.example", _AT: ENDPOINT}, "another"),
        ({"credential_issuer": ISSUER}, "names no"),
        ({"credential_issuer": ISSUER, _AT: "/etc/passwd"}, "not an https URL"),
        ({"credential_issuer": ISSUER, _AT: 7}, "not an https URL"),
        ({"credential_issuer": ISSUER, _AT: "http://issuer.example/lists"}, "not an https URL"),
    ],
)
def test_metadata_that_names_no_usable_aggregation_is_refused(
    metadata: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AggregationError) as refused:
        aggregation_endpoint(metadata, ISSUER)
    assert reason in refused.value.detail


def test_http_is_admitted_on_loopback_only() -> None:
    local = "http://127.0.0.1:8000/agencies/mois"
    metadata = {"credential_issuer": local, _AT: f"{local}/status-lists"}
    assert aggregation_endpoint(metadata, local) == f"{local}/status-lists"
    assert status_list_uris({"status_lists": [f"{local}/status-lists/1"]}, local)


def test_the_lists_come_in_order_each_once() -> None:
    first, second = f"{ENDPOINT}/1", f"{ENDPOINT}/2"
    document = {"status_lists": [second, first, second]}
    assert status_list_uris(document, ENDPOINT) == [second, first]


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"status_lists": f"{ENDPOINT}/1"},
        {"status_lists": [1]},
        {"status_lists": ["file:///etc/passwd"]},
        {"status_lists": ["relative/1"]},
        {"status_lists": ["http://issuer.example/status-lists/1"]},  # could be swapped on the way
        {"status_lists": [f"{ENDPOINT}/{n}" for n in range(MAX_LISTS_PER_ISSUER + 1)]},
    ],
)
def test_an_aggregation_of_anything_but_urls_is_refused(document: dict[str, Any]) -> None:
    with pytest.raises(AggregationError):
        status_list_uris(document, ENDPOINT)
