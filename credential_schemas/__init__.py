"""The certificate registry: one data file per certificate type, loaded into an immutable registry.

    from credential_schemas import Registry
    registry = Registry.load()                        # the bundled types
    t = registry.get("resident_register_extract")     # latest version
    t = registry.by_vct("urn:jigap:resident-register-extract:1")   # or None
    t.validate(claims)                                # issuer, before signing
    claims |= t.derive(claims, today)                 # age_over_19, ...
    t.validate_disclosed(disclosed)                   # verifier, after disclosure

A type file, ``types/<id>/v<version>.json``, is checked against ``meta-schema.json`` and then
against the rules a schema cannot state. Its members:

``id``, ``version``
    The directory name and the number in the file name; both must agree with the file.
``vct``
    ``urn:jigap:<id with hyphens>:<version>`` by convention; it must end with the version.
``display``, ``claim_labels``
    Korean and English names of the type and of every claim path (``address_history``,
    ``address_history[].moved_in``) and derived claim.
``validity_days``
    Default validity of an issued credential, in whole days (an integer, not an ISO-8601
    duration: "P1Y" has no fixed length, a ``timedelta`` has).
``decoy_digests``
    Decoy digests per credential (usually 0: each one lengthens the QR code).
``always_disclosed``
    Top-level claims issued in the clear. Every other claim, derived ones included, is
    selectively disclosable, so forgetting to list a claim keeps it private.
``nested_disclosures`` (optional)
    Paths below the top level with a disclosure of their own: ``household_members[]`` (each
    element), ``household_members[].resident_registration_number`` (that member of each
    element), ``spouse.name``. Anything nested and not named is shown with its parent.
``typical_presentation`` (optional)
    Claims paths of the largest presentation counters typically ask; ``jigap schemas check``
    requires it to fit QR version 25-M (docs/registry.md).
``claims_schema``
    JSON Schema draft 2020-12 of the certificate's own claims (never iss, vct, cnf, ...), in a
    closed subset: no ``$ref``, ``additionalProperties: false`` on every object, every string
    and array bounded. Formats: ``date`` (``YYYY-MM-DD``) and ``kr-rrn`` (see ``rrn``).
    ``"unit": "KRW"`` on an integer: an amount in whole won.
``derived``
    Claims the issuer computes, e.g. ``{"name": "age_over_19", "rule": "age_at_least",
    "source": "birth_date", "years": 19}`` (a boolean) or ``{"name": "household_size",
    "rule": "count", "source": "household_members"}`` (an integer). Not accepted from the
    agency at issuance; accepted among disclosed claims.
``date_order`` (optional)
    Pairs of top-level date claims in a fixed order, e.g. ``{"earlier": "acquisition_date",
    "later": "loss_date"}``: when both are present the later is never before the earlier.
``examples``
    ``{"valid": [claims, ...], "invalid": [{"claims", "why", "code"}, ...]}``, run at load:
    a valid example must pass ``validate``, an invalid one must fail with its ``code``.

Two rules hold for every type, at every level of the claims: whenever
``resident_registration_number`` appears in one object (top level or nested, e.g. a family
member) with ``birth_date`` or ``sex``, they must agree with it; and no string holds a control,
line-separator or bidi override character.
"""

from __future__ import annotations

from credential_schemas.credential_type import CredentialType, Language
from credential_schemas.errors import (
    ClaimsError,
    RegistryErrorCode,
    SchemaRegistryError,
    TypeFileError,
    UnknownNameError,
)
from credential_schemas.registry import BUNDLED_TYPES_DIR, Registry
from credential_schemas.rrn import (
    birth_date_from_rrn,
    check_birth_date_matches_rrn,
    validate_rrn,
)

__all__ = [
    "BUNDLED_TYPES_DIR",
    "ClaimsError",
    "CredentialType",
    "Language",
    "Registry",
    "RegistryErrorCode",
    "SchemaRegistryError",
    "TypeFileError",
    "UnknownNameError",
    "birth_date_from_rrn",
    "check_birth_date_matches_rrn",
    "validate_rrn",
]
