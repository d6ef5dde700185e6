"""A service's public URL, checked the same way in each service's settings: https, or http on a
loopback host for development; no query, fragment or final ``/``."""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["public_url_problem"]

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def public_url_problem(public_url: str, *, origin_only: bool) -> str | None:
    """Why ``public_url`` cannot be the service's, or None; ``origin_only``: no path either."""
    parts = urlsplit(public_url)
    secure = parts.scheme == "https" or (
        parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    )
    if not secure or not parts.hostname or parts.query or parts.fragment:
        return "public_url must be an https origin (http only on a loopback host)"
    if origin_only and (parts.path or public_url.endswith("/")):
        return "public_url must be an origin, without a path or a final '/'"
    if public_url.endswith("/"):
        return "public_url must not end with '/'"
    return None
