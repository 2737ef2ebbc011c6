"""grayscale in-process: the image maths, the answer formats and every bad input."""

from __future__ import annotations

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from bindings import settings

from .conftest import function_module, image_bytes

BT601 = np.array([0.299, 0.587, 0.114])


def _answer_image(response) -> Image.Image:
    assert response.status_code == 200, response.data
    return Image.open(io.BytesIO(base64.b64decode(response.data, validate=True)))


def test_food_is_base64_png_of_bt601_luma(load, seed_file):
    food = seed_file("food.jpg")
    response = load("grayscale").post("/grayscale", data=food)
    assert response.content_type == "text/plain"
    assert b"\n" not in response.data and len(response.data) % 4 == 0
    out = _answer_image(response)
    assert (out.format, out.mode, out.size) == ("PNG", "L", (483, 358))
    gray = np.asarray(out, dtype=np.float64)
    # Reference 1: the luma plane libjpeg decodes, which the function must return exactly.
    ycbcr = Image.open(io.BytesIO(food))
    ycbcr.draft("YCbCr", ycbcr.size)
    assert np.array_equal(np.asarray(out), np.asarray(ycbcr.split()[0]))
    # Reference 2: BT.601 luma of the decoded RGB. They differ only where the YCbCr -> RGB
    # conversion clamped an out-of-gamut colour or rounded, hence a small tolerance.
    rgb = np.asarray(Image.open(io.BytesIO(food)).convert("RGB"), dtype=np.float64)
    diff = np.abs(gray - rgb @ BT601)
    assert diff.mean() < 0.5 and np.percentile(diff, 99) <= 1.5 and diff.max() <= 8


def test_accept_image_png_gives_raw_png(load, seed_file):
    response = load("grayscale").post("/grayscale", data=seed_file("food.jpg"),
                                      headers={"Accept": "image/png"})
    assert response.status_code == 200 and response.content_type == "image/png"
    assert Image.open(io.BytesIO(response.data)).size == (483, 358)


def test_gif_in_gif_out(load):
    gif = image_bytes(Image.new("RGB", (40, 30), (200, 10, 10)), "GIF")
    out = _answer_image(load("grayscale").post("/grayscale", data=gif))
    assert out.format == "GIF" and out.size == (40, 30)
    # BT.601 of (200, 10, 10): 0.299*200 + 0.587*10 + 0.114*10 = 66.8
    value = out.convert("L").getpixel((5, 5))
    assert isinstance(value, int) and abs(value - 67) <= 1


@pytest.mark.parametrize("fmt", ["PNG", "BMP", "WEBP", "TIFF"])
def test_other_formats_become_png(load, fmt):
    params = {"lossless": True} if fmt == "WEBP" else {}
    data = image_bytes(Image.new("RGB", (17, 9), (0, 0, 255)), fmt, **params)
    out = _answer_image(load("grayscale").post("/grayscale", data=data))
    assert (out.format, out.size) == ("PNG", (17, 9))
    assert out.getpixel((3, 3)) == 29  # 0.114 * 255 = 29.07


def test_alpha_is_kept(load):
    rgba = Image.new("RGBA", (10, 10), (255, 255, 255, 0))
    rgba.putpixel((2, 2), (0, 255, 0, 200))
    out = _answer_image(load("grayscale").post("/grayscale", data=image_bytes(rgba, "PNG")))
    assert out.mode == "LA"
    assert out.getpixel((2, 2)) == (150, 200)  # 0.587 * 255 = 149.7
    transparent = out.getpixel((0, 0))
    assert isinstance(transparent, tuple) and transparent[1] == 0


def test_sixteen_bit_keeps_top_byte(load):
    wide = Image.fromarray(np.full((4, 6), 0xABCD, dtype=np.uint16))
    out = _answer_image(load("grayscale").post("/grayscale", data=image_bytes(wide, "PNG")))
    assert out.mode == "L" and out.getpixel((0, 0)) == 0xAB


def test_bt601_not_rec709(load):
    """The seed's Rust crate used Rec.709 weights; the brief asks for BT.601."""
    data = image_bytes(Image.new("RGB", (4, 4), (255, 0, 0)), "PNG")
    out = _answer_image(load("grayscale").post("/grayscale", data=data))
    assert out.getpixel((0, 0)) == 76  # 0.299 * 255; Rec.709 would give 54


def _png_claiming(width: int, height: int) -> bytes:
    """A valid tiny PNG whose header claims ``width`` x ``height``."""
    data = bytearray(image_bytes(Image.new("L", (1, 1)), "PNG"))
    ihdr = bytearray(data[12:29])
    ihdr[4:12] = struct.pack(">II", width, height)
    data[12:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)))
    return bytes(data)


BAD_INPUTS = {
    "empty": (b"", {}, 400),
    "garbage": (b"this is not an image at all", {}, 400),
    "truncated jpeg": (None, {}, 400),
    "pdf": (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", {}, 415),
    "ico": (image_bytes(Image.new("RGB", (16, 16)), "ICO"), {}, 415),
    "ppm": (image_bytes(Image.new("RGB", (4, 4)), "PPM"), {}, 415),
    "bomb over 2x": (_png_claiming(30000, 30000), {}, 413),
    "bomb over 1x": (_png_claiming(8000, 8000), {}, 413),
    "bad accept": (None, {"Accept": "application/json"}, 406),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_a_json_4xx_and_service_goes_on(load, seed_file, case):
    body, headers, status = BAD_INPUTS[case]
    food = seed_file("food.jpg")
    if body is None:
        body = food[:20000] if case == "truncated jpeg" else food
    client = load("grayscale")
    response = client.post("/grayscale", data=body, headers=headers)
    assert response.status_code == status, response.data
    assert response.is_json and response.get_json()["error"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert client.post("/grayscale", data=food).status_code == 200


def test_body_over_limit_is_413_before_reading(load, seed_file, monkeypatch):
    monkeypatch.setenv("MAX_BODY_BYTES", "1000")
    settings.get.cache_clear()
    client = load("grayscale")
    response = client.post("/grayscale", data=seed_file("food.jpg"))
    assert response.status_code == 413
    assert response.get_json()["detail"] == {"limit": 1000, "content_length": 68016}


def test_image_over_pixel_limit_is_413(load, seed_file, monkeypatch):
    monkeypatch.setenv("MAX_IMAGE_PIXELS", str(483 * 358 - 1))
    settings.get.cache_clear()
    response = load("grayscale").post("/grayscale", data=seed_file("food.jpg"))
    assert response.status_code == 413
    assert response.get_json()["detail"] == {"max_pixels": 483 * 358 - 1}


def test_png_compress_level_is_configurable(load, seed_file, monkeypatch):
    sizes = []
    for level in ("0", "9"):
        monkeypatch.setenv("PNG_COMPRESS_LEVEL", level)
        response = load("grayscale").post("/grayscale", data=seed_file("food.jpg"),
                                          headers={"Accept": "image/png"})
        sizes.append(len(response.data))
    assert sizes[0] > 2 * sizes[1]


def test_settings_defaults_and_casts():
    grayscale = function_module("grayscale")
    assert grayscale.load_settings({}) == grayscale.GrayscaleSettings("images", 1)
    custom = grayscale.load_settings({"PNG_COMPRESS_LEVEL": "0", "IMAGES_BINDING": "results"})
    assert (custom.png_compress_level, custom.images_binding) == (0, "results")


@pytest.mark.parametrize("name, value", [("PNG_COMPRESS_LEVEL", "10")])
def test_settings_refuse_bad_values(name, value):
    with pytest.raises(ValueError, match=name):
        function_module("grayscale").load_settings({name: value})


def test_one_event_per_successful_request_only(load, seed_file):
    import bindings.dapr.events

    recorder = bindings.dapr.events.recorder()
    client = load("grayscale")
    before = recorder.submitted
    for body, status in ((seed_file("food.jpg"), 200), (b"junk", 400)):
        response = client.post("/grayscale", data=body)
        assert response.status_code == status
        response.close()  # as a server does once the answer is sent: the event goes then
    # The 200 queued one event (no sidecar here: it waits to be sent); the 400 queued none.
    assert recorder.submitted == before + 1
