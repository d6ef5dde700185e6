"""The wallet service's settings: built once in ``create_app``/the CLI, never at import.

``from_env`` reads ``JIGAP_WALLET_*`` variables, and the key stores' passphrase from
``JIGAP_KEY_PASSPHRASE`` (``keys.store.PASSPHRASE_ENV``, the one name every command that opens
a key store reads). Secrets (that passphrase and the HMAC key behind recovery codes) have no
defaults: a service started without them refuses to start rather than run with a value
everyone knows.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from keys.store import PASSPHRASE_ENV
from servicekit.public_url import public_url_problem

__all__ = ["ENV_PREFIX", "PASSPHRASE_ENV", "Settings", "SettingsError"]

ENV_PREFIX = "JIGAP_WALLET_"
_MIN_SECRET_BYTES = 32


class SettingsError(ValueError):
    """A setting that is missing, malformed, or unsafe."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str
    # The origin phones address: every DPoP proof's `htu` is checked against it (never
    # against a Host header). https, or http on a loopback host for development.
    public_url: str
    # The sealing master keys live in `{data_dir}/sealing`.
    data_dir: Path
    key_passphrase: str = field(repr=False)
    hmac_key: bytes = field(repr=False)  # recovery codes are stored as HMAC-SHA256 under it
    # RFC 9449 §8: a nonce is handed out for this long, then a new one; each stays accepted
    # for twice as long, so a client that just fetched one is not refused at the rotation.
    nonce_rotate_seconds: int = 300
    dpop_max_age_seconds: int = 60  # a proof's `iat` may be this old (§11.1)
    dpop_clock_skew_seconds: int = 10  # or this far ahead of our clock
    recovery_attempts: int = 5  # wrong recovery codes before the recovery is locked
    max_body_bytes: int = 64 * 1024
    database_busy_seconds: float = 30.0
    # Where the trust operator publishes the signed trust list; its anchor key is pinned in
    # `{data_dir}/trust/anchor.jwk` at `wallet init`. Without it, no offer is accepted.
    trust_list_url: str | None = None
    trust_refresh_seconds: int = 3600  # the trust list is fetched again after this long
    status_refresh_seconds: int = 60  # how often the service looks for a list past its ttl
    issuer_timeout_seconds: float = 10.0  # each request to an issuer; then `issuer_unavailable`
    # http:// issuers on a loopback host (development, the demo); never in production.
    allow_http_issuers: bool = False
    intake_seconds: int = 1800  # an offer handed over lives this long, then is forgotten
    # An intake the agency deferred (OID4VCI §9) waits this long for its approval, which takes
    # hours or days (the issuer keeps the deferral's access token as long by default).
    deferred_intake_seconds: int = 7 * 86_400
    max_open_intakes: int = 20  # per account: handing over offers is not a way to fill a disk
    default_copies: int = 10  # batch copies asked for when the phone sends no number

    def __post_init__(self) -> None:
        problem = public_url_problem(self.public_url, origin_only=True)
        if problem is not None:
            raise SettingsError(problem)
        if len(self.hmac_key) < _MIN_SECRET_BYTES:
            raise SettingsError(f"hmac_key must be at least {_MIN_SECRET_BYTES} bytes")
        if not self.key_passphrase:
            raise SettingsError("key_passphrase must not be empty")

    @property
    def sealing_dir(self) -> Path:
        return self.data_dir / "sealing"

    @property
    def trust_dir(self) -> Path:
        return self.data_dir / "trust"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(ENV_PREFIX + "DATA_DIR", "jigap-wallet-data"))
        passphrase = env.get(PASSPHRASE_ENV)
        if not passphrase:
            raise SettingsError(f"{PASSPHRASE_ENV} is not set")
        hmac_hex = env.get(ENV_PREFIX + "HMAC_KEY")
        if not hmac_hex:
            raise SettingsError(f"{ENV_PREFIX}HMAC_KEY is not set")
        try:
            hmac_key = bytes.fromhex(hmac_hex)
        except ValueError:
            raise SettingsError(f"{ENV_PREFIX}HMAC_KEY must be hexadecimal") from None
        periods = {  # unset: the defaults above
            name.lower(): _whole_seconds(name, env[ENV_PREFIX + name], lowest)
            for name, lowest in (("TRUST_REFRESH_SECONDS", 1), ("STATUS_REFRESH_SECONDS", 0))
            if env.get(ENV_PREFIX + name)
        }
        return cls(
            database_url=env.get(
                ENV_PREFIX + "DATABASE_URL", f"sqlite:///{data_dir / 'wallet.sqlite3'}"
            ),
            public_url=env.get(ENV_PREFIX + "PUBLIC_URL", "http://127.0.0.1:8100"),
            data_dir=data_dir,
            key_passphrase=passphrase,
            hmac_key=hmac_key,
            trust_list_url=env.get(ENV_PREFIX + "TRUST_LIST_URL") or None,
            allow_http_issuers=env.get(ENV_PREFIX + "ALLOW_HTTP_ISSUERS", "") in ("1", "true"),
            **periods,
        )


def _whole_seconds(name: str, value: str, lowest: int) -> int:
    """A period in whole seconds, ``lowest`` (0: off) to a day."""
    try:
        seconds = int(value)
    except ValueError:
        raise SettingsError(f"{ENV_PREFIX}{name} must be a whole number of seconds") from None
    if not lowest <= seconds <= 86400:
        raise SettingsError(f"{ENV_PREFIX}{name} must be between {lowest} and 86400 seconds")
    return seconds
