"""The demo's story over real sockets: an issuer deployment and a wallet service, each run by
its own command (`jigap issuer serve`, `jigap wallet serve`: uvicorn in a subprocess), on
SQLite and on PostgreSQL; a phone (``WalletClient`` over real httpx) talks to the wallet, and
the wallet to the issuer, only over HTTP.

The wallet is set up as an operator would: `jigap wallet init --trust-list {issuer}/trust-list.jwt
--anchor FILE`, then `serve`, which syncs the trust store before it listens. Every agency
offers every type it issues (by reference, with a transaction code), the phone takes 3 copies
of each; an agency revokes one and the wallet's own refresh shows it; the phone is lost and a
new one recovers the account.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from credential_schemas import Registry
from keys.encoding import json_dumps
from keys.store import MIN_SCRYPT_N
from tests._issuer_client import RESIDENT, RRN
from tests._server import BACKENDS, RunningIssuer, backend_database_url, issuer_on_backend
from tests._wallet_server import RunningWallet, running_wallet
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.holder.device_keys import DeviceKeys

pytestmark = pytest.mark.slow

PHONE_PASSPHRASE = "the phone's own passphrase, long enough"
COPIES = 3
# The wallet looks every second for what is due, and its trust list (so every status list
# with it) is due after two: a revocation shows within seconds, not a status list's ttl.
WALLET_SETTINGS = {"STATUS_REFRESH_SECONDS": "1", "TRUST_REFRESH_SECONDS": "2"}
REVOCATION_SECONDS = 20.0


@dataclass(frozen=True)
class Services:
    issuer: RunningIssuer
    wallet: RunningWallet
    tmp: Path

    def phone(self, name: str) -> WalletClient:
        keys = DeviceKeys(self.tmp / name, PHONE_PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
        return WalletClient(self.wallet.public_url, keys)

    def offer(self, slug: str, type_id: str) -> dict[str, Any]:
        """The agency's operator makes an offer through the admin API."""
        response = httpx.post(
            f"{self.issuer.public_url}/admin/offers",
            json={
                "credential_type": type_id,
                "claims": Registry.load().get(type_id).examples[0],
                "subject": RRN,  # the agency's own reference; stored only hashed
            },
            headers=self.issuer.admin(slug),
        )
        assert response.status_code == 201, response.text
        offer: dict[str, Any] = response.json()
        return offer

    def types_issued(self) -> dict[str, list[str]]:
        """Every agency's types, as its metadata publishes them."""
        return {
            slug: list(
                httpx.get(self.issuer.metadata_url(slug)).json()[
                    "credential_configurations_supported"
                ]
            )
            for slug in self.issuer.tokens
        }

    def revoke_all(self, slug: str, type_id: str) -> int:
        """The agency revokes what it issued of ``type_id`` (every copy is its own row)."""
        admin = f"{self.issuer.public_url}/admin/credentials"
        listed = httpx.get(
            admin, params={"credential_type": type_id}, headers=self.issuer.admin(slug)
        ).json()
        for issued in listed:
            response = httpx.post(
                f"{admin}/{issued['id']}/revoke",
                json={"reason": "lost the right to it"},
                headers=self.issuer.admin(slug),
            )
            assert response.status_code == 200, response.text
        return len(listed)


@pytest.fixture(params=BACKENDS)
def services(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Services]:
    wallet_dir = tmp_path / "wallet"
    wallet_dir.mkdir()
    with (
        issuer_on_backend(request.param, tmp_path / "issuer") as issuer,
        backend_database_url(request.param, wallet_dir) as wallet_db,  # its own database
    ):
        anchor = tmp_path / "anchor.jwk"  # what the trust operator publishes beside its list
        anchor.write_bytes(json_dumps(issuer.anchor_jwk()))
        with running_wallet(
            wallet_dir / "data",
            wallet_db,
            workers=2,
            trust_list_url=issuer.trust_list_url,
            anchor=anchor,
            extra_settings=WALLET_SETTINGS,
        ) as wallet:
            yield Services(issuer, wallet, tmp_path)


def test_the_demo_story_over_http(services: Services) -> None:
    started = time.monotonic()
    issuer = services.issuer
    assert httpx.get(f"{services.wallet.public_url}/ready").json() == {"status": "ready"}
    phone = services.phone("phone")
    bound = phone.register()

    # 1. Every agency offers every type it issues; the phone takes COPIES of each.
    types_issued = services.types_issued()
    assert sum(len(types) for types in types_issued.values()) >= 4
    issuer_of: dict[str, str] = {}
    for slug, types in types_issued.items():
        for type_id in types:
            offer = services.offer(slug, type_id)
            shown = phone.hand_over(offer["credential_offer_reference_uri"])
            assert shown["state"] == "offered"
            assert shown["issuer"]["id"] == issuer.issuer_id(slug)
            assert shown["issuer"]["name"]["ko"] and shown["issuer"]["name"]["en"]
            assert [c["credential_type"] for c in shown["credentials"]] == [type_id]
            assert offer["tx_code"] and shown["tx_code"] is not None
            done = phone.accept(shown["intake_id"], tx_code=offer["tx_code"], copies=COPIES)
            assert done["state"] == "done", done
            issuer_of[type_id] = issuer.issuer_id(slug)

    held = {c["credential_type"]: c for c in phone.credentials()}
    assert set(held) == set(issuer_of)
    for type_id, credential in held.items():
        assert credential["status"] == "valid", credential
        assert credential["copies"] == credential["unused_copies"] == COPIES
        assert credential["issuer"]["id"] == issuer_of[type_id]
        assert credential["reissue_from"] is None

    # 2. The agency revokes one; the wallet's refresh (no request forces it) shows it.
    assert services.revoke_all("mois", RESIDENT) == COPIES

    def statuses(client: WalletClient) -> dict[str, dict[str, Any]]:
        return {c["credential_type"]: c for c in client.credentials()}

    deadline = time.monotonic() + REVOCATION_SECONDS
    while statuses(phone)[RESIDENT]["status"] != "revoked" and time.monotonic() < deadline:
        time.sleep(0.25)
    after = statuses(phone)
    assert after[RESIDENT]["status"] == "revoked"
    assert after[RESIDENT]["reissue_from"] == issuer_of[RESIDENT]
    assert {t for t, c in after.items() if c["status"] == "valid"} == set(issuer_of) - {RESIDENT}

    # 3. The phone is lost: a new one recovers the account with the recovery code.
    new_phone = services.phone("new-phone")
    rebound = new_phone.recover(bound.account_id, bound.recovery_code)
    assert rebound.account_id == bound.account_id and rebound.device_jkt != bound.device_jkt
    for refused in (phone.me, phone.credentials):
        with pytest.raises(WalletApiError) as cut:
            refused()
        assert (cut.value.status, cut.value.error) == (401, "invalid_dpop_proof")
    recovered = statuses(new_phone)
    assert set(recovered) == set(issuer_of)
    for type_id, credential in recovered.items():
        # Held on the lost phone's keys: the agency that issued it is the one to ask.
        expected = "revoked" if type_id == RESIDENT else "needs_reissue"
        assert credential["status"] == expected, credential
        assert credential["reissue_from"] == issuer_of[type_id]
    phone.close()
    new_phone.close()
    assert time.monotonic() - started < 60
