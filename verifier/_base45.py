"""Base45 (RFC 9285), strict: one spelling per byte string, every other spelling refused.

Base45's 45 symbols are exactly the QR alphanumeric character set (ISO/IEC 18004), so
a base45 text is stored at 5.5 bits a character instead of the 8 of QR byte mode.
"""

from __future__ import annotations

from verifier.errors import ErrorCode, VerificationError

__all__ = ["BASE45_ALPHABET", "b45decode", "b45encode"]

BASE45_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_VALUES = {char: value for value, char in enumerate(BASE45_ALPHABET)}
_NOT_BASE45 = 0xFF
# Byte → its base45 value, or 0xFF for a byte outside the alphabet.
_TO_VALUE = bytes(_VALUES.get(chr(byte), _NOT_BASE45) for byte in range(256))


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
    """Decode base45, raising ``VerificationError(MALFORMED)`` on anything RFC 9285 forbids.

    Every step runs in C: the characters become their values by one ``translate``; the
    first, second and third characters of all triplets are laid out as three big integers,
    one value per 32-bit slot, so ``c + 45*d + 2025*e`` is computed for every triplet at once
    (no slot can carry into the next: 44 * 2026 < 2**32).
    """
    if len(text) % 3 == 1:
        # RFC 9285 §4: groups are of three characters, the last possibly of two, never one.
        raise VerificationError(ErrorCode.MALFORMED, "base45 length leaves a lone character")
    try:
        values = text.encode("ascii").translate(_TO_VALUE)
    except UnicodeEncodeError:
        values = b"\xff"
    if _NOT_BASE45 in values:
        # RFC 9285 §6: data with characters outside the alphabet MUST be rejected.
        bad = next(char for char in text if char not in _VALUES)
        raise VerificationError(ErrorCode.MALFORMED, f"character {bad!r} is not base45")
    triplets = len(values) // 3
    planes = []
    for position in range(3):
        slots = bytearray(4 * triplets)
        slots[0::4] = values[position : 3 * triplets : 3]
        planes.append(int.from_bytes(slots, "little"))
    words = (planes[0] + 45 * planes[1] + 2025 * planes[2]).to_bytes(4 * triplets, "little")
    if words[2::4].strip(b"\0"):
        # RFC 9285 §6: a triplet above 65535 MUST be rejected, not taken modulo 65536.
        raise VerificationError(ErrorCode.MALFORMED, "base45 triplet above 65535")
    out = bytearray(2 * triplets)
    out[0::2] = words[1::4]  # each triplet stands for a big-endian pair of bytes
    out[1::2] = words[0::4]
    if len(values) % 3:
        value = values[-2] + 45 * values[-1]
        if value > 0xFF:
            # The same rule for the final pair, which stands for a single byte.
            raise VerificationError(ErrorCode.MALFORMED, "base45 final pair above 255")
        out.append(value)
    return bytes(out)
