"""QR images: what is rendered reads back identically; what is read is bounded first."""

from __future__ import annotations

import io
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("qrcode")
pytest.importorskip("zxingcpp")
pytest.importorskip("PIL")

from PIL import Image

from tests._envelope_fixtures import resident_register_presentation
from verifier import Policy, TrustStore, Verifier, qr_image
from verifier.envelope import encode_envelope
from verifier.errors import ErrorCode, VerificationError
from verifier.qr_image import (
    MAX_IMAGE_BYTES,
    qr_version,
    read_qr_image,
    render_png,
    render_svg,
)

PRESENTATION = resident_register_presentation()
ENVELOPE = encode_envelope(PRESENTATION)
SVG = "{http://www.w3.org/2000/svg}"


def png_of(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_public_api_is_curated() -> None:
    assert sorted(qr_image.__all__) == [
        "MAX_IMAGE_BYTES",
        "MAX_IMAGE_PIXELS",
        "qr_version",
        "read_qr_image",
        "read_qr_texts",
        "render_png",
        "render_svg",
    ]


@pytest.mark.parametrize("text", [ENVELOPE, PRESENTATION], ids=["envelope", "plain-sd-jwt"])
def test_png_reads_back_identically(text: str, tmp_path: Path) -> None:
    png = render_png(text)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert read_qr_image(png) == text
    path = tmp_path / "qr.png"
    path.write_bytes(png)
    assert read_qr_image(path) == text
    assert read_qr_image(str(path)) == text


def test_png_geometry_follows_version_and_box_size() -> None:
    version = qr_version(ENVELOPE)
    modules = 17 + 4 * version  # a version-V symbol is 17 + 4V modules wide
    with Image.open(io.BytesIO(render_png(ENVELOPE, box_size=2, border=4))) as image:
        assert image.size == ((modules + 8) * 2,) * 2


def test_photo_like_image_reads_back() -> None:
    # Scaled, rotated and on a grey background: closer to a counter camera than a clean render.
    with Image.open(io.BytesIO(render_png(ENVELOPE, box_size=3))) as rendered:
        code = rendered.convert("L").rotate(7, expand=True, fillcolor=255)
        canvas = Image.new("L", (code.width + 200, code.height + 120), 200)
        canvas.paste(code, (90, 40))
    assert read_qr_image(png_of(canvas)) == ENVELOPE


def test_svg_is_one_path_in_well_formed_xml() -> None:
    svg = render_svg(ENVELOPE)
    root = ET.fromstring(svg.encode())  # noqa: S314 - our own output, not untrusted XML
    assert root.tag == f"{SVG}svg"
    paths = root.findall(f".//{SVG}path") + root.findall(".//path")
    assert len(paths) == 1
    assert paths[0].get("d", "").count("M") > 100


def test_version_depends_on_error_correction() -> None:
    assert qr_version("JG1:ABC") == 1
    assert qr_version(ENVELOPE, "L") < qr_version(ENVELOPE, "M") < qr_version(ENVELOPE, "H")
    with pytest.raises(ValueError, match="error correction"):
        qr_version(ENVELOPE, "X")


def test_too_long_for_any_qr_code() -> None:
    with pytest.raises(VerificationError) as refused:
        qr_version("A" * 4297)  # QR version 40-L holds 4296 alphanumeric characters
    assert refused.value.code is ErrorCode.TOO_LARGE
    assert qr_version("A" * 4296, "L") == 40


def blank_png() -> bytes:
    return png_of(Image.new("L", (400, 400), 255))


def two_codes_png() -> bytes:
    with (
        Image.open(io.BytesIO(render_png("JG1:ONE"))) as one,
        Image.open(io.BytesIO(render_png("JG1:TWO"))) as two,
    ):
        canvas = Image.new("L", (one.width + two.width, max(one.height, two.height)), 255)
        canvas.paste(one.convert("L"), (0, 0))
        canvas.paste(two.convert("L"), (one.width, 0))
    return png_of(canvas)


def oversized_png() -> bytes:
    # 42 megapixels of one colour: a tiny file whose header alone must get it refused.
    return png_of(Image.new("1", (7000, 6000), 1))


REFUSED = {
    "no-qr-code": (blank_png, ErrorCode.MALFORMED),
    "two-qr-codes": (two_codes_png, ErrorCode.MALFORMED),
    "not-an-image": (lambda: b"JG1:this is text, not a picture", ErrorCode.MALFORMED),
    "truncated-png": (lambda: render_png(ENVELOPE)[:200], ErrorCode.MALFORMED),
    "empty": (lambda: b"", ErrorCode.MALFORMED),
    "svg-not-decoded": (lambda: render_svg("JG1:X").encode(), ErrorCode.MALFORMED),
    "file-over-20-mb": (lambda: b"\x89PNG" + bytes(MAX_IMAGE_BYTES), ErrorCode.TOO_LARGE),
    "over-40-megapixels": (oversized_png, ErrorCode.TOO_LARGE),
}


@pytest.mark.parametrize(("build", "code"), REFUSED.values(), ids=REFUSED.keys())
def test_refused(build: Callable[[], bytes], code: ErrorCode) -> None:
    with pytest.raises(VerificationError) as refused:
        read_qr_image(build())
    assert refused.value.code is code


def test_oversized_file_is_not_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(render_png(ENVELOPE) + bytes(1000))
    with pytest.raises(VerificationError) as refused:
        read_qr_image(path, max_bytes=1000)
    assert refused.value.code is ErrorCode.TOO_LARGE


def test_pixel_bound_is_checked_before_decoding() -> None:
    with pytest.raises(VerificationError) as refused:
        read_qr_image(render_png(ENVELOPE), max_pixels=100 * 100)
    assert refused.value.code is ErrorCode.TOO_LARGE


def test_a_missing_file_is_the_callers_error_not_a_malformed_certificate(tmp_path: Path) -> None:
    """No certificate was read, so there is no verdict: the OSError reaches the caller."""
    with pytest.raises(FileNotFoundError):
        read_qr_image(tmp_path / "absent.png")
    with pytest.raises(IsADirectoryError):
        read_qr_image(tmp_path)
    verifier = Verifier(TrustStore(), Policy())
    with pytest.raises(FileNotFoundError):
        verifier.verify_image(tmp_path / "absent.png")


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000) | st.binary(max_size=300).map(lambda b: blank_png()[:60] + b))
def test_arbitrary_bytes_are_read_or_refused(data: bytes) -> None:
    try:
        read_qr_image(data)
    except VerificationError as exc:
        assert exc.code in (ErrorCode.MALFORMED, ErrorCode.TOO_LARGE)


NEEDS = {
    "read-needs-zxingcpp": ("zxingcpp", lambda: read_qr_image(b"x")),
    "read-needs-pillow": ("PIL", lambda: read_qr_image(b"x")),
    "version-needs-qrcode": ("qrcode", lambda: qr_version("A")),
    "png-needs-qrcode": ("qrcode", lambda: render_png("A")),
    "svg-needs-qrcode": ("qrcode", lambda: render_svg("A")),
}


@pytest.mark.parametrize(("module", "call"), NEEDS.values(), ids=NEEDS.keys())
def test_missing_library_names_the_extra(
    module: str, call: Callable[[], object], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == module or m.startswith(module + ".")]:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` now fails
    monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ModuleNotFoundError, match=r"jigap\[image\]"):
        call()


def test_importing_the_module_loads_no_image_library() -> None:
    # The plain install of the verifier has none of them: they load inside the functions.
    code = (
        "import sys, verifier.qr_image, verifier.envelope;"
        "loaded = {'qrcode', 'PIL', 'zxingcpp'} & set(sys.modules);"
        "sys.exit(str(sorted(loaded)) if loaded else 0)"
    )
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_code_in_an_image_is_read_and_none_is_no_error() -> None:
    from PIL import Image

    first = Image.open(io.BytesIO(render_png("FIRST CODE")))
    second = Image.open(io.BytesIO(render_png("SECOND CODE")))
    both = Image.new("L", (first.width + second.width + 40, max(first.height, second.height)), 255)
    both.paste(first, (0, 0))
    both.paste(second, (first.width + 40, 0))
    out = io.BytesIO()
    both.save(out, format="PNG")
    assert sorted(qr_image.read_qr_texts(out.getvalue())) == ["FIRST CODE", "SECOND CODE"]
    blank = io.BytesIO()
    Image.new("L", (200, 200), 255).save(blank, format="PNG")
    assert qr_image.read_qr_texts(blank.getvalue()) == []
