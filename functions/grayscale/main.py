"""grayscale: ``POST /grayscale`` turns an image into its grayscale version.

As in the seed, the default answer is the standard base64 (padded, no newlines) of a PNG, or of
a GIF when a GIF came in, as ``text/plain``; ``Accept: image/png`` / ``image/gif`` gets the raw
bytes. Luma is ITU-R BT.601 (Pillow's ``L``); a JPEG is decoded straight to its luma plane
(libjpeg skips the chroma planes and the colour conversion), which is both exact and faster.
Alpha is kept (``LA``). Each request is rate limited, recorded as an event, and its result is
stored in the ``images`` output binding when the sidecar has one (``X-Result-Key``).

Settings only grayscale reads (the shared ones are in bindings/settings.py):

    name                default   meaning
    IMAGES_BINDING      images    output binding for results (optional)
    PNG_COMPRESS_LEVEL  1         zlib level 0-9 of PNG answers
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from dataclasses import dataclass

import flask
import numpy as np
from PIL import Image

from bindings.dapr import events, ratelimit, results
from bindings.http import headers
from bindings.http.inputs import negotiate, read_body
from bindings.http.router import Router
from bindings.imaging import decoding, open_image
from bindings.settings import integer_between, read

__all__ = ["GrayscaleSettings", "config", "encode", "grayscale", "load_settings", "to_gray"]

_HELP = ("Try POSTing data to /grayscale such as: "
        "`curl http://localhost:9005/grayscale -X POST --data-binary '@my_img.png'`")
#: Accept offers in order of preference; text/plain is the seed's base64 answer.
_OFFERS = ("text/plain", "image/png", "image/gif")
_FORMAT_OF = {"image/png": "PNG", "image/gif": "GIF"}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


@dataclass(frozen=True)
class GrayscaleSettings:
    """grayscale's own configuration; see the module docstring."""

    images_binding: str = "images"
    png_compress_level: int = 1


def load_settings(environ: Mapping[str, str] | None = None) -> GrayscaleSettings:
    """grayscale's settings from ``environ`` (default ``os.environ``)."""
    return read(GrayscaleSettings, environ, {"png_compress_level": integer_between(0, 9)})


#: Read once, when the module loads.
config = load_settings()


def to_gray(image: Image.Image) -> Image.Image:
    """``image`` (opened, not yet decoded) as ``L``, or ``LA`` when it has transparency."""
    fmt = image.format
    if fmt in ("JPEG", "MPO") and image.mode == "RGB":
        # libjpeg then emits the Y plane as is: chroma is neither upsampled nor converted.
        image.draft("L", image.size)
    with decoding(fmt):
        image.load()
        mode = image.mode
        if mode in ("L", "LA"):
            return image
        if mode in _WIDE_MODES:
            # 16-bit samples: keep the top 8 bits (Pillow's convert would clip at 255).
            wide = np.asarray(image.convert("I"), dtype=np.int64)
            return Image.fromarray((np.clip(wide, 0, 65535) >> 8).astype(np.uint8))
        if mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        if image.mode in _ALPHA_MODES:
            return image.convert("RGBA").convert("LA")
        if image.mode in ("RGB", "1", "P", "L", "F"):
            return image.convert("L")
        return image.convert("RGB").convert("L")


def encode(gray: Image.Image, fmt: str) -> bytes:
    """``gray`` as PNG (at PNG_COMPRESS_LEVEL) or GIF bytes."""
    out = io.BytesIO()
    # The source's colour profile describes RGB; it would be wrong on a grayscale image.
    if fmt == "GIF":
        gray.save(out, "GIF", icc_profile=None)
    else:
        gray.save(out, "PNG", compress_level=config.png_compress_level, icc_profile=None)
    return out.getvalue()


def _grayscale(request: flask.Request) -> flask.Response:
    with ratelimit.admission(request):
        accepted = negotiate(request, _OFFERS)
        data = read_body(request)
        image = open_image(data)
        fmt = _FORMAT_OF.get(accepted) or ("GIF" if image.format == "GIF" else "PNG")
        result = encode(to_gray(image), fmt)
    key = results.store(config.images_binding, result, fmt.lower())
    extra = {headers.RESULT_KEY: key} if key else {}
    if accepted == "text/plain":
        response = flask.Response(base64.b64encode(result), headers=extra,
                                  content_type="text/plain")
    else:
        response = flask.Response(result, headers=extra, content_type=accepted)
    return events.record_after(response, "grayscale", len(data))


_router = Router(_HELP, {"/grayscale": {"POST": _grayscale}})


def grayscale(request: flask.Request) -> flask.Response:
    """The functions-framework entry point."""
    return _router(request)
