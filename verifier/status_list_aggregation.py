"""Where a counter finds an issuer's status lists: pure parts, no I/O.

List ids are the issuer's own, so a counter holding only the trust list cannot guess a list's
URI. Each issuer on the trust list is an OpenID4VCI 1.0 credential issuer whose identifier is
its trust-list ``id``: its metadata, at the well-known URL built from that identifier
(§12.2.2), names its Status List Aggregation (Token Status List draft 20, "Status List
Aggregation", "Issuer Metadata"), a JSON document listing the URI of every status list it
publishes ("Status List Aggregation in JSON Format").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "MAX_LISTS_PER_ISSUER",
    "STATUS_LISTS",
    "STATUS_LIST_AGGREGATION_ENDPOINT",
    "AggregationError",
    "aggregation_endpoint",
    "credential_issuer_metadata_url",
    "is_http_url",
    "is_secure_url",
    "status_list_uris",
]

STATUS_LIST_AGGREGATION_ENDPOINT = "status_list_aggregation_endpoint"  # draft 20, metadata
STATUS_LISTS = "status_lists"  # draft 20, "Status List Aggregation in JSON Format"
# protocols.oid4vci has the same literal; the verifier imports no protocols (layering).
_WELL_KNOWN_CREDENTIAL_ISSUER = "/.well-known/openid-credential-issuer"  # OID4VCI §12.2.2
_CREDENTIAL_ISSUER = "credential_issuer"  # OID4VCI §12.2.4
# A national agency with 2^24-entry lists needs a handful; this only bounds a hostile answer.
MAX_LISTS_PER_ISSUER = 10_000
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})  # as keys.trust_list's


class AggregationError(Exception):
    """Issuer metadata or an aggregation that does not say where the status lists are."""

    code = "sync_failed"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def is_http_url(value: object) -> bool:
    """An http(s) URL with a host: something to fetch rather than a file to read."""
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def is_secure_url(value: object) -> bool:
    """https, or http to a loopback host: what the trust list admits as an issuer identifier
    (keys.trust_list), so that a discovered list cannot be swapped on the way to the counter
    for an older one that still verifies."""
    if not is_http_url(value):
        return False
    parts = urlsplit(str(value))
    return parts.scheme == "https" or parts.hostname in _LOOPBACK_HOSTS


def credential_issuer_metadata_url(issuer_id: str) -> str:
    """OID4VCI §12.2.2: the well-known suffix goes between the host and the path."""
    parts = urlsplit(issuer_id)
    if not is_secure_url(issuer_id) or parts.query or parts.fragment:
        raise AggregationError(f"{issuer_id}: not a credential issuer identifier (an https URL)")
    path = parts.path.rstrip("/")
    return urlunsplit(
        (parts.scheme, parts.netloc, f"{_WELL_KNOWN_CREDENTIAL_ISSUER}{path}", "", "")
    )


def aggregation_endpoint(metadata: Mapping[str, Any], issuer_id: str) -> str:
    """The aggregation URL named in ``issuer_id``'s metadata."""
    if metadata.get(_CREDENTIAL_ISSUER) != issuer_id:
        # §12.2.3: metadata naming another credential issuer MUST NOT be used.
        raise AggregationError(f"{issuer_id}: metadata of another credential issuer")
    endpoint = metadata.get(STATUS_LIST_AGGREGATION_ENDPOINT)
    if endpoint is None:
        raise AggregationError(f"{issuer_id}: metadata names no {STATUS_LIST_AGGREGATION_ENDPOINT}")
    if not is_secure_url(endpoint):
        raise AggregationError(
            f"{issuer_id}: {STATUS_LIST_AGGREGATION_ENDPOINT} is not an https URL"
        )
    return str(endpoint)


def status_list_uris(document: Mapping[str, Any], source: str) -> list[str]:
    """The status list URIs of an aggregation, in order, each once."""
    uris = document.get(STATUS_LISTS)
    if not isinstance(uris, list):
        raise AggregationError(f"{source}: `{STATUS_LISTS}` is not an array")
    if len(uris) > MAX_LISTS_PER_ISSUER:
        raise AggregationError(f"{source}: over {MAX_LISTS_PER_ISSUER} status lists")
    if not all(is_secure_url(uri) for uri in uris):
        raise AggregationError(f"{source}: `{STATUS_LISTS}` holds something other than https URLs")
    return list(dict.fromkeys(uris))
