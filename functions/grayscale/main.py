"""grayscale: ``POST /grayscale`` turns an image into its grayscale version.

As in the seed, the default answer is the standard base64 (padded, no newlines) of a PNG, or of
a GIF when a GIF came in, as ``text/plain``; ``Accept: image/png`` / ``image/gif`` gets the raw
bytes. Luma is ITU-R BT.601 (Pillow's ``L``); a JPEG is decoded straight to its luma plane
(libjpeg skips the chroma planes and the colour conversion), which is both exact and faster.
Alpha is kept (``LA``). Each request is rate limited, recorded as an event, and its result is
stored in the ``images`` output binding when the sidecar has one (``X-Result-Key``).
"""

from __future__ import annotations

import base64
import io
import logging
import uuid

import flask
import numpy as np
from PIL import Image

from bindings import events, ratelimit, settings
from bindings.client import deadline, get_client, has_component
from bindings.imaging import decoding, open_image
from bindings.inputs import negotiate, read_body
from bindings.router import Router

__all__ = ["encode", "grayscale", "to_gray"]

log = logging.getLogger(__name__)

HELP = ("Try POSTing data to /grayscale such as: "
        "`curl http://localhost:9005/grayscale -X POST --data-binary '@my_img.png'`")
#: Accept offers in order of preference; text/plain is the seed's base64 answer.
_OFFERS = ("text/plain", "image/png", "image/gif")
_FORMAT_OF = {"image/png": "PNG", "image/gif": "GIF"}
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_WIDE_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


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
        gray.save(out, "PNG", compress_level=settings.get().png_compress_level, icc_profile=None)
    return out.getvalue()


def _store(data: bytes, fmt: str) -> str | None:
    """Keep the result in the ``images`` binding, if declared; its key, or None."""
    config = settings.get()
    name = config.images_binding
    if not has_component(name):
        return None
    key = f"{uuid.uuid4().hex}.{fmt.lower()}"
    # Sent base64-encoded: daprd's localstorage decodes any data that is valid base64 (raw
    # bytes could happen to be), and S3 decodes it when asked with decodeBase64.
    metadata = {"fileName": key, "key": key, "decodeBase64": "true"}
    try:
        with deadline(config.binding_timeout_seconds):
            get_client().invoke_binding(name, "create", base64.b64encode(data),
                                        binding_metadata=metadata)
    except Exception as err:  # storage is a side effect: log it, never fail the answer
        log.warning("could not store result %s in binding %r: %s", key, name, err)
        return None
    return key


def _grayscale(request: flask.Request) -> flask.Response:
    with ratelimit.admission(request):
        accepted = negotiate(request, _OFFERS)
        data = read_body(request)
        image = open_image(data)
        fmt = _FORMAT_OF.get(accepted) or ("GIF" if image.format == "GIF" else "PNG")
        result = encode(to_gray(image), fmt)
    key = _store(result, fmt)
    headers = {"X-Result-Key": key} if key else {}
    if accepted == "text/plain":
        response = flask.Response(base64.b64encode(result), headers=headers,
                                  content_type="text/plain")
    else:
        response = flask.Response(result, headers=headers, content_type=accepted)
    return events.record_after(response, "grayscale", len(data))


_router = Router(HELP, {"/grayscale": {"POST": _grayscale}})


def grayscale(request: flask.Request) -> flask.Response:
    """The functions-framework entry point."""
    return _router(request)
