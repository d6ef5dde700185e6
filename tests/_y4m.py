"""Videos for Chromium's fake camera: YUV4MPEG2 files made from still images, Pillow only.

Chromium plays a ``.y4m`` file as its camera when started with
``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m``, looping it
at the frame rate its header gives. Only 4:2:0 chroma is accepted, so width and height must be
even. The samples are written in limited ("studio") range, BT.601, which is how Chromium reads
them: white, mid-grey and black come back 255, 128 and 0 from a canvas drawn from the camera
(tests/test_browser_harness.py); a full-range file would lose the ends of the range.

``phone_frame`` composes what a counter's webcam sees of a phone held up to it: the QR image
(with its quiet zone) on a white screen, on a grey background, slightly blurred and noisy.
Read through Chromium's camera, a canvas, a JPEG and ``read_qr_image``, a version-25 code
(117 modules and a quiet zone of 4 each side) decodes from about 1.8 pixels a module at the
default blur (0.6), 2.4 at a blur of 1.0 and 4 at 1.5, whatever the JPEG quality (0.5 to 0.92,
or PNG); the default ``qr_height`` of 600 pixels gives it 4.8 pixels a module.

A file is written beside its target then renamed over it (atomic on POSIX): a capture that
has the old file open keeps reading the old video, and the next capture opens the new one.
"""

from __future__ import annotations

import io
import os
import random
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageChops, ImageFilter

__all__ = ["DEFAULT_SIZE", "phone_frame", "write_y4m"]

DEFAULT_SIZE = (1280, 720)  # what a counter's webcam typically delivers
_BACKGROUND = 110  # a desk, a hand: darker than the phone's screen
_SCREEN_MARGIN = 24  # white screen around the QR's own quiet zone, in frame pixels
# BT.601 limited range: luma 16-235, chroma 16-240 around 128.
_LUMA = [16 + round(v * 219 / 255) for v in range(256)]
_CHROMA = [128 + round((v - 128) * 224 / 255) for v in range(256)]


def phone_frame(
    qr: Image.Image | bytes,
    *,
    qr_height: int = 600,
    size: tuple[int, int] = DEFAULT_SIZE,
    blur: float = 0.6,
    noise: int = 6,
    seed: int = 0,
) -> Image.Image:
    """A greyscale ``size`` frame with ``qr`` (an image or PNG bytes, quiet zone included)
    scaled to ``qr_height`` pixels square on a white screen, centred on a grey background;
    then a Gaussian ``blur`` (radius, pixels) and uniform ``noise`` (+-levels, from ``seed``:
    the same arguments give the same frame)."""
    width, height = size
    if not 0 < qr_height <= height - 2 * _SCREEN_MARGIN:
        raise ValueError(f"qr_height {qr_height} does not fit a frame {height} pixels high")
    code = _open(qr).convert("L").resize((qr_height, qr_height), Image.Resampling.LANCZOS)
    frame = Image.new("L", size, _BACKGROUND)
    screen = qr_height + 2 * _SCREEN_MARGIN
    left, top = (width - screen) // 2, (height - screen) // 2
    frame.paste(255, (left, top, left + screen, top + screen))
    frame.paste(code, (left + _SCREEN_MARGIN, top + _SCREEN_MARGIN))
    if blur > 0:
        frame = frame.filter(ImageFilter.GaussianBlur(blur))
    if noise > 0:
        rng = random.Random(seed)  # noqa: S311 (camera grain, reproducible; not a secret)
        spread = 2 * noise + 1
        grain = Image.frombytes("L", size, rng.randbytes(width * height))
        grain = grain.point([128 - noise + v * spread // 256 for v in range(256)])
        frame = ImageChops.add(frame, grain, offset=-128)
    return frame


def write_y4m(
    path: Path, frames: Sequence[Image.Image | bytes], *, fps: int = 10, repeat: int = 1
) -> Path:
    """Write ``frames`` (images or PNG bytes, all of one even size), each ``repeat`` times, as
    a 4:2:0 YUV4MPEG2 file at ``fps`` frames a second; atomically replaces ``path``."""
    if not frames:
        raise ValueError("a video needs at least one frame")
    if fps < 1 or repeat < 1:
        raise ValueError("fps and repeat must be positive")
    images = [_open(frame) for frame in frames]
    width, height = images[0].size
    if any(image.size != (width, height) for image in images):
        raise ValueError("every frame of a video must have the same size")
    planes = [_i420(image) for image in images]
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as out:
        out.write(header)
        for _ in range(repeat):
            for frame_planes in planes:
                out.write(b"FRAME\n")
                out.write(frame_planes)
    os.replace(partial, path)
    return path


def _open(image: Image.Image | bytes) -> Image.Image:
    if isinstance(image, bytes):
        with Image.open(io.BytesIO(image)) as opened:
            opened.load()
            return opened.copy()
    return image


def _i420(image: Image.Image) -> bytes:
    """The Y, then U (Cb), then V (Cr) planes, chroma averaged over 2x2 blocks."""
    width, height = image.size
    if width % 2 or height % 2:
        raise ValueError(f"4:2:0 needs an even width and height, not {width}x{height}")
    y, cb, cr = image.convert("RGB").convert("YCbCr").split()
    half = (width // 2, height // 2)
    chroma = [c.resize(half, Image.Resampling.BOX).point(_CHROMA).tobytes() for c in (cb, cr)]
    return y.point(_LUMA).tobytes() + chroma[0] + chroma[1]
