"""Reading images: one decoder for features and display, and a cheap check of what cannot be read.

:func:`open_image` is the only way ALOR Studio turns an image file into pixels: the feature
encoder, the pool converters and the dashboard thumbnails all call it, so a model sees exactly
what a person sees. It

* applies the EXIF orientation (a phone photo taken upright is upright);
* flattens transparency (RGBA, LA, PA, palette or grey/RGB images with a ``transparency`` entry)
  onto :data:`BACKGROUND`, the same uniform colour everywhere;
* scales 16-bit and 32-bit integer images to 8 bit by their bit depth (``I;16`` value 65535 is
  255), so a 16-bit PNG keeps its contrast instead of being clipped to white;
* converts every other mode (CMYK, YCbCr, 1-bit, float) to RGB.

:func:`image_problem` is the check made when a folder, split file or pool is loaded. It reads no
pixel data, only the file's metadata, its header and its last bytes, so it costs well under a
millisecond per image: missing file, dangling symlink, macOS ``._`` AppleDouble file, empty file,
file over :data:`MAX_FILE_BYTES`, not an image, more pixels than :data:`MAX_PIXELS` (Pillow's
decompression-bomb limit) and a JPEG or PNG cut short (no end marker). Damage inside a complete
file is found when the pixels are decoded for the features; the feature encoder skips and reports
those images the same way (:func:`alor_core.models.features.encode_images`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import DataError

if TYPE_CHECKING:
    from typing import Any

__all__ = ["BACKGROUND", "MAX_PIXELS", "MAX_FILE_BYTES", "ImageProblem", "open_image", "image_problem", "check_image"]

#: Colour under transparent pixels (white). Cut-outs with an alpha channel are nearly always product
#: or object photos that web pages, and so CLIP's web-scraped pretraining images, show on white;
#: browsers and image viewers show them on white too. One fixed colour (instead of whatever RGB
#: values a tool left under alpha 0, black for some and random colours for others) makes two
#: copies of one cut-out give the same features, and the thumbnail show what the model saw.
BACKGROUND = (255, 255, 255)

#: Most pixels an image may have (width x height): Pillow's own decompression-bomb limit.
MAX_PIXELS = int(Image.MAX_IMAGE_PIXELS or 89_478_485)

#: Largest image file accepted (bytes): 256 MiB, far above any photo, well below a disk image.
MAX_FILE_BYTES = 256 * 1024 * 1024

_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
_INT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_PNG_END = b"IEND\xaeB`\x82"
_JPEG_END = b"\xff\xd9"
_TAIL_BYTES = 1024


class ImageProblem(DataError):
    """An image that cannot be used; ``reason`` is a short code, ``detail`` the explanation.

    Parameters
    ----------
    path : str or Path
        The file, as it should be shown to the user.
    reason : str
        One of ``missing``, ``dangling-symlink``, ``not-a-file``, ``appledouble``, ``zero-bytes``,
        ``too-large``, ``not-an-image``, ``too-many-pixels``, ``truncated``, ``corrupt``,
        ``unreadable-shard``.
    detail : str
        What was found and what is accepted, a phrase following the file name ("is empty ...").
    """

    def __init__(self, path: str, reason: str, detail: str) -> None:
        self.path, self.reason, self.detail = str(path), reason, detail
        super().__init__(f"image file {self.path!r} {detail}")


def _first_bytes(path, n=16):
    try:
        with open(path, "rb") as fh:
            head = fh.read(n)
    except OSError:
        return ""
    try:
        text = head.decode("utf-8")
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            return f"text starting {text[:12]!r}"
        return f"bytes {head[:8].hex(' ')}"
    except UnicodeDecodeError:
        return f"bytes {head[:8].hex(' ')}"


def _bomb_detail(err, limit):
    found = re.search(r"\((\d+) pixels\)", str(err))
    what = f"{int(found.group(1)):,}" if found else str(err)
    return (
        f"has too many pixels ({what}); the limit is {limit:,} pixels (Pillow's decompression-bomb "
        "guard against images that would fill the memory); shrink the image"
    )


def image_problem(
    path: str | Path, shown: str | None = None, *, max_pixels: int = MAX_PIXELS, max_bytes: int = MAX_FILE_BYTES
) -> ImageProblem | None:
    """The reason ``path`` cannot be used as an image, or ``None`` when its header looks fine.

    Reads the file's metadata, its header and its last kilobyte only (no pixel decoding).

    Parameters
    ----------
    path : str or Path
        The image file.
    shown : str or None
        How to name the file in the message (default: ``path``), e.g. relative to the folder the
        user gave.
    max_pixels : int
        Most pixels (width x height) accepted.
    max_bytes : int
        Largest file accepted.

    Returns
    -------
    ImageProblem or None
    """
    path = Path(path)
    shown = str(path) if shown is None else str(shown)
    if path.name.startswith("._"):
        return ImageProblem(
            shown,
            "appledouble",
            "is a macOS AppleDouble metadata file ('._' name, written "
            "by macOS on non-Apple disks), not an image; it can be deleted",
        )
    if not os.path.lexists(path):
        return ImageProblem(shown, "missing", "does not exist")
    try:
        st = os.stat(path)
    except OSError as err:
        if os.path.islink(path):
            return ImageProblem(
                shown, "dangling-symlink", f"is a dangling symlink to {os.readlink(path)!r} (the target does not exist)"
            )
        return ImageProblem(shown, "missing", f"cannot be read ({err.strerror or err})")
    if not os.path.isfile(path):
        return ImageProblem(shown, "not-a-file", "is not a regular file")
    if st.st_size == 0:
        return ImageProblem(shown, "zero-bytes", "is empty (0 bytes); expected an image")
    if st.st_size > max_bytes:
        return ImageProblem(
            shown, "too-large", f"is {st.st_size / 2**20:.0f} MiB; the limit is {max_bytes / 2**20:.0f} MiB"
        )
    try:
        with Image.open(path) as im:
            fmt, (w, h) = im.format, im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        return ImageProblem(shown, "too-many-pixels", _bomb_detail(err, max_pixels))
    except UnidentifiedImageError:
        return ImageProblem(
            shown,
            "not-an-image",
            f"is corrupt or not an image (found {_first_bytes(path)}); expected JPEG, PNG, WebP, GIF, BMP or TIFF",
        )
    except (OSError, SyntaxError, ValueError, EOFError) as err:  # a header Pillow cannot parse
        if "truncated" in str(err).lower():
            return ImageProblem(
                shown,
                "truncated",
                f"is corrupt or not an image (truncated: the file ends "
                f"inside its header after {st.st_size:,} bytes; {err})",
            )
        return ImageProblem(shown, "corrupt", f"is corrupt or not an image (header: {err})")
    if w * h > max_pixels:
        return ImageProblem(
            shown,
            "too-many-pixels",
            f"has too many pixels ({w} x {h} = {w * h:,}); the "
            f"limit is {max_pixels:,} pixels (Pillow's decompression-bomb guard); "
            "shrink the image",
        )
    if w < 1 or h < 1:
        return ImageProblem(shown, "corrupt", f"is corrupt or not an image (size {w} x {h})")
    end = {"JPEG": _JPEG_END, "PNG": _PNG_END}.get(fmt)
    if end is not None:
        with open(path, "rb") as fh:
            fh.seek(max(0, st.st_size - _TAIL_BYTES))
            tail = fh.read()
        if end not in tail:
            return ImageProblem(
                shown,
                "truncated",
                f"is corrupt or not an image (truncated {fmt} "
                f"file: {st.st_size:,} bytes and no end-of-image marker; the copy or "
                "download was cut short)",
            )
    return None


def check_image(path: str | Path, shown: str | None = None, **limits: Any) -> None:
    """Raise the :class:`ImageProblem` of :func:`image_problem`, if any; same parameters."""
    problem = image_problem(path, shown, **limits)
    if problem is not None:
        raise problem


def _to_8bit(im):
    """A 16/32-bit integer or float image as 8-bit grey, scaled by its bit depth (not clipped)."""
    arr = np.asarray(im)
    if im.mode == "F":
        arr = arr.astype(np.float64)
        top = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
        out = np.clip(np.nan_to_num(arr) / top * 255.0, 0, 255)
    else:
        arr = arr.astype(np.float64)
        hi = arr.max() if arr.size else 0
        # 16-bit data (every PNG/TIFF 16-bit grey) is scaled by 65535; wider data by its maximum
        top = 65535.0 if im.mode != "I" or hi <= 65535 else float(hi)
        out = np.clip(arr / top * 255.0, 0, 255)
    return Image.fromarray(np.round(out).astype(np.uint8), "L")


def _flatten(im):
    """RGB of ``im`` with its transparency composited onto :data:`BACKGROUND`."""
    if im.mode == "P" or "transparency" in im.info:
        if "transparency" not in im.info and im.mode == "P":
            return im.convert("RGB")
        im = im.convert("RGBA")
    if im.mode in _ALPHA_MODES:
        rgba = im.convert("RGBA")
        base = Image.new("RGBA", rgba.size, BACKGROUND + (255,))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return im.convert("RGB")


def open_image(path: str | Path, shown: str | None = None, *, min_side: int | None = None) -> Image.Image:
    """Open an image file as an 8-bit RGB :class:`PIL.Image.Image`, the same for features and display.

    EXIF orientation applied; transparency flattened onto :data:`BACKGROUND`; 16-bit images
    scaled to 8 bit; any other mode converted to RGB. The file is closed on return.

    Parameters
    ----------
    path : str or Path
        The image file.
    shown : str or None
        How to name the file in an error (default: ``path``).
    min_side : int or None
        JPEG only: let the decoder scale the image down by 1/2, 1/4 or 1/8 inside the DCT
        (Pillow's ``draft``) as long as both sides stay at least ``min_side`` pixels, a several
        times cheaper decode of a large photo. For a caller that shrinks the image further anyway
        (the feature transform passes twice its resize target: the pixels it then gets differ by
        a few levels of 255 at most). ``None`` (default): the full-size image.

    Returns
    -------
    PIL.Image.Image
        Mode ``RGB``.

    Raises
    ------
    ImageProblem
        Missing, empty, too large, not an image, too many pixels, truncated or corrupt; the
        message names the file and the reason.
    """
    path = Path(path)
    shown = str(path) if shown is None else str(shown)
    problem = None
    try:
        with Image.open(path) as im:
            if im.size[0] * im.size[1] > MAX_PIXELS:
                raise Image.DecompressionBombError(f"image size {im.size[0]} x {im.size[1]}")
            if min_side and im.format == "JPEG" and min(im.size) >= 2 * min_side:
                im.draft(im.mode, (min_side, min_side))
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except (OSError, ValueError, SyntaxError, KeyError, TypeError):
                pass  # a malformed EXIF block: keep the stored orientation rather than lose the image
            if im.mode in _INT_MODES or im.mode == "F":
                if "transparency" in im.info:
                    im.info.pop("transparency")
                im = _to_8bit(im)
            return _flatten(im)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        problem = ImageProblem(shown, "too-many-pixels", _bomb_detail(err, MAX_PIXELS))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as err:
        problem = image_problem(path, shown)
        if problem is None:
            reason = "truncated" if "truncated" in str(err) else "corrupt"
            problem = ImageProblem(shown, reason, f"is corrupt or not an image ({err})")
    raise problem
