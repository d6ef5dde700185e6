"""`jigap demo`: the whole path on one machine, with nothing to install.

A development issuer deployment (SQLite, a trust anchor, the sample agencies) is created and
served by uvicorn on loopback. For every certificate type the agencies issue, the agency's
operator makes an offer through the admin API, a wallet obtains the credential over
OpenID4VCI, the phone presents only what a counter asks for as a QR image, and the counter
reads the image back and verifies it offline from a trust store synced from the running
issuer. The counter syncs from the trust list's URL alone, finding each agency's status
lists through its metadata. Finally one more credential is revoked through the admin API
and, after a re-sync, refused: its QR is ``qr/revoked.png``; every other QR stays valid, and
beside each ``qr/NAME.png`` is ``qr/NAME.nonce``, the nonce the counter asked for, so that
the README's commands can be run on the demo's output.
Every certificate type comes from data (the registry and the sample agencies): none is named.
"""

from __future__ import annotations

import json
import secrets
import shutil
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from credential_schemas import CredentialType, Registry
from keys.encoding import json_dumps
from keys.jwk import SigningKey
from keys.store import list_key_infos
from verifier import ErrorCode, Policy, TrustStore, Verifier, encode_envelope
from verifier.qr_image import qr_version, render_png
from verifier.sync import sync_trust_store
from wallet_api.issuance_client import IssuanceClient
from wallet_api.presentation import build_presentation

COUNTER = "https://counter.bank.example"
REVOKED_QR = "revoked"  # qr/revoked.png: the one QR the demo revokes
MARKER_FILE = ".jigap-demo.json"  # what a demo run created, so that the next run removes only that
_CREATES = ("issuer", "qr", "trust", "anchor.jwk")
CITIZEN = "citizen-0001"
# What a typical counter asks for; a type without these claims is asked for its first three.
TYPICAL_REQUEST = ("name", "birth_date", "address")
_STARTUP_SECONDS = 20.0


class DemoOutputError(Exception):
    """An output directory the demo will not write into: it holds what the demo did not make."""


def _clear_previous_output(root: Path) -> None:
    """Make ``root`` ready: new, empty, or a previous demo's output with the demo's files gone.

    A command never deletes what it did not create: only the paths a previous run listed in
    its marker are removed (files one by one, then its directories if they are left empty),
    so a file someone put there survives, and a directory that is no demo's is refused.
    """
    if not root.exists():
        return
    if not root.is_dir():
        raise DemoOutputError(f"{root} is not a directory")
    marker = root / MARKER_FILE
    if not marker.is_file():
        if any(root.iterdir()):
            raise DemoOutputError(
                f"{root} is not empty and holds no previous demo output ({MARKER_FILE});"
                " refusing to write into it: give a new or empty directory with --out"
            )
        return
    try:
        record = json.loads(marker.read_text("utf-8"))
        created = [Path(name) for name in record["created"] if isinstance(name, str)]
        complete = record["complete"] is True
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DemoOutputError(f"{marker} is unreadable; remove the demo's output yourself") from exc
    real_root = root.resolve()
    for relative in created:
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise DemoOutputError(f"{marker} names {relative}, outside {root}")
        # A directory swapped for a link since would lead the removal outside: refuse.
        if (root / relative).parent.resolve() != real_root.joinpath(*relative.parts[:-1]):
            raise DemoOutputError(f"{root / relative} lies behind a symbolic link; refusing")
    if not complete:  # a run that stopped half-way listed only the top-level paths it makes
        for relative in created:
            path = root / relative
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
    else:
        for relative in created:
            path = root / relative
            if path.is_symlink() or path.is_file():
                path.unlink()
        for relative in sorted(created, key=lambda p: len(p.parts), reverse=True):
            path = root / relative
            if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
                path.rmdir()
    marker.unlink()


def _demo_paths(root: Path) -> set[Path]:
    """Every path under the top-level names the demo makes, relative to ``root``."""
    return {
        path.relative_to(root)
        for top in _CREATES
        if (root / top).exists()
        for path in [root / top, *(root / top).rglob("*")]
    }


def _write_marker(root: Path, *, complete: bool, kept: frozenset[Path] = frozenset()) -> None:
    """Before the run: the top-level paths it will make (those not there already); after:
    every path it made, that is all of them but the files someone else ``kept`` there."""
    root.mkdir(parents=True, exist_ok=True)
    if complete:
        made = _demo_paths(root) - {path for path in kept if not (root / path).is_dir()}
        created = sorted(str(path) for path in made)
    else:
        created = [top for top in _CREATES if Path(top) not in kept]
    record = {"complete": complete, "created": created}
    (root / MARKER_FILE).write_text(json.dumps(record, indent=1) + "\n", "utf-8")


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _requested_claims(credential_type: CredentialType) -> list[str]:
    disclosable = credential_type.selectively_disclosable
    typical = [name for name in TYPICAL_REQUEST if name in disclosable]
    return typical or sorted(disclosable)[:3]


def _free_loopback_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def _serving(data_dir: Path, port: int) -> Iterator[None]:
    """The issuer service under uvicorn, on loopback, in a thread of this process."""
    import uvicorn

    from issuer.api.app import create_app, make_deployment
    from issuer.cli import read_env_file
    from issuer.settings import Settings

    settings = Settings.from_env(read_env_file(data_dir))
    app = create_app(deployment=make_deployment(settings))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, name="issuer", daemon=True)
    thread.start()
    deadline = time.monotonic() + _STARTUP_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the issuer service did not start")
        time.sleep(0.05)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=_STARTUP_SECONDS)


def run_demo(out: str, *, port: int = 0) -> int:
    """Run the demo into ``out``; 0 when every check came out as expected, 2 when refused."""
    console = Console()
    root = Path(out)
    try:
        _clear_previous_output(root)
    except DemoOutputError as exc:
        sys.stderr.write(f"jigap demo: {exc}\n")  # one line, never wrapped
        return 2
    if port == 0:
        port = _free_loopback_port()
    elif not _port_is_free(port):
        sys.stderr.write(f"jigap demo: port {port} is in use; pass --port\n")
        return 2
    kept = frozenset(_demo_paths(root))  # someone else's files, left by the clearing
    _write_marker(root, complete=False, kept=kept)
    try:
        return _run(root, port, console)
    finally:
        _write_marker(root, complete=True, kept=kept)


def _run(root: Path, port: int, console: Console) -> int:
    from issuer.cli import init_deployment

    qr_dir, trust_dir = root / "qr", root / "trust"
    qr_dir.mkdir(parents=True, exist_ok=True)  # a file of someone else's may have kept it
    registry = Registry.load()

    # 1. A development deployment: database, trust anchor, agencies with keys and tokens.
    public_url = f"http://127.0.0.1:{port}"
    settings, tokens = init_deployment(root / "issuer", public_url=public_url)
    anchor = next(info for info in list_key_infos(settings.anchor_dir))
    anchor_path = root / "anchor.jwk"
    anchor_path.write_bytes(json_dumps(anchor.public_key.to_jwk()))
    trust_list_url = f"{public_url}/trust-list.jwt"

    table = Table("agency", "certificate", "disclosed", "QR", "verdict", title="jigap demo")
    failures = 0
    phone_key = SigningKey.generate()  # the citizen's device key; it never leaves the phone
    with _serving(root / "issuer", port), httpx.Client() as http:
        wallet = IssuanceClient(http, allow_http=True)  # http: loopback only

        def obtain(slug: str, metadata: dict[str, Any], type_id: str) -> tuple[str, int]:
            """An offer by the agency's operator, redeemed by the wallet over OID4VCI."""
            admin = {"Authorization": f"Bearer {tokens[slug]}"}
            response = http.post(
                f"{public_url}/admin/offers",
                json={
                    "credential_type": type_id,
                    "claims": registry.get(type_id).examples[0],
                    "subject": CITIZEN,  # the agency's own reference; stored only hashed
                },
                headers=admin,
            )
            response.raise_for_status()
            offer = response.json()
            resolved = wallet.resolve_offer(offer["credential_offer_reference_uri"])
            access_token = wallet.access_token(resolved, offer["tx_code"])
            credentials = wallet.request_credentials(
                metadata, access_token, type_id, [phone_key], now=int(time.time())
            )
            assert isinstance(credentials, list)  # noqa: S101 - no approval step here
            listed = http.get(f"{public_url}/admin/credentials", headers=admin).json()
            return credentials[0], int(listed[-1]["id"])

        def present(
            credential: str, credential_type: CredentialType, name: str
        ) -> tuple[Path, str]:
            """The phone's QR image, and beside it the nonce the counter asked for."""
            nonce = secrets.token_urlsafe(16)
            presentation = build_presentation(
                credential,
                _requested_claims(credential_type),
                holder_key=phone_key,
                audience=COUNTER,
                nonce=nonce,
                now=int(time.time()),
            )
            qr_text = encode_envelope(presentation)
            image = qr_dir / f"{name}.png"
            image.write_bytes(render_png(qr_text))
            (qr_dir / f"{name}.nonce").write_text(nonce + "\n")
            return image, qr_text

        issued: list[tuple[str, CredentialType, str]] = []
        # 2. Each agency offers each of its types; the wallet obtains them over OID4VCI.
        for slug in tokens:
            metadata = wallet.metadata(settings.issuer_id(slug))
            for type_id in metadata["credential_configurations_supported"]:
                credential, _ = obtain(slug, metadata, type_id)
                issued.append((slug, registry.get(type_id), credential))

        # 3. A counter syncs from the trust list's URL alone, as `jigap verify sync` does, and
        # verifies each QR image offline.
        sync_trust_store([trust_list_url], trust_dir, anchor_file=anchor_path)
        store = TrustStore.load(trust_dir)
        for slug, credential_type, credential in issued:
            image, qr_text = present(credential, credential_type, credential_type.id)
            nonce = (qr_dir / f"{credential_type.id}.nonce").read_text().strip()
            policy = Policy(expected_audience=COUNTER, expected_nonce=nonce)
            result = Verifier(store, policy, registry).verify_image(image)
            failures += not result.valid
            verdict = "[green]valid[/green]" if result.valid else f"[red]{result.error}[/red]"
            table.add_row(
                slug,
                f"{credential_type.display_name('ko')}\n{credential_type.display_name('en')}",
                "\n".join(f"{k}: {escape(str(v))}" for k, v in result.claims.items()) or "-",
                f"v{qr_version(qr_text)}",
                verdict,
            )
        console.print(table)

        # 4. One more credential of the first type, shown as qr/revoked.png, is revoked by its
        # agency; after a re-sync the counter refuses it. The other QR images stay valid.
        slug, credential_type, _ = issued[0]
        metadata = wallet.metadata(settings.issuer_id(slug))
        credential, credential_id = obtain(slug, metadata, credential_type.id)
        revoked_image, _ = present(credential, credential_type, REVOKED_QR)
        http.post(
            f"{public_url}/admin/credentials/{credential_id}/revoke",
            json={"reason": "demo"},
            headers={"Authorization": f"Bearer {tokens[slug]}"},
        ).raise_for_status()
        report = sync_trust_store([trust_list_url], trust_dir)
    nonce = (qr_dir / f"{REVOKED_QR}.nonce").read_text().strip()
    result = Verifier(
        TrustStore.load(trust_dir),
        Policy(expected_audience=COUNTER, expected_nonce=nonce),
        registry,
    ).verify_image(revoked_image)
    revoked_ok = result.error == ErrorCode.REVOKED and not report.failed
    console.print(
        f"{revoked_image} ({credential_type.id}, credential {credential_id}) revoked: "
        + ("[green]refused as revoked[/green]" if revoked_ok else f"[red]{result.error}[/red]")
    )
    console.print(
        f"issuer data, trust store and QR images in {root}/; the issuer was at {public_url}"
        f" (serve it again: jigap issuer serve --data-dir {root / 'issuer'} --port {port})"
    )
    return 0 if failures == 0 and revoked_ok else 1
