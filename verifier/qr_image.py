"""QR images of envelopes: render them (PNG, SVG) and read them back from a photo or a file.

The plain install of the verifier reads QR text from a scanner and has none of qrcode, Pillow
or zxing-cpp, so every import of them happens inside the function that needs it; without
them these functions raise ``ModuleNotFoundError`` naming the ``image`` extra to install.

Envelope text uses only the QR alphanumeric character set (ISO/IEC 18004), and is put
in one alphanumeric segment: 5.5 bits a character where byte mode would spend 8. Any other
text (a plain SD-JWT) goes in one byte segment.
"""

from __future__ import annotations

import io
import os
import re
from typing import Any

from verifier.errors import ErrorCode, VerificationError

__all__ = [
    "MAX_IMAGE_BYTES",
    "MAX_IMAGE_PIXELS",
    "qr_version",
    "read_qr_image",
    "read_qr_texts",
    "render_png",
    "render_svg",
]

# A counter photo or a screenshot is a few MB; these bounds are checked before decoding, on the
# file's size and on the dimensions its header declares.
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_IMAGE_PIXELS = 40_000_000

_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]*")
_ERROR_CORRECTION_LEVELS = ("L", "M", "Q", "H")  # ISO/IEC 18004: ~7, 15, 25, 30 % recoverable
# Decoders Pillow may use on an untrusted file: the formats a phone or a scanner produces.
_IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
_EXTRA = "install the 'image' extra: pip install 'jigap[image]'"


def qr_version(text: str, error_correction: str = "M") -> int:
    """The smallest QR version (1-40) that holds ``text`` at ``error_correction`` (L/M/Q/H)."""
    return int(_make_qr(text, error_correction).version)


def render_png(text: str, *, box_size: int = 4, border: int = 4) -> bytes:
    """A PNG of ``text`` at error correction M; ``border`` is the quiet zone, in modules."""
    try:
        from qrcode.image.pil import PilImage
    except ImportError as exc:
        raise ModuleNotFoundError(f"render_png needs qrcode and Pillow; {_EXTRA}") from exc
    qr = _make_qr(text, "M", box_size=box_size, border=border)
    out = io.BytesIO()
    qr.make_image(image_factory=PilImage).save(out, format="PNG")
    return out.getvalue()


def render_svg(text: str) -> str:
    """An SVG document of ``text`` at error correction M: one ``<path>``, scalable."""
    try:
        from qrcode.image.svg import SvgPathImage
    except ImportError as exc:
        raise ModuleNotFoundError(f"render_svg needs qrcode; {_EXTRA}") from exc
    image = _make_qr(text, "M").make_image(image_factory=SvgPathImage)
    out = io.BytesIO()
    image.save(out)
    return out.getvalue().decode("utf-8")


def read_qr_image(
    source: str | os.PathLike[str] | bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> str:
    """The text of the one QR code in an image file (a path, or the file's bytes).

    Raises ``VerificationError``: TOO_LARGE for a file or an image over the bounds, checked
    before any pixel is decoded; MALFORMED for an unreadable image, no QR code, or several.
    Raises ``OSError`` (e.g. ``FileNotFoundError``) for a path that cannot be opened or read:
    a missing file is the caller's mistake, not a malformed certificate.
    """
    texts = read_qr_texts(source, max_bytes=max_bytes, max_pixels=max_pixels)
    if not texts:
        raise VerificationError(ErrorCode.MALFORMED, "no QR code found in the image")
    if len(texts) > 1:
        # Which of two codes the citizen meant is not ours to guess.
        raise VerificationError(ErrorCode.MALFORMED, f"{len(texts)} QR codes in the image")
    return texts[0]


def read_qr_texts(
    source: str | os.PathLike[str] | bytes,
    *,
    max_bytes: int = MAX_IMAGE_BYTES,
    max_pixels: int = MAX_IMAGE_PIXELS,
) -> list[str]:
    """The text of every QR code in an image, none found being no error (a camera frame).

    Raises as ``read_qr_image`` does for an image over the bounds or unreadable.
    """
    data = source if isinstance(source, bytes) else _read_file(source, max_bytes)
    if len(data) > max_bytes:
        raise VerificationError(ErrorCode.TOO_LARGE, f"image file over {max_bytes} bytes")
    try:
        import zxingcpp
        from PIL import Image
    except ImportError as exc:
        raise ModuleNotFoundError(f"read_qr_image needs zxing-cpp and Pillow; {_EXTRA}") from exc

    try:
        with Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS) as image:
            # Image.open reads the header only: the size is known before any pixel is decoded.
            width, height = image.size
            if width * height > max_pixels:
                raise VerificationError(
                    ErrorCode.TOO_LARGE, f"image of {width}x{height} pixels, over the limit"
                )
            # A JPEG (a camera's frame) decodes its luminance only: what the reader uses, in a
            # third of the time of decoding colour and converting it. Other formats ignore it.
            image.draft("L", image.size)
            grey = image.convert("L")
    except VerificationError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise VerificationError(ErrorCode.TOO_LARGE, f"image refused by Pillow: {exc}") from None
    except Exception as exc:
        # Pillow's decoders signal a corrupt file with OSError, ValueError, SyntaxError,
        # EOFError, struct.error, zlib.error...: all of them mean the same to us.
        raise VerificationError(
            ErrorCode.MALFORMED, f"unreadable image: {type(exc).__name__}"
        ) from None
    barcodes = zxingcpp.read_barcodes(
        grey,
        formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode),
        text_mode=zxingcpp.TextMode.Plain,
    )
    return [barcode.text for barcode in barcodes]


def _read_file(path: str | os.PathLike[str], max_bytes: int) -> bytes:
    # An OSError (a missing or unreadable file) goes to the caller as it is: the caller named
    # no certificate, so this is not a verdict on one.
    with open(path, "rb") as file:
        # One byte more than allowed tells an oversized file without reading all of it.
        return file.read(max_bytes + 1)


def _make_qr(text: str, error_correction: str, *, box_size: int = 4, border: int = 4) -> Any:
    try:
        import qrcode
        from qrcode.exceptions import DataOverflowError
        from qrcode.util import MODE_8BIT_BYTE, MODE_ALPHA_NUM, QRData
    except ImportError as exc:
        raise ModuleNotFoundError(f"QR rendering needs qrcode; {_EXTRA}") from exc
    if error_correction not in _ERROR_CORRECTION_LEVELS:
        raise ValueError(f"error correction {error_correction!r} is not one of L, M, Q, H")
    level = getattr(qrcode.constants, f"ERROR_CORRECT_{error_correction}")
    alphanumeric = _ALPHANUMERIC.fullmatch(text) is not None
    mode = MODE_ALPHA_NUM if alphanumeric else MODE_8BIT_BYTE
    qr = qrcode.QRCode(error_correction=level, box_size=box_size, border=border)
    # One segment of a fixed mode: qrcode's default optimiser would split digit runs out.
    qr.add_data(QRData(text.encode("utf-8"), mode=mode))
    try:
        qr.make(fit=True)
    except (DataOverflowError, ValueError):
        # qrcode 8 reports text beyond version 40 either way ("Invalid version (was 41...)").
        raise VerificationError(
            ErrorCode.TOO_LARGE, f"{len(text)} characters do not fit in a QR code"
        ) from None
    return qr
