"""The bank's web site as a process of its own: ``verifier_web.online`` under uvicorn.

Its deployment is what a bank runs: the library, a trust store it synced, its signing key in
a key store, and where it is reachable. All of it comes from the environment, read when
uvicorn calls the factory (nothing is built at import)::

    JIGAP_BANK_SITE_TRUST_DIR=... JIGAP_BANK_SITE_KEY_STORE_DIR=... JIGAP_KEY_PASSPHRASE=... \\
    JIGAP_BANK_SITE_CLIENT_ID=counter.bank.example JIGAP_BANK_SITE_PUBLIC_URL=http://127.0.0.1:P \\
    python -m uvicorn --factory tests._bank_site:create_app --port P

The wallet-facing endpoints are under ``/oid4vp`` (its registered response URI is
``{PUBLIC_URL}/oid4vp/response``), the bank page's under ``/bank``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from fastapi import FastAPI

from credential_schemas import Registry
from keys.jwk import Signer
from keys.store import PASSPHRASE_ENV, FileKeyStore, KeyStatus, list_key_infos
from verifier import TrustStore, Verifier
from verifier_web.online import OnlineVerifier, bank_router, wallet_router

__all__ = [
    "CLIENT_ID_ENV",
    "ENV_PREFIX",
    "KEY_STORE_DIR_ENV",
    "PUBLIC_URL_ENV",
    "TRUST_DIR_ENV",
    "WALLET_PREFIX",
    "counter_signer",
    "create_app",
    "response_uri",
]

ENV_PREFIX = "JIGAP_BANK_SITE_"
TRUST_DIR_ENV = ENV_PREFIX + "TRUST_DIR"
KEY_STORE_DIR_ENV = ENV_PREFIX + "KEY_STORE_DIR"
CLIENT_ID_ENV = ENV_PREFIX + "CLIENT_ID"
PUBLIC_URL_ENV = ENV_PREFIX + "PUBLIC_URL"
WALLET_PREFIX = "/oid4vp"
BANK_PREFIX = "/bank"


def response_uri(public_url: str) -> str:
    """Where the site receives answers: the URI the bank registers with the trust operator."""
    return f"{public_url}{WALLET_PREFIX}/response"


def counter_signer(key_store_dir: Path, passphrase: str) -> Signer:
    """The counter's signing key: the one active key of its key store."""
    [active] = [i for i in list_key_infos(key_store_dir) if i.status is KeyStatus.ACTIVE]
    return FileKeyStore(key_store_dir, passphrase).signer(active.kid)


def create_app(env: Mapping[str, str] | None = None) -> FastAPI:
    """The site, from ``env`` (by default the process's environment)."""
    env = os.environ if env is None else env
    signer = counter_signer(Path(env[KEY_STORE_DIR_ENV]), env[PASSPHRASE_ENV])
    public_url = env[PUBLIC_URL_ENV]
    online = OnlineVerifier(
        Verifier(TrustStore.load(env[TRUST_DIR_ENV]), registry=Registry.load()),
        signer,
        client_id=env[CLIENT_ID_ENV],
        response_uri=response_uri(public_url),
        request_base=f"{public_url}{WALLET_PREFIX}",
        trust_dir=Path(env[TRUST_DIR_ENV]),  # follows each re-sync
    )
    app = FastAPI(title="Example Bank, online")
    app.include_router(wallet_router(online), prefix=WALLET_PREFIX)
    app.include_router(bank_router(online), prefix=BANK_PREFIX)
    return app
