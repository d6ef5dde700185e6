"""The verifier never raises on outside input, and accepts only the genuine article."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests._world import NOW, World
from verifier import VerificationError, decode_envelope, encode_envelope

WORLD = World()
VERIFIER = WORLD.verifier()
PRESENTATION = WORLD.present()
ENVELOPE = encode_envelope(PRESENTATION)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.text(max_size=2000))
def test_arbitrary_text_is_refused_without_raising(text: str) -> None:
    result = VERIFIER.verify(text, now=NOW)
    assert not result.valid
    assert result.error is not None


@_SETTINGS
@given(st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:", max_size=3000))
def test_arbitrary_envelope_shaped_text_is_refused_without_raising(body: str) -> None:
    result = VERIFIER.verify("JG1:" + body, now=NOW)
    assert not result.valid


def _mutate(text: str, data: st.DataObject, alphabet: str) -> str:
    edits = data.draw(st.integers(min_value=1, max_value=4))
    chars = list(text)
    for _ in range(edits):
        position = data.draw(st.integers(min_value=0, max_value=len(chars) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        if kind == "delete" and len(chars) > 1:
            del chars[position]
        else:
            char = data.draw(st.sampled_from(alphabet))
            if kind == "insert":
                chars.insert(position, char)
            else:
                chars[position] = char
    return "".join(chars)


@_SETTINGS
@given(st.data())
def test_a_mutated_presentation_is_never_accepted(data: st.DataObject) -> None:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~= "
    mutated = _mutate(PRESENTATION, data, alphabet)
    result = VERIFIER.verify(mutated, now=NOW)
    # Surrounding white space is the one change a scanner may make that means nothing.
    assert not result.valid or mutated.strip() == PRESENTATION


@_SETTINGS
@given(st.data())
def test_a_mutated_envelope_is_never_accepted_unless_it_decodes_to_the_original(
    data: st.DataObject,
) -> None:
    mutated = _mutate(ENVELOPE, data, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    result = VERIFIER.verify(mutated, now=NOW)
    if result.valid:
        # DEFLATE ignores the padding bits after its last block, so a few envelopes share one
        # presentation; what the counter accepts is still exactly the original.
        assert decode_envelope(mutated.strip()) == PRESENTATION


def test_the_unmutated_inputs_are_valid() -> None:
    assert VERIFIER.verify(PRESENTATION, now=NOW).valid
    assert VERIFIER.verify(ENVELOPE, now=NOW).valid
    assert VERIFIER.verify(f"  {ENVELOPE}\n", now=NOW).valid


def test_decode_envelope_raises_only_verification_errors() -> None:
    try:
        decode_envelope("JG1:" + "Z" * 10)
    except VerificationError as exc:
        assert exc.code
