"""bench_web.py's rows for the "inside the model" view, for each model, on one person's drawing of each digit
(tests/handwriting.py), each drawn with the mouse on the page's canvas:

  prediction + explanation   App.read_number of the canvas, as the page reads a drawing (the digit found, prepared,
                             one forward pass), plus App.explain
                             of the image it read (forward and backward pass, every layer's activations and the
                             saliency, as float32 arrays): what the view costs the worker with each prediction
  occlusion                  App.occlude_image of the image (one batched forward pass of 170 images)

Each time is the worker's own (web/worker.js times the Python call and the conversion of its result), the median
over every drawing and repeat; the page's round trip is beside it. Targets: <= 20 ms and <= 200 ms, both models.

Alone, without bench_web.py's other rows: python bench/web_inside.py [--repeats 5] [--occlusions 2]
"""

import argparse
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # handwriting: the drawings

from handwriting import STYLES  # noqa: E402
from web_support import ARCHS, build_site, draw_strokes, launch_chromium, serve, wait_until_ready  # noqa: E402

TARGETS_MS = {"explanation": 20, "occlusion": 200}

TIME_INSIDE = """async ([repeats, occlusions]) => {
    const canvas = document.querySelector('#canvas');
    const times = {predict: [], explain: [], both: [], roundTrip: [], occlude: [], occludeRoundTrip: []};
    let image28 = null;
    for (let i = 0; i < repeats; i++) {
        const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const started = performance.now();
        const strokes = window.mnistCore.strokes().map((points) => Float32Array.from(points));
        const read = await window.mnistCore.call(
            'read_number', {pixels, width: canvas.width, height: canvas.height, strokes}, [pixels.buffer]);
        const explained = await window.mnistCore.call('explain', {image: read.digits[0].image28});
        times.roundTrip.push(performance.now() - started);
        times.predict.push(read.ms);
        times.explain.push(explained.ms);
        times.both.push(read.ms + explained.ms);
        image28 = read.digits[0].image28;
    }
    for (let i = 0; i < occlusions; i++) {
        const started = performance.now();
        const occluded = await window.mnistCore.call('occlude_image', {image28_bytes: image28});
        times.occludeRoundTrip.push(performance.now() - started);
        times.occlude.push(occluded.ms);
    }
    return times;
}"""


def time_inside(page, repeats, occlusions):
    """Every digit of STYLES drawn on `page` (the selected model), its explanation and occlusion timed:
    {kind: [ms, ...]} over all drawings."""
    times = {}
    for strokes in STYLES.values():
        draw_strokes(page, strokes)
        # The view's own explanation of the drawing first: the worker is idle when the timing starts.
        page.wait_for_function("document.querySelector('#inside').dataset.state === 'final' && "
                               "document.querySelector('#inside').dataset.digit === "
                               "document.querySelector('#prediction').dataset.digit")
        page.wait_for_timeout(200)
        for kind, values in page.evaluate(TIME_INSIDE, [repeats, occlusions]).items():
            times.setdefault(kind, []).extend(values)
    return times


def report_inside(page, arch, repeats=5, occlusions=2):
    """Print the rows for the selected model, `arch`."""
    times = time_inside(page, repeats, occlusions)
    median = {kind: statistics.median(values) for kind, values in times.items()}
    drawings = len(STYLES)
    target = TARGETS_MS["explanation"]
    print(f"{arch} prediction + explanation (activations and saliency) of a drawing: median "
          f"{median['both']:.2f} ms in the worker ({median['predict']:.2f} + {median['explain']:.2f} ms; "
          f"p90 {sorted(times['both'])[int(0.9 * len(times['both']))]:.2f} ms; page round trip "
          f"{median['roundTrip']:.2f} ms) over {drawings} drawings x {repeats}; target <= {target} ms: "
          f"{'meets' if median['both'] <= target else 'MISSES'}")
    target = TARGETS_MS["occlusion"]
    print(f"{arch} occlusion of a drawing: median {median['occlude']:.1f} ms in the worker (page round trip "
          f"{median['occludeRoundTrip']:.1f} ms) over {drawings} drawings x {occlusions}; target <= {target} ms: "
          f"{'meets' if median['occlude'] <= target else 'MISSES'}")


def report_inside_rows(browser, origin, repeats=5, occlusions=2):
    """The rows for each model, in a page of its own of `browser` (Playwright's Chromium) on the site at `origin`."""
    page = browser.new_page()
    page.goto(f"{origin}/index.html")
    wait_until_ready(page, timeout_ms=120_000)
    for arch in ARCHS:
        if page.get_attribute("#app", "data-model") != arch:
            page.select_option("#model", arch)
            page.wait_for_selector(f'#app[data-model="{arch}"]')
        report_inside(page, arch, repeats, occlusions)
    page.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="explanations timed per drawing (default 5)")
    parser.add_argument("--occlusions", type=int, default=2, help="occlusions timed per drawing (default 2)")
    args = parser.parse_args(argv)

    from playwright.sync_api import sync_playwright

    site = build_site()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with serve(site) as origin, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        report_inside_rows(browser, origin, args.repeats, args.occlusions)
        browser.close()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
