"""The one image reader: safe, lazy, always RGB, EXIF orientation honoured."""
from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageError

# Refuse images with more pixels than this *before* decoding them (decompression
# bombs): 64 MP is far above any photo the model needs (it resizes to <= 256 px).
MAX_PIXELS = 64_000_000


def _open(src: str | Path | bytes | BinaryIO, name: str) -> Image.Image:
    if isinstance(src, (bytes, bytearray)):
        if len(src) == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
        src = io.BytesIO(src)
    elif isinstance(src, (str, Path)):
        p = Path(src)
        if not p.exists():
            raise ImageError(f"{name}: file not found")
        if p.stat().st_size == 0:
            raise ImageError(f"{name}: the file is empty (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            im = Image.open(src)
        except UnidentifiedImageError:
            raise ImageError(f"{name}: not an image file (or a format Pillow cannot read)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageError(f"{name}: image dimensions are too large (over {MAX_PIXELS:,} pixels)") from None
        except (OSError, SyntaxError, ValueError) as e:  # header present but truncated/corrupt
            raise ImageError(f"{name}: the image data is corrupt or truncated ({e})") from None
    w, h = im.size
    if w * h > MAX_PIXELS:
        raise ImageError(f"{name}: image is {w}x{h} = {w * h:,} pixels; the limit is {MAX_PIXELS:,}")
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
        im = ImageOps.exif_transpose(im)
        im = to_rgb(im)
        if max_side and max(im.size) > max_side:
            im.thumbnail((max_side, max_side), Image.BILINEAR)
    except ImageError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # truncated / corrupt data
        raise ImageError(f"{name}: the image data is corrupt or truncated ({e})") from None
    return im


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping everything to white.
        import numpy as np

        a = np.asarray(im, dtype=np.float64)
        hi = a.max() if a.size else 1.0
        a = (a / (hi if hi > 0 else 1.0) * 255.0).round().astype("uint8")
        return Image.fromarray(a, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, im).convert("RGB")
    return im.convert("RGB")
