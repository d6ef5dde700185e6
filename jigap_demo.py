"""`jigap demo`: the whole path on one machine, with nothing to install.

A development issuer deployment (SQLite, a trust anchor, the sample agencies) is created and
served by uvicorn on loopback. For every certificate type the agencies issue, the agency's
operator makes an offer through the admin API, a wallet obtains the credential over
OpenID4VCI, the phone presents only what a counter asks for as a QR image, and the counter
reads the image back and verifies it offline from a trust store synced from the running
issuer. Finally one credential is revoked through the admin API and, after a re-sync, refused.
Every certificate type comes from data (the registry and the sample agencies): none is named.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from credential_schemas import CredentialType, Registry
from keys.encoding import json_dumps
from keys.jwk import SigningKey
from keys.store import list_key_infos
from verifier import ErrorCode, Policy, TrustStore, Verifier, encode_envelope
from verifier.qr_image import qr_version, render_png
from verifier.sd_jwt_vc import STATUS, STATUS_LIST, STATUS_URI
from verifier.sync import sync_trust_store
from wallet_api.issuance_client import IssuanceClient
from wallet_api.presentation import build_presentation

COUNTER = "https://counter.bank.example"
CITIZEN = "citizen-0001"
# What a typical counter asks for; a type without these claims is asked for its first three.
TYPICAL_REQUEST = ("name", "birth_date", "address")
_STARTUP_SECONDS = 20.0


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


def _status_uri(credential: str) -> str:
    from keys.encoding import b64url_decode, json_loads_object

    payload = json_loads_object(b64url_decode(credential.split("~", 1)[0].split(".")[1]))
    return str(payload[STATUS][STATUS_LIST][STATUS_URI])


def run_demo(out: str) -> int:
    from issuer.cli import init_deployment

    console = Console()
    root = Path(out)
    shutil.rmtree(root, ignore_errors=True)
    qr_dir, trust_dir = root / "qr", root / "trust"
    qr_dir.mkdir(parents=True)
    registry = Registry.load()

    # 1. A development deployment: database, trust anchor, agencies with keys and tokens.
    port = _free_loopback_port()
    public_url = f"http://127.0.0.1:{port}"
    settings, tokens = init_deployment(root / "issuer", public_url=public_url)
    anchor = next(info for info in list_key_infos(settings.anchor_dir))
    anchor_path = root / "anchor.jwk"
    anchor_path.write_bytes(json_dumps(anchor.public_key.to_jwk()))

    table = Table("agency", "certificate", "disclosed", "QR", "verdict", title="jigap demo")
    failures = 0
    phone_key = SigningKey.generate()  # the citizen's device key; it never leaves the phone
    with _serving(root / "issuer", port), httpx.Client() as http:
        wallet = IssuanceClient(http, allow_http=True)  # http: loopback only
        issued: list[tuple[str, CredentialType, str, int]] = []
        # 2. Each agency offers each of its types; the wallet obtains them over OID4VCI.
        for slug, token in tokens.items():
            admin = {"Authorization": f"Bearer {token}"}
            metadata = wallet.metadata(settings.issuer_id(slug))
            for type_id in metadata["credential_configurations_supported"]:
                credential_type = registry.get(type_id)
                response = http.post(
                    f"{public_url}/admin/offers",
                    json={
                        "credential_type": type_id,
                        "claims": credential_type.examples[0],
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
                issued.append((slug, credential_type, credentials[0], listed[-1]["id"]))

        # 3. A counter syncs trust from the running issuer, then verifies offline.
        status_uris = sorted({_status_uri(credential) for _, _, credential, _ in issued})
        sync_trust_store(
            [f"{public_url}/trust-list.jwt", *status_uris], trust_dir, anchor_file=anchor_path
        )
        store = TrustStore.load(trust_dir)
        for slug, credential_type, credential, _ in issued:
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
            image = qr_dir / f"{credential_type.id}.png"
            image.write_bytes(render_png(qr_text))
            policy = Policy(expected_audience=COUNTER, expected_nonce=nonce)
            result = Verifier(store, policy, registry).verify_image(image)
            failures += not result.valid
            verdict = "[green]valid[/green]" if result.valid else f"[red]{result.error}[/red]"
            table.add_row(
                slug,
                f"{credential_type.display_name('ko')}\n{credential_type.display_name('en')}",
                "\n".join(f"{k}: {v}" for k, v in result.claims.items()) or "-",
                f"v{qr_version(qr_text)}",
                verdict,
            )
        console.print(table)

        # 4. The agency revokes the first credential; after a re-sync the counter refuses it.
        slug, credential_type, credential, credential_id = issued[0]
        http.post(
            f"{public_url}/admin/credentials/{credential_id}/revoke",
            json={"reason": "demo"},
            headers={"Authorization": f"Bearer {tokens[slug]}"},
        ).raise_for_status()
        sync_trust_store([_status_uri(credential)], trust_dir)
    presentation = build_presentation(
        credential,
        _requested_claims(credential_type),
        holder_key=phone_key,
        audience=COUNTER,
        nonce="after-revocation",
        now=int(time.time()),
    )
    result = Verifier(
        TrustStore.load(trust_dir), Policy(expected_nonce="after-revocation"), registry
    ).verify(encode_envelope(presentation))
    revoked_ok = result.error == ErrorCode.REVOKED
    console.print(
        f"after revocation of {credential_type.id} (credential {credential_id}): "
        + ("[green]refused as revoked[/green]" if revoked_ok else f"[red]{result.error}[/red]")
    )
    console.print(f"issuer data, trust store and QR images in {root}/")
    return 0 if failures == 0 and revoked_ok else 1
