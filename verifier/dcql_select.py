"""Choosing the fewest SD-JWT disclosures that answer a DCQL credential query.

OpenID for Verifiable Presentations 1.0 (final) §6.4 (selecting claims) and §7 (claims path
pointers) applied to an SD-JWT VC (RFC 9901; OpenID4VP §B.3), one code for the wallet API, the
holder client offline and the counter's check of an answer:

- §6.4: the wallet MUST NOT send selectively disclosable claims that were not selected.
- §6.4.1: no `claims`: only what is mandatory (no disclosure); `claims` without `claim_sets`:
  every claim; with `claim_sets`: the first option the credential satisfies, else nothing.
- §6.3/§6.4.1: a claim whose value matches none of `values` is treated as absent.
- §7.1.1: a path selects by name, by index, or every element (null); a name on a non-object,
  an index or null on a non-array, or an empty selection is an error (here: the claim is missing).
- §B.3.5: the credential's `vct` is one of `vct_values`.
- RFC 9901 §4.2.6, §7.1: a claim is revealed by the disclosures on the way to it (object members
  and array elements) and shown whole by every disclosure nested inside it; decoys reveal nothing.

Paths are applied to the credential as the holder holds it (every disclosure processed). An
index is the element's position in the array the counter sees: a selection that would move an
element (an undisclosed element before it) does not answer the query and is not made, rather
than disclose the element before it, which was not asked for.

The issuer JWT is read here without its signature: the wallet checked it when it stored the
credential, and the counter checks it before it trusts ``disclosure_paths``. Limits are those
of ``verifier.sd_jwt`` (MAX_DISCLOSURES, MAX_CLAIM_DEPTH), enforced before any walk here; every
walk visits each claim of the credential a bounded number of times (a path has at most 8 steps).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keys.errors import KeyManagementError
from keys.jws import decode_compact
from verifier import sd_jwt_vc as vc
from verifier.dcql import ClaimQuery, ClaimsPath, ClaimValue, CredentialQuery
from verifier.errors import ErrorCode, VerificationError, from_key_error
from verifier.sd_jwt import (
    ARRAY_ELEMENT_KEY,
    SD_ALG_KEY,
    SD_DIGESTS_KEY,
    Disclosure,
    SdJwt,
    decode_disclosures,
    digest,
    resolve_claims,
    split_compact,
)

__all__ = [
    "NotSatisfiable",
    "Selection",
    "disclosure_paths",
    "missing_claims",
    "path_requested",
    "select_for_query",
]


@dataclass(frozen=True, slots=True)
class Selection:
    """A credential cut down to what a query asks, and what the counter will see of it."""

    sd_jwt: SdJwt  # the issuer JWT and the chosen disclosures (in the credential's order)
    disclosed: tuple[ClaimsPath, ...]  # the claims the query matched, indices as the counter sees
    claims: dict[str, Any]  # the presentation processed: the certificate's claims, no format ones


class NotSatisfiable(Exception):  # noqa: N818 - the name the helpers share (design10.md)
    """The credential cannot answer the query: nothing is to be disclosed."""

    def __init__(self, missing: tuple[ClaimsPath, ...], detail: str) -> None:
        super().__init__(detail)
        self.missing = missing
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Claim:
    """One claim of a processed credential and the disclosure that reveals it, if any."""

    digest: str | None  # None: visible whenever its parent is
    value: Any  # the value itself for a scalar; unused for objects and arrays
    members: Mapping[str, _Claim] | None = None  # an object's
    elements: tuple[_Claim, ...] | None = None  # an array's, as processed (undisclosed left out)

    def digests_within(self) -> Iterator[str]:
        """Every disclosure inside this claim: what shows it whole."""
        for child in (*(self.members or {}).values(), *(self.elements or ())):
            if child.digest is not None:
                yield child.digest
            yield from child.digests_within()


def _tree(
    node: Any, disclosures: Mapping[str, Disclosure] | None, digest_: str | None = None
) -> _Claim:
    """The claims of ``node`` with the disclosures that reveal them.

    With ``disclosures``, ``node`` is an issuer payload (or part) that already passed
    ``resolve_claims``, whose bounds (depth, one use per digest) and checks this walk relies
    on; `_sd` and `...` are followed, unknown digests (decoys, the undisclosed) left out.
    Without, ``node`` is processed claims: plain JSON.
    """
    if type(node) is dict:
        members = {
            name: _tree(value, disclosures)
            for name, value in node.items()
            if disclosures is None or name != SD_DIGESTS_KEY
        }
        if disclosures is not None:
            for member_digest in node.get(SD_DIGESTS_KEY, ()):
                disclosure = disclosures.get(member_digest)
                if disclosure is not None and disclosure.name is not None:
                    members[disclosure.name] = _tree(disclosure.value, disclosures, member_digest)
        return _Claim(digest_, None, members=members)
    if type(node) is list:
        elements = []
        for element in node:
            if disclosures is not None and type(element) is dict and ARRAY_ELEMENT_KEY in element:
                element_digest = element[ARRAY_ELEMENT_KEY]
                disclosure = disclosures.get(element_digest)
                if disclosure is not None:
                    elements.append(_tree(disclosure.value, disclosures, element_digest))
            else:
                elements.append(_tree(element, disclosures))
        return _Claim(digest_, None, elements=tuple(elements))
    return _Claim(digest_, node)


def _payload_tree(payload: Mapping[str, Any], disclosures: Mapping[str, Disclosure]) -> _Claim:
    """RFC 9901 §7.1: `_sd_alg` is removed from the top level, and only there."""
    return _tree({k: v for k, v in payload.items() if k != SD_ALG_KEY}, disclosures)


# A selected claim: its concrete path and the claims from the root's member down to it.
_Pointed = tuple[ClaimsPath, tuple[_Claim, ...]]


def _point(
    root: _Claim, path: ClaimsPath, accept: Callable[[_Claim], bool] | None = None
) -> list[_Pointed]:
    """§7.1.1 processing; an error or an empty selection gives []. ``accept`` filters the
    last step's claims before their paths are built (a null over a long array)."""
    selected: list[_Pointed] = [((), ())]
    last = len(path) - 1
    for step, component in enumerate(path):
        keep = accept if step == last else None
        following: list[_Pointed] = []
        for concrete, chain in selected:
            node = chain[-1] if chain else root
            if isinstance(component, str):
                if node.members is None:
                    return []  # step 2.1: not an object
                child = node.members.get(component)
                if child is not None and (keep is None or keep(child)):
                    following.append(((*concrete, component), (*chain, child)))
                continue
            if node.elements is None:
                return []  # steps 2.2, 2.3: not an array
            if component is None:
                following.extend(
                    ((*concrete, index), (*chain, child))
                    for index, child in enumerate(node.elements)
                    if keep is None or keep(child)
                )
            elif component < len(node.elements):
                child = node.elements[component]
                if keep is None or keep(child):
                    following.append(((*concrete, component), (*chain, child)))
        selected = following
    return selected  # step 3: empty is an error, the caller's "missing"


class _Pointer:
    """Claim queries applied to one credential, each once: `claim_sets` options repeat them."""

    def __init__(self, root: _Claim) -> None:
        self.root = root
        self._found: dict[ClaimQuery, list[_Pointed]] = {}

    def matching(self, claim: ClaimQuery) -> list[_Pointed]:
        """The claims ``claim`` selects whose value is one of its `values` (§6.3), if any."""
        found = self._found.get(claim)
        if found is None:
            # §6.3: "the type and value ... match exactly": JSON `true` is not 1, nor 1.0 is 1.
            typed = None if claim.values is None else {(type(v), v) for v in claim.values}
            accept = None if typed is None else functools.partial(_value_in, typed=typed)
            found = self._found[claim] = _point(self.root, claim.path, accept)
        return found

    def missing(self, claims: Sequence[ClaimQuery]) -> tuple[ClaimsPath, ...]:
        return tuple(claim.path for claim in claims if not self.matching(claim))


def _value_in(claim: _Claim, typed: set[tuple[type, ClaimValue]]) -> bool:
    return (
        claim.members is None
        and claim.elements is None
        and (type(claim.value), claim.value) in typed
    )


def _options(query: CredentialQuery) -> list[tuple[ClaimQuery, ...]]:
    """§6.4.1: the combinations of claims that answer, in the counter's order of preference."""
    if query.claims is None:
        return [()]
    if query.claim_sets is None:
        return [query.claims]
    by_id = {claim.id: claim for claim in query.claims}
    return [tuple(by_id[claim_id] for claim_id in option) for option in query.claim_sets]


def _unverified_payload(sd_jwt: SdJwt) -> dict[str, Any]:
    """The issuer JWT's claims, read without its signature: the wallet checked it on receipt,
    the counter checks it before it trusts anything the selection says."""
    try:
        return decode_compact(sd_jwt.issuer_jwt, expected_typ=vc.CREDENTIAL_TYP).unverified_claims()
    except KeyManagementError as exc:
        raise from_key_error(exc) from exc


def select_for_query(credential: str, query: CredentialQuery) -> Selection:
    """The fewest disclosures of ``credential`` (as issued, no KB-JWT) that answer ``query``.

    Raises ``NotSatisfiable`` naming the paths the credential lacks (for `claim_sets`, those of
    the preferred option), and ``VerificationError`` for a credential that is no SD-JWT VC.
    """
    sd_jwt = split_compact(credential)
    if sd_jwt.kb_jwt is not None:
        raise VerificationError(ErrorCode.MALFORMED, "a credential, not a presentation, expected")
    unverified_payload = _unverified_payload(sd_jwt)
    every = decode_disclosures(sd_jwt.disclosures)
    resolve_claims(unverified_payload, every, not_disclosable=vc.NOT_SELECTIVELY_DISCLOSABLE)
    unverified_vct = unverified_payload.get(vc.VCT)
    if unverified_vct not in query.vct_values:  # §B.3.5: `vct_values`
        raise NotSatisfiable(((vc.VCT,),), f"vct {unverified_vct!r} is not asked for")

    held = _Pointer(_payload_tree(unverified_payload, every))
    first_missing: tuple[ClaimsPath, ...] | None = None
    for option in _options(query):
        chosen, missing = _choose(held, option)
        if not missing:
            presented = resolve_claims(
                unverified_payload,
                {d: every[d] for d in chosen},
                not_disclosable=vc.NOT_SELECTIVELY_DISCLOSABLE,
            )
            seen = _Pointer(_tree(presented, None))
            return Selection(
                sd_jwt=SdJwt(
                    sd_jwt.issuer_jwt,
                    tuple(d for d in sd_jwt.disclosures if digest(d) in chosen),
                    None,
                ),
                disclosed=tuple(
                    dict.fromkeys(
                        concrete for claim in option for concrete, _ in seen.matching(claim)
                    )
                ),
                claims={k: v for k, v in presented.items() if k not in vc.REGISTERED_CLAIMS},
            )
        if first_missing is None:
            first_missing = missing
    assert first_missing is not None  # noqa: S101 - _options returns at least one option
    raise NotSatisfiable(
        first_missing, f"the credential cannot show {[list(p) for p in first_missing]}"
    )


def _choose(
    held: _Pointer, option: Sequence[ClaimQuery]
) -> tuple[set[str], tuple[ClaimsPath, ...]]:
    """The disclosures that reveal every claim of ``option``, and the paths it cannot show:
    absent ones, and those whose index would move (an unasked element before it)."""
    matched = [(claim, held.matching(claim)) for claim in option]
    chosen = {
        claim_digest
        for _, selected in matched
        for _, chain in selected
        for claim_digest in _revealing(chain)
    }
    missing = tuple(
        claim.path
        for claim, selected in matched
        if not selected
        or any(_moved(held.root, claim.path, chain, chosen) for _, chain in selected)
    )
    return chosen, missing


def _moved(root: _Claim, path: ClaimsPath, chain: tuple[_Claim, ...], chosen: set[str]) -> bool:
    """Whether an index of ``path`` would point elsewhere in the presentation: an element
    before it stays undisclosed, and the counter's array closes up (RFC 9901 §7.1)."""
    for depth, component in enumerate(path):
        if type(component) is int:
            parent = chain[depth - 1] if depth else root
            if any(
                element.digest is not None and element.digest not in chosen
                for element in (parent.elements or ())[:component]
            ):
                return True
    return False


def _revealing(chain: tuple[_Claim, ...]) -> Iterator[str]:
    """RFC 9901 §7.1: the disclosures on the way to the last claim, then all inside it."""
    for claim in chain:
        if claim.digest is not None:
            yield claim.digest
    yield from chain[-1].digests_within()


def disclosure_paths(
    issuer_payload: Mapping[str, Any], disclosures: Sequence[Disclosure]
) -> dict[str, ClaimsPath]:
    """Digest -> the concrete path at which each disclosure sits in the processed presentation.

    ``issuer_payload`` is the issuer JWT's payload after its signature was checked. The
    disclosures are checked as RFC 9901 §7.1 requires (VerificationError otherwise).
    """
    by_digest = {disclosure.digest: disclosure for disclosure in disclosures}
    if len(by_digest) != len(disclosures):
        raise VerificationError(ErrorCode.DISCLOSURE_DUPLICATED, "a disclosure appears twice")
    resolve_claims(issuer_payload, by_digest, not_disclosable=vc.NOT_SELECTIVELY_DISCLOSABLE)
    paths: dict[str, ClaimsPath] = {}

    def visit(claim: _Claim, path: ClaimsPath) -> None:
        if claim.digest is not None:
            paths[claim.digest] = path
        for name, member in (claim.members or {}).items():
            visit(member, (*path, name))
        for index, element in enumerate(claim.elements or ()):
            visit(element, (*path, index))

    visit(_payload_tree(issuer_payload, by_digest), ())
    return paths


def _leads_to(concrete: ClaimsPath, pointer: ClaimsPath) -> bool:
    """Whether one path runs along the other as far as the shorter goes; null is any index."""
    return all(
        type(asked) is type(at) and asked == at if asked is not None else type(at) is int
        for asked, at in zip(pointer, concrete, strict=False)
    )


def path_requested(path: ClaimsPath, query: CredentialQuery) -> bool:
    """Whether a disclosure at concrete ``path`` is one the query's claims need: on the way to
    a claim it names, or inside one. `values` are not consulted (§6.4.1: best effort only)."""
    return any(_leads_to(path, claim.path) for claim in query.claims or ())


def missing_claims(claims: Mapping[str, Any], query: CredentialQuery) -> tuple[ClaimsPath, ...]:
    """The paths ``query`` needs that processed ``claims`` do not show (empty: satisfied).

    With `claim_sets`, satisfied by any option; otherwise the preferred option's missing paths.
    """
    shown = _Pointer(_tree(dict(claims), None))
    first_missing: tuple[ClaimsPath, ...] | None = None
    for option in _options(query):
        missing = shown.missing(option)
        if not missing:
            return ()
        first_missing = missing if first_missing is None else first_missing
    return first_missing or ()
