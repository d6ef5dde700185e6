"""The wallet deployment ``bench/wallet_http.py`` reads: accounts holding credentials.

What is real and what is copied:

- the issuer is a real deployment (``issuer.cli.init_deployment``) served by `jigap issuer
  serve` on loopback, and the wallet is `jigap wallet init` (``init_wallet``, pinning the
  issuer's trust anchor and trust-list URL) served by `jigap wallet serve`;
- every account is registered over HTTP with a real DPoP proof of its own P-256 device key;
- a donor phone (``WalletClient``, its own account) receives one real credential of every
  type the sample agencies issue, three copies each, through the whole flow: hand over the
  offer, accept with the transaction code, sign the key proofs. The service fetches the
  trust list and the status lists then, and checks each credential with our verifier;
- the credentials the accounts hold are copies of those: rows inserted through
  ``wallet_api.models`` (the types in turn), each copy the compact SD-JWT VC of one real copy
  with its holder key and status-list entry, sealed again under its own id's context, as
  the service seals what it receives. Issuing 2,000 credentials through the flow would take
  minutes a backend; listing and showing read the same rows either way;
- for presenting, each account instead holds one resident-register extract with a stock of
  unused copies (``extract_copies``), copies of the donor's real ones; between the bench's
  steps ``restock_extracts`` deletes the used copies and tops the stock up again, as a phone
  that fetched a new batch would hold (so that a step's cost does not grow with the copies
  earlier steps used). The phone signs its KB-JWTs with the donor's device keys (each copy's
  `cnf` key), and the sample bank (``issuer init`` registers it in the trust list, its key
  under the issuer's data directory) signs the requests.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy import delete
from sqlmodel import Session, col, select

from bench.issuer_http import JIGAP, STARTUP_SECONDS, _free_port, _stop
from credential_schemas import Registry
from issuer.cli import COUNTERS_DIR, init_deployment, sample_agencies
from issuer.settings import ENV_PREFIX as ISSUER_ENV_PREFIX
from keys.encoding import json_dumps
from keys.jwk import Algorithm, SigningKey
from keys.store import MIN_SCRYPT_N, FileKeyStore, KeyStatus, list_key_infos
from protocols.dpop import DPOP_HEADER, DPOP_NONCE_HEADER, make_dpop_proof
from servicekit.commands import read_env_file
from servicekit.db import session_scope
from wallet_api.cli import ENV_FILE, init_wallet
from wallet_api.deployment import WalletDeployment, make_deployment
from wallet_api.holder.client import WalletClient
from wallet_api.holder.device_keys import DeviceKeys
from wallet_api.models import Credential, CredentialCopy
from wallet_api.sealed import copy_context
from wallet_api.settings import ENV_PREFIX as WALLET_ENV_PREFIX
from wallet_api.settings import PASSPHRASE_ENV, Settings

__all__ = [
    "Device",
    "Issuer",
    "SeededWallet",
    "open_deployment",
    "restock_extracts",
    "running_issuer",
    "seed_wallet",
    "serving_wallet",
]

COPIES = 3  # of each credential, as a phone would ask for a few presentations' worth
EXTRACT_TYPE = "resident_register_extract"  # what the presenting devices hold
DONOR_PASSPHRASE = "the bench donor phone's passphrase"  # noqa: S105 - a scratch phone's
_READY_LINE = b"Application startup complete."
_HTTP_SECONDS = 60.0


@dataclass(frozen=True)
class Device:
    """One phone: its device key (DPoP), its account, and the ids of what it holds."""

    key: SigningKey
    account_id: str
    credential_ids: tuple[str, ...]


@dataclass(frozen=True)
class SeededWallet:
    backend: str
    data_dir: Path
    public_url: str
    devices: tuple[Device, ...]
    real_credentials: int  # received through the flow by the donor phone
    seed_seconds: float
    donor_account: str = ""
    donor_keys_dir: Path | None = None  # the donor phone's DeviceKeys (the copies' keys)

    def donor_keys(self) -> DeviceKeys:
        assert self.donor_keys_dir is not None  # set by seed_wallet
        return DeviceKeys(self.donor_keys_dir, DONOR_PASSPHRASE, scrypt_n=MIN_SCRYPT_N)

    def settings(self) -> Settings:
        return Settings.from_env(read_env_file(self.data_dir / ENV_FILE))


@dataclass(frozen=True)
class Issuer:
    public_url: str
    tokens: dict[str, str]  # agency slug -> admin API token
    anchor_file: Path  # the trust anchor's public JWK, to pin in the wallet
    counters_dir: Path  # the sample counters' key stores (issuer init)
    key_passphrase: str  # the issuer deployment's, which the counters' key stores are under

    def counter_signer(self, client_id: str) -> SigningKey:
        """A sample counter's signing key, from the key store the issuer made for it."""
        store_dir = self.counters_dir / client_id
        kid = next(iter(list_key_infos(store_dir))).kid
        return FileKeyStore(store_dir, self.key_passphrase).signer(kid)

    @property
    def trust_list_url(self) -> str:
        return f"{self.public_url}/trust-list.jwt"


# --- servers --------------------------------------------------------------------------------------


def _clean_env(prefix: str) -> dict[str, str]:
    # A deployment's settings come from its own env file, not from this shell.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(prefix) and name != PASSPHRASE_ENV
    }


@contextlib.contextmanager
def _serving(
    command: list[str], env: dict[str, str], probe_url: str, log: Path, workers: int
) -> Iterator[int]:
    """``command`` (a `jigap … serve`) as a subprocess in a session of its own, until every
    worker has started and ``probe_url`` answers; stopped by its pid at the end."""
    with log.open("wb") as log_file:
        process = subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
            command, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[1]} exited with {process.returncode}: see {log}")
            if log.read_bytes().count(_READY_LINE) >= workers:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(probe_url, timeout=5.0).status_code == httpx.codes.OK:
                        break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[1]} did not answer in {STARTUP_SECONDS} s: {log}")
            time.sleep(0.1)
        yield process.pid
    finally:
        _stop(process)


@contextlib.contextmanager
def running_issuer(directory: Path) -> Iterator[Issuer]:
    """A fresh issuer deployment (SQLite) served by `jigap issuer serve`, one worker."""
    port = _free_port()
    public_url = f"http://127.0.0.1:{port}"
    data_dir = directory / "issuer"
    settings, tokens = init_deployment(data_dir, public_url=public_url)
    [anchor] = [i for i in list_key_infos(settings.anchor_dir) if i.status is KeyStatus.ACTIVE]
    anchor_file = directory / "anchor.jwk"
    anchor_file.write_bytes(json_dumps(anchor.public_key.to_jwk()))
    command = [
        str(JIGAP), "issuer", "serve", "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    env = _clean_env(ISSUER_ENV_PREFIX)
    with _serving(command, env, f"{public_url}/openapi.json", data_dir / "server.log", 1):
        yield Issuer(
            public_url, tokens, anchor_file, data_dir / COUNTERS_DIR, settings.key_passphrase
        )


@contextlib.contextmanager
def serving_wallet(
    seeded: SeededWallet, *, workers: int, own_port: bool = False
) -> Iterator[tuple[str, int]]:
    """`jigap wallet serve --workers N`; yields its public URL and pid. On the deployment's
    own port, or with ``own_port`` on a new one (its public URL given in the environment,
    which wins over wallet.env), so that several servers of one deployment run at once."""
    env = _clean_env(WALLET_ENV_PREFIX)
    public_url = seeded.public_url
    if own_port:
        public_url = f"http://127.0.0.1:{_free_port()}"
        env[WALLET_ENV_PREFIX + "PUBLIC_URL"] = public_url
    port = public_url.rsplit(":", 1)[1]
    command = [
        str(JIGAP), "wallet", "serve", "--data-dir", str(seeded.data_dir),
        "--host", "127.0.0.1", "--port", port, "--workers", str(workers),
    ]  # fmt: skip
    log = seeded.data_dir / f"server-{port}.log"
    with _serving(command, env, f"{public_url}/health", log, workers) as pid:
        yield public_url, pid


def open_deployment(seeded: SeededWallet) -> WalletDeployment:
    """The deployment in this process (the caller disposes of its engine)."""
    return make_deployment(seeded.settings(), run_migrations=False)


# --- seeding --------------------------------------------------------------------------------------


def _register(http: httpx.Client, public_url: str, keys: Sequence[SigningKey]) -> list[str]:
    """POST /accounts with each key's DPoP proof, with the last nonce the service sent (the
    first is told to use one, and sent again)."""
    accounts, nonce = [], None
    for key in keys:
        for _attempt in range(2):
            proof = make_dpop_proof(
                key, method="POST", uri=f"{public_url}/accounts", now=int(time.time()), nonce=nonce
            )
            response = http.post("/accounts", headers={DPOP_HEADER: proof})
            nonce = response.headers.get(DPOP_NONCE_HEADER, nonce)
            if response.status_code == httpx.codes.CREATED:
                accounts.append(str(response.json()["account_id"]))
                break
        else:
            raise RuntimeError(f"registration: {response.status_code} {response.text}")
    return accounts


def _receive_real(issuer: Issuer, phone: WalletClient) -> int:
    """One credential of every type of every sample agency, through the whole flow."""
    registry = Registry.load()
    received = 0
    with httpx.Client(base_url=issuer.public_url, timeout=_HTTP_SECONDS) as admin:
        for agency in sample_agencies():
            token = issuer.tokens[agency["slug"]]
            for type_id in agency["credential_types"]:
                offer = admin.post(
                    "/admin/offers",
                    json={
                        "credential_type": type_id,
                        "claims": registry.get(type_id).examples[0],
                        "subject": "bench-citizen",  # the agency's own reference
                    },
                    headers={"Authorization": f"Bearer {token}"},
                )
                if offer.status_code != httpx.codes.CREATED:
                    raise RuntimeError(f"offer of {type_id}: {offer.status_code} {offer.text}")
                body = offer.json()
                done = phone.receive(
                    body["credential_offer_reference_uri"], tx_code=body["tx_code"], copies=COPIES
                )
                if done["state"] != "done":
                    raise RuntimeError(f"{type_id}: the intake ended {done['state']}")
                received += 1
    return received


def _copy_holdings(
    deployment: WalletDeployment, donor: str, accounts: Sequence[str], per_account: int
) -> list[tuple[str, ...]]:
    """``per_account`` credentials for each account, copies of the donor's real ones."""
    sealer = deployment.sealer
    with session_scope(deployment.read_engine) as session:
        sources = list(
            session.exec(
                select(Credential)
                .where(Credential.account_id == donor)
                .order_by(col(Credential.received_at), col(Credential.id))
            ).all()
        )
        copies = {
            source.id: [
                (copy, sealer.open(copy.sealed, context=copy_context(copy.id)))
                for copy in session.exec(
                    select(CredentialCopy)
                    .where(CredentialCopy.credential_id == source.id)
                    .order_by(col(CredentialCopy.id))
                ).all()
            ]
            for source in sources
        }
    now = deployment.now()
    held: list[tuple[str, ...]] = []
    for account_id in accounts:
        ids = []
        with session_scope(deployment.engine) as session:
            for n in range(per_account):
                source = sources[n % len(sources)]
                credential_id = uuid.uuid4().hex
                session.add(
                    Credential(
                        id=credential_id,
                        account_id=account_id,
                        issuer_id=source.issuer_id,
                        credential_type=source.credential_type,
                        vct=source.vct,
                        configuration_id=source.configuration_id,
                        received_at=now - per_account + n,  # listed in the order given
                        expires_at=source.expires_at,
                    )
                )
                session.flush()  # the credential before its copies (their foreign key)
                for copy, compact in copies[source.id]:
                    copy_id = uuid.uuid4().hex
                    session.add(
                        CredentialCopy(
                            id=copy_id,
                            credential_id=credential_id,
                            account_id=account_id,
                            holder_jkt=copy.holder_jkt,
                            status_uri=copy.status_uri,
                            status_index=copy.status_index,
                            sealed=sealer.seal(compact, context=copy_context(copy_id)),
                        )
                    )
                ids.append(credential_id)
        held.append(tuple(ids))
    return held


def seed_wallet(
    issuer: Issuer,
    directory: Path,
    *,
    backend: str,
    database_url: str,
    devices: int,
    per_device: int,
    extract_copies: int = 0,
) -> SeededWallet:
    """A wallet deployment in ``directory`` with ``devices`` accounts of ``per_device``
    credentials each, and with ``extract_copies`` one resident-register extract of that many
    copies besides (the service is served while seeding, then stopped)."""
    started = time.perf_counter()
    public_url = f"http://127.0.0.1:{_free_port()}"
    data_dir = directory / f"wallet-{backend}"
    init_wallet(
        data_dir,
        public_url=public_url,
        database_url=database_url,
        trust_list_url=issuer.trust_list_url,
        anchor=issuer.anchor_file,
    )
    seeded = SeededWallet(backend, data_dir, public_url, (), 0, 0.0)
    keys = [SigningKey.generate(Algorithm.ES256) for _ in range(devices)]
    donor_keys_dir = directory / f"donor-{backend}"
    phone_keys = DeviceKeys(donor_keys_dir, DONOR_PASSPHRASE, scrypt_n=MIN_SCRYPT_N)
    with (
        serving_wallet(seeded, workers=1),
        httpx.Client(base_url=public_url, timeout=_HTTP_SECONDS) as http,
        WalletClient(public_url, phone_keys) as phone,
    ):
        accounts = _register(http, public_url, keys)
        donor = phone.register().account_id
        real = _receive_real(issuer, phone)
    deployment = open_deployment(seeded)
    try:
        held = _copy_holdings(deployment, donor, accounts, per_device)
        if extract_copies:
            _restock(deployment, donor, accounts, extract_copies)
    finally:
        deployment.engine.dispose()
    return SeededWallet(
        backend,
        data_dir,
        public_url,
        tuple(
            Device(key, account, ids)
            for key, account, ids in zip(keys, accounts, held, strict=True)
        ),
        real,
        time.perf_counter() - started,
        donor,
        donor_keys_dir,
    )


def _donor_extract_copies(
    session: Session, deployment: WalletDeployment, donor: str
) -> tuple[Credential, list[tuple[CredentialCopy, bytes]]]:
    source = session.exec(
        select(Credential).where(
            Credential.account_id == donor, Credential.credential_type == EXTRACT_TYPE
        )
    ).one()
    copies = session.exec(
        select(CredentialCopy)
        .where(CredentialCopy.credential_id == source.id)
        .order_by(col(CredentialCopy.id))
    ).all()
    opened = [(c, deployment.sealer.open(c.sealed, context=copy_context(c.id))) for c in copies]
    return source, opened


def _restock(deployment: WalletDeployment, donor: str, accounts: Sequence[str], stock: int) -> int:
    """Each account's resident-register extract (made on the first call) holds ``stock``
    unused copies again: the used ones deleted, new ones (the donor's real copies in turn,
    sealed under their own ids) added. Returns the copies added."""
    with session_scope(deployment.read_engine) as session:
        source, sources = _donor_extract_copies(session, deployment, donor)
    added = 0
    now = deployment.now()
    with session_scope(deployment.engine) as session:
        for account_id in accounts:
            extract = session.exec(
                select(Credential).where(
                    Credential.account_id == account_id,
                    Credential.credential_type == EXTRACT_TYPE,
                )
            ).first()
            if extract is None:
                extract = Credential(
                    id=uuid.uuid4().hex,
                    account_id=account_id,
                    issuer_id=source.issuer_id,
                    credential_type=source.credential_type,
                    vct=source.vct,
                    configuration_id=source.configuration_id,
                    received_at=now,
                    expires_at=source.expires_at,
                )
                session.add(extract)
                session.flush()  # the credential before its copies (their foreign key)
            session.execute(
                delete(CredentialCopy).where(
                    col(CredentialCopy.credential_id) == extract.id,
                    col(CredentialCopy.used_at).is_not(None),
                )
            )
            unused = len(
                session.exec(
                    select(CredentialCopy.id).where(CredentialCopy.credential_id == extract.id)
                ).all()
            )
            for n in range(stock - unused):
                copy, compact = sources[n % len(sources)]
                copy_id = uuid.uuid4().hex
                session.add(
                    CredentialCopy(
                        id=copy_id,
                        credential_id=extract.id,
                        account_id=account_id,
                        holder_jkt=copy.holder_jkt,
                        status_uri=copy.status_uri,
                        status_index=copy.status_index,
                        sealed=deployment.sealer.seal(compact, context=copy_context(copy_id)),
                    )
                )
                added += 1
    return added


def restock_extracts(seeded: SeededWallet, stock: int) -> int:
    """``_restock`` on the deployment, the server between steps (no presentation under way)."""
    deployment = open_deployment(seeded)
    try:
        return _restock(
            deployment, seeded.donor_account, [d.account_id for d in seeded.devices], stock
        )
    finally:
        deployment.engine.dispose()
