"""The README's main job, `make demo`, runs end to end and says so.

The demo runs once for this module (it serves the issuer and the wallet under uvicorn); each
test reads one part of the story from what it printed and what it left in its output: the
issuer's and the wallet's SQLite files and the phones' key stores.
"""

from __future__ import annotations

import contextlib
import io
import re
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from issuer.cli import sample_agencies
from jigap_demo import run_demo
from jigap_demo_counter import BANK, STORE
from verifier import ErrorCode, TrustStore, Verifier
from verifier.openid4vp import PresentationRequest, read_request
from verifier.qr_image import qr_version, read_qr_image
from wallet_api.holder.client import DEFAULT_COPIES

# A recovery code as the wallet makes it (wallet_api.accounts): five groups of four.
_RECOVERY_CODE = re.compile(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}")


@dataclass(frozen=True)
class Demo:
    out: Path
    printed: str

    def wallet_db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.out / "wallet" / "wallet.sqlite3")

    def issuer_db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.out / "issuer" / "issuer.sqlite3")

    def types(self) -> int:
        """How many certificate types the sample agencies issue (data: sample_agencies.json)."""
        return len({t for agency in sample_agencies() for t in agency["credential_types"]})

    def counter(self) -> Verifier:
        """A counter that synced where the demo's counters did, reading its files again."""
        return Verifier(TrustStore.load(self.out / "trust"))

    def request(self, name: str) -> PresentationRequest:
        token = (self.out / "qr" / f"{name}-request.jwt").read_text().strip()
        return read_request(token, TrustStore.load(self.out / "trust"), now=int(time.time()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    out = tmp_path_factory.mktemp("demo") / "out"
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(printed):
        env.setenv("COLUMNS", "240")  # rich's width: one table row per line, nothing folded
        code = run_demo(str(out))
    assert code == 0, printed.getvalue()
    yield Demo(out, printed.getvalue())


def _with(printed: str, *words: str) -> list[str]:
    return [line for line in printed.splitlines() if all(word in line for word in words)]


def test_demo_leaves_its_qr_images_trust_store_and_keys_encrypted(demo: Demo) -> None:
    out = demo.out
    images = sorted(p.name for p in (out / "qr").glob("*.png"))
    assert images == [
        "bank-answer.png",
        "bank-loan-answer.png",
        "bank-loan-request.png",
        "bank-request.png",
        "store-answer.png",
    ]
    assert (out / "trust" / "trust-list.jwt").exists()
    # Keys are encrypted at rest: no private key appears in clear in the key stores, the
    # counters' included.
    records = list((out / "issuer").rglob("*.json"))
    assert len(records) >= 6  # the anchor, one key per agency, one per counter
    assert len(list((out / "issuer" / "counters").rglob("*.json"))) == 2
    for record in records:
        assert "BEGIN PRIVATE KEY" not in record.read_text()
    # The deployments' secrets files are for their operators only.
    assert (out / "issuer" / "issuer.env").stat().st_mode & 0o777 == 0o600
    assert (out / "wallet" / "wallet.env").stat().st_mode & 0o777 == 0o600


def test_every_type_comes_through_the_wallet_with_batch_copies(demo: Demo) -> None:
    with contextlib.closing(demo.wallet_db()) as db:
        (accounts,) = db.execute("SELECT count(*) FROM wallet_accounts").fetchone()
        copies = db.execute(
            "SELECT credential_id, count(*), count(used_at) FROM wallet_credential_copies"
            " GROUP BY credential_id"
        ).fetchall()
        holder_keys = {
            row[0] for row in db.execute("SELECT holder_jkt FROM wallet_credential_copies")
        }
    assert accounts == 1
    # Each type once, and one more of the first type (the one revoked), each as 10 copies;
    # each presentation took a copy of its own: four answered (two at the bank's counter,
    # the convenience store's, the bank's web site).
    assert len(copies) == demo.types() + 1
    assert all(count == DEFAULT_COPIES for _, count, _ in copies)
    assert sum(used for _, _, used in copies) == 4
    # Each copy is bound to its own key, made on the phone and kept there (encrypted, 0600):
    # the phone holds those and its account key, nothing else.
    phone = {path.stem: path for path in (demo.out / "phone").glob("*.json")}
    assert len(holder_keys) == len(copies) * DEFAULT_COPIES
    assert holder_keys < phone.keys() and len(phone) == len(holder_keys) + 1
    for path in phone.values():
        assert path.stat().st_mode & 0o777 == 0o600
        assert "ENCRYPTED PRIVATE KEY" in path.read_text()
    # What the phone listed before any counter: every credential valid, no copy used.
    listed = demo.printed.split("What the phone holds")[1].split("At the counters")[0]
    assert len(_with(listed, " valid ", f" {DEFAULT_COPIES} of {DEFAULT_COPIES} ")) == len(copies)


def test_the_counters_ask_the_phone_answers_and_the_counter_reads_the_images(demo: Demo) -> None:
    at_counters = demo.printed.split("At the counters")[1].split("The citizen's history")[0]
    # The bank twice (account opening, loan review), the convenience store's preset: all valid.
    assert len(_with(at_counters, " valid ")) == 3
    assert _with(at_counters, "예시은행", "Name: 홍길동", "request v9")
    assert _with(at_counters, "예시편의점", "Aged 19 or over: True")
    # The counter, with no network, reads the answer images back against its requests.
    loan = demo.counter().verify_answer(
        read_qr_image(demo.out / "qr" / "bank-loan-answer.png"), demo.request("bank-loan")
    )
    assert loan.valid, loan.detail
    assert set(loan.claims) == {"name", "insured_type", "workplace", "acquisition_date"}
    age = demo.counter().verify_preset(
        read_qr_image(demo.out / "qr" / "store-answer.png"), STORE, "age_check"
    )
    # The store was shown the newest extract, the one revoked since (its one-way window of 60 s
    # may have passed too, which is checked first).
    assert age.error in (ErrorCode.REVOKED, ErrorCode.PRESENTATION_TOO_OLD)
    # The bank's answer QR is version 25 or less, as the issue demands.
    assert qr_version(read_qr_image(demo.out / "qr" / "bank-answer.png")) <= 25


def test_an_over_asking_request_is_refused_and_the_web_site_receives_online(demo: Demo) -> None:
    assert _with(demo.printed, "refuses (400 untrusted_request: over_asking")
    assert _with(demo.printed, "Without visiting", "reads valid: address, birth_date, name")
    with contextlib.closing(demo.wallet_db()) as db:
        history = db.execute("SELECT client_id, state, disclosed FROM wallet_presentations")
        rows = history.fetchall()
    # Four answered; the over-asking request left nothing. No claim value in the history.
    assert sorted((client, state) for client, state, _ in rows) == [
        (BANK, "answered"),
        (BANK, "answered"),
        (BANK, "submitted"),
        (STORE, "answered"),
    ]
    assert not any("홍길동" in disclosed for _, _, disclosed in rows)


def test_the_agency_revokes_one_and_the_wallet_and_the_counter_show_it(demo: Demo) -> None:
    with contextlib.closing(demo.issuer_db()) as db:
        revoked = db.execute(
            "SELECT offer_id, count(*) FROM issuedcredential WHERE status = 1 GROUP BY offer_id"
        ).fetchall()
    assert len(revoked) == 1 and revoked[0][1] == DEFAULT_COPIES  # every copy of one credential
    after = demo.printed.split("The wallet after the revocation")[1].split("At the bank")[0]
    assert len(_with(after, " revoked ")) == 1
    assert len(_with(after, " valid ")) == demo.types()
    assert _with(demo.printed, "qr/bank-answer.png", "refused as revoked")
    # The counter's own files say the same: the bank's answer, once valid, is revoked now.
    again = demo.counter().verify_answer(
        read_qr_image(demo.out / "qr" / "bank-answer.png"), demo.request("bank")
    )
    assert again.error is ErrorCode.REVOKED


def test_a_new_device_recovers_the_account_of_a_lost_phone(demo: Demo) -> None:
    new_phone = [path.stem for path in (demo.out / "new-phone").glob("*.json")]
    with contextlib.closing(demo.wallet_db()) as db:
        (bound_to,) = db.execute("SELECT device_jkt FROM wallet_accounts").fetchone()
        flags = [row[0] for row in db.execute("SELECT needs_reissue FROM wallet_credentials")]
    assert new_phone == [bound_to]  # the account is bound to the new device's one key
    assert flags == [1] * (demo.types() + 1)  # every copy is bound to the old phone's keys
    assert _with(demo.printed, "The old phone", "refused (401 invalid_dpop_proof)")
    on_new_phone = demo.printed.split("On the new phone")[1]
    # Each listed as needing re-issue (the revoked one stays revoked), with the agency to ask.
    asks = [line for line in on_new_phone.splitlines() if "needs_reissue" in line]
    assert len(asks) == demo.types()
    assert all(re.search(r"http://127\.0\.0\.1:\d+/\w+", line) for line in asks)


def test_the_recovery_codes_are_never_printed_in_full(demo: Demo) -> None:
    assert not _RECOVERY_CODE.search(demo.printed)
    masked = re.findall(r"•{4}-•{4}-•{4}-•{4}-•{2}[0-9A-Z]{2}", demo.printed)
    assert len(masked) == 2  # at registering and at recovering
