"""The web page's speed on localhost in Chromium, Firefox or WebKit: start-up (first, repeat visit), bytes, predictions.

Targets: ready <= 1.0 s on a first visit and <= 0.6 s on a repeat visit (Chromium), <= 1.5 s on a
first visit (Firefox, WebKit); one prediction <= 10 ms (mnist-fc) and <= 30 ms (mnist-cnn); a
5-digit number read <= 30 ms; evaluation of the 10,000 test images (App.evaluate_test_set, the
#evaluate button's work) <= 3 s for each model.

"ready" is the page's own clock: performance.now() when the worker has Python, mnist_core and the
model loaded (the canvas takes strokes from the first paint, and a drawing is predicted from
ready on), counted from the start of navigation. Each run is a browser with a fresh profile: the
first visit (nothing cached), then, once the service worker has the site and the page has run the
runtime's script for the next visit's code cache (data-code-cache, two seconds: a visitor's first
visit lasts longer), a second visit (the repeat visit: what a returning visitor gets; --later N
times N more visits after it), and, once the browser has been closed and started again on the same
profile, one more (the repeat visit after the browser restarted: a visitor back another day, when
nothing of the site runs any more, its service worker included). Each visit
goes from a blank page once the machine has been quiet for half a second (settle): a browser just
started, or a new page, goes on with work of its own for a second or more, which a visitor's open
and idle browser has done; --at-once opens each visit in a new page at once instead (how visits
were timed until 2026-12-07). The bytes are what the server sent (bodies), before ready and, on the
first visit, after it until the service worker had the site.
The phase table gives, for each step of the start (web/app.js, worker.js, python-start.js), the
median time it ended and what it added. A prediction is timed in the worker around the Python
call: App.read_number of the canvas and its strokes, as the page reads every drawing (a digit: the
digits found, the drawing prepared, one forward pass; a 5-digit number: the digits found, each
prepared, one batch), and App.sample for a test image (forward pass only); the round trip seen by
the page is reported beside it.

--start normal times the normal start instead of the snapshot's (a copy of the site whose
snapshot.json has another format, so the page falls back and says why), for an A/B of the two.

--against DIR times another built site beside this one (DIR: a copy of web/ as built before a
change, say): each round one run of each, the order alternating, --runs rounds; then both sites'
start rows and in how many rounds each visit was sooner. This machine's speed wanders by a fifth
within minutes, so only runs taken in turn compare. The other rows are left out.

Usage: python bench/bench_web.py [--engine chromium] [--runs 5] [--later 0] [--start snapshot|normal] [--at-once]
                                 [--against DIR] [--predictions 50] [--evaluations 2] [--learning all|corrections|none]
(builds the site first if needed; the learning rows, bench/web_learning.py, are Chromium's)
"""

import argparse
import contextlib
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO / "tests"), str(REPO)]  # web_support, browser_engines: build, serve, launch; sitebuild

from browser_engines import ENGINES, fresh_profile, launch  # noqa: E402
from handwriting import STROKES, written  # noqa: E402
from web_support import ARCHS, build_site, serve_site  # noqa: E402

# The visits each run times (besides --later's), as the report names them.
VISITS = {"first": "first visit", "repeat": "repeat visit", "restarted": "repeat visit after the browser restarted"}
TARGETS_MS = {"first": {"chromium": 1000, "firefox": 1500, "webkit": 1500}, "repeat": {"chromium": 600},
              "restarted": {"chromium": 600}, "mnist-fc": 10, "mnist-cnn": 30, "number": 30, "evaluation": 3000,
              "frame gap": 500}
STROKE_SEVEN = STROKES[7]
NUMBER = written([[STROKES[int(c)]] for c in "31415"], step=190)   # one stroke a digit, with visible gaps

TIME_PREDICTIONS = """async ([kind, count]) => {
    const canvas = document.querySelector('#canvas');
    const worker = [], roundTrip = [];
    for (let i = 0; i < count; i++) {
        let request;
        if (kind === 'read') {  // what the page asks for a drawing: its digits, with the strokes drawn
            const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
            const strokes = window.mnistCore.strokes().map((points) => Float32Array.from(points));
            const args = {pixels, width: canvas.width, height: canvas.height, strokes};
            request = ['read_number', args, [pixels.buffer]];
        } else {
            request = ['sample', {index: i}, []];
        }
        const started = performance.now();
        const result = await window.mnistCore.call(...request);
        roundTrip.push(performance.now() - started);
        worker.push(result.ms);
    }
    return {worker, roundTrip};
}"""

# ms: the time `python -m mnist_core.eval` reports (forward pass and loss); roundTrip: as the page sees it.
# ms: the time `python -m mnist_core.eval` reports (forward pass and loss); roundTrip: as the page sees it;
# frameGap: the longest time between two animation frames of the page meanwhile (its own thread stays free).
TIME_EVALUATION = """async () => {
    const gaps = [];
    let last = performance.now(), running = true;
    const frame = (now) => { gaps.push(now - last); last = now; if (running) requestAnimationFrame(frame); };
    requestAnimationFrame(frame);
    const started = performance.now();
    const result = await window.mnistCore.call('evaluate_test_set');
    running = false;
    return {ms: result.ms, roundTrip: performance.now() - started, frameGap: Math.max(...gaps), frames: gaps.length};
}"""
SELECT_MODEL = "async (name) => { await window.mnistCore.call('select_model', {name}); return true; }"
OFFLINE = "() => document.querySelector('#app').dataset.offline"
CODE_CACHE_WARMED = "() => document.querySelector('#app').dataset.codeCache !== 'warming'"


def median_and_p90(values):
    values = sorted(values)
    return statistics.median(values), values[min(len(values) - 1, int(0.9 * len(values)))]


def verdict(value, target):
    return "meets" if value <= target else "MISSES"


def seconds(values):
    return ", ".join(f"{v / 1000:.2f}" for v in values)


def normal_start_site(site, destination):
    """`site` as links to its files, but for a snapshot.json of another format (same size): the page starts the
    normal way. The service worker's list is written again for it."""
    from sitebuild.offline import write_offline_manifest

    for path in site.rglob("*"):
        if path.is_file():
            target = destination / path.relative_to(site)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    manifest = destination / "pyodide" / "snapshot.json"
    text = manifest.read_text()
    manifest.unlink()
    manifest.write_text(re.sub(r'"format": \d+,', '"format": 0,', text))
    write_offline_manifest(destination)
    return destination


def cpu_times():
    """(busy, total) CPU time of the whole machine so far, in ticks (Linux's /proc/stat), or None elsewhere."""
    try:
        fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def settle(quiet_s=0.5, busy_at_most=0.15, timeout_s=30):
    """Wait until the machine has been quiet (its CPUs at most `busy_at_most` busy) for `quiet_s`: a browser just
    started, or a page just closed, goes on working for a second or more (Chromium's own interface pages among
    it), and a visitor's browser is open and idle when they come. Two seconds where /proc/stat is missing."""
    previous = cpu_times()
    if previous is None:
        time.sleep(2)
        return
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        time.sleep(0.1)
        now = cpu_times()
        busy = (now[0] - previous[0]) / max(1, now[1] - previous[1])
        previous = now
        quiet_since = (quiet_since or time.monotonic()) if busy <= busy_at_most else None
        if quiet_since and time.monotonic() - quiet_since >= quiet_s:
            return


def visit(browser, served, url, settled=True):
    """Go to `url` from a blank page, once the machine is quiet (settle; at once when not `settled`);
    (#app's data once ready, bytes the server sent from navigation to ready)."""
    if settled:
        browser.open("about:blank")
        settle()
    started = time.monotonic()
    if settled:
        browser.navigate(url)
    else:
        browser.open(url)
    app = browser.wait_until_ready()
    ready = started + float(app["loadMs"]) / 1000
    return app, served.bytes_sent(started, ready)


def time_starts(engine, served, runs, settled=True, later=0):
    """Per run: {first, repeat, restarted: #app data, first_bytes, after_bytes, repeat_bytes, restarted_bytes,
    later: [#app data]}. "restarted" is a visit once the browser has been closed and started again on the same profile:
    a visitor coming back another day, when nothing of the site runs any more (its service worker included)."""
    url = f"{served.origin}/index.html"
    results = []
    for _ in range(runs):
        with fresh_profile(engine) as profile:  # kept across the browser's restart
            with launch(engine, profile) as browser:
                first, first_bytes = visit(browser, served, url, settled)
                ready_at = time.monotonic()
                offline = browser.wait_for(OFFLINE, timeout_s=600)
                browser.wait_for(CODE_CACHE_WARMED)  # the first visit's last work for the next one (web/offline.js)
                after_bytes = served.bytes_sent(ready_at, time.monotonic())
                repeat, repeat_bytes = visit(browser, served, url, settled)
                more = [visit(browser, served, url, settled)[0] for _ in range(later)]
            with launch(engine, profile) as browser:
                restarted, restarted_bytes = visit(browser, served, url, settled)
            results.append({"first": first, "repeat": repeat, "restarted": restarted, "offline": offline,
                            "first_bytes": first_bytes, "after_bytes": after_bytes, "repeat_bytes": repeat_bytes,
                            "restarted_bytes": restarted_bytes, "later": more, "version": browser.version})
    return results


def compare_starts(engine, sites, rounds, settled=True, later=0):
    """{name: [run results, as time_starts gives them]} for `sites` ({name: ServedSite}): each round one run of each,
    the order alternating."""
    results = {name: [] for name in sites}
    for n in range(rounds):
        for name in (list(sites) if n % 2 == 0 else list(sites)[::-1]):
            results[name] += time_starts(engine, sites[name], 1, settled, later)
    return results


def ready_ms(run, visit):
    """When `run` was ready on `visit` ("first", "repeat", "restarted", or 3, 4, ... for the later ones), ms since
    navigation."""
    app = run[visit] if isinstance(visit, str) else run["later"][visit - 3]
    return float(app["loadMs"])


def report_comparison(engine, results):
    """Each site's start rows, then for each visit the medians side by side and in how many rounds each was sooner."""
    for name, runs in results.items():
        print(f"== {name}")
        report_starts(engine, runs)
    (a, runs_a), (b, runs_b) = results.items()
    for visit in [*VISITS, *range(3, 3 + len(runs_a[0]["later"]))]:
        mine = [ready_ms(run, visit) for run in runs_a]
        theirs = [ready_ms(run, visit) for run in runs_b]
        sooner = sum(x < y for x, y in zip(mine, theirs, strict=True))
        label = VISITS[visit] if isinstance(visit, str) else f"visit {visit}"
        print(f"{label}: median {statistics.median(mine) / 1000:.2f} s ({a}) against "
              f"{statistics.median(theirs) / 1000:.2f} s ({b}); {a} sooner in {sooner} of {len(mine)} rounds")


def report_phases(visits):
    """The median of each step's end over `visits` (#app data), in order, and what each added."""
    marks = [json.loads(app["loadMarks"]) for app in visits]
    names = sorted({n for m in marks for n in m}, key=lambda n: statistics.median(m.get(n, 0) for m in marks))
    previous = 0.0
    rows = []
    for mark in names:
        at = statistics.median(m[mark] for m in marks if mark in m)
        rows.append(f"{mark} {at:.0f} (+{at - previous:.0f})")
        previous = at
    print(f"  phases, ms since navigation (median; + what the step added): {', '.join(rows)}")


def report_starts(engine, results):
    for name, label in VISITS.items():
        ready = [ready_ms(r, name) for r in results]
        starts = sorted({r[name].get("start", "?") for r in results})
        target = TARGETS_MS[name].get(engine)
        goal = f"; target <= {target / 1000:.1f} s: {verdict(statistics.median(ready), target)}" if target else ""
        if name == "restarted" and any(r["restarted_bytes"] for r in results):  # WebKit's driven MiniBrowser
            goal += "; NOT a repeat visit: the browser kept nothing of the site across its restart"
        print(f"{label}, navigation to ready: median {statistics.median(ready) / 1000:.2f} s over {len(ready)} "
              f"({seconds(ready)} s), started from {'/'.join(starts)}{goal}")
        report_phases([r[name] for r in results])
    for n in range(len(results[0]["later"])):
        ready = [ready_ms(r, n + 3) for r in results]
        print(f"visit {n + 3}, navigation to ready: median {statistics.median(ready) / 1000:.2f} s over {len(ready)} "
              f"({seconds(ready)} s)")
        report_phases([r["later"][n] for r in results])
    reasons = sorted({r["first"].get("startReason", "") for r in results} - {""})
    if reasons:
        print(f"  why not the snapshot: {'; '.join(reasons)}")
    mb = lambda key: statistics.median(r[key] for r in results) / 1e6  # noqa: E731
    print(f"  bytes the server sent (median): first visit {mb('first_bytes'):.1f} MB before ready, "
          f"{mb('after_bytes'):.1f} MB after it until the service worker had the site "
          f"(data-offline {'/'.join(sorted({r['offline'] for r in results}))}); "
          f"repeat visit {mb('repeat_bytes'):.2f} MB before ready, after the restart {mb('restarted_bytes'):.2f} MB")


def report_predictions(browser, served, args):
    browser.open(f"{served.origin}/index.html")
    browser.wait_until_ready()
    browser.wait_for(OFFLINE, timeout_s=600)  # the service worker caches the site once the page is ready
    for arch in ARCHS:
        browser.evaluate(SELECT_MODEL, arch)
        for drawing, kind, what, target in (
                ([STROKE_SEVEN], "read", "a drawn digit (find, prepare, forward)", TARGETS_MS[arch]),
                (NUMBER, "read", "a drawn 5-digit number (find, prepare each, one batch)", TARGETS_MS["number"]),
                (None, "sample", "a test image (forward)", TARGETS_MS[arch])):
            if drawing:
                browser.evaluate("() => document.querySelector('#clear').click()")
                browser.draw(drawing)
                browser.evaluate(TIME_PREDICTIONS, [kind, 3])  # warm-up
            timings = browser.evaluate(TIME_PREDICTIONS, [kind, args.predictions])
            worker_median, worker_p90 = median_and_p90(timings["worker"])
            trip_median, _ = median_and_p90(timings["roundTrip"])
            print(f"{arch} one prediction, {what}: median {worker_median:.2f} ms in the worker "
                  f"(p90 {worker_p90:.2f} ms; page round trip {trip_median:.2f} ms) over {args.predictions}; "
                  f"target <= {target} ms: {verdict(worker_median, target)}")
        evaluations = [browser.evaluate(TIME_EVALUATION) for _ in range(args.evaluations)]
        if not evaluations:  # --evaluations 0
            continue
        best = min(evaluations, key=lambda e: e["ms"])
        each = ", ".join(f"{e['ms'] / 1000:.2f}" for e in evaluations)
        print(f"{arch} evaluation of the 10,000 test images: best {best['ms'] / 1000:.2f} s in the worker "
              f"(page round trip {best['roundTrip'] / 1000:.2f} s) of {args.evaluations} ({each} s); target <= "
              f"{TARGETS_MS['evaluation'] / 1000:.0f} s: {verdict(best['ms'], TARGETS_MS['evaluation'])}")
        gap = max(e["frameGap"] for e in evaluations)
        print(f"{arch} the page meanwhile: longest gap between animation frames {gap:.0f} ms over "
              f"{sum(e['frames'] for e in evaluations)} frames; target <= {TARGETS_MS['frame gap']} ms: "
              f"{verdict(gap, TARGETS_MS['frame gap'])}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=ENGINES, default="chromium", help="the browser engine (default chromium)")
    parser.add_argument("--runs", type=int, default=3, help="first and repeat visits to time (default 3)")
    parser.add_argument("--later", type=int, default=0,
                        help="visits to time after the repeat visit, in each run (default 0): the engine's caches of "
                             "compiled code fill over the first few visits")
    parser.add_argument("--start", choices=["snapshot", "normal"], default="snapshot",
                        help="time the start from the snapshot (default) or the normal one")
    parser.add_argument("--at-once", dest="settled", action="store_false",
                        help="time each visit in a new page opened at once, while the browser's own start-up "
                             "work still runs (how visits were timed until 2026-12-07), instead of from a blank "
                             "page once the machine is quiet")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="time another built site (a copy of web/ as built before a change) beside this one, "
                             "in turn, --runs rounds; only the start rows")
    parser.add_argument("--predictions", type=int, default=50, help="predictions timed per model (default 50)")
    parser.add_argument("--evaluations", type=int, default=2, help="test-set evaluations timed per model (default 2)")
    parser.add_argument("--learning", choices=["all", "corrections", "none"], default="all",
                        help="time learning in the page too (bench/web_learning.py, Chromium): corrections and "
                             "training (several minutes), corrections only, or neither (default all)")
    args = parser.parse_args(argv)

    if args.against and not (args.against / "index.html").is_file():
        parser.error(f"--against {args.against}: no built site there (no index.html)")
    site = build_site()
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")
    with contextlib.ExitStack() as stack:
        def serve(directory):
            """`directory` served (a copy that starts the normal way under --start normal) until the end."""
            if args.start == "normal":
                directory = normal_start_site(directory, Path(stack.enter_context(tempfile.TemporaryDirectory())))
            return stack.enter_context(serve_site(directory))

        served = serve(site)
        if args.against:
            sites = {"this checkout": served, str(args.against): serve(args.against)}
            results = compare_starts(args.engine, sites, args.runs, args.settled, args.later)
            version = results["this checkout"][0]["version"]
            print(f"browser: {args.engine} {version}, headless, {args.runs} rounds in turn")
            report_comparison(args.engine, results)
            print(f"load average at the end {os.getloadavg()[0]:.2f}")
            return 0
        results = time_starts(args.engine, served, args.runs, args.settled, args.later)
        how = "from a blank page once the machine was quiet" if args.settled else "in a new page at once"
        print(f"browser: {args.engine} {results[0]['version']}, headless, site served from {served.origin}; "
              f"each visit {how}")
        report_starts(args.engine, results)
        with launch(args.engine) as browser:
            report_predictions(browser, served, args)
        if args.engine == "chromium":   # the inside view's and the learning rows, in Chromium
            from playwright.sync_api import sync_playwright
            from web_inside import report_inside_rows
            from web_learning import report_learning

            from web_support import launch_chromium
            with sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                report_inside_rows(browser, served.origin)
                if args.learning != "none":
                    report_learning(browser, served.origin, site, train=args.learning == "all")
                browser.close()
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
