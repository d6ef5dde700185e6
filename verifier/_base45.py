"""Base45 (RFC 9285), strict: one spelling per byte string, every other spelling refused.

Base45's 45 symbols are exactly the QR alphanumeric character set (ISO/IEC 18004), so
a base45 text is stored at 5.5 bits a character instead of the 8 of QR byte mode.
"""

from __future__ import annotations

from verifier.errors import ErrorCode, VerificationError

__all__ = ["BASE45_ALPHABET", "b45decode", "b45encode"]

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {char: value for value, char in enumerate(BASE45_ALPHABET)}


def b45encode(data: bytes) -> str:
    """Encode bytes as base45 (RFC 9285 §4): two bytes to three characters, least significant
    character first; an odd last byte to two characters."""
    chars: list[str] = []
    for start in range(0, len(data) - 1, 2):
        value = data[start] << 8 | data[start + 1]
        value, c = divmod(value, 45)
        e, d = divmod(value, 45)
        chars += (BASE45_ALPHABET[c], BASE45_ALPHABET[d], BASE45_ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        chars += (BASE45_ALPHABET[c], BASE45_ALPHABET[d])
    return "".join(chars)


def b45decode(text: str) -> bytes:
    """Decode base45, raising ``VerificationError(MALFORMED)`` on anything RFC 9285 forbids."""
    if len(text) % 3 == 1:
        # RFC 9285 §4: groups are of three characters, the last possibly of two, never one.
        raise VerificationError(ErrorCode.MALFORMED, "base45 length leaves a lone character")
    try:
        values = [_VALUES[char] for char in text]
    except KeyError as exc:
        # RFC 9285 §6: data with characters outside the alphabet MUST be rejected.
        raise VerificationError(
            ErrorCode.MALFORMED, f"character {exc.args[0]!r} is not base45"
        ) from None
    out = bytearray()
    full = len(values) - len(values) % 3
    for start in range(0, full, 3):
        value = values[start] + 45 * values[start + 1] + 2025 * values[start + 2]
        if value > 0xFFFF:
            # RFC 9285 §6: a triplet above 65535 MUST be rejected, not taken modulo 65536.
            raise VerificationError(ErrorCode.MALFORMED, "base45 triplet above 65535")
        out += value.to_bytes(2, "big")
    if full != len(values):
        value = values[full] + 45 * values[full + 1]
        if value > 0xFF:
            # The same rule for the final pair, which stands for a single byte.
            raise VerificationError(ErrorCode.MALFORMED, "base45 final pair above 255")
        out.append(value)
    return bytes(out)
