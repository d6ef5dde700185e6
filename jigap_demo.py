"""`jigap demo`: the whole story on one machine, with nothing to install.

Two services run under uvicorn on loopback, each on its own SQLite file: a development issuer
deployment (a trust anchor, the sample agencies) and a wallet service that trusts the issuers on
the issuer's trust list, whose anchor key it pins. A phone (the holder reference client, its
device keys encrypted under the output directory) registers with the wallet. Every agency
offers every certificate type it issues through its admin API, and the phone accepts each offer
through the wallet API with batch copies (it signs one key proof per copy, each with its own
device key), then lists what it holds. The phone presents only what a counter asks for as a QR
image, and the counter reads the image back and verifies it offline from a trust store synced
from the trust list's URL alone. One more credential is received and revoked by its agency: the
wallet shows it revoked and the counter refuses its QR, ``qr/revoked.png``; every other QR stays
valid, and beside each ``qr/NAME.png`` is ``qr/NAME.nonce``, the nonce the counter asked for, so
that the README's commands can be run on the demo's output. Last, the phone is lost: a new
device recovers the account with the recovery code, the old one is refused, and the wallet
lists what the account holds as needing re-issue, with the agency to ask.
Every certificate type comes from data (the registry and the sample agencies): none is named.
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credential_schemas import Registry
from jigap_demo_counter import BANK, STORE, Counter, Counters, counter_signer
from jigap_demo_output import (
    DemoOutputError,
    clear_previous_output,
    demo_paths,
    write_marker,
)
from keys.encoding import json_dumps
from keys.store import MIN_SCRYPT_N, list_key_infos
from verifier import ErrorCode
from verifier.qr_image import read_qr_image
from verifier.sync import sync_trust_store
from wallet_api.holder.client import DEFAULT_COPIES, WalletApiError, WalletClient
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.issuance_client import IssuanceClient

if TYPE_CHECKING:
    from fastapi import FastAPI

    from wallet_api.deployment import WalletDeployment

# The phone's device keys live in `phone/`, the new phone's (after the loss) in `new-phone/`.
_CREATES = ("issuer", "wallet", "phone", "new-phone", "qr", "trust", "anchor.jwk")
CITIZEN = "citizen-0001"
_STARTUP_SECONDS = 20.0


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _mask(recovery_code: str) -> str:
    """What the demo prints of a recovery code: its last two characters. The code is the key
    to the account from a new phone; the citizen is shown it once, on the phone."""
    return "".join(c if c == "-" else "•" for c in recovery_code[:-2]) + recovery_code[-2:]


def _both(names: Mapping[str, str]) -> str:
    return escape(f"{names['ko']}\n{names['en']}")


@contextmanager
def _serving(app: FastAPI, port: int, name: str) -> Iterator[None]:
    """``app`` under uvicorn, on loopback, in a thread of this process."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {name} service did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_SECONDS)


def _device_keys(directory: Path) -> DeviceKeys:
    """A phone's secure hardware, in software: its keys encrypted at rest (files of mode 0600)
    under a passphrase that lives only in this process. The passphrase is random (192 bits),
    so stretching it adds nothing: the least scrypt cost keeps fifty copy keys quick."""
    return DeviceKeys(directory, secrets.token_urlsafe(24), scrypt_n=MIN_SCRYPT_N)


def _issuer_app(data_dir: Path) -> FastAPI:
    from issuer.api.app import create_app, make_deployment
    from issuer.cli import read_env_file
    from issuer.settings import Settings

    return create_app(deployment=make_deployment(Settings.from_env(read_env_file(data_dir))))


def _bank_web_app(bank: Counter, bank_url: str) -> FastAPI:
    """The bank's web site backend: receiving certificates online (verifier_web)."""
    from fastapi_offline import FastAPIOffline

    from verifier_web.online import OnlineVerifier, bank_router, wallet_router

    online = OnlineVerifier(
        bank.verifier(),
        bank.signer,
        client_id=BANK,
        response_uri=f"{bank_url}/oid4vp/response",
        request_base=f"{bank_url}/oid4vp",
        trust_dir=bank.trust_dir,  # follows the counter's syncs
    )
    app = FastAPIOffline(title="Example Bank, online")  # its API pages need no internet
    app.include_router(wallet_router(online), prefix="/oid4vp")
    app.include_router(bank_router(online), prefix="/bank")
    return app


def _counter_app(bank: Counter, registry: Registry, trust_list_url: str) -> FastAPI:
    """The bank's counter app (`jigap counter serve`) over the bank's trust store."""
    from counter_app.app import create_app
    from counter_app.counter_log import CounterLog
    from counter_app.desk import Desk

    desk = Desk(
        trust_dir=bank.trust_dir,
        client_id=BANK,
        signer=bank.signer,
        log=CounterLog(bank.trust_dir / "counter-log.jsonl"),
        registry=registry,
        sync_sources=[trust_list_url],
    )
    return create_app(desk)


def _register_bank_web_site(settings: Any, bank_url: str) -> None:
    """The bank registers where its web site receives answers (its response URI)."""
    from issuer.api.app import make_deployment
    from issuer.services.relying_parties import register_relying_party, registered_relying_parties
    from servicekit.db import session_scope

    deployment = make_deployment(settings, run_migrations=False)
    try:
        with session_scope(deployment.engine) as session:
            entry = registered_relying_parties(session)[BANK].to_entry()
        register_relying_party(
            deployment, {**entry, "response_uris": [f"{bank_url}/oid4vp/response"]}
        )
    finally:
        deployment.engine.dispose()


def _explore(
    console: Console,
    root: Path,
    tokens: Mapping[str, str],
    issuer_url: str,
    wallet_url: str,
    bank_url: str,
    counter_url: str,
) -> None:
    """Keep everything running, say where to look, and wait for Ctrl-C (or SIGTERM)."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(
        "\n[bold]Serving, to explore (Ctrl-C stops):[/bold]\n"
        f"  issuer and agencies' admin API  {issuer_url}/docs   (trust list:"
        f" {issuer_url}/trust-list.jwt)\n"
        f"  wallet service (DPoP: use the holder client)  {wallet_url}/docs\n"
        f"  the bank's web site (OpenID4VP direct_post)  {bank_url}/docs\n"
        f"  the bank's counter app, for a browser with a webcam  {counter_url}/"
        f"   (its API: {counter_url}/docs)"
    )
    # A development deployment's tokens, as `jigap issuer init` shows them: plain lines.
    sys.stdout.write("admin API tokens of the sample agencies (development only):\n")
    for slug, token in tokens.items():
        sys.stdout.write(f"  {slug}: {token}\n")
    key_store = root / "issuer" / "counters" / BANK
    kid = next(iter(list_key_infos(key_store))).kid
    sys.stdout.write(
        "the bank's counter asks from the command line (its key's passphrase is the issuer's):\n"
        f"  set -a; . {root / 'issuer' / 'issuer.env'}; set +a\n"
        f"  jigap verify request --trust {root / 'trust'} --key-store {key_store} --kid {kid}"
        f" --client-id {BANK} --purpose account_opening --out request.png --save request.jwt\n"
    )
    sys.stdout.flush()
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    console.print("stopped")


class _Agency:
    """An agency's operator at the issuer's admin API, with the agency's token."""

    def __init__(self, http: httpx.Client, issuer_url: str, token: str) -> None:
        self._http, self._url = http, issuer_url
        self._headers = {"Authorization": f"Bearer {token}"}

    def offer(self, type_id: str, claims: Mapping[str, Any]) -> dict[str, Any]:
        body = {
            "credential_type": type_id,
            "claims": claims,
            "subject": CITIZEN,  # the agency's own reference; stored only hashed
        }
        response = self._http.post(f"{self._url}/admin/offers", json=body, headers=self._headers)
        response.raise_for_status()
        offer: dict[str, Any] = response.json()
        return offer

    def issued(self) -> set[int]:
        """The ids of every credential the agency issued: one per batch copy."""
        ids: set[int] = set()
        while True:
            response = self._http.get(
                f"{self._url}/admin/credentials",
                params={"after_id": max(ids, default=0), "limit": 100},
                headers=self._headers,
            )
            response.raise_for_status()
            page = {int(row["id"]) for row in response.json()}
            if not page:
                return ids
            ids |= page

    def revoke(self, credential_id: int) -> None:
        self._http.post(
            f"{self._url}/admin/credentials/{credential_id}/revoke",
            json={"reason": "demo"},
            headers=self._headers,
        ).raise_for_status()


class _Story:
    """The demo's chapters, each printed for a person; what did not come out as expected is
    said in red and counted."""

    def __init__(self, console: Console, registry: Registry, qr_dir: Path) -> None:
        self.console = console
        self.registry = registry
        self.qr_dir = qr_dir
        self.failures = 0
        self.received = Table("agency", "certificate", "accepted through the wallet")
        self.received.title = (
            f"Each agency offers each type; the phone accepts {DEFAULT_COPIES} copies of each"
        )

    def check(self, ok: bool, what: str) -> None:
        if not ok:
            self.failures += 1
            self.console.print(f"[red]not as expected: {escape(what)}[/red]")

    def register(self, phone: WalletClient) -> tuple[str, str]:
        bound = phone.register()
        self.console.print(
            f"The phone registers with the wallet service at {phone.public_url}: account"
            f" [bold]{bound.account_id}[/bold], recovery code {_mask(bound.recovery_code)}"
            " (shown to the citizen once; masked here)"
        )
        return bound.account_id, bound.recovery_code

    def receive(self, phone: WalletClient, agency: _Agency, type_id: str, *, note: str = "") -> str:
        """The agency's offer, handed over to the wallet and accepted with batch copies (the
        phone signs one key proof per copy, each with a new device key); the wallet's id of
        the credential received."""
        credential_type = self.registry.get(type_id)
        offer = agency.offer(type_id, credential_type.examples[0])
        intake = phone.receive(
            offer["credential_offer_reference_uri"], tx_code=offer["tx_code"], copies=DEFAULT_COPIES
        )
        received = intake["received"]
        self.check(
            intake["state"] == "done" and len(received) == 1, f"{type_id}: {intake['state']}"
        )
        self.received.add_row(
            _both(intake["issuer"]["name"]),
            _both({lang: credential_type.display_name(lang) for lang in ("ko", "en")}),
            f"{intake['state']} {note}".strip(),
        )
        credential_id: str = received[0]
        return credential_id

    def show_held(self, phone: WalletClient, title: str, *, expected: Mapping[str, str]) -> None:
        """What the wallet lists (GET /credentials), checked against the status ``expected``
        of each credential; whom to ask for a new one, for each one that is not valid."""
        held = phone.credentials()
        table = Table("certificate", "agency", "status", "unused copies", title=title)
        table.add_column("ask for a new one", overflow="fold")
        for item in held:
            status = item["status"]
            colour = {"valid": "green", "revoked": "red"}.get(status, "yellow")
            table.add_row(
                _both(item["name"]),
                _both(item["issuer"]["name"]),
                f"[{colour}]{status}[/{colour}]",
                f"{item['unused_copies']} of {item['copies']}",
                escape(item["reissue_from"] or "-"),
            )
            wanted = item["issuer"]["id"] if status != "valid" else None
            self.check(item["reissue_from"] == wanted, f"{title}: whom to ask, {item['name']}")
            self.check(0 < item["unused_copies"] <= item["copies"], f"{title}: copies")
        self.console.print(table)
        listed = {item["credential_id"]: item["status"] for item in held}
        self.check(listed == expected, f"{title}: {listed}")


def run_demo(out: str, *, port: int = 0, keep_serving: bool = False) -> int:
    """Run the demo into ``out``; 0 when every check came out as expected, 2 when refused.

    ``keep_serving``: then keep the services running for a person to explore, until Ctrl-C
    (or SIGTERM)."""
    console = Console()
    root = Path(out)
    try:
        clear_previous_output(root)
    except DemoOutputError as exc:
        sys.stderr.write(f"jigap demo: {exc}\n")  # one line, never wrapped
        return 2
    if port == 0:
        port = _free_loopback_port()
    elif not _port_is_free(port):
        sys.stderr.write(f"jigap demo: port {port} is in use; pass --port\n")
        return 2
    kept = frozenset(demo_paths(root, _CREATES))  # someone else's files, left by the clearing
    write_marker(root, _CREATES, complete=False, kept=kept)
    try:
        return _run(root, port, console, keep_serving=keep_serving)
    finally:
        write_marker(root, _CREATES, complete=True, kept=kept)


def _run(root: Path, port: int, console: Console, *, keep_serving: bool = False) -> int:
    from issuer.cli import COUNTERS_DIR, init_deployment
    from wallet_api.api.app import create_app as create_wallet_app
    from wallet_api.cli import init_wallet
    from wallet_api.deployment import make_deployment as make_wallet_deployment

    qr_dir, trust_dir = root / "qr", root / "trust"
    qr_dir.mkdir(parents=True, exist_ok=True)  # a file of someone else's may have kept it
    registry = Registry.load()
    story = _Story(console, registry, qr_dir)

    # 1. Development deployments. The issuer: database, trust anchor, agencies with keys and
    # tokens. The wallet: database, sealing key, and the anchor pinned with the trust list's
    # URL (http on loopback, which lets it talk to the demo's http issuers on loopback).
    issuer_url = f"http://127.0.0.1:{port}"
    settings, tokens = init_deployment(root / "issuer", public_url=issuer_url)
    anchor = next(iter(list_key_infos(settings.anchor_dir)))
    anchor_path = root / "anchor.jwk"
    anchor_path.write_bytes(json_dumps(anchor.public_key.to_jwk()))
    trust_list_url = f"{issuer_url}/trust-list.jwt"
    wallet_port = _free_loopback_port()
    while wallet_port == port:  # the issuer's is not bound yet: the system may offer it again
        wallet_port = _free_loopback_port()
    wallet_url = f"http://127.0.0.1:{wallet_port}"
    bank_port = _free_loopback_port()
    while bank_port in (port, wallet_port):
        bank_port = _free_loopback_port()
    bank_url = f"http://127.0.0.1:{bank_port}"
    _register_bank_web_site(settings, bank_url)
    wallet: WalletDeployment = make_wallet_deployment(
        init_wallet(
            root / "wallet",
            public_url=wallet_url,
            trust_list_url=trust_list_url,
            anchor=anchor_path,
        )
    )
    phone_keys = _device_keys(root / "phone")

    with ExitStack() as stack:
        stack.callback(wallet.engine.dispose)
        stack.callback(wallet.issuer_http.close)
        stack.enter_context(_serving(_issuer_app(root / "issuer"), port, "issuer"))
        stack.enter_context(_serving(create_wallet_app(deployment=wallet), wallet_port, "wallet"))
        http = stack.enter_context(httpx.Client())
        phone = stack.enter_context(WalletClient(wallet_url, phone_keys))
        agencies = {slug: _Agency(http, issuer_url, token) for slug, token in tokens.items()}

        # 2. The citizen's phone registers; each agency offers each type it issues (as its
        # metadata says), and the phone accepts each offer through the wallet.
        account_id, recovery_code = story.register(phone)
        metadata_client = IssuanceClient(http, allow_http=True)  # http: loopback only
        offered = [
            (slug, type_id)
            for slug in agencies
            for type_id in metadata_client.metadata(settings.issuer_id(slug))[
                "credential_configurations_supported"
            ]
        ]
        for slug, type_id in offered:
            story.receive(phone, agencies[slug], type_id)
        # One more of the first type: the one its agency will revoke, every copy of it.
        slug, type_id = offered[0]
        before = agencies[slug].issued()
        doomed = story.receive(phone, agencies[slug], type_id, note="(to be revoked)")
        doomed_copies = sorted(agencies[slug].issued() - before)
        console.print(story.received)

        # 3. What the phone holds, as the wallet lists it.
        held = [item["credential_id"] for item in phone.credentials()]
        story.show_held(phone, "What the phone holds", expected=dict.fromkeys(held, "valid"))

        # 4. The counters sync from the trust list's URL alone, as `jigap verify sync` does:
        # it names the agencies and the registered counters. Then each asks, and decides.
        sync_trust_store([trust_list_url], trust_dir, anchor_file=anchor_path)
        wallet.trust.refresh(force=True)  # the counters' registration, as the lists are now
        counters_dir = root / "issuer" / COUNTERS_DIR
        passphrase = settings.key_passphrase
        bank = Counter(BANK, counter_signer(counters_dir, BANK, passphrase), trust_dir, registry)
        store = Counter(STORE, counter_signer(counters_dir, STORE, passphrase), trust_dir, registry)
        counters = Counters(console, qr_dir, bank, store, phone)
        counters.at_the_counters()
        counters.over_asking()
        stack.enter_context(_serving(_bank_web_app(bank, bank_url), bank_port, "bank web site"))
        counters.online(bank_url, http)
        counters.history()

        # 5. The agency revokes the extract the bank was shown (the newest, the wallet's
        # choice), every copy of it; the wallet shows it revoked, and the bank's counter, after
        # a re-sync, refuses the answer it accepted before.
        answer_image, request, shown = counters.answers["bank"]
        story.check(shown == doomed, f"the bank was shown {shown}, not the newest {doomed}")
        for credential_id in doomed_copies:
            agencies[slug].revoke(credential_id)
        console.print(
            f"{slug} revokes credential {doomed} through its admin API: each of its"
            f" {len(doomed_copies)} copies (the issuer's credentials {doomed_copies[0]}"
            f" to {doomed_copies[-1]})"
        )
        # The service's own refresh thread would see it once the status list's ttl (5 minutes)
        # has passed: rather than wait that out, the demo has the trust store sync now.
        wallet.trust.refresh(force=True)
        story.show_held(
            phone,
            "The wallet after the revocation",
            expected={**dict.fromkeys(held, "valid"), doomed: "revoked"},
        )
        report = sync_trust_store([trust_list_url], trust_dir)
        result = bank.verifier().verify_answer(read_qr_image(answer_image), request)
        refused = result.error == ErrorCode.REVOKED and not report.failed
        story.check(refused, f"{answer_image}: {result.error}")
        console.print(
            f"At the bank after a re-sync, {answer_image}: "
            + ("[green]refused as revoked[/green]" if refused else f"[red]{result.error}[/red]")
        )

        # 6. The phone is lost. A new device recovers the account with the recovery code: the
        # old device's binding ends, and what the account holds, bound to the old phone's
        # keys, needs re-issue by the agency named.
        new_phone = stack.enter_context(WalletClient(wallet_url, _device_keys(root / "new-phone")))
        bound = new_phone.recover(account_id, recovery_code)
        story.check(bound.account_id == account_id, "the account recovered")
        console.print(
            f"The phone is lost. A new device recovers account [bold]{account_id}[/bold] with the"
            f" recovery code, and is given a new one: {_mask(bound.recovery_code)}"
        )
        try:
            phone.credentials()
        except WalletApiError as exc:
            story.check(exc.status == 401, f"the old phone: {exc}")
            console.print(f"The old phone asks the wallet: refused ({exc.status} {exc.error})")
        else:
            story.check(False, "the old phone is refused")
        story.show_held(
            new_phone,
            "On the new phone",
            expected={**dict.fromkeys(held, "needs_reissue"), doomed: "revoked"},
        )
        if keep_serving:
            counter_port = _free_loopback_port()
            while counter_port in (port, wallet_port, bank_port):
                counter_port = _free_loopback_port()
            counter_app = _counter_app(bank, registry, trust_list_url)
            stack.enter_context(_serving(counter_app, counter_port, "counter app"))
            urls = (issuer_url, wallet_url, bank_url, f"http://127.0.0.1:{counter_port}")
            _explore(console, root, tokens, *urls)
    console.print(
        f"issuer and wallet data, device keys, trust store and QR images in {root}/; the issuer"
        f" was at {issuer_url} (serve it again: jigap issuer serve --data-dir {root / 'issuer'}"
        f" --port {port}), the wallet at {wallet_url}"
    )
    return 0 if story.failures + counters.failures == 0 else 1
