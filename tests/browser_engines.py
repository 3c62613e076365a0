"""The page in each browser engine, behind one small interface: Chromium, Firefox and WebKit from Debian's packages.

  chromium  /usr/bin/chromium, driven by Playwright (CDP)
  firefox   firefox-esr, driven through WebDriver BiDi by npm's puppeteer-core (tests/engines/firefox.mjs;
            installed by `npm ci` in tests/engines/, which checks package-lock.json's integrity)
  webkit    WebKitGTK's MiniBrowser, driven by webkit2gtk-driver's WebKitWebDriver (W3C WebDriver) under
            Xvfb (started here when there is no display)

Each browser keeps one profile (a directory) for its life, so a second visit finds the first one's
HTTP cache and service worker, as a returning visitor's browser does. `open(url)` shows a page (the
previous one closed); `evaluate(source, arg)` awaits the function `source` (JavaScript) in it;
`draw(strokes)` draws with the mouse on #canvas.
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from web_support import CHROMIUM, CHROMIUM_ARGS

ENGINES = ("chromium", "firefox", "webkit")
ENGINES_DIR = Path(__file__).resolve().parent / "engines"
FIREFOX = os.environ.get("MNIST_CORE_FIREFOX", "/usr/bin/firefox-esr")
WEBKIT_DRIVER = os.environ.get("MNIST_CORE_WEBKIT_DRIVER", "/usr/bin/WebKitWebDriver")
MINIBROWSER = os.environ.get("MNIST_CORE_MINIBROWSER", "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser")
CANVAS_BOX = "() => { const b = document.querySelector('#canvas').getBoundingClientRect(); " \
             "return [b.x, b.y, b.width / document.querySelector('#canvas').width]; }"


def missing_reason(engine):
    """Why `engine` cannot be driven here, or None when it can."""
    if engine == "chromium":
        from web_support import chromium_missing_reason
        return chromium_missing_reason()
    if engine == "firefox":
        if not Path(FIREFOX).exists():
            return f"{FIREFOX} not found: apt-get install -y firefox-esr (scripts/run-tests.sh does)"
        if not (ENGINES_DIR / "node_modules" / "puppeteer-core").is_dir() or shutil.which("node") is None:
            return "puppeteer-core is not installed: npm ci --prefix tests/engines (scripts/run-tests.sh does)"
        return None
    for path, package in ((WEBKIT_DRIVER, "webkit2gtk-driver"), (MINIBROWSER, "webkit2gtk-driver")):
        if not Path(path).exists():
            return f"{path} not found: apt-get install -y {package} xvfb (scripts/run-tests.sh does)"
    if not os.environ.get("DISPLAY") and shutil.which("Xvfb") is None:
        return "no display and no Xvfb: apt-get install -y xvfb (scripts/run-tests.sh does)"
    return None


class Browser:
    """One browser with one profile; subclasses say how to drive it."""

    engine = ""

    def open(self, url):
        """A new page at `url` (the previous one closed)."""
        raise NotImplementedError

    def navigate(self, url):
        """The open page goes to `url` (no new page, for which a browser may start work of its own)."""
        raise NotImplementedError

    def evaluate(self, source, arg=None):
        raise NotImplementedError

    def pointer(self, steps):
        """Mouse steps [(kind, x, y)]: kind "move", "down" or "up", at viewport pixels."""
        raise NotImplementedError

    def reload(self):
        raise NotImplementedError

    def close(self):
        raise NotImplementedError

    def wait_for(self, predicate, timeout_s=120, arg=None):
        """Wait until the JavaScript function `predicate(arg)` returns something true; return it."""
        deadline = time.monotonic() + timeout_s
        while True:
            value = self.evaluate(predicate, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.engine}: still false after {timeout_s} s: {predicate}")
            time.sleep(0.05)

    def app(self):
        """#app's data attributes: the page's state, its load times, how Python started."""
        return self.evaluate("() => ({...document.querySelector('#app').dataset})")

    def wait_until_ready(self, timeout_s=180):
        state = self.wait_for("() => ['ready', 'error'].includes(document.querySelector('#app').dataset.state) && "
                              "document.querySelector('#app').dataset.state", timeout_s)
        if state != "ready":
            status = self.evaluate("() => document.querySelector('#status').textContent")
            raise AssertionError(f"{self.engine}: the page failed to load: {status}")
        return self.app()

    def draw(self, strokes):
        """Draw strokes (lists of (x, y) canvas points) on #canvas; wait for the final prediction; return its digit."""
        x0, y0, scale = self.evaluate(CANVAS_BOX)
        for stroke in strokes:
            count = int(self.evaluate("() => document.querySelector('#prediction').dataset.count || 0"))
            points = [(x0 + x * scale, y0 + y * scale) for x, y in stroke]
            steps = [("move", *points[0]), ("down", *points[0])] + [("move", *p) for p in points[1:]]
            self.pointer(steps + [("up", *points[-1])])
            self.wait_for("n => { const p = document.querySelector('#prediction'); "
                          "return Number(p.dataset.count || 0) > n && p.dataset.state === 'final'; }", arg=count)
        return int(self.evaluate("() => document.querySelector('#prediction').dataset.digit"))


class ChromiumBrowser(Browser):
    engine = "chromium"

    def __init__(self, profile):
        from playwright.sync_api import sync_playwright
        self._playwright = sync_playwright().start()
        self._context = self._playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        self.version = self._context.browser.version if self._context.browser else ""
        self.page = None

    def open(self, url):
        if self.page:
            self.page.close()
        self.page = self._context.new_page()
        self.page.goto(url, wait_until="domcontentloaded")

    def navigate(self, url):
        self.page.goto(url, wait_until="domcontentloaded")

    def evaluate(self, source, arg=None):
        return self.page.evaluate(source, arg)

    def pointer(self, steps):
        mouse = self.page.mouse
        for kind, x, y in steps:
            if kind == "move":
                mouse.move(x, y, steps=3)
            elif kind == "down":
                mouse.down()
            else:
                mouse.up()

    def reload(self):
        self.page.reload(wait_until="domcontentloaded")

    def close(self):
        self._context.close()
        self._playwright.stop()


class FirefoxBrowser(Browser):
    engine = "firefox"

    def __init__(self, profile):
        self._process = subprocess.Popen(["node", str(ENGINES_DIR / "firefox.mjs")], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1)
        self.version = self._call("launch", profile=str(profile))

    def _call(self, op, **arguments):
        self._process.stdin.write(json.dumps({"op": op, **arguments}) + "\n")
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"firefox: the driver (tests/engines/firefox.mjs) stopped during {op}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise RuntimeError(f"firefox: {op}: {answer['error']}")
        return answer["value"]

    def open(self, url):
        self._call("open", url=url)

    def navigate(self, url):
        self._call("navigate", url=url)

    def evaluate(self, source, arg=None):
        return self._call("evaluate", source=source, arg=arg)

    def pointer(self, steps):
        self._call("mouse", steps=steps)

    def reload(self):
        self._call("reload")

    def close(self):
        try:
            self._call("close")
        finally:
            self._process.wait(timeout=30)


class WebKitBrowser(Browser):
    """MiniBrowser through WebKitWebDriver: W3C WebDriver over HTTP, JSON in and out."""

    engine = "webkit"

    def __init__(self, profile):
        self._stack = contextlib.ExitStack()
        # MiniBrowser keeps its data (HTTP cache, service workers) under XDG_DATA_HOME and XDG_CACHE_HOME.
        env = {**os.environ, "XDG_DATA_HOME": str(Path(profile) / "data"),
               "XDG_CACHE_HOME": str(Path(profile) / "cache")}
        if not env.get("DISPLAY"):
            env["DISPLAY"] = self._stack.enter_context(_xvfb())
        port = _free_port()
        self._driver = subprocess.Popen([WEBKIT_DRIVER, f"--port={port}"], env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._url = f"http://127.0.0.1:{port}"
        _wait_for_port(port, what="WebKitWebDriver")
        options = {"binary": MINIBROWSER, "args": ["--automation"]}
        capabilities = {"browserName": "MiniBrowser", "webkitgtk:browserOptions": options}
        session = self._request("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self._session = f"/session/{session['sessionId']}"
        self.version = session["capabilities"].get("browserVersion", "")
        self._request("POST", f"{self._session}/timeouts", {"script": 600_000, "pageLoad": 300_000})

    def _request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self._url + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=900) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"webkit: {method} {path}: {error.read().decode()[:500]}") from None

    def open(self, url):
        self._request("POST", f"{self._session}/url", {"url": url})

    navigate = open  # MiniBrowser's one window

    def evaluate(self, source, arg=None):
        script = (f"const done = arguments[arguments.length - 1]; Promise.resolve(({source})(arguments[0]))"
                  ".then(done, (error) => done({__error: String(error)}));")
        value = self._request("POST", f"{self._session}/execute/async", {"script": script, "args": [arg]})
        if isinstance(value, dict) and "__error" in value:
            raise RuntimeError(f"webkit: {value['__error']}")
        return value

    def pointer(self, steps):
        actions = []
        for kind, x, y in steps:
            if kind == "move":
                actions.append({"type": "pointerMove", "origin": "viewport", "x": round(x), "y": round(y),
                                "duration": 16})
            else:
                actions.append({"type": "pointerDown" if kind == "down" else "pointerUp", "button": 0})
        self._request("POST", f"{self._session}/actions", {"actions": [
            {"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"}, "actions": actions}]})

    def reload(self):
        self._request("POST", f"{self._session}/refresh", {})

    def close(self):
        try:
            self._request("DELETE", self._session)
        finally:
            self._driver.terminate()
            self._driver.wait(timeout=30)
            self._stack.close()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for_port(port, what, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start listening on port {port}")


@contextlib.contextmanager
def _xvfb():
    """An Xvfb display for the life of the context: yields its DISPLAY."""
    read, write = os.pipe()
    process = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1280x1024x24", "-nolisten", "tcp"],
                               pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as display:
        number = display.readline().strip()
    try:
        yield f":{number}"
    finally:
        process.terminate()
        process.wait(timeout=30)


DRIVERS = {"chromium": ChromiumBrowser, "firefox": FirefoxBrowser, "webkit": WebKitBrowser}


def fresh_profile(engine):
    """A temporary directory for an `engine` profile (a context manager giving its path), removed afterwards."""
    return tempfile.TemporaryDirectory(prefix=f"mnist-core-{engine}-", ignore_cleanup_errors=True)


@contextlib.contextmanager
def launch(engine, profile=None):
    """The engine's browser with a fresh profile (fresh_profile unless given), closed afterwards."""
    with contextlib.ExitStack() as stack:
        if profile is None:
            profile = stack.enter_context(fresh_profile(engine))
        browser = DRIVERS[engine](profile)
        try:
            yield browser
        finally:
            browser.close()
