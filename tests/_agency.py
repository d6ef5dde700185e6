"""An agency on a real loopback socket whose answers the test chooses: what the wallet service
meets when an issuer is broken, slow, hostile, or not on its trust list at all.

``serve_agency`` runs a ``ThreadingHTTPServer`` in a thread that speaks just enough OpenID4VCI
1.0 (metadata, token, nonce, credential, notification, an offer by reference) for the wallet to
reach the credential request, and records every request it gets, so that a test can prove the
wallet sent an untrusted server nothing. One step answers with the ``Defect`` the test sets.
Credentials are made by the issuer's own code (``issuer.credential.issue_sd_jwt_vc``), bound to
the keys of the proofs the wallet sent, so a credential differs from an honest one only in the
targeted defect.

``hold_trust`` writes the wallet's trust store as a sync would have left it: a list signed by a
pinned anchor naming the agencies given, and each one's status list.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

from credential_schemas import Registry
from issuer.credential import KOREA, StatusReference, issue_sd_jwt_vc
from keys.encoding import b64url_decode, json_dumps, json_loads_object
from keys.jwk import Jwks, PublicKey, SigningKey, public_key_from_jwk
from keys.jws import KID, TYP, sign_compact
from keys.trust_list import TrustedIssuer, TrustList, sign_trust_list
from protocols.oid4vci import (
    PRE_AUTHORIZED_CODE_GRANT,
    SD_JWT_VC_FORMAT,
    WELL_KNOWN_CREDENTIAL_ISSUER,
    WELL_KNOWN_OAUTH_AS,
)
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import SD_ALG_KEY, SD_DIGESTS_KEY, SHA_256, SdJwt, encode_disclosure
from verifier.status_list import StatusList, build_status_list_token
from verifier.trust_store import ANCHOR_FILE, STATUS_LISTS_FILE, TRUST_LIST_FILE
from wallet_api.issuance_client import MAX_RESPONSE_BYTES

__all__ = [
    "CONFIGURATION_ID",
    "CREDENTIAL_PATH",
    "DEFERRED_PATH",
    "NONCE_PATH",
    "NOTIFICATION_PATH",
    "OFFER_PATH",
    "SECRET_CLAIM",
    "TOKEN_PATH",
    "WELL_KNOWN_CREDENTIAL_ISSUER",
    "Agency",
    "Defect",
    "closed_port_url",
    "hold_trust",
    "offer_by_reference",
    "offer_by_value",
    "serve_agency",
    "silent_url",
]

REGISTRY = Registry.load()
RESIDENT = "resident_register_extract"
CONFIGURATION_ID = RESIDENT  # the agency names each configuration after its type
OTHER_TYPE = next(t.id for t in REGISTRY.types if t.id != RESIDENT)
BATCH_SIZE = 10
SECRET_CLAIM = "claim-value-never-logged"
HANG_SECONDS = 30.0  # a silent step's bound; the wallet gives up long before
HUGE_LENGTH = 100_000
TRICKLE_BYTES, TRICKLE_SECONDS = 300, 0.1  # 30 s of a body, a byte every 0.1 s

TOKEN_PATH, NONCE_PATH = "/token", "/nonce"
CREDENTIAL_PATH, NOTIFICATION_PATH = "/credential", "/notification"
OFFER_PATH, STATUS_PATH = "/offers/1", "/status/1"
DEFERRED_PATH = "/deferred"


class Defect(StrEnum):
    """What one step answers instead of the honest answer."""

    NONE = "none"
    MALFORMED_JSON = "malformed_json"  # 200 with a body that is not JSON
    OVERSIZED = "oversized"  # 200 with a JSON body over the wallet's MAX_RESPONSE_BYTES
    SILENT = "silent"  # the request is read, and no answer ever comes
    SERVER_ERROR = "server_error"  # 500
    # The answer's body arrives a byte at a time, each well within the timeout of one read.
    TRICKLE = "trickle"
    # Credential answers (the step is the credential endpoint):
    FOREIGN_KEY = "foreign_key"  # signed by a key the trust list does not hold
    OTHER_CNF = "other_cnf"  # bound to a key the phone never made
    OTHER_TYPE = "other_type"  # another certificate type than the one offered
    ONE_KEY = "one_key"  # every copy bound to the first proof's key
    NOT_SD_JWT = "not_sd_jwt"  # a string that is no credential at all
    MORE_THAN_KEYS = "more_than_keys"  # one credential more than proofs sent
    EXPIRED = "expired"  # issued and expired a year ago
    SIBLING = "sibling"  # issued and signed by another issuer on the trust list
    # Made here as ``issue_sd_jwt_vc`` makes them, but without its check of the claims:
    HAND_MADE = "hand_made"  # the example claims (the control: stored)
    SCHEMA_INVALID = "schema_invalid"  # `sex` is SECRET_CLAIM, which the type's schema refuses
    DEFERRED = "deferred"  # 202: issued later, at the deferred endpoint
    # A token, nonce or transaction id of 100,000 characters: what the wallet would keep,
    # and sign over once per copy.
    HUGE_VALUE = "huge_value"
    # Metadata and redirects that would send the wallet to ``Agency.elsewhere``:
    REDIRECT = "redirect"  # 302 there
    FOREIGN_ENDPOINT = "foreign_endpoint"  # metadata naming its credential endpoint there
    FOREIGN_METADATA = "foreign_metadata"  # metadata of the issuer there (§12.2.2)


@dataclass
class Agency:
    url: str
    key: SigningKey
    clock: Callable[[], float]
    defects: dict[str, Defect] = field(default_factory=dict)  # path -> what it answers
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) received
    notifications: list[str] = field(default_factory=list)  # events the wallet sent
    released: threading.Event = field(default_factory=threading.Event)
    offer_issuer: str | None = None  # whom the offer by reference names (default: itself)
    elsewhere: str = "http://127.0.0.1:9"  # where the defects that point away point
    sibling: tuple[str, SigningKey] | None = None  # another trusted issuer's id and key
    _proofs: list[str] = field(default_factory=list)  # of a deferred issuance
    _next_index: int = 0

    def defect(self, path: str, defect: Defect) -> None:
        self.defects = {path: defect}

    def metadata(self) -> dict[str, Any]:
        defect = self.defects.get(WELL_KNOWN_CREDENTIAL_ISSUER)
        foreign = defect is Defect.FOREIGN_ENDPOINT
        return {
            "credential_issuer": self.elsewhere if defect is Defect.FOREIGN_METADATA else self.url,
            "credential_endpoint": (self.elsewhere if foreign else self.url) + CREDENTIAL_PATH,
            "nonce_endpoint": self.url + NONCE_PATH,
            "deferred_credential_endpoint": self.url + DEFERRED_PATH,
            "notification_endpoint": self.url + NOTIFICATION_PATH,
            "batch_credential_issuance": {"batch_size": BATCH_SIZE},
            "credential_configurations_supported": {
                t.id: {"format": SD_JWT_VC_FORMAT, "vct": t.vct} for t in REGISTRY.types
            },
        }

    def credentials(self, proofs: list[str], defect: Defect) -> list[str]:
        """One credential per proof's key, honest but for ``defect``."""
        holders = [_proof_key(proof) for proof in proofs]
        if defect is Defect.OTHER_CNF:
            holders = [SigningKey.generate().public_key for _ in holders]
        if defect is Defect.ONE_KEY:
            holders = [holders[0]] * len(holders)
        if defect is Defect.MORE_THAN_KEYS:
            holders = [*holders, SigningKey.generate().public_key]
        type_id = OTHER_TYPE if defect is Defect.OTHER_TYPE else RESIDENT
        signer = SigningKey.generate() if defect is Defect.FOREIGN_KEY else self.key
        issuer_id = self.url
        if defect is Defect.SIBLING:
            assert self.sibling is not None
            issuer_id, signer = self.sibling
        now = int(self.clock())
        issued_at = now - 400 * 86400 if defect is Defect.EXPIRED else now
        made = []
        for holder in holders:
            self._next_index += 1
            credential_type = REGISTRY.get(type_id)
            if defect in (Defect.HAND_MADE, Defect.SCHEMA_INVALID):
                claims = dict(credential_type.examples[0])
                if defect is Defect.SCHEMA_INVALID:
                    claims["sex"] = SECRET_CLAIM
                status = StatusReference(issuer_id + STATUS_PATH, self._next_index)
                made.append(_hand_made(issuer_id, signer, holder, claims, status, now))
                continue
            made.append(
                issue_sd_jwt_vc(
                    credential_type,
                    credential_type.examples[0],
                    issuer_id=issuer_id,
                    signing_key=signer,
                    holder_key=holder,
                    status=StatusReference(issuer_id + STATUS_PATH, self._next_index),
                    now=issued_at,
                    expires_at=issued_at + 30 * 86400 if defect is Defect.EXPIRED else None,
                ).compact
            )
        return made

    def credential_answer(self, defect: Defect) -> dict[str, Any]:
        """The body of a credential (§8.3) or deferred credential (§9.2) answer."""
        if defect is Defect.DEFERRED:
            return {"transaction_id": "tx-1", "interval": 5}
        if defect is Defect.HUGE_VALUE:  # deferred, under a huge transaction id
            return {"transaction_id": "x" * HUGE_LENGTH, "interval": 5}
        if defect is Defect.NOT_SD_JWT:
            credentials = ["not~an~sd-jwt~"]
        else:
            credentials = self.credentials(self._proofs, defect)
        return {"credentials": [{"credential": c} for c in credentials], "notification_id": "n-1"}


def _hand_made(
    issuer_id: str,
    key: SigningKey,
    holder: PublicKey,
    claims: dict[str, Any],
    status: StatusReference,
    now: int,
) -> str:
    """An SD-JWT VC laid out as ``issue_sd_jwt_vc`` lays it out, of claims it never checked."""
    credential_type = REGISTRY.get(RESIDENT)
    today = datetime.fromtimestamp(now, KOREA).date()
    claims = {**claims, **credential_type.derive(claims, today)}
    payload: dict[str, Any] = {
        vc.ISS: issuer_id,
        vc.IAT: now,
        vc.EXP: now + 30 * 86400,
        vc.VCT: credential_type.vct,
    }
    disclosures = []
    for name, value in claims.items():
        if name in credential_type.selectively_disclosable:
            disclosures.append(encode_disclosure(name, value))
        else:
            payload[name] = value
    payload[SD_DIGESTS_KEY] = [d.digest for d in disclosures]
    payload[SD_ALG_KEY] = SHA_256
    payload[vc.CNF] = {vc.JWK: holder.to_thumbprint_jwk()}
    payload[vc.STATUS] = status.to_claim()
    jwt = sign_compact(payload, key, {TYP: vc.CREDENTIAL_TYP, KID: key.kid})
    return SdJwt(jwt, tuple(d.encoded for d in disclosures), None).serialize()


def _proof_key(proof: str) -> PublicKey:
    header = json_loads_object(b64url_decode(proof.split(".", 1)[0]))
    return public_key_from_jwk(header["jwk"])


def _handler(agency: Agency) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the wallet may hang up on an oversized one
                self.wfile.write(body)

        def _trickle(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(TRICKLE_BYTES))
            self.end_headers()
            with contextlib.suppress(OSError):  # until the wallet hangs up
                for _ in range(TRICKLE_BYTES):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    if agency.released.wait(TRICKLE_SECONDS):
                        return

        def _answer(self, honest: Callable[[], Any]) -> None:
            defect = agency.defects.get(self.path, Defect.NONE)
            if defect is Defect.SILENT:
                agency.released.wait(HANG_SECONDS)
            elif defect is Defect.MALFORMED_JSON:
                self._send(200, b'{"access_token": "t", "c_nonce": ')
            elif defect is Defect.OVERSIZED:
                padding = b" " * (MAX_RESPONSE_BYTES + 1)
                self._send(200, b'{"pad": "' + padding + b'"}')
            elif defect is Defect.TRICKLE:
                self._trickle()
            elif defect is Defect.SERVER_ERROR:
                self._send(500, b'{"error": "server_error"}')
            elif defect is Defect.HUGE_VALUE and self.path == CREDENTIAL_PATH:
                self._send(202, json_dumps(honest()))
            elif defect is Defect.REDIRECT:
                self.send_response(302)
                self.send_header("Location", agency.elsewhere + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._send(202 if defect is Defect.DEFERRED else 200, json_dumps(honest()))

        def do_GET(self) -> None:
            agency.requests.append(("GET", self.path))
            if self.path == WELL_KNOWN_CREDENTIAL_ISSUER:
                self._answer(agency.metadata)
            elif self.path == WELL_KNOWN_OAUTH_AS:
                self._answer(
                    lambda: {"issuer": agency.url, "token_endpoint": agency.url + TOKEN_PATH}
                )
            elif self.path == OFFER_PATH:
                self._answer(lambda: _offer(agency.offer_issuer or agency.url))
            else:
                self._send(404, b'{"error": "not_found"}')

        def do_POST(self) -> None:
            agency.requests.append(("POST", self.path))
            body = self._body()
            huge = "x" * HUGE_LENGTH if agency.defects.get(self.path) is Defect.HUGE_VALUE else ""
            if self.path == TOKEN_PATH:
                self._answer(lambda: {"access_token": huge or "a-token", "token_type": "Bearer"})
            elif self.path == NONCE_PATH:
                self._answer(lambda: {"c_nonce": huge or "a-nonce"})
            elif self.path in (CREDENTIAL_PATH, DEFERRED_PATH):
                if self.path == CREDENTIAL_PATH:
                    agency._proofs = json.loads(body)["proofs"]["jwt"]
                defect = agency.defects.get(self.path, Defect.NONE)
                self._answer(lambda: agency.credential_answer(defect))
            elif self.path == NOTIFICATION_PATH:
                agency.notifications.append(str(json.loads(body).get("event")))
                if self.path in agency.defects:
                    self._answer(dict)
                else:
                    self.send_response(204)
                    self.end_headers()
            else:
                self._send(404, b'{"error": "not_found"}')

    return Handler


@contextlib.contextmanager
def serve_agency(clock: Callable[[], float]) -> Iterator[Agency]:
    """An agency at ``http://127.0.0.1:PORT`` (no path), until the block ends."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server.daemon_threads = True
    agency = Agency(f"http://127.0.0.1:{server.server_address[1]}", SigningKey.generate(), clock)
    server.RequestHandlerClass = _handler(agency)
    # A short poll: shutdown() waits for it, at every test's end.
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield agency
    finally:
        agency.released.set()  # a silent step's thread ends now
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_url() -> Iterator[str]:
    """A loopback port that accepts connections (the kernel's backlog completes them) and
    never answers a byte: a slow issuer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def closed_port_url() -> str:
    """A loopback port nothing listens on: connections are refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _offer(issuer_id: str, configuration_ids: tuple[str, ...] = (CONFIGURATION_ID,)) -> dict:  # type: ignore[type-arg]
    return {
        "credential_issuer": issuer_id,
        "credential_configuration_ids": list(configuration_ids),
        "grants": {PRE_AUTHORIZED_CODE_GRANT: {"pre-authorized_code": "a-code"}},
    }


def offer_by_value(issuer_id: str, configuration_ids: tuple[str, ...] = (CONFIGURATION_ID,)) -> str:
    offer = json.dumps(_offer(issuer_id, configuration_ids), separators=(",", ":"))
    return "openid-credential-offer://?credential_offer=" + quote(offer, safe="")


def offer_by_reference(url: str) -> str:
    return "openid-credential-offer://?credential_offer_uri=" + quote(url, safe="")


def hold_trust(trust_dir: Path, now: int, issuers: Mapping[str, SigningKey]) -> None:
    """The trust store a sync would have left: ``issuers`` (id -> key) on a signed list for
    every registry type, the anchor pinned, and each one's status list (all valid) held."""
    anchor = SigningKey.generate()
    types = frozenset(t.vct for t in REGISTRY.types)
    entries = {
        issuer_id: TrustedIssuer(
            issuer_id,
            {"ko": "시험 기관", "en": "Test agency"},
            Jwks.of(key.public_key),
            types,
            now - 86400,
            now + 365 * 86400,
        )
        for issuer_id, key in issuers.items()
    }
    trust_list = TrustList("https://trust.example", 1, now, now + 365 * 86400, entries)
    trust_dir.mkdir(parents=True, exist_ok=True)
    (trust_dir / TRUST_LIST_FILE).write_text(sign_trust_list(trust_list, anchor))
    (trust_dir / ANCHOR_FILE).write_bytes(json_dumps(anchor.public_key.to_jwk()))
    held = {
        issuer_id + STATUS_PATH: {
            "token": build_status_list_token(
                StatusList(1024), issuer_id + STATUS_PATH, key, now=now, ttl=3600
            ),
            "fetched_at": now,
        }
        for issuer_id, key in issuers.items()
    }
    (trust_dir / STATUS_LISTS_FILE).write_text(json.dumps(held))
