"""STAND-IN for helper "select"'s module (design10.md): replaced by main's on merge.

Only what the verifier needs: where each disclosure sits, whether a path was asked, what is
missing. Claims paths as OpenID4VP 1.0 §7; no claim_sets, no values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from verifier.dcql import ClaimsPath, CredentialQuery
from verifier.sd_jwt import ARRAY_ELEMENT_KEY, SD_DIGESTS_KEY, Disclosure


def disclosure_paths(
    issuer_payload: Mapping[str, Any], disclosures: Sequence[Disclosure]
) -> dict[str, ClaimsPath]:
    by_digest = {d.digest: d for d in disclosures}
    found: dict[str, ClaimsPath] = {}

    def walk(node: Any, path: ClaimsPath) -> None:
        if isinstance(node, dict):
            for digest in node.get(SD_DIGESTS_KEY, ()):
                disclosure = by_digest.get(digest)
                if disclosure is not None and disclosure.name is not None:
                    found[digest] = (*path, disclosure.name)
                    walk(disclosure.value, (*path, disclosure.name))
            for name, value in node.items():
                if name != SD_DIGESTS_KEY:
                    walk(value, (*path, name))
        elif isinstance(node, list):
            for index, element in enumerate(node):
                if isinstance(element, dict) and set(element) == {ARRAY_ELEMENT_KEY}:
                    disclosure = by_digest.get(element[ARRAY_ELEMENT_KEY])
                    if disclosure is not None:
                        found[element[ARRAY_ELEMENT_KEY]] = (*path, index)
                        walk(disclosure.value, (*path, index))
                else:
                    walk(element, (*path, index))

    walk(issuer_payload, ())
    return found


def _matches(concrete: ClaimsPath, pattern: ClaimsPath) -> bool:
    return all(
        asked == got or (asked is None and isinstance(got, int))
        for asked, got in zip(pattern, concrete, strict=False)
    )


def path_requested(path: ClaimsPath, query: CredentialQuery) -> bool:
    return any(_matches(path, claim.path) for claim in query.claims or ())


def missing_claims(claims: Mapping[str, Any], query: CredentialQuery) -> tuple[ClaimsPath, ...]:
    missing = []
    for claim in query.claims or ():
        node: Any = claims
        for element in claim.path:
            named = isinstance(element, str) and isinstance(node, dict) and element in node
            indexed = isinstance(element, int) and isinstance(node, list) and element < len(node)
            if named or indexed:
                node = node[element]
            elif element is None and isinstance(node, list) and node:
                node = node[0]
            else:
                missing.append(claim.path)
                break
    return tuple(missing)
