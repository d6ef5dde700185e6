"""The counters' story over real sockets, on SQLite and on PostgreSQL: an issuer deployment, a
wallet service and the bank's web site, each its own uvicorn process on loopback; a phone
(``WalletClient`` over httpx) and two counters (the verifier library, offline once synced).

The deployment is `jigap issuer init`'s, which registers the sample counters with the trust
operator (issuer/sample_relying_parties.json) and keeps their keys under ``counters/<id>``. The
bank adds its web site's response URI to its entry (`jigap issuer relying-party add`, as an
operator runs it) before the wallet and the web site sync. Then: a two-way QR at the bank (the
request's image read back by the phone, the answer's by the counter), the convenience store's
one-way preset, an over-asking and a replayed request refused by the wallet, the bank's web site
receiving an answer online, and the agency revoking the extract the bank saw: the re-synced
counter refuses the same answer image.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from credential_schemas import Registry
from issuer.cli import COUNTERS_DIR
from issuer.settings import ENV_PREFIX as ISSUER_ENV_PREFIX
from keys.encoding import json_dumps
from keys.jwk import Signer
from keys.store import MIN_SCRYPT_N, PASSPHRASE_ENV
from tests import _bank_site
from tests._issuer_client import HEALTH, RESIDENT, RRN
from tests._server import (
    BACKENDS,
    JIGAP,
    RunningIssuer,
    _stop,
    _wait_until_ready,
    backend_database_url,
    free_port,
    issuer_on_backend,
)
from tests._wallet_server import RunningWallet, running_wallet
from verifier import ErrorCode, TrustStore, Verifier
from verifier.openid4vp import PresentationRequest, sign_request
from verifier.qr_image import read_qr_image, render_png
from verifier.sync import sync_trust_store
from wallet_api.holder.client import WalletApiError, WalletClient
from wallet_api.holder.device_keys import DeviceKeys

pytestmark = pytest.mark.slow

BANK, STORE = "counter.bank.example", "counter.store.example"
ACCOUNT_OPENING, LOAN, AGE_CHECK = "account_opening", "loan_health_insurance", "age_check"
PHONE_PASSPHRASE = "the phone's own passphrase, long enough"
# The bank's two-way answer, the store's preset and the web site's answer each take a copy of
# the extract; the refused requests take none, so one is left.
COPIES = 4
REPO = Path(__file__).resolve().parents[1]
REGISTRY = Registry.load()
STORY_SECONDS = 60


@dataclass(frozen=True)
class Counter:
    """A counter: its registered id, its signing key, the trust store it synced."""

    client_id: str
    signer: Signer
    trust_dir: Path

    def verifier(self) -> Verifier:
        return Verifier(TrustStore.load(self.trust_dir), registry=REGISTRY)

    def request(self, purpose_id: str) -> PresentationRequest:
        return self.verifier().make_request(
            signer=self.signer, client_id=self.client_id, purpose_id=purpose_id
        )


@dataclass(frozen=True)
class Story:
    issuer: RunningIssuer
    wallet: RunningWallet
    site_port: int  # where the bank's web site listens, as its response URI registers
    anchor: Path  # the trust list's anchor, as the trust operator publishes it
    trust_dir: Path  # the counters' trust store, synced from the trust list's URL
    tmp: Path

    def phone(self) -> WalletClient:
        keys = DeviceKeys(self.tmp / "phone", PHONE_PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
        return WalletClient(self.wallet.public_url, keys)

    def counter(self, client_id: str) -> Counter:
        """The counter's key, from the key store `init` made for it."""
        signer = _bank_site.counter_signer(
            self.issuer.data_dir / COUNTERS_DIR / client_id, self.issuer.settings.key_passphrase
        )
        return Counter(client_id, signer, self.trust_dir)

    def sync(self) -> None:
        report = sync_trust_store([self.issuer.trust_list_url], self.trust_dir)
        assert not report.failed, report

    def bank_site(self) -> contextlib.AbstractContextManager[str]:
        """The bank's web site: it syncs a trust store of its own, as a counter does, then
        serves (its own process); its public URL."""
        site_trust = self.tmp / "bank-site" / "trust"
        report = sync_trust_store([self.issuer.trust_list_url], site_trust, anchor_file=self.anchor)
        assert not report.failed, report
        return running_bank_site(
            self.tmp / "bank-site",
            port=self.site_port,
            trust_dir=site_trust,
            key_store_dir=self.issuer.data_dir / COUNTERS_DIR / BANK,
            passphrase=self.issuer.settings.key_passphrase,
        )

    def receive(self, phone: WalletClient, slug: str, type_id: str) -> None:
        """The agency offers ``type_id`` through its admin API; the phone takes COPIES."""
        offered = httpx.post(
            f"{self.issuer.public_url}/admin/offers",
            json={
                "credential_type": type_id,
                "claims": REGISTRY.get(type_id).examples[0],
                "subject": RRN,
            },
            headers=self.issuer.admin(slug),
        )
        assert offered.status_code == 201, offered.text
        offer = offered.json()
        shown = phone.hand_over(offer["credential_offer_reference_uri"])
        done = phone.accept(shown["intake_id"], tx_code=offer["tx_code"], copies=COPIES)
        assert done["state"] == "done", done

    def revoke_all(self, slug: str, type_id: str) -> int:
        """The agency revokes every copy it issued of ``type_id`` (each is its own row)."""
        admin = f"{self.issuer.public_url}/admin/credentials"
        listed = httpx.get(
            admin, params={"credential_type": type_id}, headers=self.issuer.admin(slug)
        ).json()
        for issued in listed:
            revoked = httpx.post(
                f"{admin}/{issued['id']}/revoke",
                json={"reason": "moved abroad"},
                headers=self.issuer.admin(slug),
            )
            assert revoked.status_code == 200, revoked.text
        return len(listed)


def _issuer_env() -> dict[str, str]:
    # The deployment's settings come from its issuer.env alone, not from this test's shell.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(ISSUER_ENV_PREFIX) and name != PASSPHRASE_ENV
    }


def _register_response_uri(issuer: RunningIssuer, trust_dir: Path, uri: str) -> None:
    """The bank's entry as the trust list names it, with its web site's response URI added,
    registered again by the operator's command; the next trust list carries it."""
    registered = TrustStore.load(trust_dir).relying_party(BANK)
    assert registered is not None and registered.response_uris == ()
    entry_file = trust_dir.parent / "bank-entry.json"
    entry_file.write_bytes(json_dumps({**registered.to_entry(), "response_uris": [uri]}))
    added = subprocess.run(
        [str(JIGAP), "issuer", "relying-party", "add", str(entry_file),
         "--data-dir", str(issuer.data_dir)],
        capture_output=True, text=True, env=_issuer_env(), timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    assert added.stdout.startswith(f"registered {BANK} (Example Bank)"), added.stdout


@contextlib.contextmanager
def running_bank_site(
    directory: Path, *, port: int, trust_dir: Path, key_store_dir: Path, passphrase: str
) -> Iterator[str]:
    """`python -m uvicorn --factory tests._bank_site:create_app` on ``port``; its public URL.
    Waits (bounded) until it answers; stopped by its own pid at the end."""
    public_url = _loopback(port)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(_bank_site.ENV_PREFIX)},
        _bank_site.TRUST_DIR_ENV: str(trust_dir),
        _bank_site.KEY_STORE_DIR_ENV: str(key_store_dir),
        PASSPHRASE_ENV: passphrase,
        _bank_site.CLIENT_ID_ENV: BANK,
        _bank_site.PUBLIC_URL_ENV: public_url,
    }
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "server.log"
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "tests._bank_site:create_app",
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO,  # `tests` is imported from the checkout, as pytest does
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        _wait_until_ready(process, f"{public_url}/openapi.json", log, workers=1)
        yield public_url
    finally:
        _stop(process)


@pytest.fixture(params=BACKENDS)
def story(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Story]:
    wallet_dir = tmp_path / "wallet"
    wallet_dir.mkdir()
    trust_dir = tmp_path / "counter-trust"
    with issuer_on_backend(request.param, tmp_path / "issuer") as issuer:
        anchor = tmp_path / "anchor.jwk"  # what the trust operator publishes beside its list
        anchor.write_bytes(json_dumps(issuer.anchor_jwk()))
        report = sync_trust_store([issuer.trust_list_url], trust_dir, anchor_file=anchor)
        assert not report.failed, report
        # Registered before the wallet starts, so that its start-up sync names it; the site
        # itself starts later (``Story.bank_site``), on this port.
        site_port = free_port()
        _register_response_uri(issuer, trust_dir, _bank_site.response_uri(_loopback(site_port)))
        with (
            backend_database_url(request.param, wallet_dir) as wallet_db,
            running_wallet(
                wallet_dir / "data",
                wallet_db,
                trust_list_url=issuer.trust_list_url,
                anchor=anchor,
            ) as wallet,
        ):
            yield Story(issuer, wallet, site_port, anchor, trust_dir, tmp_path)


def _loopback(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def _answer_png(phone: WalletClient, shown: Mapping[str, Any]) -> bytes:
    """Yes, as a QR image: the phone signs the KB-JWT; the image the counter's camera reads."""
    signing = phone.accept_presentation(shown["id"], "png")
    answer = phone.sign_presentation(shown["id"], signing)
    assert answer["envelope"].startswith("JG1:"), answer
    return base64.b64decode(answer["png"])


def _disclosed(shown: Mapping[str, Any]) -> dict[str, Any]:
    return {".".join(map(str, row["path"])): row["value"] for row in shown["disclosed"]}


def test_the_counters_story_over_http(story: Story) -> None:
    started = time.monotonic()
    with story.phone() as phone:
        _the_story(story, phone)
    assert time.monotonic() - started < STORY_SECONDS


def _the_story(story: Story, phone: WalletClient) -> None:
    phone.register()
    story.receive(phone, "mois", RESIDENT)
    story.receive(phone, "nhis", HEALTH)
    extract = REGISTRY.get(RESIDENT).examples[0]
    eligibility = REGISTRY.get(HEALTH).examples[0]
    story.sync()  # the counters' trust store, as the trust list is now
    bank, store = story.counter(BANK), story.counter(STORE)

    # 1. Two-way at the bank: the request's QR image, read by the phone's camera; the phone is
    # told who asks, why and what would be shown; the answer's QR image, read by the counter.
    first = bank.request(ACCOUNT_OPENING)
    shown = phone.present(read_qr_image(render_png(first.envelope)))
    assert shown["relying_party"] == {
        "id": BANK,
        "name": {"ko": "예시은행", "en": "Example Bank"},
    }
    assert shown["purpose"] == {
        "ko": "계좌 개설 본인 확인",
        "en": "Identity check to open an account",
    }
    asked = {"name", "birth_date", "address"}
    assert _disclosed(shown) == {claim: extract[claim] for claim in asked}
    seen = shown["credential"]["id"]  # the wallet's extract, whose copy the bank is shown
    answer_image = story.tmp / "bank-answer.png"
    answer_image.write_bytes(_answer_png(phone, shown))
    verdict = bank.verifier().verify_answer(read_qr_image(answer_image), first)
    assert verdict.valid, (verdict.error, verdict.detail)
    assert verdict.claims == {claim: extract[claim] for claim in asked}

    # The loan review asks the health-insurance certificate for its registered claims.
    loan = bank.request(LOAN)
    shown = phone.present(read_qr_image(render_png(loan.envelope)))
    loan_claims = {"name", "insured_type", "workplace", "acquisition_date"}
    assert _disclosed(shown) == {claim: eligibility[claim] for claim in loan_claims}
    verdict = bank.verifier().verify_answer(read_qr_image(_answer_png(phone, shown)), loan)
    assert verdict.valid, (verdict.error, verdict.detail)
    assert verdict.claims == {claim: eligibility[claim] for claim in loan_claims}

    # 2. One-way at the convenience store (no screen): the phone answers the registered preset.
    [preset] = [p for p in phone.presets() if p["client_id"] == STORE]
    assert (preset["purpose_id"], preset["one_way_seconds"]) == (AGE_CHECK, 60)
    shown = phone.present_preset(STORE, AGE_CHECK)
    assert _disclosed(shown) == {"age_over_19": True}
    verdict = store.verifier().verify_preset(
        read_qr_image(_answer_png(phone, shown)), STORE, AGE_CHECK
    )
    assert verdict.valid, (verdict.error, verdict.detail)
    assert verdict.claims == {"age_over_19": True}

    # 3. The bank signs, with its own registered key, a request for more than it registered
    # (the resident registration number too): the wallet refuses it, nothing is disclosed.
    registered = bank.verifier().store.relying_party(BANK)
    purpose = registered.purpose(ACCOUNT_OPENING) if registered else None
    assert purpose is not None
    wider = dataclasses.replace(
        purpose.credentials[0],
        claims=(*purpose.credentials[0].claims, ("resident_registration_number",)),
    )
    greedy = sign_request(
        signer=bank.signer,
        client_id=BANK,
        purpose=dataclasses.replace(purpose, credentials=(wider,)),
        now=int(time.time()),
        query_id=RESIDENT,
    )
    with pytest.raises(WalletApiError) as over_asking:
        phone.present(greedy)
    assert over_asking.value.error == "untrusted_request"
    assert over_asking.value.description.startswith("over_asking:"), over_asking.value
    # The bank's first request, shown again: answered once, refused now.
    with pytest.raises(WalletApiError) as replayed:
        phone.present(first.envelope)
    assert replayed.value.error == "request_replayed", replayed.value

    # 4. Online: the bank's page starts a transaction and shows its wallet link; the wallet
    # fetches the request from the bank's origin and posts the answer to its response URI.
    with story.bank_site() as site, httpx.Client(base_url=f"{site}/bank") as page:
        started_online = page.post("/transactions", json={"purpose_id": ACCOUNT_OPENING})
        assert started_online.status_code == 200, started_online.text
        transaction = started_online.json()
        assert page.get(f"/transactions/{transaction['transaction_id']}").json() == {
            "status": "pending",
            "error": None,
        }
        shown = phone.present(transaction["wallet_link"])
        assert shown["response_mode"] == "direct_post"
        assert _disclosed(shown) == {claim: extract[claim] for claim in asked}
        posted = phone.sign_presentation(shown["id"], phone.accept_presentation(shown["id"]))
        assert posted["submitted"] is True, posted
        report = page.get(f"/transactions/{transaction['transaction_id']}").json()
    assert report["status"] == "valid", report
    assert report["result"]["claims"] == {claim: extract[claim] for claim in asked}

    # The history: each answer, to whom and why and which claims (no values); the refused
    # requests are not in it, and every answer took one copy.
    history = phone.presentations()
    assert sorted(
        (entry["relying_party"]["id"], entry["purpose"]["en"], entry["state"]) for entry in history
    ) == [
        (BANK, "Identity check to open an account", "answered"),
        (BANK, "Identity check to open an account", "submitted"),
        (BANK, "Loan review: health insurance eligibility", "answered"),
        (STORE, "Age check: 19 or over", "answered"),
    ]
    for entry in history:
        assert all("value" not in row for row in entry["disclosed"]), entry
        if entry["purpose"]["en"] == "Identity check to open an account":
            assert {".".join(row["path"]) for row in entry["disclosed"]} == asked, entry
    held = {c["credential_type"]: c for c in phone.credentials()}
    assert held[RESIDENT]["credential_id"] == seen
    assert (held[RESIDENT]["unused_copies"], held[HEALTH]["unused_copies"]) == (1, COPIES - 1)

    # 5. The agency revokes the extract the bank saw; the counter, re-synced, refuses the same
    # answer image it accepted.
    assert story.revoke_all("mois", RESIDENT) == COPIES
    story.sync()
    verdict = bank.verifier().verify_answer(read_qr_image(answer_image), first)
    assert verdict.error is ErrorCode.REVOKED, (verdict.error, verdict.detail)
