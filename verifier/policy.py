"""What a verifier accepts. Every default fails closed."""

from __future__ import annotations

from dataclasses import dataclass, field

from keys.jwk import Algorithm

DEFAULT_ALGORITHMS = frozenset({Algorithm.ES256, Algorithm.EDDSA})


@dataclass(frozen=True, slots=True)
class Policy:
    """A counter's rules for accepting a presentation.

    Times are in seconds. ``accepted_credential_types`` and ``required_claims`` are empty for
    "any"; types may be named by registry id or by `vct`.
    """

    algorithms: frozenset[Algorithm] = DEFAULT_ALGORITHMS
    expected_audience: str | None = None
    expected_nonce: str | None = None
    max_presentation_age: int = 300
    clock_skew: int = 30
    accepted_credential_types: frozenset[str] = field(default_factory=frozenset)
    required_claims: frozenset[str] = field(default_factory=frozenset)
    max_status_age: int = 24 * 3600
    require_holder_binding: bool = True
    require_status: bool = True
    # Issuers registered by hand (TrustStore.add_issuer) only: an issuer from the signed
    # trust list always names its key and dates its credentials (docs/verifier.md).
    require_kid: bool = True
    require_exp: bool = True
    require_iat: bool = True

    def __post_init__(self) -> None:
        if not self.algorithms or not self.algorithms <= DEFAULT_ALGORITHMS:
            raise ValueError(
                f"algorithms must be a non-empty subset of {sorted(DEFAULT_ALGORITHMS)}"
            )
        for name in ("max_presentation_age", "clock_skew", "max_status_age"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
