"""How the page starts, in Debian's Chromium (Playwright): from the memory snapshot, or the normal way saying why.

The snapshot (web/python-start.js, web/python-snapshot.js) and the normal start predict the same digits and evaluate the
test set alike; a damaged or stale snapshot is not used and the page says so (#app data-start,
data-start-reason); the service worker keeps the snapshot for offline reloads; the canvas takes
strokes before the page's modules have loaded, and what is drawn then is predicted once Python is ready.
"""

import json

import pytest

from conftest import skip_unless_available
from handwriting import arc
from web_support import chromium_missing_reason, draw_strokes, wait_until_ready

pytestmark = [pytest.mark.browser, skip_unless_available(chromium_missing_reason())]

DRAWINGS = {  # canvas strokes, as a hand would draw them
    1: [[(182, 40), (182, 120), (183, 180), (184, 240), (185, 320)]],
    7: [[(100, 60), (180, 60), (270, 60), (230, 160), (195, 240), (170, 320)]],
    0: [arc(182, 182, 90, 140, points=24)],
}
SAMPLES = (0, 1, 2, 3, 4, 7, 42, 1234, 5000, 9999)  # test images
ARCHS = ("mnist-fc", "mnist-cnn")

PREDICTIONS = """async ([indices, arch]) => {
    if (arch) await window.mnistCore.call('select_model', {name: arch});
    const out = [];
    for (const index of indices) out.push((await window.mnistCore.call('sample', {index})).probabilities);
    const {accuracy, loss, confusion, misclassified} = await window.mnistCore.call('evaluate_test_set');
    return {samples: out, evaluation: {accuracy, loss, confusion, misclassified}};
}"""


# site, origin and browser: tests/conftest.py


def no_snapshot(route):
    """The worker finds no snapshot.json (the page's size checks, HEAD requests, still do)."""
    if route.request.method == "HEAD":
        route.continue_()
    else:
        route.fulfill(status=404)


def open_page(browser, origin, routes=()):
    """A fresh context with `routes` ((glob, handler), ...) and the page open at the origin (not yet ready)."""
    context = browser.new_context()
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    for pattern, handler in routes:
        page.route(pattern, handler)
    page.goto(f"{origin}/index.html")
    return page


def started(page):
    """(data-start, data-start-reason) once the page is ready."""
    wait_until_ready(page, timeout_ms=180_000)
    return page.get_attribute("#app", "data-start"), page.get_attribute("#app", "data-start-reason")


def last_probabilities(page):
    return page.evaluate("() => window.mnistCore.last.probabilities")


def what_it_reads(page):
    """The page's predictions of DRAWINGS, of the SAMPLES and its evaluation of the test set, for each model."""
    results = {}
    for arch in ARCHS:
        found = page.evaluate(PREDICTIONS, [list(SAMPLES), arch])
        drawn = {}
        for digit, strokes in DRAWINGS.items():
            drawn[digit] = (draw_strokes(page, strokes), last_probabilities(page))
        results[arch] = {**found, "drawn": drawn}
    return results


def test_the_snapshot_and_the_normal_start_read_the_same_digits_and_evaluate_alike(browser, origin):
    snapshot = open_page(browser, origin)
    normal = open_page(browser, origin, [("**/pyodide/snapshot.json", no_snapshot)])
    try:
        assert started(snapshot) == ("snapshot", "")
        start, reason = started(normal)
        assert start == "normal" and reason.startswith("no snapshot in this build")
        from_snapshot, from_normal = what_it_reads(snapshot), what_it_reads(normal)
        assert from_snapshot == from_normal  # the same float32 probabilities, bit for bit
        for arch in ARCHS:
            assert {digit: read for digit, (read, _) in from_snapshot[arch]["drawn"].items()} == {1: 1, 7: 7, 0: 0}
            assert float(from_snapshot[arch]["evaluation"]["accuracy"]) > 98
        assert snapshot.errors == normal.errors == []
    finally:
        snapshot.context.close()
        normal.context.close()


def damaged_copy(site, name="snapshot.bin"):
    """A handler serving the site's pyodide/`name` with one byte changed in the middle (its size as the build
    wrote it)."""
    data = bytearray((site / "pyodide" / name).read_bytes())
    data[len(data) // 2] ^= 0xFF

    def handler(route):
        if route.request.method == "HEAD":
            route.continue_()
        else:
            route.fulfill(body=bytes(data), content_type="application/octet-stream")
    return handler


def test_a_damaged_snapshot_is_not_used_and_the_page_says_so(browser, origin, site):
    page = open_page(browser, origin, [("**/pyodide/snapshot.bin", damaged_copy(site))])
    try:
        start, reason = started(page)
        assert start == "normal"
        assert reason.startswith("damaged: pyodide/snapshot.bin has sha256 ") and "expected" in reason
        assert draw_strokes(page, DRAWINGS[1]) == 1
        assert page.errors == []
    finally:
        page.context.close()


def test_a_damaged_rest_of_the_snapshot_gives_way_to_the_wheels_and_the_page_works_on(browser, origin, site):
    warnings = []
    page = open_page(browser, origin, [("**/pyodide/snapshot-rest.bin", damaged_copy(site, "snapshot-rest.bin"))])
    page.on("console", lambda message: message.type == "warning" and warnings.append(message.text))
    try:
        assert started(page) == ("snapshot", "")
        assert draw_strokes(page, DRAWINGS[7]) == 7
        found = page.evaluate(PREDICTIONS, [[0, 1], None])  # waits for the rest (the wheels) and the test set
        assert float(found["evaluation"]["accuracy"]) > 98
        assert page.evaluate("async () => (await window.mnistCore.call('explain', "
                             "{image: new Uint8Array(784)})).probabilities.length") == 10
        assert any(text.startswith("the snapshot's rest is not used (damaged: pyodide/snapshot-rest.bin has sha256 ")
                   and "installing NumPy and mnist_core from their wheels" in text for text in warnings), warnings
        assert page.errors == []
    finally:
        page.context.close()


def test_a_standard_library_other_than_the_snapshot_s_is_refused_by_name(browser, origin, site):
    page = open_page(browser, origin, [("**/pyodide/python_stdlib.zip", damaged_copy(site, "python_stdlib.zip"))])
    try:
        assert started(page) == ("snapshot", "")
        assert draw_strokes(page, DRAWINGS[1]) == 1  # what needs only the snapshot works
        error = page.evaluate("() => window.mnistCore.call('random_sample', {}).then(() => '', (e) => e.message)")
        assert error.startswith("pyodide/python_stdlib.zip has sha256 ") and "the snapshot was made with" in error
    finally:
        page.context.close()


def test_a_snapshot_left_from_another_build_is_stale_and_not_used(browser, origin, site):
    # The site rebuilt with another mnist_core (build.json lists its new sha256), the snapshot not.
    build = json.loads((site / "build.json").read_text())
    wheel = next(name for name in build["files"] if name.startswith("pyodide/mnist_core-"))
    build["files"][wheel]["sha256"] = "0" * 64
    rebuilt = json.dumps(build)
    page = open_page(browser, origin, [("**/build.json", lambda route: route.fulfill(body=rebuilt,
                                                                                     content_type="application/json"))])
    try:
        start, reason = started(page)
        assert start == "normal"
        assert reason == f"stale: made from other files than this build's ({wheel})"
        assert draw_strokes(page, DRAWINGS[7]) == 7
    finally:
        page.context.close()


def test_a_drawing_made_before_the_page_s_modules_load_is_predicted_once_python_is_ready(browser, origin):
    held = []  # app.js, kept from the page until the drawing is made: no module, no worker yet
    context = browser.new_context()
    page = context.new_page()
    page.route("**/app.js", lambda route: held.append(route))
    page.goto(f"{origin}/index.html", wait_until="commit")  # DOMContentLoaded waits for the modules
    page.wait_for_function("() => performance.getEntriesByName('strokes').length === 1")
    try:
        box = page.locator("#canvas").bounding_box()
        scale = box["height"] / 364  # the canvas is 364 pixels tall
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in DRAWINGS[1][0]]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:3]:
            page.mouse.move(*point, steps=3)
        assert len(held) == 1 and page.evaluate("() => window.mnistCore === undefined")
        held[0].continue_()  # the modules load while the stroke goes on: drawing.js takes it over
        page.wait_for_function("() => window.mnistCore !== undefined")
        for point in points[3:]:
            page.mouse.move(*point, steps=3)
        page.mouse.up()
        wait_until_ready(page, timeout_ms=180_000)
        page.wait_for_function("() => document.querySelector('#prediction').dataset.state === 'final'")
        assert page.get_attribute("#prediction", "data-digit") == "1"
        marks = page.evaluate("() => [performance.getEntriesByName('strokes')[0].startTime, "
                              "performance.getEntriesByName('first-contentful-paint')[0].startTime]")
        assert marks[0] <= marks[1]  # strokes were taken from the first paint on
    finally:
        context.close()


def test_offline_the_service_worker_serves_the_snapshot(browser, origin):
    page = open_page(browser, origin)
    try:
        assert started(page) == ("snapshot", "")
        page.wait_for_selector('#app[data-offline="ready"]', state="attached", timeout=180_000)
        page.context.set_offline(True)
        page.reload()
        assert started(page) == ("snapshot", "")
        assert draw_strokes(page, DRAWINGS[0]) == 0
        assert page.errors == []
    finally:
        page.context.close()


def test_once_the_site_is_cached_the_runtime_s_script_is_run_ahead_of_the_next_visit(browser, origin):
    """The visit that filled the service worker's cache runs the runtime's script once more, in a worker of its own that
    it ends (web/offline.js, warm-runtime.js: the next visit then finds it compiled); a visit the cache already served
    does not."""
    page = open_page(browser, origin)
    runtime_workers, ended = [], []

    def spawned(worker):
        if worker.url.endswith("/warm-runtime.js"):
            runtime_workers.append(worker)
            worker.on("close", lambda closed: ended.append(closed))

    page.on("worker", spawned)
    try:
        assert started(page) == ("snapshot", "")
        page.wait_for_selector('#app[data-code-cache="warmed"]', state="attached", timeout=180_000)
        assert len(runtime_workers) == 1
        for _ in range(100):
            if ended:
                break
            page.wait_for_timeout(100)
        assert ended == runtime_workers
        page.reload()
        assert started(page) == ("snapshot", "")
        page.wait_for_selector('#app[data-offline="ready"]', state="attached", timeout=180_000)
        assert page.get_attribute("#app", "data-code-cache") is None
        assert len(runtime_workers) == 1
        assert page.errors == []
    finally:
        page.context.close()
