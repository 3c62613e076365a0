"""The page's start-up checks (web/startup.js) and its phone layout, in Debian's Chromium (Playwright).

An unbuilt site, a missing or damaged file, an old build, a browser without WebAssembly or module
workers, a worker that fails to start, a page opened as a file: each gets its own one-line message
saying what to do (test-artifacts/unbuilt.png). The browser's own problems are found before the
worker starts; the site's while it starts, and then it is stopped. On a 390x844 phone the
prediction shows without scrolling (test-artifacts/phone.png).
"""

import json
import shutil
import subprocess

import pytest

from conftest import skip_unless_available
from web_support import (
    ARTIFACTS_DIR,
    REPO,
    chromium_missing_reason,
    serve,
    wait_until_ready,
)

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

BUILD_COMMAND = "python build_wasm.py"
PHONE = {"width": 390, "height": 844}


# site, origin and browser: tests/conftest.py


@pytest.fixture
def context(browser):
    context = browser.new_context()
    yield context
    context.close()


def open_page(context, url, routes=(), init_script=None):
    """A page at `url` with `routes` ((glob, handler), ...) in place; returns (page, URLs it requested)."""
    page = context.new_page()
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    for pattern, handler in routes:
        page.route(pattern, handler)
    if init_script:
        page.add_init_script(init_script)
    page.goto(url)
    return page, requests


def start_up_problem(page):
    """(data-problem, status line) once the page has given up starting."""
    page.wait_for_selector('#app[data-state="error"], #app[data-state="ready"]', timeout=60_000)
    assert page.get_attribute("#app", "data-state") == "error", page.text_content("#status")
    return page.get_attribute("#app", "data-problem"), page.text_content("#status")


def worker_started(requests):
    return any(url.endswith("/worker.js") for url in requests)


def worker_stopped(page):
    """Whether the page has no worker running (one started as the page was parsed is stopped): the workers' close
    reaches Playwright a moment after, so they are looked at again for up to 10 s."""
    for _ in range(200):
        if page.workers == []:
            return True
        page.wait_for_timeout(50)
    return False


def unbuilt_copy(destination):
    """web/ as a fresh clone has it: the files git does not ignore, none of what build_wasm.py adds."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "web"], cwd=REPO,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (REPO / name).is_file():  # (a tracked file deleted in this working tree is not copied)
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, destination / name)
    return destination / "web"


def test_an_unbuilt_site_says_to_run_build_wasm_and_stops_its_worker(context, tmp_path):
    unbuilt = unbuilt_copy(tmp_path)
    assert (unbuilt / "index.html").is_file() and (unbuilt / "startup.js").is_file()
    assert not [path for path in unbuilt.rglob("*") if path.name in ("pyodide", "models", "data", "build.json")]
    with serve(unbuilt) as unbuilt_origin:
        page, requests = open_page(context, f"{unbuilt_origin}/")
        kind, message = start_up_problem(page)
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / "unbuilt.png"))
    assert kind == "unbuilt"
    assert BUILD_COMMAND in message and "./scripts/run-app.sh" in message
    assert "pyodide/" in message and "models/" in message and "data/" in message
    assert "\n" not in message.strip()
    assert page.is_disabled("#random")
    assert not page.is_visible("#progress")
    assert worker_stopped(page)


def test_a_missing_model_is_named_with_the_command_to_rebuild(context, origin):
    page, requests = open_page(context, f"{origin}/",
                               [("**/models/mnist-cnn-f32.gguf", lambda route: route.fulfill(status=404))])
    kind, message = start_up_problem(page)
    assert kind == "missing"
    assert "models/mnist-cnn-f32.gguf" in message and BUILD_COMMAND in message
    assert worker_stopped(page)


def test_a_file_of_another_size_than_the_build_wrote_is_called_damaged(context, origin, site):
    wasm = "pyodide/pyodide.asm.wasm"
    page, _ = open_page(context, f"{origin}/", [(f"**/{wasm}", lambda route: route.fulfill(body=b"\0" * 100))])
    kind, message = start_up_problem(page)
    assert kind == "corrupt"
    expected = json.loads((site / "build.json").read_text())["files"][wasm]["size"]
    assert f"{wasm} is 100 bytes, but the build wrote {expected}" in message and BUILD_COMMAND in message


def test_a_site_built_before_build_json_or_in_another_format_is_called_stale(context, origin):
    page, _ = open_page(context, f"{origin}/", [("**/build.json", lambda route: route.fulfill(status=404))])
    kind, message = start_up_problem(page)
    assert kind == "stale" and "older build_wasm.py" in message and BUILD_COMMAND in message
    other_format = json.dumps({"format": 0, "files": {}})
    page, _ = open_page(context, f"{origin}/", [("**/build.json", lambda route: route.fulfill(body=other_format))])
    kind, message = start_up_problem(page)
    assert kind == "stale" and "build format 0" in message and BUILD_COMMAND in message


def test_a_browser_without_webassembly_is_told_so(context, origin):
    page, requests = open_page(context, f"{origin}/", init_script="delete globalThis.WebAssembly;")
    kind, message = start_up_problem(page)
    assert kind == "webassembly" and "WebAssembly" in message
    assert not worker_started(requests)


def test_a_browser_without_module_workers_is_told_so(context, origin):
    # What an older browser does: accept the options object without looking at its `type`.
    ignores_type = "const RealWorker = Worker; globalThis.Worker = function (url) { return new RealWorker(url); };"
    page, requests = open_page(context, f"{origin}/", init_script=ignores_type)
    kind, message = start_up_problem(page)
    assert kind == "module-worker" and "module workers" in message
    assert not worker_started(requests)


def test_a_worker_that_fails_to_start_is_reported_as_such(context, origin):
    broken = "this is not JavaScript ("
    page, requests = open_page(context, f"{origin}/", [
        ("**/worker.js", lambda route: route.fulfill(body=broken, content_type="text/javascript"))])
    kind, message = start_up_problem(page)
    assert kind == "worker" and "worker.js" in message and "failed to start" in message
    assert worker_started(requests)


def test_a_page_opened_as_a_file_says_to_serve_it(context, site):
    page, _ = open_page(context, (site / "index.html").as_uri())
    kind, message = start_up_problem(page)
    assert kind == "file" and "./scripts/run-app.sh" in message and "http://localhost:8000/" in message


def test_on_a_phone_the_prediction_shows_over_the_canvas_without_scrolling(browser, origin):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        page.goto(f"{origin}/")
        wait_until_ready(page)
        box = page.locator("#canvas").bounding_box()
        # A 7, drawn with the mouse (touch drawing is checked in test_web_page.py).
        points = [(0.27, 0.16), (0.5, 0.16), (0.74, 0.16), (0.63, 0.44), (0.54, 0.66), (0.47, 0.88)]
        page.mouse.move(box["x"] + points[0][0] * box["width"], box["y"] + points[0][1] * box["height"])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=4)
        page.mouse.up()
        page.wait_for_function("document.querySelector('#prediction').dataset.state === 'final'")
        assert page.evaluate("scrollY") == 0
        digit = page.text_content("#digit").strip()
        probability = page.text_content("#digit-probability").strip()
        # "7", or "7?" when the model is unsure of it.
        digit = digit.removesuffix("?") if page.get_attribute("#prediction", "data-sure") == "false" else digit
        assert digit == page.get_attribute("#prediction", "data-digit") and digit.isdigit()
        assert probability.endswith("%") and float(probability[:-1]) > 0
        for selector in ("#digit", "#digit-probability"):
            element = page.locator(selector).bounding_box()
            assert element["width"] > 0 and element["height"] > 0, selector
            assert 0 <= element["x"] and element["x"] + element["width"] <= PHONE["width"], (selector, element)
            assert 0 <= element["y"] and element["y"] + element["height"] <= PHONE["height"], (selector, element)
            # Over the canvas's corner, where the eye is while drawing.
            assert box["x"] <= element["x"] and element["x"] + element["width"] <= box["x"] + box["width"]
            assert box["y"] <= element["y"] and element["y"] + element["height"] <= box["y"] + box["height"] / 3
        # The full bars stay, below the canvas.
        assert page.locator("#bars li").count() == 10
        assert page.locator("#bars").bounding_box()["y"] > box["y"] + box["height"]
        ARTIFACTS_DIR.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS_DIR / "phone.png"))  # the viewport only: what shows unscrolled
    finally:
        context.close()
