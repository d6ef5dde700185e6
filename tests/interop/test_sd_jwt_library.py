"""The OpenWallet Foundation's SD-JWT library (@sd-jwt/sd-jwt-vc, @sd-jwt/jwt-status-list
0.19.0), both ways.

Ours, checked by theirs: credentials from our issuer (keys found through our JWT VC Issuer
Metadata, status from our status lists, type metadata through our retrieval method with its
`vct#integrity`), and presentations with a KB-JWT made by our wallet code; their presentation of
our credential, checked by ours.

Theirs, checked by ours: credentials of one of our types issued the ways SD-JWT VC draft 12
allows (a `kid` that is a name, no `kid`, no `exp` or `iat`, a disclosed `iat`), their status
list, and their presentations: the verifier's policy for issuers registered by hand decides.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from keys.encoding import b64url_decode, json_loads_object
from tests._server import RunningIssuer
from tests.interop._node import run_node
from tests.interop.conftest import REGISTRY, holder_key, make_offer, synced_store
from verifier import ErrorCode, Policy, TrustStore, Verifier
from verifier.sd_jwt import split_compact
from wallet_api.presentation import build_presentation

RESIDENT = "resident_register_extract"
AUD, NONCE = "https://counter.bank.example", "interop-nonce-2"
DISCLOSED = ["name", "birth_date"]


def _receive(issuer: RunningIssuer, count: int) -> list[tuple[str, dict[str, str]]]:
    """Credentials from our issuer, received by the OID4VCI wallet library: (credential, key)."""
    steps = []
    for index in range(count):
        offer = make_offer(issuer, RESIDENT)
        steps.append({
            "id": str(index), "offer_uri": offer["credential_offer_reference_uri"],
            "tx_code": offer["tx_code"],
        })  # fmt: skip
    reports = run_node("oid4vci_wallet.mjs", {"steps": steps})["reports"]
    return [(r["credentials"][0], r["holder_keys"][0]) for r in reports]


def _revoke(issuer: RunningIssuer, credential: str) -> None:
    payload = json_loads_object(b64url_decode(split_compact(credential).issuer_jwt.split(".")[1]))
    index = payload["status"]["status_list"]["idx"]
    listed = httpx.get(f"{issuer.public_url}/admin/credentials", headers=issuer.admin(), timeout=30)
    (record,) = [c for c in listed.json() if c["status_index"] == index]
    revoked = httpx.post(
        f"{issuer.public_url}/admin/credentials/{record['id']}/revoke",
        headers=issuer.admin(), timeout=30,
    )  # fmt: skip
    assert revoked.status_code == 200, revoked.text


@pytest.mark.usefixtures("js")
def test_their_library_verifies_ours_and_ours_verifies_their_presentation(
    issuer: RunningIssuer, tmp_path: Path
) -> None:
    (credential, private_jwk), (revoked, _) = _receive(issuer, 2)
    _revoke(issuer, revoked)
    ours = build_presentation(
        credential, DISCLOSED, holder_key=holder_key(private_jwk), audience=AUD, nonce=NONCE,
        now=int(time.time()),
    )  # fmt: skip
    answer = run_node("sd_jwt.mjs", {
        "mode": "verify_ours", "credential": credential, "revoked_credential": revoked,
        "holder_private_jwk": private_jwk, "our_presentation": ours, "disclosed": DISCLOSED,
        "nonce": NONCE, "aud": AUD, "type_metadata_base": issuer.public_url,
    })  # fmt: skip
    expected = REGISTRY.get(RESIDENT)
    # The credential: signature by the key our JWT VC Issuer Metadata names, status valid.
    assert answer["payload"]["vct"] == expected.vct
    assert answer["payload"]["name"] == expected.examples[0]["name"]
    # Type metadata: fetched, its integrity matching, and readable as a wallet would show it.
    assert answer["fetched"]["integrityMatches"] is True
    metadata = answer["type_metadata"]
    assert {"locale": "ko", "name": "주민등록표 초본"} in metadata["display"]
    labels = {tuple(c["path"]): c["display"] for c in metadata["claims"]}
    assert {"locale": "en", "label": "Date of birth"} in labels[("birth_date",)]
    # Our presentation: their KB-JWT check (nonce, sd_hash, the cnf key) passes.
    assert answer["our_presentation"]["ok"], answer["our_presentation"]
    assert answer["our_presentation"]["kb"]["nonce"] == NONCE
    # A credential we revoked: their status check refuses it.
    assert not answer["revoked"]["ok"] and "Status is not valid" in answer["revoked"]["error"]
    # Their presentation of our credential, judged by ours.
    verifier = Verifier(
        synced_store(issuer, tmp_path), Policy(expected_audience=AUD, expected_nonce=NONCE)
    )
    result = verifier.verify(answer["their_presentation"])
    assert result.valid, (result.error, result.detail)
    assert set(result.claims) == set(DISCLOSED) and result.holder_bound


ISSUER = "https://issuer.outside.example"
STATUS_URI = f"{ISSUER}/status-lists/1"
# (variant, what the default policy says, the policy that accepts it or None)
CASES: list[tuple[str, ErrorCode | None, dict[str, bool] | None]] = [
    ("standard", None, None),
    ("no_kid", ErrorCode.MISSING_KID, {"require_kid": False}),
    ("no_exp_no_iat", ErrorCode.MISSING_IAT, {"require_exp": False, "require_iat": False}),
    ("disclosed_iat", ErrorCode.MISSING_EXP, {"require_exp": False}),
    ("revoked", ErrorCode.REVOKED, None),
]


@pytest.fixture(scope="module")
def theirs() -> dict[str, Any]:
    claims = REGISTRY.get(RESIDENT).examples[0]
    return run_node("sd_jwt.mjs", {
        "mode": "issue_theirs", "iss": ISSUER, "vct": REGISTRY.get(RESIDENT).vct, "claims": claims,
        "status_uri": STATUS_URI, "disclosed": DISCLOSED, "aud": AUD, "nonce": NONCE,
    })  # fmt: skip


def _verifier(theirs: dict[str, Any], **relaxed: bool) -> Verifier:
    store = TrustStore()
    store.add_issuer(ISSUER, theirs["jwks"], [REGISTRY.get(RESIDENT).vct])
    store.add_status_list(STATUS_URI, theirs["status_list"])
    policy = Policy(
        expected_audience=AUD,
        expected_nonce=NONCE,
        require_kid=relaxed.get("require_kid", True),
        require_exp=relaxed.get("require_exp", True),
        require_iat=relaxed.get("require_iat", True),
    )
    return Verifier(store, policy)


@pytest.mark.parametrize(("variant", "code", "relaxed"), CASES, ids=[c[0] for c in CASES])
def test_ours_verifies_theirs(
    theirs: dict[str, Any],
    variant: str,
    code: ErrorCode | None,
    relaxed: dict[str, bool] | None,
) -> None:
    presentation = theirs["presentations"][variant]
    result = _verifier(theirs).verify(presentation)
    assert result.error == code, result.detail
    if relaxed is not None:
        accepted = _verifier(theirs, **relaxed).verify(presentation)
        assert accepted.valid, (accepted.error, accepted.detail)
        assert set(accepted.claims) == set(DISCLOSED) and accepted.holder_bound
    if code is None:
        assert set(result.claims) == set(DISCLOSED)
