"""The public URL check both services' settings share (servicekit.public_url)."""

from __future__ import annotations

import pytest

from servicekit.public_url import public_url_problem


@pytest.mark.parametrize(
    "url",
    ["https://issuer.example.kr", "http://127.0.0.1:8000", "http://localhost", "http://[::1]:80"],
)
def test_an_https_origin_or_http_on_loopback_is_accepted(url: str) -> None:
    assert public_url_problem(url, origin_only=True) is None
    assert public_url_problem(url, origin_only=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://issuer.example.kr",
        "ftp://127.0.0.1",
        "https://",
        "https://issuer.example.kr?a=1",
        "https://issuer.example.kr#top",
    ],
)
def test_anything_but_https_or_loopback_http_is_refused(url: str) -> None:
    expected = "public_url must be an https origin (http only on a loopback host)"
    assert public_url_problem(url, origin_only=False) == expected


def test_a_path_is_the_issuers_choice_and_refused_for_an_origin_only() -> None:
    assert public_url_problem("https://gov.example.kr/issuer", origin_only=False) is None
    assert public_url_problem("https://gov.example.kr/issuer", origin_only=True) == (
        "public_url must be an origin, without a path or a final '/'"
    )


def test_a_final_slash_is_refused_either_way() -> None:
    assert public_url_problem("https://gov.example.kr/", origin_only=False) == (
        "public_url must not end with '/'"
    )
    assert public_url_problem("https://gov.example.kr/", origin_only=True) == (
        "public_url must be an origin, without a path or a final '/'"
    )
