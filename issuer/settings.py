"""The issuer service's settings: built once in ``create_app``/the CLI, never at import.

``from_env`` reads ``JIGAP_ISSUER_*`` variables, and the key stores' passphrase from
``JIGAP_KEY_PASSPHRASE``: the one name every command that opens a key store reads (`issuer
init`, `issuer serve`, `keys rotate`), so that an operator who sources ``issuer.env`` can
rotate an agency's key. ``JIGAP_ISSUER_KEY_PASSPHRASE`` (its name before) is read when the
canonical one is absent, and is deprecated. Secrets (that passphrase and the HMAC key behind
subject hashes and transaction codes) have no defaults: a service started without them
refuses to start rather than run with a value everyone knows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keys.jwk import Algorithm
from keys.store import PASSPHRASE_ENV
from servicekit.public_url import public_url_problem

__all__ = [
    "DEPRECATED_PASSPHRASE_ENV",
    "ENV_PREFIX",
    "PASSPHRASE_ENV",
    "Settings",
    "SettingsError",
]

ENV_PREFIX = "JIGAP_ISSUER_"
DEPRECATED_PASSPHRASE_ENV = ENV_PREFIX + "KEY_PASSPHRASE"
_MIN_SECRET_BYTES = 32
HAIP_ALGORITHM = Algorithm.ES256.value  # HAIP 1.0: ES256 (P-256) for key proofs and binding


class SettingsError(ValueError):
    """A setting that is missing, malformed, or unsafe."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    # The deployment's public origin; each agency's Credential Issuer Identifier is
    # `{public_url}/agencies/{slug}`. https, or http on a loopback host for development.
    public_url: str
    # Key stores live in `{data_dir}/keys/{agency slug}` and the dev trust anchor in
    # `{data_dir}/anchor`.
    data_dir: Path
    key_passphrase: str = field(repr=False)
    hmac_key: bytes = field(repr=False)
    # OID4VCI 1.0 §4.1.1: the pre-authorized code "MUST be short lived and single use".
    pre_authorized_code_seconds: int = 900
    access_token_seconds: int = 300
    nonce_seconds: int = 300
    # A key proof's `iat` may be this old, or this far ahead of our clock (§13.12 / Note).
    proof_max_age_seconds: int = 300
    proof_clock_skew_seconds: int = 60
    tx_code_length: int = 6
    tx_code_attempts: int = 3  # wrong transaction codes allowed before the offer dies
    batch_size: int = 10  # §12.2.4 `batch_credential_issuance.batch_size`
    deferred_interval_seconds: int = 30
    # SD-JWT VC `vct#integrity` in every credential (the digest of its type metadata, served at
    # /type-metadata/{vct}): off by default, as it costs a counter's QR code about 80
    # characters, one QR version for the bank's answer (docs/interop.md).
    vct_integrity: bool = False
    # Key proofs, and so the holder keys credentials are bound to: ES256 alone by default, as
    # the OpenID4VC High Assurance Interoperability Profile (HAIP) requires; "EdDSA" added is a
    # deployment's explicit choice (its credentials are refused by HAIP-only verifiers).
    proof_algorithms: tuple[str, ...] = (HAIP_ALGORITHM,)
    # An access token that led to a deferral stays valid this long, for the deferred endpoint.
    deferred_token_seconds: int = 7 * 86_400
    status_list_size: int = 131_072  # entries (2 bits each: 32 KiB before compression)
    status_list_ttl_seconds: int = 300
    trust_list_days: int = 7
    max_body_bytes: int = 256 * 1024
    max_upload_bytes: int = 64 * 1024 * 1024
    max_upload_rows: int = 100_000
    # How long a SQLite write waits for another process's lock before the request is answered
    # 503 (issuer.db); PostgreSQL waits on its own lock_timeout.
    database_busy_seconds: float = 30.0
    # /metrics counts credentials and offers in the database; above a few million rows, keep
    # the counts this long in each process (0: count at every scrape; docs/operations.md).
    metrics_database_seconds: float = 0.0

    def __post_init__(self) -> None:
        problem = public_url_problem(self.public_url, origin_only=False)
        if problem is not None:
            raise SettingsError(problem)
        if len(self.hmac_key) < _MIN_SECRET_BYTES:
            raise SettingsError(f"hmac_key must be at least {_MIN_SECRET_BYTES} bytes")
        if not self.key_passphrase:
            raise SettingsError("key_passphrase must not be empty")
        known = {algorithm.value for algorithm in Algorithm}
        if not self.proof_algorithms or not set(self.proof_algorithms) <= known:
            raise SettingsError(f"proof_algorithms must be some of {sorted(known)}")

    @property
    def proof_algorithm_set(self) -> frozenset[Algorithm]:
        return frozenset(Algorithm(name) for name in self.proof_algorithms)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def anchor_dir(self) -> Path:
        return self.data_dir / "anchor"

    def issuer_id(self, slug: str) -> str:
        """The Credential Issuer Identifier of agency ``slug`` (OID4VCI 1.0 §12.2.1)."""
        return f"{self.public_url}/agencies/{slug}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def required(name: str) -> str:
            value = env.get(ENV_PREFIX + name)
            if not value:
                raise SettingsError(f"{ENV_PREFIX}{name} is not set")
            return value

        data_dir = Path(env.get(ENV_PREFIX + "DATA_DIR", "jigap-issuer-data"))
        passphrase = env.get(PASSPHRASE_ENV) or env.get(DEPRECATED_PASSPHRASE_ENV)
        if not passphrase:
            raise SettingsError(f"{PASSPHRASE_ENV} is not set")
        return cls(
            database_url=env.get(
                ENV_PREFIX + "DATABASE_URL", f"sqlite:///{data_dir / 'issuer.sqlite3'}"
            ),
            public_url=env.get(ENV_PREFIX + "PUBLIC_URL", "http://127.0.0.1:8000"),
            data_dir=data_dir,
            key_passphrase=passphrase,
            database_busy_seconds=_seconds(env, "DATABASE_BUSY_SECONDS", 30.0),
            metrics_database_seconds=_seconds(env, "METRICS_DATABASE_SECONDS", 0.0, zero=True),
            vct_integrity=_flag(env, "VCT_INTEGRITY"),
            proof_algorithms=tuple(
                name.strip()
                for name in env.get(ENV_PREFIX + "PROOF_ALGORITHMS", HAIP_ALGORITHM).split(",")
            ),
            hmac_key=_hex_secret(required("HMAC_KEY")),
        )


def _hex_secret(value: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}HMAC_KEY must be hexadecimal") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(ENV_PREFIX + name, "")
    if value not in ("", "0", "1"):
        raise SettingsError(f"{ENV_PREFIX}{name} must be 0 or 1")
    return value == "1"


def _seconds(env: Mapping[str, str], name: str, default: float, *, zero: bool = False) -> float:
    value = env.get(ENV_PREFIX + name)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be a number of seconds") from None
    lowest_allowed = seconds >= 0 if zero else seconds > 0
    if not lowest_allowed or seconds > 3600:
        raise SettingsError(f"{ENV_PREFIX}{name} must be between 0 and 3600 seconds")
    return seconds
