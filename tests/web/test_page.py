"""The page in a real browser (Debian's Chromium, headless) against a launcher-run stack.

The first test goes all the way through the real functions. The others replace single answers
with ``page.route`` to show what the page does with hostile text and with each failure status;
the page still comes from the launcher and every other request reaches the real stack.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from tests.launcher.stack import REPO_ROOT, LauncherProcess

ARTIFACTS = REPO_ROOT / "test-artifacts"
HOSTILE = "<img src=x onerror=window.__xss=1>"

# Every pixel of the image, drawn on a canvas: [pixels, pixels with R == G == B].
_GRAY_PIXELS = """(selector) => {
  const img = document.querySelector(selector);
  const canvas = document.createElement("canvas");
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let gray = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] === data[i + 1] && data[i + 1] === data[i + 2]) gray += 1;
  }
  return [data.length / 4, gray];
}"""


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("L", (8, 6), 128).save(out, "PNG")
    return out.getvalue()


def open_with_image(page: Page, stack: LauncherProcess, image: Path) -> None:
    page.goto(stack.url)
    page.set_input_files("#file", image)
    expect(page.locator("#original")).to_be_visible()
    expect(page.locator("#run-grayscale")).to_be_enabled()


def test_grayscale_classify_and_both_events(page: Page, web_stack: LauncherProcess,
                                            seed_data: Path) -> None:
    open_with_image(page, web_stack, seed_data / "food.jpg")
    expect(page.locator("#file-info")).to_contain_text("food.jpg")
    pixels, gray = page.evaluate(_GRAY_PIXELS, "#original")
    # food.jpg is a hot dog on white: about half its pixels are in colour.
    assert pixels - gray > pixels / 5, "the original should be in colour for this to mean much"

    # No result yet: the empty frame shows nothing (not a broken-image icon with its alt text).
    expect(page.locator("#gray")).to_be_hidden()
    page.click("#run-grayscale")
    expect(page.locator("#gray")).to_be_visible()
    page.wait_for_function("() => document.querySelector('#gray').naturalWidth > 0")
    pixels, gray = page.evaluate(_GRAY_PIXELS, "#gray")
    assert pixels > 10_000 and gray == pixels
    expect(page.locator("#gray")).to_have_attribute("alt", "Grayscale version of food.jpg")

    page.click("#run-classify")
    expect(page.locator("#label .best")).to_have_text("hotdog")
    # food.jpg scores 255/255 for hotdog, so every other class is exactly 0 and gets no bar.
    expect(page.locator("#scores li")).to_have_count(1)
    expect(page.locator("#scores li").first.locator(".score-label")).to_have_text("hotdog")
    width = page.locator("#scores li .fill").first.evaluate("el => el.style.width")
    assert float(width.rstrip("%")) > 50

    # The table polls every few seconds; both events arrive without a reload.
    expect(page.locator("#events-body tr[data-op=grayscale]")).to_have_count(1, timeout=15_000)
    expect(page.locator("#events-body tr[data-op=classify]")).to_have_count(1)
    expect(page.locator("#counts .chip[data-op=grayscale] strong")).to_have_text("1")
    expect(page.locator("#counts .chip[data-op=classify] strong")).to_have_text("1")
    expect(page.locator("#status")).to_have_attribute("data-kind", "ok")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)


def test_response_text_is_never_html(page: Page, web_stack: LauncherProcess,
                                     seed_data: Path) -> None:
    top = [{"label": HOSTILE, "index": 1, "score": 0.9}] + [
        {"label": f"<b>x{i}</b>", "index": i, "score": 0.01} for i in range(4)]
    page.route("**/api/classify/classify", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps(top)))
    page.route("**/api/grayscale/grayscale", lambda route: route.fulfill(
        status=400, content_type="application/json", body=json.dumps({"error": HOSTILE})))
    page.route("**/api/events/events*", lambda route: route.fulfill(
        status=200, content_type="application/json", body=json.dumps([
            {"id": 1, "event_ts": 1, "op_type": HOSTILE, "input_size": 5}])))
    open_with_image(page, web_stack, seed_data / "food.jpg")

    page.click("#run-classify")
    expect(page.locator("#label .best")).to_have_text(HOSTILE)
    expect(page.locator("#scores li").nth(1).locator(".score-label")).to_have_text("<b>x0</b>")
    page.click("#run-grayscale")
    expect(page.locator("#status")).to_contain_text(HOSTILE)
    expect(page.locator("#events-body td .op")).to_have_text(HOSTILE)
    expect(page.locator("#counts .chip").nth(1).locator("span")).to_have_text(HOSTILE)

    assert page.locator("main img").count() == 2  # only the original and the result
    assert page.locator("main b").count() == 0
    assert page.evaluate("window.__xss") is None


def fail_with(page: Page, status: int, headers: dict[str, str] | None = None,
              body: str = '{"error": "nope"}') -> None:
    page.unroute("**/api/grayscale/grayscale")
    page.route("**/api/grayscale/grayscale", lambda route: route.fulfill(
        status=status, headers={"Content-Type": "application/json", **(headers or {})},
        body=body))


def test_each_failure_has_its_own_message(page: Page, web_stack: LauncherProcess,
                                          seed_data: Path) -> None:
    open_with_image(page, web_stack, seed_data / "food.jpg")
    status = page.locator("#status")
    cases = [
        (413, {}, "image is too large"),
        (415, {}, "not an image format grayscale can read"),
        (429, {"Retry-After": "17"}, "rate limited. Try again in 17 s"),
        (503, {}, "grayscale service is down or not answering (HTTP 503)"),
        (400, {}, "grayscale failed with HTTP 400: nope"),
    ]
    for code, headers, message in cases:
        fail_with(page, code, headers)
        page.click("#run-grayscale")
        expect(status).to_contain_text(message)
        expect(status).to_have_attribute("role", "alert")

    page.unroute("**/api/grayscale/grayscale")
    page.route("**/api/grayscale/grayscale", lambda route: route.abort("connectionrefused"))
    page.click("#run-grayscale")
    expect(status).to_contain_text("service is not reachable at")
    expect(page.locator("#run-grayscale")).to_be_enabled()


def test_a_service_that_is_down_behind_the_proxy(page: Page, web_stack: LauncherProcess,
                                                 seed_data: Path) -> None:
    # An API base whose function is missing: the launcher answers 404 JSON, shown as text.
    open_with_image(page, web_stack, seed_data / "food.jpg")
    page.fill("#api-base", f"{web_stack.url}/api/missing")
    page.press("#api-base", "Enter")
    page.click("#run-classify")
    expect(page.locator("#status")).to_contain_text("HTTP 404: no function named 'missing'")


def test_api_base_is_remembered_and_resettable(page: Page, web_stack: LauncherProcess) -> None:
    page.goto(web_stack.url)
    expect(page.locator("#api-base")).to_have_value(f"{web_stack.url}/api")
    page.fill("#api-base", "http://127.0.0.1:9/api/")
    page.press("#api-base", "Enter")
    expect(page.locator("#events-status")).to_contain_text("not reachable at http://127.0.0.1:9")
    page.reload()
    expect(page.locator("#api-base")).to_have_value("http://127.0.0.1:9/api")
    page.fill("#api-base", "ftp://example")
    page.press("#api-base", "Enter")
    expect(page.locator("#status")).to_contain_text("must be an http:// or https:// URL")
    page.click("#api-reset")
    expect(page.locator("#api-base")).to_have_value(f"{web_stack.url}/api")
    page.reload()
    expect(page.locator("#api-base")).to_have_value(f"{web_stack.url}/api")
    expect(page.locator("#events-status")).to_contain_text("Updated")


def test_keyboard_only_and_labelled(page: Page, web_stack: LauncherProcess,
                                    seed_data: Path) -> None:
    page.route("**/api/grayscale/grayscale", lambda route: route.fulfill(
        status=200, content_type="image/png", body=png_bytes()))
    # Playwright turns Chromium's file-chooser interception on, without waiting, when the page
    # gets its first "filechooser" listener; subscribed only by expect_file_chooser below, the
    # key press could reach Chromium first and its chooser go unseen (1 start in 8 here).
    page.on("filechooser", lambda _: None)
    page.goto(web_stack.url)
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('input')]
        .filter((el) => el.labels.length === 0).map((el) => el.id)""")
    assert unlabelled == []
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "file":
            break
    else:
        raise AssertionError("the file input is not reachable with Tab")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(seed_data / "food.jpg")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "run-grayscale"
    page.keyboard.press("Enter")
    expect(page.locator("#gray")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("Grayscale done")

