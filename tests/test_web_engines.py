"""The page's core in Firefox and WebKit (Debian's firefox-esr and WebKitGTK; Chromium is the other tests' engine).

In each engine the page starts from the memory snapshot (or falls back and says why: the test
requires the snapshot where it works today), reads a drawn 1 and 7, shows Random's test image with
the prediction native mnist_core gives, evaluates the test set to the CLI's figures and, once its
service worker has the site, reloads and predicts with the network gone. A damaged snapshot falls
back to the normal start, saying so. tests/browser_engines.py drives the engines.
"""

import numpy as np
import pytest

from browser_engines import launch, missing_reason
from conftest import skip_unless_available
from web_support import serve_site

pytestmark = pytest.mark.browser

ENGINES = [pytest.param(engine, marks=skip_unless_available(missing_reason(engine)))
           for engine in ("firefox", "webkit")]
ONE = [[(182, 40), (182, 120), (183, 180), (184, 240), (185, 320)]]
SEVEN = [[(100, 60), (180, 60), (270, 60), (230, 160), (195, 240), (170, 320)]]

RANDOM = """async () => {
    window.mnistCore.last = null;
    document.querySelector('#random').click();
    const shown = () => window.mnistCore.last && window.mnistCore.last.index !== undefined;
    while (!shown()) await new Promise((resolve) => setTimeout(resolve, 20));
    const {index, label, digit, probabilities} = window.mnistCore.last;
    return {index, label, digit, probabilities};
}"""
EVALUATE = """async () => {
    const {accuracy, loss} = await window.mnistCore.call('evaluate_test_set');
    return {accuracy, loss};
}"""
OFFLINE = "() => document.querySelector('#app').dataset.offline"


@pytest.fixture(scope="module")
def served(site):
    with serve_site(site) as served:
        yield served


@pytest.mark.parametrize("engine", ENGINES)
def test_the_page_starts_from_the_snapshot_predicts_evaluates_and_works_offline(engine, served, native):
    with launch(engine) as browser:
        browser.open(f"{served.origin}/index.html")
        app = browser.wait_until_ready()
        assert (app["start"], app["startReason"]) == ("snapshot", "")
        assert browser.draw(ONE) == 1
        assert browser.draw(SEVEN) == 7
        sample = browser.evaluate(RANDOM)
        expected = native.sample(sample["index"])
        assert sample["label"] == expected["label"] and sample["digit"] == expected["digit"]
        np.testing.assert_allclose(sample["probabilities"], expected["probabilities"], rtol=0, atol=1e-5)
        figures = native.evaluate_test_set()
        assert browser.evaluate(EVALUATE) == {"accuracy": figures["accuracy"], "loss": figures["loss"]}

        assert browser.wait_for(OFFLINE, timeout_s=300) == "ready"
        served.set_offline(True)
        try:
            browser.reload()
            app = browser.wait_until_ready()
            assert app["start"] == "snapshot"
            assert browser.draw(ONE) == 1
        finally:
            served.set_offline(False)


def damaged_site(site, destination):
    """`site` as links to its files, but for a snapshot with one byte changed (the size the build wrote)."""
    for path in site.rglob("*"):
        if path.is_file():
            target = destination / path.relative_to(site)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(path)
    snapshot = destination / "pyodide" / "snapshot.bin"
    data = bytearray(snapshot.read_bytes())
    data[len(data) // 2] ^= 0xFF
    snapshot.unlink()
    snapshot.write_bytes(bytes(data))
    return destination


@pytest.mark.parametrize("engine", ENGINES)
def test_a_damaged_snapshot_falls_back_to_the_normal_start_and_says_so(engine, site, tmp_path, native):
    with serve_site(damaged_site(site, tmp_path)) as damaged, launch(engine) as browser:
        browser.open(f"{damaged.origin}/index.html")
        app = browser.wait_until_ready()
        assert app["start"] == "normal" and app["startReason"].startswith("damaged: pyodide/snapshot.bin has sha256")
        sample = browser.evaluate(RANDOM)
        np.testing.assert_allclose(sample["probabilities"], native.sample(sample["index"])["probabilities"],
                                   rtol=0, atol=1e-5)
