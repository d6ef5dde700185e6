"""Credential Offers (§4.1): the offer object, and the URIs that carry it by value or reference.

The issuer only makes pre-authorized code offers. ``parse_offer_uri`` is the inverse, for the
wallet and for tests; it refuses rather than guesses, and raises ``InvalidOfferError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from keys.encoding import json_dumps, json_loads_object
from keys.errors import MalformedError
from protocols.oid4vci.constants import (
    CREDENTIAL_OFFER_PARAM,
    CREDENTIAL_OFFER_SCHEME,
    CREDENTIAL_OFFER_URI_PARAM,
    PRE_AUTHORIZED_CODE_GRANT,
    PRE_AUTHORIZED_CODE_PARAM,
    TX_CODE_PARAM,
    TxCodeInputMode,
)

__all__ = [
    "MAX_OFFER_URI_LENGTH",
    "MAX_TX_CODE_DESCRIPTION",
    "MAX_TX_CODE_LENGTH",
    "InvalidOfferError",
    "TxCodeSpec",
    "check_offer",
    "credential_offer",
    "offer_uri_by_reference",
    "offer_uri_by_value",
    "parse_offer_uri",
]

MAX_TX_CODE_DESCRIPTION = 300  # §4.1.1
MAX_TX_CODE_LENGTH = 64  # characters a citizen types; far above any agency's code
# Far above what a QR code holds; bounds the work a pasted link can cause.
MAX_OFFER_URI_LENGTH = 16 * 1024


class InvalidOfferError(ValueError):
    """A credential offer URI or object that does not follow §4.1."""


@dataclass(frozen=True, slots=True)
class TxCodeSpec:
    """§4.1.1 `tx_code`: what the wallet tells the citizen about the transaction code."""

    length: int
    input_mode: TxCodeInputMode = TxCodeInputMode.NUMERIC
    description: str | None = None

    def __post_init__(self) -> None:
        if type(self.length) is not int or self.length < 1:
            raise ValueError("tx_code length must be a positive integer")
        object.__setattr__(self, "input_mode", TxCodeInputMode(self.input_mode))
        if self.description is not None and len(self.description) > MAX_TX_CODE_DESCRIPTION:
            # §4.1.1: the description MUST NOT exceed 300 characters.
            raise ValueError(f"tx_code description over {MAX_TX_CODE_DESCRIPTION} characters")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"input_mode": self.input_mode.value, "length": self.length}
        if self.description is not None:
            out["description"] = self.description
        return out


def credential_offer(
    issuer_id: str,
    configuration_ids: Sequence[str],
    pre_authorized_code: str,
    tx_code: TxCodeSpec | None,
) -> dict[str, Any]:
    """A pre-authorized code offer (§4.1.1); `tx_code` is present iff a code is required."""
    ids = list(configuration_ids)
    if not ids or len(set(ids)) != len(ids):
        # §4.1.1: a non-empty array of unique strings.
        raise ValueError("configuration_ids must be non-empty and unique")
    if not pre_authorized_code:
        raise ValueError("pre_authorized_code must not be empty")
    grant: dict[str, Any] = {PRE_AUTHORIZED_CODE_PARAM: pre_authorized_code}
    if tx_code is not None:
        grant[TX_CODE_PARAM] = tx_code.to_dict()
    return {
        "credential_issuer": issuer_id,
        "credential_configuration_ids": ids,
        "grants": {PRE_AUTHORIZED_CODE_GRANT: grant},
    }


def offer_uri_by_value(offer: dict[str, Any]) -> str:
    """§4.1.2: ``openid-credential-offer://?credential_offer=<compact JSON, percent-encoded>``."""
    return f"{CREDENTIAL_OFFER_SCHEME}?{CREDENTIAL_OFFER_PARAM}={quote(json_dumps(offer), safe='')}"


def offer_uri_by_reference(url: str) -> str:
    """§4.1.3: ``openid-credential-offer://?credential_offer_uri=<percent-encoded URL>``."""
    return f"{CREDENTIAL_OFFER_SCHEME}?{CREDENTIAL_OFFER_URI_PARAM}={quote(url, safe='')}"


def parse_offer_uri(uri: str, *, allow_http: bool = False) -> dict[str, Any] | str:
    """The offer object (by value) or the URL to fetch it from (by reference).

    The endpoint before ``?`` is not checked: a wallet may register its own (§12.1).
    ``allow_http`` admits an ``http`` reference, for local development only.
    """
    if len(uri) > MAX_OFFER_URI_LENGTH:
        raise InvalidOfferError(f"offer URI over {MAX_OFFER_URI_LENGTH} characters")
    parts = urlsplit(uri)
    try:
        params = parse_qsl(
            parts.query, keep_blank_values=True, strict_parsing=True, errors="strict"
        )
    except ValueError:  # UnicodeDecodeError included: no silent U+FFFD
        raise InvalidOfferError("offer URI query is malformed") from None
    # §4.1: a single query parameter, one of the two.
    if len(params) != 1 or params[0][0] not in (CREDENTIAL_OFFER_PARAM, CREDENTIAL_OFFER_URI_PARAM):
        raise InvalidOfferError("offer URI needs exactly one of credential_offer(_uri)")
    name, value = params[0]
    if name == CREDENTIAL_OFFER_URI_PARAM:
        reference = urlsplit(value)
        schemes = ("https", "http") if allow_http else ("https",)
        if reference.scheme not in schemes or not reference.netloc:
            raise InvalidOfferError("credential_offer_uri is not an https URL")  # §4.1
        return value
    try:
        offer = json_loads_object(value)
    except MalformedError as exc:
        raise InvalidOfferError(f"credential_offer is not a JSON object ({exc.code})") from None
    check_offer(offer)
    return offer


def check_offer(offer: dict[str, Any]) -> None:
    """§4.1.1: the members a wallet relies on have their required types; others are ignored."""
    if not isinstance(offer.get("credential_issuer"), str) or not offer["credential_issuer"]:
        raise InvalidOfferError("credential_issuer missing or not a string")
    ids = offer.get("credential_configuration_ids")
    if (
        not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, str) for i in ids)
        or len(set(ids)) != len(ids)
    ):
        raise InvalidOfferError("credential_configuration_ids is not a non-empty unique list")
    grants = offer.get("grants", {})
    if not isinstance(grants, dict) or not all(isinstance(g, dict) for g in grants.values()):
        raise InvalidOfferError("grants is not an object of objects")
    grant = grants.get(PRE_AUTHORIZED_CODE_GRANT)
    if grant is not None:
        code = grant.get(PRE_AUTHORIZED_CODE_PARAM)
        if not isinstance(code, str) or not code:
            raise InvalidOfferError("pre-authorized_code missing or not a string")
        if TX_CODE_PARAM in grant:
            _check_tx_code(grant[TX_CODE_PARAM])


def _check_tx_code(tx_code: object) -> None:
    """§4.1.1 `tx_code`: what the wallet shows the citizen, so bounded like what we issue."""
    if not isinstance(tx_code, dict):
        raise InvalidOfferError("tx_code is not an object")
    length = tx_code.get("length")
    if length is not None and (type(length) is not int or not 0 < length <= MAX_TX_CODE_LENGTH):
        raise InvalidOfferError(f"tx_code length is not an integer from 1 to {MAX_TX_CODE_LENGTH}")
    mode = tx_code.get("input_mode")
    if mode is not None and mode not in tuple(TxCodeInputMode):
        raise InvalidOfferError("tx_code input_mode is neither numeric nor text")
    description = tx_code.get("description")
    if description is not None and (
        not isinstance(description, str) or len(description) > MAX_TX_CODE_DESCRIPTION
    ):  # §4.1.1: MUST NOT exceed 300 characters
        raise InvalidOfferError(f"tx_code description over {MAX_TX_CODE_DESCRIPTION} characters")
