"""Opening untrusted image bytes safely, shared by grayscale and classify.

``open_image`` identifies the format and checks the pixel count from the header alone, before
any pixel is decoded; ``decoding`` maps every way decoding can fail to a 4xx. Formats are
restricted to the ones the functions take (Pillow would otherwise also try e.g. EPS, which runs
Ghostscript); a body Pillow recognises as another format is a 415, one it cannot read at all a
400. The first frame of an animated image is the image, as in the seed.

Decompression bombs: Pillow's own guard uses the global ``Image.MAX_IMAGE_PIXELS``, set here to
MAX_IMAGE_PIXELS, and its warning (between 1x and 2x the limit) is turned into an error once at
import, process-wide, because ``warnings.catch_warnings`` is not thread-safe.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image, UnidentifiedImageError

from . import settings
from .http.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

__all__ = ["SUPPORTED_FORMATS", "decoding", "open_image"]

#: What the functions take, as Pillow names formats. A JPEG carrying extra (multi-picture)
#: frames, as many camera JPEGs do, opens through "JPEG" but reports itself as "MPO".
SUPPORTED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")
_ADVERTISED = ["JPEG", "PNG", "GIF", "BMP", "WebP", "TIFF"]
#: Decoding failures Pillow and its C decoders raise for corrupt or truncated data.
#: Leading bytes of common uploads that are not images Pillow opens: answered 415, not 400.
_OTHER_SIGNATURES = ((b"%PDF", "PDF"), (b"<svg", "SVG"), (b"<?xml", "XML"),
                     (b"PK\x03\x04", "ZIP"), (b"\x1f\x8b", "gzip"))
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"})
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
                  MemoryError, UnidentifiedImageError)

warnings.simplefilter("error", Image.DecompressionBombWarning)
# Image.open(formats=...) runs Image.init(), which imports all of Pillow's ~45 plugins (20-40 ms
# of a process's start, and its memory), as soon as a listed format is not registered; Pillow
# registers JPEG, PNG, GIF and BMP itself, so only WebP's and TIFF's plugins are imported here.
# Recognising an unsupported format (``_pillow_format``, for a 415) loads the rest, then only.
from PIL import TiffImagePlugin, WebPImagePlugin  # noqa: E402, F401


@contextmanager
def decoding(fmt: str | None = None) -> Iterator[None]:
    """Turn decode failures of a ``fmt`` image into BadRequest, bombs into PayloadTooLarge."""
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise _too_many_pixels(str(err)) from err
    except _DECODE_ERRORS as err:
        what = f"a {fmt} image" if fmt else "an image"
        raise BadRequest(f"could not decode the body as {what}: {err}",
                         {"format": fmt}) from err


def open_image(data: bytes) -> Image.Image:
    """The image in ``data``, identified and size-checked but not yet decoded."""
    limit = settings.get().max_image_pixels
    Image.MAX_IMAGE_PIXELS = limit
    try:
        with decoding():
            image = Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS)
    except BadRequest as err:
        if not isinstance(err.__cause__, UnidentifiedImageError):
            raise
        other = _identify(data)
        if other:
            raise UnsupportedMediaType(f"{other} images are not supported",
                                       {"format": other, "supported": _ADVERTISED}) from None
        raise BadRequest("the body is not an image in a supported format",
                         {"supported": _ADVERTISED}) from None
    width, height = image.size
    if width * height > limit:
        raise _too_many_pixels(f"{width}x{height} is {width * height} pixels")
    return image


def _identify(data: bytes) -> str | None:
    """What ``data`` is when it is not a supported image: a format Pillow recognises from the
    header, or one of a few common documents Pillow cannot open at all."""
    recognised = _pillow_format(data)
    if recognised is not None:
        return recognised
    head = data[:64].lstrip()
    for signature, name in _OTHER_SIGNATURES:
        if head.startswith(signature):
            return name
    if data[4:8] == b"ftyp":
        return "HEIF" if data[8:12] in _HEIF_BRANDS else "ISO media"
    return None


def _pillow_format(data: bytes) -> str | None:
    """The format Pillow reads from ``data``'s header (every plugin sets one), or None."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format
    # Pillow's plugins raise many types for data they cannot read; each means "not recognised".
    except Exception:  # noqa: BLE001
        return None


def _too_many_pixels(detail: str) -> PayloadTooLarge:
    limit = settings.get().max_image_pixels
    return PayloadTooLarge(f"image has more than {limit} pixels ({detail})",
                           {"max_pixels": limit})
