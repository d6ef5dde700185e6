"""A verdict as the clerk's page shows it: labels from the registry, names from the trust list.

Pure: the verifier's result, the registry, the trust store and the time in; a JSON-ready
dict out. A valid verdict carries the disclosed claims, one row per value, each under its
registry label in Korean and English (a table-like claim, an array of objects, becomes one
row per member of each element); a refused one carries the clerk's wording for its code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from counter_app.wording import TRUST_CODES, wording_for
from credential_schemas import CredentialType, Registry
from credential_schemas.errors import SchemaRegistryError
from verifier.result import VerificationResult
from verifier.trust_store import TrustStore

__all__ = ["age_words", "claim_rows", "issuer_names", "path_labels", "verdict_view"]

ClaimsPath = Sequence[str | int | None]


def verdict_view(
    result: VerificationResult,
    *,
    registry: Registry,
    store: TrustStore | None,
    now: int,
    max_status_age: int,
    trust_age: int | None,
) -> dict[str, Any]:
    """What the page shows; ``trust_age``: how old the counter's status data is, if known."""
    if not result.valid:
        assert result.error is not None  # noqa: S101 - a refusal always has its code
        age_ko, age_en = age_words(trust_age)
        wording = wording_for(result.error).to_dict(age_ko=age_ko, age_en=age_en)
        return {
            "valid": False,
            "code": result.error.value,
            "trust_problem": result.error in TRUST_CODES,
            **wording,
        }
    credential_type = registry.by_vct(result.vct or "")
    issuer_ko, issuer_en = issuer_names(store, result.issuer or "")
    status_age = None if result.status_known_at is None else max(0, now - result.status_known_at)
    age_ko, age_en = age_words(status_age)
    return {
        "valid": True,
        "credential": _names(credential_type, result.credential_type or result.vct or ""),
        "issuer": {"id": result.issuer, "name_ko": issuer_ko, "name_en": issuer_en},
        "claims": claim_rows(credential_type, result.claims) if credential_type else [],
        "status": {
            "value": result.status.value,
            "known_at": result.status_known_at,
            "age_seconds": status_age,
            "age_ko": age_ko,
            "age_en": age_en,
            "fresh": status_age is not None and status_age <= max_status_age,
        },
        "holder_bound": result.holder_bound,
        "expires_at": result.expires_at,
    }


def issuer_names(store: TrustStore | None, issuer_id: str) -> tuple[str, str]:
    """The agency's names as the trust list gives them; its id for one registered by hand."""
    trust_list = store.trust_list if store is not None else None
    issuer = trust_list.issuers.get(issuer_id) if trust_list is not None else None
    if issuer is None:
        return issuer_id, issuer_id
    return issuer.names.get("ko", issuer_id), issuer.names.get("en", issuer_id)


def _names(credential_type: CredentialType | None, fallback: str) -> dict[str, str]:
    if credential_type is None:
        return {"id": fallback, "name_ko": fallback, "name_en": fallback}
    return {
        "id": credential_type.id,
        "name_ko": credential_type.display_name("ko"),
        "name_en": credential_type.display_name("en"),
    }


def claim_rows(credential_type: CredentialType, claims: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per disclosed value, in the type's declaration order."""
    order = {name: index for index, name in enumerate(credential_type.claim_names)}
    rows = []
    for name in sorted(claims, key=lambda n: (order.get(n, len(order)), n)):
        for path, value in _leaves((name,), claims[name]):
            label_ko, label_en = path_labels(credential_type, path)
            unit = credential_type.unit(_template(path))
            rows.append({"label_ko": label_ko, "label_en": label_en, "value": _shown(value, unit)})
    return rows


def _leaves(path: tuple[str | int, ...], value: Any) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    if isinstance(value, Mapping):
        for member, inner in value.items():
            yield from _leaves((*path, member), inner)
    elif isinstance(value, list) and value:
        for index, inner in enumerate(value):
            yield from _leaves((*path, index), inner)
    else:
        yield path, value


def path_labels(credential_type: CredentialType, path: ClaimsPath) -> tuple[str, str]:
    """The Korean and English labels of a claims path: the registry's label of its template
    (``address_history[].moved_in``) with the element's number when it names one element."""
    template = _template(path)
    numbers = [str(element + 1) for element in path if isinstance(element, int)]
    suffix = f" {'-'.join(numbers)}" if numbers else ""
    for key in (template, template.removesuffix("[]")):
        try:
            return (
                credential_type.claim_label(key, "ko") + suffix,
                credential_type.claim_label(key, "en") + suffix,
            )
        except SchemaRegistryError:
            continue
    return template + suffix, template + suffix  # a type file without the label: its path


def _template(path: ClaimsPath) -> str:
    """The label path of a claims path: ``("rows", 2, "amount")`` is ``rows[].amount``."""
    template = ""
    for element in path:
        if isinstance(element, str):
            template = f"{template}.{element}" if template else element
        else:
            template += "[]"
    return template


def _shown(value: Any, unit: str | None = None) -> str:
    if unit == "KRW" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}원 (KRW)"  # whole won, grouped as the paper form prints them
    if isinstance(value, bool):
        return "예 / Yes" if value else "아니요 / No"
    if value is None or value == []:
        return "—"
    return str(value)


def age_words(seconds: int | None) -> tuple[str, str]:
    """How old, in Korean and English, in the largest whole unit: "3일" / "3 days"."""
    if seconds is None:
        return "알 수 없음", "unknown"
    for unit, ko, en in ((86_400, "일", "day"), (3_600, "시간", "hour"), (60, "분", "minute")):
        if seconds >= unit:
            count = seconds // unit
            return f"{count}{ko}", f"{count} {en}{'' if count == 1 else 's'}"
    return f"{seconds}초", f"{seconds} second{'' if seconds == 1 else 's'}"
