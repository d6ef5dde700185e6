"""RFC 9901's own examples, replayed through the one SD-JWT implementation in the tree.

The data lives in ``tests/vectors/rfc9901/<case>/{input,expected}.json``; each file names the
section and the exact text it was transcribed from (see the README there). Signatures are
not checked here: the examples' issuer key is not a jigap key, and the mechanics under test
start from an already-verified payload.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keys.jws import decode_compact
from verifier.sd_jwt import (
    SEPARATOR,
    SdJwt,
    decode_disclosure,
    decode_disclosures,
    digest,
    resolve_claims,
    sd_hash,
    split_compact,
)

VECTORS = Path(__file__).parent / "vectors" / "rfc9901"


@dataclass(frozen=True)
class Case:
    name: str
    input: dict[str, Any]
    expected: dict[str, Any]

    def compact(self) -> SdJwt:
        return split_compact(self.input["compact"])

    def disclosures(self) -> list[str]:
        if "compact" in self.input:
            return list(self.compact().disclosures)
        return list(self.input["disclosures"])

    def payload(self) -> dict[str, Any]:
        """The Issuer-signed JWT's payload, read without checking the signature."""
        if "compact" in self.input:
            jws = decode_compact(
                self.compact().issuer_jwt, expected_typ=self.input["issuer_jwt_typ"]
            )
            return jws.unverified_claims()
        return dict(self.input["payload"])


def _load(folder: Path) -> Case:
    def read(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((folder / name).read_text(encoding="utf-8"))
        return data

    return Case(folder.name, read("input.json"), read("expected.json"))


CASES = [_load(folder) for folder in sorted(VECTORS.iterdir()) if folder.is_dir()]


def _cases_with(key: str) -> list[Any]:
    return [pytest.param(case, id=case.name) for case in CASES if key in case.expected]


def _published_disclosures() -> list[Any]:
    return [
        pytest.param(case, index, id=f"{case.name}-{index}")
        for case in CASES
        for index in range(len(case.expected.get("disclosures", ())))
    ]


def test_the_vectors_are_all_here() -> None:
    assert len(CASES) == 16
    assert len(_published_disclosures()) == 38


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in CASES])
def test_every_vector_names_its_source(case: Case) -> None:
    for data in (case.input, case.expected):
        source = data["source"]
        assert source["document"]
        assert source["section"]
        origin = source["transcribed_from"]
        assert origin["repo"] == "oauth-wg/oauth-selective-disclosure-jwt"
        assert len(origin["commit"]) == 40
        assert origin["path"]
        assert origin["lines"]
    assert case.input["source"] == case.expected["source"]


@pytest.mark.parametrize(("case", "index"), _published_disclosures())
def test_disclosure_decodes_to_the_published_contents(case: Case, index: int) -> None:
    published = case.expected["disclosures"][index]
    disclosure = decode_disclosure(case.disclosures()[index])
    assert disclosure.salt == published["salt"]
    assert disclosure.name == published["name"]
    assert disclosure.value == published["value"]
    if "digest" in published:
        assert disclosure.digest == published["digest"]
        assert digest(disclosure.encoded) == published["digest"]


def test_spellings_of_one_claim_hash_apart() -> None:
    """§4.2.1: the digest is over the issuer's spelling, so each spelling is its own claim."""
    by_name = {case.name: case for case in CASES}
    spellings = [
        *by_name["disclosure_object_property"].disclosures(),
        *by_name["disclosure_spelling_variants"].disclosures(),
    ]
    assert len({digest(text) for text in spellings}) == len(spellings)
    assert len(decode_disclosures(spellings)) == len(spellings)


@pytest.mark.parametrize("case", _cases_with("processed"))
def test_processed_payload_matches_the_spec(case: Case) -> None:
    processed = resolve_claims(case.payload(), decode_disclosures(case.disclosures()))
    assert processed == case.expected["processed"]


@pytest.mark.parametrize("case", _cases_with("issuer_payload"))
def test_issuer_signed_jwt_carries_the_published_payload(case: Case) -> None:
    assert case.payload() == case.expected["issuer_payload"]


@pytest.mark.parametrize("case", _cases_with("decoy_digests"))
def test_decoy_digests_are_in_the_payload_and_match_no_disclosure(case: Case) -> None:
    payload_text = json.dumps(case.payload())
    real = {digest(text) for text in case.disclosures()}
    for decoy in case.expected["decoy_digests"]:
        assert f'"{decoy}"' in payload_text
        assert decoy not in real


@pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.name) for case in CASES if "compact" in case.input]
)
def test_compact_form_splits_and_joins_back(case: Case) -> None:
    text = case.input["compact"]
    presentation = split_compact(text)
    assert presentation.serialize() == text
    assert presentation.issuer_jwt == text.split(SEPARATOR)[0]
    assert (presentation.kb_jwt is not None) == ("kb_jwt_typ" in case.input)
    if "disclosure_count" in case.expected:
        assert len(presentation.disclosures) == case.expected["disclosure_count"]
    if "disclosures" in case.expected:
        assert len(presentation.disclosures) == len(case.expected["disclosures"])


@pytest.mark.parametrize("case", _cases_with("sd_hash"))
def test_sd_hash_matches_the_key_binding_jwt(case: Case) -> None:
    """§4.3.1: the hash over ``<JWT>~<D1>~…~<Dn>~``, as the KB-JWT in the example carries it."""
    presentation = case.compact()
    assert presentation.kb_jwt is not None
    kb_claims = decode_compact(
        presentation.kb_jwt, expected_typ=case.input["kb_jwt_typ"]
    ).unverified_claims()
    assert kb_claims == case.expected["kb_jwt_payload"]
    assert sd_hash(presentation.without_key_binding()) == case.expected["sd_hash"]
    assert kb_claims["sd_hash"] == case.expected["sd_hash"]
