"""What the web tests and benchmarks share: building the site once, serving it, starting Chromium, running Pyodide.

The site is built by build_wasm.py (quick once its cache is warm). $MNIST_CORE_WEB_MODELS points
the build at another models directory (e.g. freshly initialised models, before trained ones exist).
"""

import base64
import contextlib
import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
WEB_DIR = REPO / "web"
BUILD_SCRIPT = REPO / "build_wasm.py"
PYODIDE_RUNNER = Path(__file__).resolve().parent / "pyodide_run.mjs"
ARTIFACTS_DIR = REPO / "test-artifacts"
ARCHS = ("mnist-fc", "mnist-cnn")

CHROMIUM = os.environ.get("MNIST_CORE_CHROMIUM", "/usr/bin/chromium")
# Without the networking flags Chromium keeps trying to reach Google's services.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


class SiteBuildError(RuntimeError):
    """build_wasm.py failed; the message holds its output."""


@functools.lru_cache(maxsize=None)
def build_site():
    """Run build_wasm.py once per process; return the site directory."""
    command = [sys.executable, str(BUILD_SCRIPT)]
    if os.environ.get("MNIST_CORE_WEB_MODELS"):
        command += ["--models", os.environ["MNIST_CORE_WEB_MODELS"]]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if result.returncode != 0:
        raise SiteBuildError(f"{' '.join(command)} failed (exit {result.returncode}):\n"
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return WEB_DIR


def build_wasm_module():
    """build_wasm.py (at the repository root) imported as a module, for its constants and helpers."""
    spec = importlib.util.spec_from_file_location("build_wasm", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def site_model_path(arch, site=WEB_DIR):
    return site / "models" / f"{arch}-f32.gguf"


def site_test_set(site=WEB_DIR):
    """The test images and labels the site serves, read natively: (uint8 (N, 28, 28), uint8 (N,))."""
    from mnist_core.formats.idx import read_idx_pair

    return read_idx_pair(site / "data" / "t10k-images-idx3-ubyte", site / "data" / "t10k-labels-idx1-ubyte")


def node_missing_reason():
    """Why Pyodide cannot be run under Node here (or the site's Python precompiled), or None when it can."""
    return None if shutil.which("node") else "node is not installed: apt-get install nodejs (Node 18+ runs Pyodide)"


def run_in_pyodide(site, script, out_dir, timeout=600):
    """Run Python `script` inside Pyodide under Node, from the site's own files; return its JSON result.

    The site is mounted at /site and `out_dir` at /out inside Pyodide.
    """
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed (Node 18+ runs Pyodide)")
    script_path = Path(out_dir) / "script.py"
    script_path.write_text(script)
    result = subprocess.run([node, str(PYODIDE_RUNNER), str(site), str(script_path), str(out_dir)],
                            capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"Pyodide under Node failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm"}

    def log_message(self, format, *args):
        pass

    def parse_request(self):
        if self.server.offline:  # as if the network were gone: the connection closes unanswered
            self.close_connection = True
            return False
        return super().parse_request()

    def copyfile(self, source, outputfile):
        super().copyfile(source, outputfile)
        self.server.sent.append((time.monotonic(), self.path, source.tell()))


class _QuietServer(http.server.ThreadingHTTPServer):
    sent = None  # [(time.monotonic(), path, body bytes)] of each file sent, in order
    offline = False  # True: every request fails, as without a network

    def handle_error(self, request, client_address):
        # A browser that goes away mid-download (a closed page, a service worker's caching cut short) is no error.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(directory, sent=None):
    """Serve `directory` on a free localhost port in a thread; yield the origin ("http://127.0.0.1:PORT").

    `sent`, a list, gets (time.monotonic(), path, body bytes) for each file sent: what went over the wire.
    """
    with serve_site(directory, sent) as site:
        yield site.origin


class ServedSite:
    """A site being served: its origin, what was sent ([(time.monotonic(), path, bytes)]), and a network switch."""

    def __init__(self, server):
        self._server = server
        self.origin = f"http://127.0.0.1:{server.server_address[1]}"
        self.sent = server.sent

    def set_offline(self, offline):
        self._server.offline = offline

    def bytes_sent(self, since=0.0, until=float("inf")):
        return sum(size for at, _, size in self.sent if since <= at <= until)


@contextlib.contextmanager
def serve_site(directory, sent=None):
    """serve(), yielding a ServedSite."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = _QuietServer(("127.0.0.1", 0), handler)
    server.sent = [] if sent is None else sent
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ServedSite(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium_missing_reason():
    """Why Chromium cannot be driven here, or None when it can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found: apt-get install -y chromium (or set MNIST_CORE_CHROMIUM)"
    try:
        import playwright  # noqa: F401  (only whether it is installed)
    except ImportError:
        return "the playwright package is not installed (pip install playwright; never `playwright install`)"
    return None


def launch_chromium(playwright):
    """Debian's Chromium, headless, kept off the network except for what the page asks for."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def wait_until_ready(page, timeout_ms=60_000):
    """Wait for the page's worker to have Pyodide, mnist_core, the model and the test set ready."""
    page.wait_for_selector('#app[data-state="ready"], #app[data-state="error"]', timeout=timeout_ms)
    state = page.get_attribute("#app", "data-state")
    if state != "ready":
        raise AssertionError(f"the page failed to load: {page.text_content('#status')}")


def draw_strokes(page, strokes, clear=True):
    """Draw a drawing with the mouse, as a hand would: each stroke a list of (x, y) canvas points, on a cleared
    canvas (or, clear=False, over what it holds). Returns the digit of the final prediction of the whole drawing.

    Each stroke's final prediction is waited for before the next stroke starts: one still on its way
    when the next stroke began would otherwise be taken for the drawing's (a slashed 0 read before
    its slash is drawn, as a plain 0).
    """
    if clear:
        page.click("#clear")
    page.evaluate("document.querySelector('#canvas').scrollIntoView({block: 'center'})")  # all of it on screen
    box = page.locator("#canvas").bounding_box()
    scale = box["width"] / page.eval_on_selector("#canvas", "canvas => canvas.width")
    for stroke in strokes:
        count = int(page.get_attribute("#prediction", "data-count") or 0)
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=3)
        page.mouse.up()
        page.wait_for_function("""n => { const p = document.querySelector('#prediction');
                                         return Number(p.dataset.count || 0) > n && p.dataset.state === 'final'; }""",
                               arg=count)
    return int(page.get_attribute("#prediction", "data-digit"))


class PageSession:
    """A page on the site, with every request made in its browser context recorded: the page's, its Web
    Worker's and its service worker's (`service_worker_requests` holds the last ones again)."""

    def __init__(self, browser, origin, **context_options):
        self.origin = origin
        self.context = browser.new_context(accept_downloads=True, **context_options)
        self.requests = []
        self.service_worker_requests = []
        self.errors = []
        self.context.on("request", self._record)
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(f"{origin}/index.html")

    def _record(self, request):
        self.requests.append(request.url)
        if request.service_worker is not None:
            self.service_worker_requests.append(request.url)

    def foreign_requests(self):
        """Requests whose URL is not on the page's origin (blob: URLs of our own origin count as ours)."""
        own = (self.origin + "/", f"blob:{self.origin}/")
        return [url for url in self.requests if not url.startswith(own)]

    def close(self):
        self.context.close()


def select_model(page, arch):
    """Choose a model in the page's #model list and wait until the worker has it."""
    page.select_option("#model", arch)
    page.wait_for_selector(f'#app[data-model="{arch}"]')


# What the page keeps and which weights its models have, asked of the page as the page itself would ask.
MODEL_FILE = """async (name) => {
    const bytes = (await window.mnistCore.call('model_file', {name})).bytes;
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
}"""
KEPT_IN_BROWSER = """async () => {
    const storage = await import('./storage.js');  // the page's own module (one instance per URL)
    const kept = await storage.keptState();
    return {corrections: kept.labels.length, learned: kept.learned.map((m) => m.name),
            trained: kept.trained.map((m) => m.name)};
}"""


def page_model_file(page, name=None):
    """The GGUF bytes of a model in the page's list (the selected one when `name` is None), from its worker."""
    return base64.b64decode(page.evaluate(MODEL_FILE, name))


def kept_in_browser(page):
    """What the page's IndexedDB holds: {"corrections": how many, "learned": [names], "trained": [names]}."""
    return page.evaluate(KEPT_IN_BROWSER)


def weights_differing(model_file, expected):
    """Names of the tensors whose values differ between two model files (GGUF bytes or paths); [] when equal."""
    from mnist_core.models import load_model

    ours, theirs = (load_model(Path(f).read_bytes() if isinstance(f, (str, Path)) else f).params
                    for f in (model_file, expected))
    if ours.keys() != theirs.keys():
        return sorted(ours.keys() ^ theirs.keys())
    return [name for name in ours if not np.array_equal(ours[name], theirs[name])]
