"""One decoder for features and thumbnails (alor_core.data.images.open_image): EXIF orientation,
transparency flattened onto the documented background, 16-bit scaled, other modes converted."""

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from alor_core.data import load_image
from alor_core.data.images import BACKGROUND, ImageProblem, image_problem, open_image
from alor_core.errors import DataError


def _rgba_cutout(path):
    """A 6x4 cut-out: opaque red left half, fully transparent right half (with junk colours under
    alpha 0, as tools leave them), one half-transparent blue pixel."""
    a = np.zeros((4, 6, 4), np.uint8)
    a[:, :3] = (220, 10, 10, 255)
    a[:, 3:] = (0, 0, 0, 0)
    a[0, 5] = (17, 200, 90, 0)  # a random colour under full transparency
    a[3, 3] = (0, 0, 255, 128)
    Image.fromarray(a, "RGBA").save(path)


def test_rgba_cutout_is_flattened_onto_the_background(tmp_path):
    # Opaque pixels keep their colour, transparent ones become BACKGROUND whatever RGB is under them,
    # half-transparent ones are mixed half and half.
    _rgba_cutout(tmp_path / "cut.png")
    arr = np.asarray(open_image(tmp_path / "cut.png"))
    assert BACKGROUND == (255, 255, 255)
    assert arr.shape == (4, 6, 3)
    assert (arr[:, :3] == (220, 10, 10)).all()
    assert tuple(arr[0, 5]) == BACKGROUND and tuple(arr[1, 4]) == BACKGROUND
    assert tuple(arr[3, 3]) == (127, 127, 255)


def test_grey_alpha_and_palette_transparency_are_flattened(tmp_path):
    # LA (grey + alpha) and a palette image with a transparent index use the same background.
    la = np.dstack([np.full((3, 3), 40, np.uint8), np.full((3, 3), 255, np.uint8)])
    la[1, 1, 1] = 0
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    out = np.asarray(open_image(tmp_path / "la.png"))
    assert tuple(out[0, 0]) == (40, 40, 40) and tuple(out[1, 1]) == BACKGROUND

    pal = Image.new("P", (4, 2), 0)
    pal.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)  # index 0: black (transparent), 1: green
    pal.putpixel((2, 1), 1)
    pal.save(tmp_path / "pal.png", transparency=0)
    assert Image.open(tmp_path / "pal.png").mode == "P"
    out = np.asarray(open_image(tmp_path / "pal.png"))
    assert tuple(out[0, 0]) == BACKGROUND  # not black: the transparent index is not its palette colour
    assert tuple(out[1, 2]) == (0, 128, 0)


def test_exif_rotated_jpeg_is_upright(tmp_path):
    # A 40x20 photo stored sideways with EXIF Orientation 6 (rotate 90° clockwise) opens as 20x40,
    # with the left (red) half of the stored image at the top.
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:, :20] = (255, 0, 0)
    stored[:, 20:] = (0, 0, 255)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    assert Image.open(tmp_path / "phone.jpg").size == (40, 20)
    out = open_image(tmp_path / "phone.jpg")
    assert out.size == (20, 40)
    arr = np.asarray(out).astype(int)
    assert arr[2, 10, 0] > 200 and arr[2, 10, 2] < 60  # top: red
    assert arr[37, 10, 2] > 200 and arr[37, 10, 0] < 60  # bottom: blue


def test_16bit_png_is_scaled_by_its_bit_depth(tmp_path):
    # 16-bit grey: 65535 -> 255, 32768 -> 128, 1000 -> 4; not stretched to the image maximum, not clipped.
    Image.fromarray(np.array([[0, 65535], [32768, 1000]], np.uint16)).save(tmp_path / "a.png")
    Image.fromarray(np.array([[0, 4000], [8000, 1000]], np.uint16)).save(tmp_path / "dark.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    assert np.asarray(open_image(tmp_path / "a.png"))[..., 0].tolist() == [[0, 255], [128, 4]]
    # a dark 16-bit image stays dark (a max-stretch would make 8000 white)
    assert np.asarray(open_image(tmp_path / "dark.png"))[..., 0].tolist() == [[0, 16], [31, 4]]


def test_cmyk_and_modes_become_rgb(tmp_path):
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "c.jpg", "JPEG", quality=100)
    arr = np.asarray(open_image(tmp_path / "c.jpg"))
    assert arr.dtype == np.uint8 and arr[..., 0].min() > 200 and arr[..., 1:].max() < 60
    Image.new("1", (5, 3), 1).save(tmp_path / "b.png")
    assert open_image(tmp_path / "b.png").mode == "RGB"


def test_load_image_is_the_same_decoder(tmp_path):
    _rgba_cutout(tmp_path / "cut.png")
    assert np.array_equal(np.asarray(load_image(tmp_path / "cut.png")), np.asarray(open_image(tmp_path / "cut.png")))


def test_thumbnail_shows_the_pixels_the_model_sees(tmp_path):
    # The dashboard thumbnail of a cut-out has the same flattened pixels as the features' input.
    from alor_core.ui.cache import display_image

    _rgba_cutout(tmp_path / "cut.png")
    png = display_image(str(tmp_path / "cut.png"), 4)  # longer side already >= 4: not scaled
    thumb = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert np.array_equal(thumb, np.asarray(open_image(tmp_path / "cut.png")))


def _corrupt_idat_png(path):
    """A PNG with a valid header, end marker and CRCs but an IDAT stream zlib cannot inflate."""
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 16, 3), np.uint8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    i = data.index(b"IDAT")
    n = int.from_bytes(data[i - 4 : i], "big")
    data[i + 4 : i + 4 + n] = bytes([0x78, 0x9C]) + bytes((7 * k + 3) % 256 for k in range(n - 2))
    data[i + 4 + n : i + 8 + n] = zlib.crc32(bytes(data[i : i + 4 + n])).to_bytes(4, "big")
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "kind, reason",
    [
        ("zero", "zero-bytes"),
        ("text", "not-an-image"),
        ("cut_jpeg", "truncated"),
        ("cut_png", "truncated"),
        ("dangling", "dangling-symlink"),
        ("appledouble", "appledouble"),
        ("huge", "too-many-pixels"),
        ("missing", "missing"),
    ],
)
def test_header_check_names_the_problem(tmp_path, kind, reason):
    # image_problem reads no pixel data; open_image gives the same reason for the same file.
    name = {"appledouble": "._x.png", "cut_jpeg": "x.jpg"}.get(kind, "x.png")
    p = tmp_path / name
    good = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 255, (32, 32, 3), np.uint8)).save(
        good, "JPEG" if kind == "cut_jpeg" else "PNG"
    )
    if kind == "zero":
        p.write_bytes(b"")
    elif kind == "text":
        p.write_text("hello, I am a text file\n")
    elif kind in ("cut_jpeg", "cut_png"):
        p.write_bytes(good.getvalue()[: len(good.getvalue()) // 2])
    elif kind == "dangling":
        p.symlink_to(tmp_path / "gone.png")
    elif kind == "appledouble":
        p.write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + b"\x00" * 40)
    elif kind == "huge":
        Image.new("1", (20000, 9000)).save(p)  # 180 Mpx in a 22 kB file: over Pillow's limit
    problem = image_problem(p, f"cats/{name}")
    assert isinstance(problem, ImageProblem) and problem.reason == reason
    assert problem.path == f"cats/{name}" and f"'cats/{name}'" in str(problem)
    with pytest.raises(DataError) as info:
        open_image(p)
    assert isinstance(info.value, ImageProblem) and info.value.reason == reason
    if kind == "huge":
        assert "180,000,000" in problem.detail and "89,478,485" in problem.detail


def test_damage_inside_a_complete_file_is_found_when_decoding(tmp_path):
    # The header check passes (complete file); decoding names the file as corrupt.
    _corrupt_idat_png(tmp_path / "bad.png")
    assert image_problem(tmp_path / "bad.png") is None
    with pytest.raises(ImageProblem, match=r"bad\.png' is corrupt or not an image") as info:
        open_image(tmp_path / "bad.png")
    assert info.value.reason == "corrupt"


def test_good_images_pass_the_header_check(tmp_path):
    _rgba_cutout(tmp_path / "cut.png")
    Image.new("RGB", (9, 7), (1, 2, 3)).save(tmp_path / "a.jpg")
    Image.new("RGB", (9, 7)).save(tmp_path / "a.webp")
    Image.new("L", (9, 7)).save(tmp_path / "a.gif")
    for name in ("cut.png", "a.jpg", "a.webp", "a.gif"):
        assert image_problem(tmp_path / name) is None, name
