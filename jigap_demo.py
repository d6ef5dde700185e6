"""`jigap demo`: the whole offline path on one machine, with nothing to install.

Trust operator → issuers → every certificate type in the registry issued to a sample citizen
→ a presentation disclosing only what a counter asks → QR image → read back → verified
offline from a synced trust store → one credential revoked and refused after a re-sync.
Every certificate type comes from the registry's data: no type is named here.
"""

from __future__ import annotations

import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from credential_schemas import CredentialType, Registry
from issuer.credential import StatusReference, issue_sd_jwt_vc
from keys.encoding import json_dumps
from keys.jwk import Jwks, SigningKey
from keys.store import FileKeyStore
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from verifier import ErrorCode, Policy, TrustStore, Verifier, encode_envelope
from verifier.qr_image import qr_version, render_png
from verifier.status_list import StatusList, StatusValue, build_status_list_token
from verifier.sync import sync_trust_store
from wallet_api.presentation import build_presentation

# A development passphrase: the demo's keys protect nothing real.
DEMO_PASSPHRASE = "jigap-demo-only"  # noqa: S105
OPERATOR = "https://trust.jigap.example"
COUNTER = "https://counter.bank.example"
STATUS_LIST_SIZE = 1 << 16
# What a typical counter asks for; a type without these claims is asked for its first three.
TYPICAL_REQUEST = ("name", "birth_date", "address")


@dataclass
class DemoIssuer:
    credential_type: CredentialType
    issuer_id: str
    key: SigningKey
    status_uri: str
    status_list: StatusList
    used_indices: set[int]

    def allocate_index(self) -> int:
        # Random and never reused (the issuer service enforces this in its database).
        while True:
            index = secrets.randbelow(STATUS_LIST_SIZE)
            if index not in self.used_indices:
                self.used_indices.add(index)
                return index


def _requested_claims(credential_type: CredentialType) -> list[str]:
    disclosable = credential_type.selectively_disclosable
    typical = [name for name in TYPICAL_REQUEST if name in disclosable]
    return typical or sorted(disclosable)[:3]


def _publish_status_list(issuer: DemoIssuer, published: Path, now: int) -> Path:
    token = build_status_list_token(
        issuer.status_list, issuer.status_uri, issuer.key, now=now, ttl=3600
    )
    path = published / f"status-{issuer.credential_type.id}.jwt"
    path.write_text(token, "ascii")
    return path


def run_demo(out: str, *, now: int | None = None) -> int:
    now = int(time.time()) if now is None else now
    console = Console()
    root = Path(out)
    shutil.rmtree(root, ignore_errors=True)
    published, qr_dir = root / "published", root / "qr"
    for directory in (published, qr_dir):
        directory.mkdir(parents=True)
    registry = Registry.load()

    # 1. The trust operator's anchor and one issuer per certificate type, keys encrypted at rest.
    anchor_store = FileKeyStore(root / "keys" / "anchor", DEMO_PASSPHRASE)
    anchor = anchor_store.signer(anchor_store.generate().kid)
    issuers: list[DemoIssuer] = []
    for credential_type in registry.types:
        issuer_id = f"https://{credential_type.id.replace('_', '-')}.issuer.jigap.example"
        key_store = FileKeyStore(root / "keys" / credential_type.id, DEMO_PASSPHRASE)
        key = key_store.signer(key_store.generate().kid)
        issuers.append(
            DemoIssuer(
                credential_type,
                issuer_id,
                key,
                f"{issuer_id}/status/1",
                StatusList(STATUS_LIST_SIZE),
                set(),
            )
        )

    # 2. The signed trust list and status lists, synced into an offline trust store.
    trust_list = TrustList(
        operator=OPERATOR,
        sequence=1,
        issued_at=now,
        expires_at=now + 30 * 86400,
        issuers={
            i.issuer_id: TrustedIssuer(
                id=i.issuer_id,
                names={
                    "ko": i.credential_type.display_name("ko") + " 발급기관",
                    "en": i.credential_type.display_name("en") + " issuer",
                },
                jwks=Jwks.of(i.key.public_key),
                credential_types=frozenset({i.credential_type.vct}),
                valid_from=now - 86400,
                valid_until=now + 365 * 86400,
            )
            for i in issuers
        },
    )
    trust_list_path = published / "trust-list.jwt"
    trust_list_path.write_text(sign_trust_list(trust_list, anchor), "ascii")
    anchor_path = root / "anchor.jwk"
    anchor_path.write_bytes(json_dumps(anchor.public_key.to_jwk()))
    status_paths = [_publish_status_list(i, published, now) for i in issuers]
    trust_dir = root / "trust"
    sources = [str(trust_list_path), *map(str, status_paths)]
    sync_trust_store(sources, trust_dir, anchor_file=anchor_path, now=now)
    store = TrustStore.load(trust_dir, now=now)

    # 3. Every type: issue, present, QR image, read back, verify offline.
    table = Table("certificate", "disclosed", "QR", "chars", "verdict", title="jigap demo")
    failures = 0
    first_credential: tuple[DemoIssuer, str, int] | None = None
    phone_key = SigningKey.generate()  # the citizen's device key; it never leaves the phone
    for issuer in issuers:
        credential_type = issuer.credential_type
        index = issuer.allocate_index()
        credential = issue_sd_jwt_vc(
            credential_type,
            credential_type.examples[0],
            issuer_id=issuer.issuer_id,
            signing_key=issuer.key,
            holder_key=phone_key.public_key,
            status=StatusReference(issuer.status_uri, index),
            now=now,
        ).compact
        first_credential = first_credential or (issuer, credential, index)
        nonce = secrets.token_urlsafe(16)
        requested = _requested_claims(credential_type)
        presentation = build_presentation(
            credential, requested, holder_key=phone_key, audience=COUNTER, nonce=nonce, now=now
        )
        qr_text = encode_envelope(presentation)
        image = qr_dir / f"{credential_type.id}.png"
        image.write_bytes(render_png(qr_text))
        policy = Policy(expected_audience=COUNTER, expected_nonce=nonce)
        result = Verifier(store, policy, registry).verify_image(image, now=now)
        failures += not result.valid
        verdict = "[green]valid[/green]" if result.valid else f"[red]{result.error}[/red]"
        table.add_row(
            f"{credential_type.display_name('ko')}\n{credential_type.display_name('en')}",
            "\n".join(f"{k}: {v}" for k, v in result.claims.items()) or "-",
            f"v{qr_version(qr_text)}",
            str(len(qr_text)),
            verdict,
        )
    console.print(table)

    # 4. Revoke the first credential, publish, re-sync: the counter now refuses it.
    assert first_credential is not None  # noqa: S101 - the registry is never empty
    issuer, credential, index = first_credential
    issuer.status_list.set(index, StatusValue.INVALID)
    later = now + 60
    sync_trust_store([str(_publish_status_list(issuer, published, later))], trust_dir, now=later)
    store = TrustStore.load(trust_dir, now=later)
    presentation = build_presentation(
        credential,
        _requested_claims(issuer.credential_type),
        holder_key=phone_key,
        audience=COUNTER,
        nonce="after-revocation",
        now=later,
    )
    result = Verifier(store, Policy(expected_nonce="after-revocation"), registry).verify(
        encode_envelope(presentation), now=later
    )
    revoked_ok = result.error == ErrorCode.REVOKED
    console.print(
        f"after revocation of {issuer.credential_type.id} #{index}: "
        + ("[green]refused as revoked[/green]" if revoked_ok else f"[red]{result.error}[/red]")
    )
    console.print(f"keys, trust store and QR images in {root}/")
    return 0 if failures == 0 and revoked_ok else 1
