"""One certificate type at one version: its claims schema, labels, disclosure and derived claims.

Built only by the loader (``type_file.py``) from a file that has already passed the meta-schema
and the loader's rules; immutable afterwards. Both validators are built once there, because
``validate_disclosed`` runs on every presentation a verifier checks.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from jsonschema.exceptions import ValidationError
from jsonschema.protocols import Validator

from credential_schemas.derived import COUNT, DerivedClaim
from credential_schemas.errors import ClaimsError, RegistryErrorCode, UnknownNameError
from credential_schemas.fast_check import Check
from credential_schemas.rrn import (
    BIRTH_DATE_CLAIM,
    RRN_CLAIM,
    SEX_CLAIM,
    check_birth_date_matches_rrn,
    check_sex_matches_rrn,
)

__all__ = ["ClaimPath", "CredentialType", "Language", "iter_claim_paths"]

Language = Literal["ko", "en"]
# An OpenID4VP 1.0 §7 claims path: names, indices, None for every element of an array.
PathStep = str | int | None
LANGUAGES: tuple[Language, ...] = ("ko", "en")

# How many problems one error's detail lists; the code comes from the first.
_MAX_REPORTED = 5
_MAX_NAME_IN_DETAIL = 40
# C0 and C1 controls, DEL, U+2028/2029 line separators, bidi embeddings, overrides, isolates.
HIDDEN_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
# Structural problems first: a missing claim usually explains the rest.
_CODE_PRIORITY = {
    RegistryErrorCode.MISSING_REQUIRED_CLAIM: 0,
    RegistryErrorCode.SCHEMA_VIOLATION: 1,
    RegistryErrorCode.INVALID_RRN: 2,
}


@dataclass(frozen=True, slots=True)
class ClaimPath:
    """A property of the claims schema, named like ``address_history[].moved_in``."""

    name: str
    schema: Mapping[str, Any]
    mandatory: bool  # required by its parent object

    @property
    def segments(self) -> list[str | None]:
        """The OID4VCI claims path: ``["address_history", None, "moved_in"]``."""
        out: list[str | None] = []
        for part in self.name.split("."):
            base = part.rstrip("[]")
            out.append(base)
            out.extend([None] * ((len(part) - len(base)) // 2))
        return out


def iter_claim_paths(schema: Mapping[str, Any], prefix: str = "") -> Iterator[ClaimPath]:
    """Every object property under ``schema``, depth first, in declaration order."""
    required = schema.get("required", ())
    for name, sub in schema.get("properties", {}).items():
        path = f"{prefix}{name}"
        yield ClaimPath(path, sub, name in required)
        suffix = ""
        while sub.get("type") == "array":  # items of items: x[][]
            sub, suffix = sub["items"], suffix + "[]"
        if sub.get("type") == "object":
            yield from iter_claim_paths(sub, f"{path}{suffix}.")


def _pointer(parts: Iterable[str | int]) -> str:
    # RFC 6901 escaping; declared claim names never need it, array indexes are ints.
    tokens = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "".join(f"/{t}" for t in tokens) or "(root)"


def _describe(error: ValidationError) -> tuple[RegistryErrorCode, str]:
    """Code and value-free description of one jsonschema error."""
    where = _pointer(error.absolute_path)
    keyword = error.validator
    if keyword == "required":
        instance = error.instance if isinstance(error.instance, Mapping) else {}
        declared = error.validator_value if isinstance(error.validator_value, list) else []
        missing = [str(n) for n in declared if n not in instance]
        base = "" if where == "(root)" else where
        names = ", ".join(f"{base}/{n}" for n in missing)
        return RegistryErrorCode.MISSING_REQUIRED_CLAIM, f"missing required claim {names}"
    if keyword == "additionalProperties" and isinstance(error.instance, Mapping):
        declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extra = [repr(str(k)[:_MAX_NAME_IN_DETAIL]) for k in error.instance if k not in declared]
        listed = ", ".join(extra[:_MAX_REPORTED]) + (", ..." if len(extra) > _MAX_REPORTED else "")
        return RegistryErrorCode.SCHEMA_VIOLATION, f"{where}: undeclared claim {listed}"
    if keyword == "format":
        if isinstance(error.cause, ClaimsError):
            return error.cause.code, f"{where}: {error.cause.detail}"
        return RegistryErrorCode.SCHEMA_VIOLATION, f"{where}: not a valid {error.validator_value}"
    if keyword == "type":
        return RegistryErrorCode.SCHEMA_VIOLATION, f"{where}: expected {error.validator_value}"
    if keyword in ("enum", "const"):
        return RegistryErrorCode.SCHEMA_VIOLATION, f"{where}: not an allowed value"
    # Bounds and patterns: the schema's own value is safe to show, the claim's is not.
    return (
        RegistryErrorCode.SCHEMA_VIOLATION,
        f"{where}: fails {keyword} {error.validator_value!r}",
    )


def _raise_first(errors: list[ValidationError]) -> None:
    if not errors:
        return
    described = sorted(
        (_describe(e) for e in errors), key=lambda cd: (_CODE_PRIORITY.get(cd[0], 9), cd[1])
    )
    code = described[0][0]
    details = list(dict.fromkeys(d for _, d in described))  # dedupe, keep order
    more = len(details) - _MAX_REPORTED
    detail = "; ".join(details[:_MAX_REPORTED]) + (f"; and {more} more" if more > 0 else "")
    raise ClaimsError(code, detail)


def _check_values(value: Any, where: str = "", *, strings: bool = True) -> None:
    """Rules for every level of the claims, beyond what the schema says.

    - No string holds a control, line-separator or bidi-override character: a value shown at a
      counter must read as what it is, and ``pattern``'s ``$`` (Python ``re``) would let a
      trailing newline through. ``strings=False`` when a compiled check has already seen to it.
    - A ``birth_date`` or ``sex`` beside a ``resident_registration_number`` must agree with it.
    """
    if type(value) is str:
        if strings and HIDDEN_CHARACTERS.search(value):
            raise ClaimsError(
                RegistryErrorCode.SCHEMA_VIOLATION,
                f"{where or '(root)'}: contains a control or bidi character",
            )
    elif isinstance(value, Mapping):
        rrn = value.get(RRN_CLAIM)
        if isinstance(rrn, str):
            born, sex = value.get(BIRTH_DATE_CLAIM), value.get(SEX_CLAIM)
            try:
                if isinstance(born, str):
                    check_birth_date_matches_rrn(born, rrn)
                if isinstance(sex, str):
                    check_sex_matches_rrn(sex, rrn)
            except ClaimsError as error:
                raise ClaimsError(error.code, f"{where or '(root)'}: {error.detail}") from None
        for key, sub in value.items():
            if strings or type(sub) is not str:
                _check_values(sub, f"{where}/{key}", strings=strings)
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            _check_values(sub, f"{where}/{index}", strings=strings)


@dataclass(frozen=True, kw_only=True, eq=False)
class CredentialType:
    """A certificate type at one version. Compare types by ``vct``, not by identity."""

    id: str
    version: int
    vct: str
    claim_names: tuple[str, ...]  # top level, declaration order, derived claims last
    always_disclosed: frozenset[str]
    selectively_disclosable: frozenset[str]
    validity: timedelta
    decoys: int
    derived: tuple[DerivedClaim, ...]
    # (earlier, later) top-level date claims: `later` is never before `earlier`.
    date_order: tuple[tuple[str, str], ...] = ()
    # Paths below the top level with a disclosure of their own (``household_members[]``,
    # ``household_members[].name``); any other nested value is shown with its parent.
    nested_disclosures: frozenset[str] = frozenset()
    # The largest presentation counters typically ask (claims paths); () when not declared.
    typical_presentation: tuple[tuple[PathStep, ...], ...] = ()
    # Sample claims from the type file, each passing ``validate``: for demos and tests.
    examples: tuple[dict[str, Any], ...] = ()
    source: Path | None = None  # the file it was loaded from, for operators' messages
    # Private: built by the loader, reached only through the methods below.
    _display: Mapping[str, str] = field(repr=False)
    _labels: Mapping[str, Mapping[str, str]] = field(repr=False)
    _units: Mapping[str, str] = field(default_factory=dict, repr=False)
    _issuance_validator: Validator = field(repr=False)
    _disclosed_validator: Validator = field(repr=False)
    # Compiled fast paths (fast_check.py); None where jsonschema alone decides.
    _issuance_check: Check | None = field(default=None, repr=False)
    _disclosed_check: Check | None = field(default=None, repr=False)
    _metadata: Mapping[str, Any] = field(repr=False)

    @property
    def derived_claim_names(self) -> frozenset[str]:
        return frozenset(d.name for d in self.derived)

    def display_name(self, lang: Language = "ko") -> str:
        return self._display[lang]

    def claim_label(self, name: str, lang: Language = "ko") -> str:
        """Label of a claim path (``name``, ``address_history[].moved_in``, ``age_over_19``)."""
        labels = self._labels.get(name)
        if labels is None:
            raise UnknownNameError(
                RegistryErrorCode.UNKNOWN_CLAIM, f"{self.vct} has no claim {name[:60]!r}"
            )
        return labels[lang]

    def unit(self, name: str) -> str | None:
        """What an integer claim counts (``"KRW"``: won), by label path; None for a plain
        number or any other claim."""
        return self._units.get(name)

    def is_selectively_disclosable(self, name: str) -> bool:
        """Whether the claim at a label path (``name``, ``household_members[]``,
        ``household_members[].name``) has a disclosure of its own; a nested value that has
        none is shown whenever its parent is."""
        if "." in name or "[" in name:
            return name in self.nested_disclosures
        return name in self.selectively_disclosable

    @property
    def metadata(self) -> dict[str, Any]:
        """``vct`` and OID4VCI 1.0 ``credential_metadata`` (display, claims); a fresh copy.

        The issuer adds ``format``, binding methods and proof types around it.
        """
        return copy.deepcopy(dict(self._metadata))

    def has_claim(self, path: Sequence[str | int | None]) -> bool:
        """Whether a claims path (OpenID4VP 1.0 §7: names, indices, null for every element)
        names a claim of this type: its claims schema's, derived claims at the top level."""
        if not path:
            return False
        if path[0] in self.derived_claim_names:
            return len(path) == 1
        node: Any = self._issuance_validator.schema  # read, never handed out: no copy needed
        for element in path:
            if isinstance(element, str):
                properties = node.get("properties", {}) if node.get("type") == "object" else {}
                if element not in properties:
                    return False
                node = properties[element]
            elif node.get("type") == "array":
                node = node.get("items", {})
            else:
                return False
        return True

    @property
    def claims_schema(self) -> dict[str, Any]:
        """The type file's ``claims_schema`` (JSON Schema of the issued claims); a fresh copy."""
        schema = self._issuance_validator.schema
        assert isinstance(schema, Mapping)  # noqa: S101 - the meta-schema requires an object
        return copy.deepcopy(dict(schema))

    def validate(self, claims: Mapping[str, Any]) -> None:
        """Issuance check of the certificate's own claims (no iss, vct, cnf, ...).

        Every required claim, types, formats (RRN included), no undeclared claim, no derived
        claim (the issuer computes those with ``derive``), no control characters, cross-field
        consistency.
        """
        if isinstance(claims, Mapping):
            supplied = sorted(self.derived_claim_names.intersection(claims))
            if supplied:
                raise ClaimsError(
                    RegistryErrorCode.SCHEMA_VIOLATION,
                    f"derived claim {', '.join(supplied)} is computed by the issuer, not supplied",
                )
        self._check(claims, self._issuance_check, self._issuance_validator)

    def validate_disclosed(self, claims: Mapping[str, Any]) -> None:
        """Verifier check of the claims a presentation disclosed.

        Any subset of the top-level claims (derived ones included) may be present; each must
        be declared and well-formed. A disclosed object or array element is checked whole,
        nested required properties included, except what ``nested_disclosures`` gives a
        disclosure of its own: such a member may be withheld, and an array whose elements are
        disclosed one by one may show fewer than ``minItems``. Whatever is shown is checked.
        """
        self._check(claims, self._disclosed_check, self._disclosed_validator)

    def _check(self, claims: Mapping[str, Any], fast: Check | None, validator: Validator) -> None:
        if fast is not None and fast(claims):
            _check_values(claims, strings=False)  # the compiled check saw to the strings
        else:  # jsonschema decides, and names what is wrong
            _raise_first(list(validator.iter_errors(claims)))
            _check_values(claims)
        self._check_date_order(claims)

    def _check_date_order(self, claims: Mapping[str, Any]) -> None:
        for earlier, later in self.date_order:
            first, second = claims.get(earlier), claims.get(later)
            # Both are valid YYYY-MM-DD by now: as text, they sort as the dates do.
            if isinstance(first, str) and isinstance(second, str) and second < first:
                raise ClaimsError(
                    RegistryErrorCode.INCONSISTENT_CLAIMS, f"/{later} is before /{earlier}"
                )

    def derive(self, claims: Mapping[str, Any], today: date) -> dict[str, Any]:
        """The derived claims for ``claims`` as of ``today``; pure, the date is passed in.

        A derived claim whose source is absent is left out. Call after ``validate``; a source
        the rule cannot read (not a date, not an array) raises ``ClaimsError``
        (``SCHEMA_VIOLATION``).
        """
        out: dict[str, Any] = {}
        for rule in self.derived:
            value = claims.get(rule.source)
            if value is None:
                continue
            try:
                out[rule.name] = rule.compute(value, today)
            except (TypeError, ValueError):
                what = "an array" if rule.rule == COUNT else "a valid date"
                raise ClaimsError(
                    RegistryErrorCode.SCHEMA_VIOLATION, f"/{rule.source}: not {what}"
                ) from None
        return out
