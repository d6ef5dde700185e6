"""Ed25519 point checks that OpenSSL does not make when a public key is loaded.

RFC 8032 §5.1.3 decoding, then [8]P: a key whose multiple by the cofactor is the identity has
small order and lets one signature verify for many messages, so it is refused.
"""

from __future__ import annotations

_P = 2**255 - 19
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_MINUS_ONE = pow(2, (_P - 1) // 4, _P)


def _decode_point(encoded: bytes) -> tuple[int, int] | None:
    """RFC 8032 §5.1.3; None for a non-canonical or off-curve encoding."""
    if len(encoded) != 32:
        return None
    y = int.from_bytes(encoded, "little")
    x_sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # One exponentiation gives the candidate root of u/v (RFC 8032 §5.1.3 step 2).
    v3 = v * v * v % _P
    x = u * v3 * pow(u * v3 * v3 * v, (_P - 5) // 8, _P) % _P
    vxx = v * x * x % _P
    if vxx == (-u) % _P:
        x = x * _SQRT_MINUS_ONE % _P
    elif vxx != u:
        return None
    if x == 0 and x_sign:
        return None
    if x & 1 != x_sign:
        x = _P - x
    return x, y


def is_acceptable_public_key(encoded: bytes) -> bool:
    """True for a canonical encoding of a point on the curve that is not of small order."""
    point = _decode_point(encoded)
    if point is None:
        return False
    # [8]P by three doublings in projective coordinates (dbl-2008-hwcd, a = -1): no inversions.
    x, y, z = point[0], point[1], 1
    for _ in range(3):
        b = (x + y) * (x + y) % _P
        c = x * x % _P
        d = y * y % _P
        f = (d - c) % _P
        j = (f - 2 * z * z) % _P
        x, y, z = (b - c - d) * j % _P, f * (-c - d) % _P, f * j % _P
    return not (x == 0 and y == z)
