"""A camera frame or a photo, bounded, to the text of its one QR code.

Two kinds of image reach the app: frames the page grabs from the webcam several times a
second (small JPEGs, usually holding no QR code at all), and a photo or file the clerk
uploads. Each has its own bounds, checked on the bytes and on the size the image's header
declares before a pixel is decoded (``verifier.qr_image``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from verifier.envelope import is_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.qr_image import MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS, read_qr_texts
from verifier.request_envelope import is_request_envelope

__all__ = ["FrameError", "ImageKind", "Unread", "certificate_text"]


class ImageKind(StrEnum):
    CAMERA = "camera"
    PHOTO = "photo"


@dataclass(frozen=True, slots=True)
class Bounds:
    max_bytes: int
    max_pixels: int


# A 1920x1080 webcam frame as JPEG is a few hundred KB; a phone's photo a few MB.
BOUNDS = {
    ImageKind.CAMERA: Bounds(max_bytes=2 * 1024 * 1024, max_pixels=3840 * 2160),
    ImageKind.PHOTO: Bounds(max_bytes=MAX_IMAGE_BYTES, max_pixels=MAX_IMAGE_PIXELS),
}


class Unread(StrEnum):
    """Why an image gave no certificate to judge: the page keeps scanning, with a hint."""

    NO_QR = "no_qr"  # nothing readable in view: the usual camera frame
    SEVERAL_QR = "several_qr"  # which one the citizen meant is not ours to guess
    REQUEST_QR = "request_qr"  # a counter's request: the phone's answer is wanted, not this
    NOT_A_CERTIFICATE = "not_a_certificate"  # a QR code of another kind (a URL, a ticket...)
    NOT_AN_IMAGE = "not_an_image"  # not a PNG, JPEG, GIF, BMP or WebP we can decode
    TOO_LARGE = "too_large"  # over the bounds of its kind


class FrameError(Exception):
    def __init__(self, reason: Unread, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def certificate_text(data: bytes, kind: ImageKind) -> str:
    """The text of the one QR code in ``data`` if it looks like a presentation; else raises
    ``FrameError`` saying why there is nothing to judge."""
    bounds = BOUNDS[kind]
    try:
        texts = read_qr_texts(data, max_bytes=bounds.max_bytes, max_pixels=bounds.max_pixels)
    except VerificationError as exc:
        reason = Unread.TOO_LARGE if exc.code is ErrorCode.TOO_LARGE else Unread.NOT_AN_IMAGE
        raise FrameError(reason, exc.detail) from None
    if not texts:
        raise FrameError(Unread.NO_QR, "no QR code in the image")
    if len(texts) > 1:
        raise FrameError(Unread.SEVERAL_QR, f"{len(texts)} QR codes in the image")
    text = texts[0].strip()
    if is_request_envelope(text):
        raise FrameError(Unread.REQUEST_QR, "a request QR, not an answer")
    # Our envelope ("JG1:..."), or a plain SD-JWT, which always holds a '~' (RFC 9901 §4).
    if not (is_envelope(text) or "~" in text):
        raise FrameError(Unread.NOT_A_CERTIFICATE, f"a QR code of {len(text)} characters")
    return text
