"""The one image reader: safe, lazy, always RGB, EXIF orientation honoured."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError
# Registers exactly the decoders of FORMATS (Image.open(formats=...) needs them registered).
from PIL import (BmpImagePlugin, GifImagePlugin, JpegImagePlugin, MpoImagePlugin,  # noqa: F401
                 PngImagePlugin, TiffImagePlugin, WebPImagePlugin)

from ..errors import ImageError
from ..files import MAX_IMAGE_FILE_BYTES, read_bytes

# Refuse images with more pixels than this *before* decoding them (decompression
# bombs): 64 MP is far above any photo the model needs (it resizes to <= 256 px).
MAX_PIXELS = 64_000_000
# The formats decoded at all: the app's uploads (JPEG, PNG, WebP; a camera's MPO opens as JPEG) and the
# common dataset formats. Never EPS/PS (Pillow would run Ghostscript if installed) or any other plugin.
FORMATS = ("JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF")
# Decoded bytes a pixel by mode; a decode must fit in MAX_PIXELS x 4 bytes (256 MB). Unknown modes: 8.
_BYTES_PER_PIXEL = {"1": 1, "L": 1, "P": 1, "LA": 4, "PA": 4, "La": 4, "I;16": 2, "I;16B": 2, "I;16L": 2,
                    "RGB": 4, "RGBA": 4, "RGBa": 4, "CMYK": 4, "YCbCr": 4, "LAB": 4, "HSV": 4, "I": 4, "F": 4}
MAX_DECODE_BYTES = MAX_PIXELS * 4
# Large images are shrunk strip by strip, so a conversion never holds more than this many pixels.
_STRIP_PIXELS = 1 << 20
_ORIENT = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
           5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_90}


def _open(src: str | Path | bytes | BinaryIO, name: str) -> Image.Image:
    if isinstance(src, (bytes, bytearray)):
        if len(src) == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
        src = io.BytesIO(src)
    elif isinstance(src, (str, Path)):
        data = read_bytes(src, MAX_IMAGE_FILE_BYTES, ImageError)  # a regular file: not /dev/zero, a FIFO
        if len(data) == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
        src = io.BytesIO(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(src, formats=FORMATS)
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image file in a supported format "
                             f"({', '.join(FORMATS)})") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image dimensions are too large (over {MAX_PIXELS:,} pixels)") from None
        except (OSError, SyntaxError, ValueError) as e:  # header present but truncated/corrupt
            raise ImageError(f"{name}: the image data is corrupt or truncated ({e})") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{name}: image is {w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,}")
    if w * h * _BYTES_PER_PIXEL.get(im.mode, 8) > MAX_DECODE_BYTES:
        raise ImageError(f"{name}: a {w}x{h} {im.mode} image needs more than {MAX_DECODE_BYTES >> 20} MB "
                         "to decode")
    return im


def read_image(src: str | Path | bytes | BinaryIO, name: str | None = None,
               max_side: int | None = None) -> Image.Image:
    """Decode an image file/bytes to an RGB ``PIL.Image``.

    Grayscale, RGBA (composited on white), CMYK, palette and 16-bit inputs are
    converted; EXIF orientation is applied. ``max_side`` downsizes large images
    while decoding (JPEG draft mode) to keep memory low. Every failure is an
    ``ImageError`` naming the file and the problem.
    """
    name = name or (str(src) if isinstance(src, (str, Path)) else "uploaded image")
    im = _open(src, name)
    try:
        if max_side and im.format == "JPEG":
            im.draft("RGB", (max_side, max_side))
        im.load()
        orientation = im.getexif().get(0x0112)
        if max_side and max(im.size) > 2 * max_side:
            im = _shrink(im, max(im.size) // max_side)  # before any conversion: small temporaries
        if orientation in _ORIENT:
            im = im.transpose(_ORIENT[orientation])
        im = to_rgb(im)
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BILINEAR)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt data
        raise ImageError(f"{name}: the image data is corrupt or truncated ({e})") from None
    return im


def _reducible(part: Image.Image) -> Image.Image:
    """A strip in a mode ``Image.reduce`` handles (16-bit grey as 32-bit, palette / bilevel expanded)."""
    if part.mode.startswith("I;16"):
        return Image.fromarray(np.asarray(part).astype(np.int32))
    if part.mode in ("P", "1"):
        return part.convert("RGBA" if part.mode == "P" and "transparency" in part.info else "RGB")
    return part


def _shrink(im: Image.Image, factor: int) -> Image.Image:
    """``im`` reduced by an integer ``factor`` (box filter), one strip of rows at a time, so no
    whole-image temporary of another mode or depth is ever made (16-bit and RGBA inputs)."""
    w, h = im.size
    rows = max(factor, (_STRIP_PIXELS // max(w, 1)) // factor * factor)
    parts = [_reducible(im.crop((0, y, w, min(h, y + rows)))).reduce(factor) for y in range(0, h, rows)]
    out = Image.new(parts[0].mode, (parts[0].width, sum(p.height for p in parts)))
    y = 0
    for p in parts:
        out.paste(p, (0, y))
        y += p.height
    return out


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits instead of clipping everything to white; strip by strip
        # in float32, never a float64 copy of the whole image (a 64 MP PNG took 1.6 GB).
        # extrema strip by strip with numpy: Pillow's getextrema refuses big-endian I;16B (TIFF "MM")
        w, h = im.size
        rows = max(1, _STRIP_PIXELS // max(w, 1))
        hi = max((float(np.asarray(im.crop((0, y, w, min(h, y + rows)))).max()) for y in range(0, h, rows)),
                 default=0.0)
        scale = 255.0 / hi if hi and hi > 0 else 1.0
        out = np.empty((h, w), np.uint8)
        for y in range(0, h, rows):
            a = np.asarray(im.crop((0, y, w, min(h, y + rows))), dtype=np.float32)
            out[y:y + rows] = np.clip(np.rint(a * scale), 0, 255)
        return Image.fromarray(out, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")
