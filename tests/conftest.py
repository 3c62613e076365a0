"""Shared fixtures: the real MNIST test and training sets (fetched once into the cache) and the shipped models."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"
SHIPPED_MODELS = {"mnist-fc": ASSETS / "mnist-fc-f32.gguf", "mnist-cnn": ASSETS / "mnist-cnn-f32.gguf"}
REQUIRE_ALL_ENV = "MNIST_CORE_REQUIRE_ALL"  # set by scripts/run-tests.sh, the README's test command


def skip_unless_available(missing):
    """A skipif marker for tests that need an outside tool; `missing` says why it is absent, or is None.
    Under the README's test command an absent tool is an error, not a skip."""
    if missing and os.environ.get(REQUIRE_ALL_ENV):
        raise RuntimeError(f"{REQUIRE_ALL_ENV} is set but {missing}")
    return pytest.mark.skipif(missing is not None, reason=str(missing))


@pytest.fixture(scope="session")
def mnist_test_files():
    """(images path, labels path) of the verified MNIST test set, fetched if needed."""
    from mnist_core.data import dataset_files
    return dataset_files("mnist", "test")


@pytest.fixture(scope="session")
def mnist_test(mnist_test_files):
    """The 10,000 MNIST test images (uint8, (N, 28, 28)) and labels."""
    from mnist_core.formats.idx import read_idx_pair
    return read_idx_pair(*mnist_test_files)


@pytest.fixture(scope="session")
def mnist_train():
    """The 60,000 MNIST training images and labels."""
    from mnist_core.data import load_split
    return load_split("mnist", "train")


# The web tests' shared fixtures: the site built once, served on localhost, and Debian's Chromium.
@pytest.fixture(scope="module")
def site():
    """web/, built by build_wasm.py (once per test process: tests/web_support.py)."""
    from web_support import build_site
    return build_site()


@pytest.fixture(scope="module")
def origin(site):
    """The site served by a stdlib HTTP server on a free localhost port: "http://127.0.0.1:PORT"."""
    from web_support import serve
    with serve(site) as origin:
        yield origin


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright, one per test module."""
    from playwright.sync_api import sync_playwright

    from web_support import launch_chromium
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def session(browser, origin):
    """A ready page on the site, its context's every request recorded (web_support.PageSession), one per module."""
    from web_support import PageSession, wait_until_ready
    session = PageSession(browser, origin)
    wait_until_ready(session.page)
    yield session
    session.close()


@pytest.fixture
def page(session):
    """The shared ready page, cleared, with mnist-fc selected."""
    from web_support import select_model
    page = session.page
    if page.get_attribute("#app", "data-model") != "mnist-fc":
        select_model(page, "mnist-fc")
    page.click("#clear")
    page.evaluate("scrollTo(0, 0)")  # a test that tabbed or clicked further down leaves the canvas on screen
    return page


@pytest.fixture(scope="module")
def native(site):
    """Native mnist_core with the site's own models and test set, mnist-fc selected (the page's default)."""
    from mnist_core.browser import App
    from web_support import site_model_path, site_test_set
    app = App()
    app.test_set.images, app.test_set.labels = site_test_set(site)
    for arch in ("mnist-cnn", "mnist-fc"):
        app.load_shipped_model(arch, site_model_path(arch, site).read_bytes())
    return app
