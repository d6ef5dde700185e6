"""The demo's counters: a bank and a convenience store ask, the phone answers, they decide.

The development issuer registered both with the trust operator (issuer/sample_relying_parties.json)
and keeps their signing keys under ``{issuer data}/counters/<id>``. A counter shows a signed
request as a QR image; the phone reads the image, the wallet service tells it who asks, why and
exactly what would be shown; the phone signs; the answer is a QR image the counter reads back
and verifies with no network. The convenience store has no screen: the phone answers its
registered one-way preset. An over-asking request is refused by the wallet, and the bank's web
site receives a certificate online (OpenID4VP's cross-device flow, ``verifier_web``).
"""

from __future__ import annotations

import base64
import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credential_schemas import Registry
from keys.jwk import Signer
from keys.store import FileKeyStore, list_key_infos
from verifier import TrustStore, VerificationResult, Verifier
from verifier.openid4vp import PresentationRequest, sign_request
from verifier.qr_image import qr_version, read_qr_image, render_png
from wallet_api.holder.client import WalletApiError, WalletClient

__all__ = ["BANK", "STORE", "Counter", "Counters", "counter_signer"]

BANK, STORE = "counter.bank.example", "counter.store.example"
ACCOUNT_OPENING, LOAN, AGE_CHECK = "account_opening", "loan_health_insurance", "age_check"


def counter_signer(counters_dir: Path, client_id: str, passphrase: str) -> Signer:
    """The counter's signing key, from the key store the development issuer made for it."""
    store_dir = counters_dir / client_id
    kid = next(iter(list_key_infos(store_dir))).kid
    return FileKeyStore(store_dir, passphrase).signer(kid)


def _both(names: Mapping[str, str]) -> str:
    return escape(f"{names['ko']}\n{names['en']}")


def _claims(result: VerificationResult) -> str:
    return "\n".join(f"{k}: {escape(str(v))}" for k, v in result.claims.items()) or "-"


@dataclass
class Counter:
    """One counter: its registered identity, its key, and the trust store it synced."""

    client_id: str
    signer: Signer
    trust_dir: Path
    registry: Registry

    def verifier(self) -> Verifier:
        return Verifier(TrustStore.load(self.trust_dir), registry=self.registry)

    def request(self, purpose_id: str) -> PresentationRequest:
        return self.verifier().make_request(
            signer=self.signer, client_id=self.client_id, purpose_id=purpose_id
        )


@dataclass
class Counters:
    """The counter chapters of the demo; ``check`` counts what did not come out as expected."""

    console: Console
    qr_dir: Path
    bank: Counter
    store: Counter
    phone: WalletClient
    failures: int = 0
    # name -> the answer's QR image, the request it answers, the wallet's credential shown
    answers: dict[str, tuple[Path, PresentationRequest, str]] = dataclasses.field(
        default_factory=dict
    )

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures += 1
            self.console.print(f"[red]not as expected: {escape(what)}[/red]")

    def two_way(self, name: str, counter: Counter, purpose_id: str) -> dict[str, Any]:
        """The counter shows a signed request; the phone reads it, is told who asks, why and
        what would be shown, and answers; the answer's QR image goes back to the counter."""
        request = counter.request(purpose_id)
        request_image = self.qr_dir / f"{name}-request.png"
        request_image.write_bytes(render_png(request.envelope))
        (self.qr_dir / f"{name}-request.jwt").write_text(request.token + "\n")
        scanned = read_qr_image(request_image)  # the phone's camera
        shown = self.phone.present(scanned)
        self.check(shown["relying_party"]["id"] == counter.client_id, f"{name}: who asks")
        signing = self.phone.accept_presentation(shown["id"], "png")
        answer = self.phone.sign_presentation(shown["id"], signing)
        answer_image = self.qr_dir / f"{name}-answer.png"
        answer_image.write_bytes(base64.b64decode(answer["png"]))
        self.answers[name] = (answer_image, request, shown["credential"]["id"])
        return {
            "shown": shown,
            "request_qr": f"v{qr_version(request.envelope)}",
            "answer_qr": f"v{qr_version(answer['envelope'])}",
            "result": counter.verifier().verify_answer(read_qr_image(answer_image), request),
        }

    def at_the_counters(self) -> None:
        table = Table("counter asks", "the phone is shown", "QR", "the counter accepts")
        table.title = "At the counters: a signed request, the citizen's answer, checked offline"
        for name, counter, purpose_id in (
            ("bank", self.bank, ACCOUNT_OPENING),
            ("bank-loan", self.bank, LOAN),
        ):
            outcome = self.two_way(name, counter, purpose_id)
            shown, result = outcome["shown"], outcome["result"]
            self.check(result.valid, f"{name}: {result.error} {result.detail}")
            asked = {tuple(row["path"]) for row in shown["disclosed"]}
            self.check({(k,) for k in result.claims} == asked, f"{name}: exactly what was asked")
            table.add_row(
                _both(shown["relying_party"]["name"]) + "\n" + _both(shown["purpose"]),
                "\n".join(
                    f"{row['label']['en']}: {escape(str(row['value']))}"
                    for row in shown["disclosed"]
                ),
                f"request {outcome['request_qr']}\nanswer {outcome['answer_qr']}",
                ("[green]valid[/green]\n" if result.valid else f"[red]{result.error}[/red]\n")
                + _claims(result),
            )
        table.add_row(*self.one_way())
        self.console.print(table)

    def one_way(self) -> tuple[str, str, str, str]:
        """The convenience store has no screen: the phone answers its registered preset."""
        preset = next(
            p
            for p in self.phone.presets()
            if (p["client_id"], p["purpose_id"]) == (STORE, AGE_CHECK)
        )
        shown = self.phone.present_preset(STORE, AGE_CHECK)
        signing = self.phone.accept_presentation(shown["id"], "png")
        answer = self.phone.sign_presentation(shown["id"], signing)
        image = self.qr_dir / "store-answer.png"
        image.write_bytes(base64.b64decode(answer["png"]))
        result = self.store.verifier().verify_preset(read_qr_image(image), STORE, AGE_CHECK)
        self.check(result.valid, f"store: {result.error} {result.detail}")
        self.check(set(result.claims) == {"age_over_19"}, f"store: {sorted(result.claims)}")
        return (
            _both(preset["relying_party"]["name"]) + "\n" + _both(preset["purpose"])
            + f"\n(one-way, {preset['one_way_seconds']} s)",
            "\n".join(f"{r['label']['en']}: {r['value']}" for r in shown["disclosed"]),
            f"answer v{qr_version(answer['envelope'])}",
            ("[green]valid[/green]\n" if result.valid else f"[red]{result.error}[/red]\n")
            + _claims(result),
        )  # fmt: skip

    def over_asking(self) -> None:
        """The bank signs, with its own registered key, a request for more than it registered:
        the resident registration number too. The wallet refuses it; nothing is disclosed."""
        registered = self.bank.verifier().store.relying_party(BANK)
        purpose = registered.purpose(ACCOUNT_OPENING) if registered else None
        if purpose is None:
            self.check(False, "the bank's account opening is registered")
            return
        wider = dataclasses.replace(
            purpose.credentials[0],
            claims=(*purpose.credentials[0].claims, ("resident_registration_number",)),
        )
        greedy = dataclasses.replace(purpose, credentials=(wider,))
        token = sign_request(
            signer=self.bank.signer,
            client_id=BANK,
            purpose=greedy,
            now=int(time.time()),
            query_id="resident_register_extract",
        )
        try:
            self.phone.present(token)
        except WalletApiError as exc:
            refused = exc.error == "untrusted_request" and "over_asking" in exc.description
            self.check(refused, f"over-asking: {exc}")
            self.console.print(
                "The bank asks for the resident registration number as well, beyond what it"
                f" registered: the wallet refuses ({exc.status} {exc.error}:"
                f" {escape(exc.description)}); nothing is disclosed"
            )
        else:
            self.check(False, "an over-asking request is refused")

    def online(self, bank_web: str, http: httpx.Client) -> None:
        """Without visiting: the bank's web site shows an openid4vp:// link as a QR code, the
        wallet fetches the request and posts the answer to the bank's registered response URI."""
        started = http.post(f"{bank_web}/bank/transactions", json={"purpose_id": ACCOUNT_OPENING})
        started.raise_for_status()
        transaction = started.json()
        shown = self.phone.present(transaction["wallet_link"])
        signing = self.phone.accept_presentation(shown["id"])
        posted = self.phone.sign_presentation(shown["id"], signing)
        self.check(posted.get("submitted") is True, f"online: {posted}")
        report = http.get(f"{bank_web}/bank/transactions/{transaction['transaction_id']}").json()
        self.check(report["status"] == "valid", f"online: {report}")
        claims = report.get("result", {}).get("claims", {})
        self.console.print(
            f"Without visiting: the bank's web site ({bank_web}) shows"
            f" {transaction['wallet_link'][:40]}… as a QR code; the wallet fetches the request,"
            f" the citizen agrees, and the bank's page reads [green]{report['status']}[/green]:"
            f" {escape(', '.join(sorted(claims)))}"
        )

    def history(self) -> None:
        table = Table("when", "to whom", "why", "claims shown", title="The citizen's history")
        for entry in self.phone.presentations():
            table.add_row(
                time.strftime("%H:%M:%S", time.localtime(entry["created_at"])),
                _both(entry["relying_party"]["name"]),
                _both(entry["purpose"]),
                ", ".join(row["label"]["en"] for row in entry["disclosed"]),
            )
        self.console.print(table)
