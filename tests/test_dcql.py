"""DCQL (OpenID4VP 1.0 §6), parsed strictly: the specification's own example queries (§D,
adapted where they name another format) read as typed values; every fault refused with its
reason, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

from verifier.dcql import (
    MAX_CLAIMS,
    MAX_CREDENTIALS,
    ClaimQuery,
    InvalidDcqlError,
    parse_dcql_query,
)

PID = "https://credentials.example.com/identity_credential"  # the specification's examples'


def _credential(**members: Any) -> dict[str, Any]:
    return {"id": "pid", "format": "dc+sd-jwt", "meta": {"vct_values": [PID]}, **members}


def test_the_specifications_sd_jwt_example() -> None:
    query = parse_dcql_query(
        {
            "credentials": [
                _credential(
                    id="my_credential",
                    claims=[
                        {"path": ["last_name"]},
                        {"path": ["first_name"]},
                        {"path": ["address", "street_address"]},
                    ],
                )
            ]
        }
    )
    [credential] = query.credentials
    assert credential.id == "my_credential" and credential.vct_values == (PID,)
    assert credential.claims == (
        ClaimQuery(("last_name",)),
        ClaimQuery(("first_name",)),
        ClaimQuery(("address", "street_address")),
    )
    assert credential.require_cryptographic_holder_binding and not credential.multiple
    assert query.credential("my_credential") is credential and query.credential("x") is None


def test_claim_sets_values_and_credential_sets() -> None:
    query = parse_dcql_query(
        {
            "credentials": [
                _credential(
                    claims=[
                        {"id": "a", "path": ["last_name"]},
                        {"id": "b", "path": ["postal_code"], "values": ["90210", "90211"]},
                        {"id": "c", "path": ["locality"]},
                        {"id": "e", "path": ["nationalities", None]},
                        {"id": "f", "path": ["children", 0, "name"]},
                    ],
                    claim_sets=[["a", "c", "e"], ["a", "b"]],
                ),
                _credential(id="other_pid", multiple=True),
            ],
            "credential_sets": [
                {"options": [["pid"], ["other_pid"]]},
                {"options": [["other_pid"]], "required": False, "purpose": "optional"},
            ],
        }
    )
    pid = query.credentials[0]
    assert pid.claim_sets == (("a", "c", "e"), ("a", "b"))
    assert pid.claims is not None and pid.claims[1].values == ("90210", "90211")
    assert pid.claims[3].path == ("nationalities", None)
    assert pid.claims[4].path == ("children", 0, "name")
    assert query.credentials[1].claims is None and query.credentials[1].multiple
    assert query.credential_sets is not None
    assert [s.required for s in query.credential_sets] == [True, False]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        pytest.param([], "not an object", id="not-an-object"),
        pytest.param({}, "credentials is not a non-empty array", id="no-credentials"),
        pytest.param({"credentials": []}, "non-empty", id="empty-credentials"),
        pytest.param({"credentials": [_credential()], "x": 1}, "'x'", id="unknown-member"),
        pytest.param(
            {"credentials": [_credential(), _credential()]}, "used twice", id="duplicate-ids"
        ),
        pytest.param({"credentials": [_credential(id="a b")]}, "identifier", id="bad-id"),
        pytest.param(
            {"credentials": [_credential(format="mso_mdoc")]}, "format", id="another-format"
        ),
        pytest.param({"credentials": [_credential(meta={})]}, "vct_values", id="no-vct"),
        pytest.param(
            {"credentials": [_credential(meta={"vct_values": [1]})]}, "type", id="vct-not-text"
        ),
        pytest.param(
            {"credentials": [_credential(trusted_authorities=[])]},
            "'trusted_authorities' is not supported",
            id="trusted-authorities",
        ),
        pytest.param({"credentials": [_credential(claims=[{}])]}, "path", id="no-path"),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": []}])]}, "non-empty", id="empty-path"
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a", -1]}])]}, "-1", id="negative"
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a", 1.0]}])]}, "1.0", id="float"
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a", True]}])]}, "True", id="bool"
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a"] * 9}])]}, "more than", id="deep"
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a"], "values": [{}]}])]},
            "not a string",
            id="value-object",
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a"]}], claim_sets=[["a"]])]},
            "each have an id",
            id="claim-sets-without-ids",
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"id": "a", "path": ["a"]}], claim_sets=[["b"]])]},
            "'b', which is not defined",
            id="claim-sets-unknown",
        ),
        pytest.param(
            {"credentials": [_credential(claim_sets=[["a"]])]},
            "each have an id",
            id="claim-sets-without-claims",
        ),
        pytest.param(
            {"credentials": [_credential(multiple="yes")]}, "not a boolean", id="multiple-text"
        ),
        pytest.param(
            {"credentials": [_credential()], "credential_sets": [{"options": [["nope"]]}]},
            "'nope', which is not defined",
            id="credential-sets-unknown",
        ),
        pytest.param(
            {"credentials": [_credential(id=f"c{i}") for i in range(MAX_CREDENTIALS + 1)]},
            "more than",
            id="too-many-credentials",
        ),
        pytest.param(
            {"credentials": [_credential(claims=[{"path": ["a"]}] * (MAX_CLAIMS + 1))]},
            "more than",
            id="too-many-claims",
        ),
    ],
)
def test_a_faulty_query_is_refused_with_its_reason(query: Any, reason: str) -> None:
    with pytest.raises(InvalidDcqlError, match=reason.replace("(", r"\(")):
        parse_dcql_query(query)
