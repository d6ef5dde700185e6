"""Where our verifier spends its time.

``python -m bench --profile`` prints, for the ES256 presentation of the verification table:

- the cost of each step timed on its own, without a profiler (the microseconds to trust);
- cProfile over many verifications, plain text and envelope: the cumulative share of each
  step and the functions with the most time of their own. A profiler inflates Python-level
  work relative to C-level work (the signature checks), so read its shares, not its times.
"""

from __future__ import annotations

import cProfile
import pstats
from collections.abc import Sequence
from dataclasses import dataclass

from bench.report import Report
from bench.scenario import NOW, RESIDENT_REGISTER, Parties
from bench.timing import Case, measure
from keys.jwk import Algorithm, PublicKey, public_key_from_jwk
from keys.jws import decode_compact, verify_with
from verifier import decode_envelope, encode_envelope
from verifier import sd_jwt_vc as vc
from verifier.sd_jwt import decode_disclosures, resolve_claims, sd_hash, split_compact

# (module path suffix, function): the steps of Verifier._verify and what they lean on.
STEPS: tuple[tuple[str, str, str], ...] = (
    ("envelope: decode_envelope", "verifier/envelope.py", "decode_envelope"),
    ("(of which) base45 decode", "verifier/_base45.py", "b45decode"),
    ("split_compact", "verifier/sd_jwt.py", "split_compact"),
    ("issuer JWT: decode + signature", "verifier/verify.py", "_check_issuer_signature"),
    ("disclosures: decode", "verifier/sd_jwt.py", "decode_disclosures"),
    ("disclosures: resolve digests", "verifier/sd_jwt.py", "resolve_claims"),
    ("key binding: cnf key, KB-JWT, sd_hash", "verifier/verify.py", "_check_key_binding"),
    ("(of which) cnf JWK -> key", "keys/jwk.py", "public_key_from_jwk"),
    ("times (iat, exp, nbf)", "verifier/verify.py", "_check_times"),
    ("credential type and issuer", "verifier/verify.py", "_check_type"),
    ("status list", "verifier/verify.py", "_check_status"),
    ("schema of the disclosed claims", "verifier/verify.py", "_check_content"),
    ("signature checks (OpenSSL), both", "~", "<method 'verify' of"),
    ("strict base64url decode", "keys/encoding.py", "b64url_decode"),
    ("strict JSON parse", "keys/encoding.py", "json_loads"),
)
TOP_FUNCTIONS = 12


@dataclass(frozen=True, slots=True)
class Profile:
    label: str
    total_seconds: float
    steps: list[tuple[str, float]]  # (step, cumulative seconds)
    top: list[tuple[str, int, float]]  # (function, calls, own seconds)


def _function_name(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    short = "/".join(filename.split("/")[-2:])
    return f"{short}:{line}({name})"


def _profile(label: str, parties: Parties, text: str, runs: int) -> Profile:
    verifier = parties.verifier
    if not verifier.verify(text, now=NOW).valid:
        raise RuntimeError("the profiled presentation does not verify")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        verifier.verify(text, now=NOW)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(own for (_, _, own, _, _) in stats.values())
    steps = []
    for step, path, name in STEPS:
        cumulative = sum(
            entry[3]
            for (filename, _, function), entry in stats.items()
            if (function == name or (path == "~" and function.startswith(name)))
            and (path == "~" or filename.endswith(path))
        )
        steps.append((step, cumulative))
    by_own_time = sorted(stats.items(), key=lambda item: item[1][2], reverse=True)
    top = [(_function_name(key), entry[1], entry[2]) for key, entry in by_own_time[:TOP_FUNCTIONS]]
    return Profile(label, total, steps, top)


def _step_cases(parties: Parties, presentation: str) -> list[Case]:
    """The verifier's steps, each on its own, on inputs prepared outside the timed loop."""
    resident = parties.registry.get(RESIDENT_REGISTER)
    envelope = encode_envelope(presentation)
    sd_jwt = split_compact(presentation)
    assert sd_jwt.kb_jwt is not None
    kb_jwt = sd_jwt.kb_jwt
    issuer_jws = decode_compact(sd_jwt.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP)
    kb_jws = decode_compact(kb_jwt, expected_typ=vc.KB_JWT_TYP)
    payload = issuer_jws.unverified_claims()
    cnf_jwk = payload[vc.CNF][vc.JWK]
    issuer_key: PublicKey = parties.issuer_keys[Algorithm.ES256].public_key
    holder_key = public_key_from_jwk(cnf_jwk)
    disclosures = decode_disclosures(sd_jwt.disclosures)
    claims = {
        name: value
        for name, value in resolve_claims(payload, disclosures).items()
        if name not in vc.REGISTERED_CLAIMS
    }
    without_kb = sd_jwt.without_key_binding()

    def decode_jwts() -> object:
        decode_compact(sd_jwt.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP).unverified_claims()
        return decode_compact(kb_jwt, expected_typ=vc.KB_JWT_TYP).unverified_claims()

    def signatures() -> object:
        verify_with(issuer_jws, issuer_key)
        return verify_with(kb_jws, holder_key)

    return [
        Case(
            "whole Verifier.verify, plain", lambda: parties.verifier.verify(presentation, now=NOW)
        ),
        Case("decode_envelope (base45, inflate, re-encode)", lambda: decode_envelope(envelope)),
        Case("split_compact", lambda: split_compact(presentation)),
        Case("decode both JWTs + parse their JSON", decode_jwts),
        Case("both signatures (keys.jws.verify_with)", signatures),
        Case("cnf JWK -> PublicKey (point and thumbprint)", lambda: public_key_from_jwk(cnf_jwk)),
        Case("decode 3 disclosures + digests", lambda: decode_disclosures(sd_jwt.disclosures)),
        Case(
            "resolve digests into claims",
            lambda: resolve_claims(
                payload, disclosures, not_disclosable=vc.NOT_SELECTIVELY_DISCLOSABLE
            ),
        ),
        Case("sd_hash", lambda: sd_hash(without_kb)),
        Case("schema: validate_disclosed", lambda: resident.validate_disclosed(claims)),
    ]


def step_report(parties: Parties, *, repeats: int, target_seconds: float) -> Report:
    resident = parties.registry.get(RESIDENT_REGISTER)
    presentation = parties.present(resident, Algorithm.ES256)
    measurements = measure(
        _step_cases(parties, presentation), repeats=repeats, target_seconds=target_seconds
    )
    whole = measurements[0].median_us
    return Report(
        "Our verifier's steps, each timed on its own (ES256, no profiler)",
        ("step", "median µs/op", "share of a whole plain verify"),
        [(m.label, f"{m.median_us:,.1f}", f"{m.median_us / whole:.0%}") for m in measurements],
    )


def profile_reports(parties: Parties, *, runs: int) -> Sequence[Report]:
    resident = parties.registry.get(RESIDENT_REGISTER)
    presentation = parties.present(resident, Algorithm.ES256)
    reports = []
    for label, text in (
        ("plain SD-JWT", presentation),
        ("QR envelope", encode_envelope(presentation)),
    ):
        profile = _profile(label, parties, text, runs)
        reports.append(
            Report(
                f"Profile of Verifier.verify, {label} (cProfile, {runs:,} runs): steps",
                ("step", "share of time"),
                [
                    (step, f"{seconds / profile.total_seconds:.0%}")
                    for step, seconds in profile.steps
                    if seconds
                ],
            )
        )
        reports.append(
            Report(
                f"Profile of Verifier.verify, {label}: functions by own time",
                ("function", "calls per verify", "share of time"),
                [
                    (name, f"{calls / runs:g}", f"{own / profile.total_seconds:.1%}")
                    for name, calls, own in profile.top
                ],
            )
        )
    return reports
