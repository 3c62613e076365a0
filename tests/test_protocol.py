"""The worker's protocol is App's methods (mnist_core/browser/app.py), both ways: web/ sends no request that App does
not answer, App has no method that nothing sends or calls, and the notices are the ones written down."""

import inspect
import re
from pathlib import Path

import pytest

from mnist_core.browser import App, app

REPO = Path(__file__).resolve().parent.parent
WEB = REPO / "web"
PAGE_MODULES = [p for p in sorted(WEB.glob("*.js")) if not p.name.startswith(("worker", "sw"))]
WORKER_MODULES = sorted(WEB.glob("worker*.js"))
WORKER_ONLY = {"init"}  # the one request that is not an App method: it makes the App (app.py says so)

QUOTED = re.compile(r"""["']([a-z_\-]+)["']""")


def sent_types(paths, function):
    """The request types each `function(...)` call in `paths` names: the quoted strings of its first argument
    (a ternary of two names counts both)."""
    found = {}
    for path in paths:
        text = path.read_text()
        for match in re.finditer(rf"\b{function}\(([^,)]*)", text):
            for name in QUOTED.findall(match.group(1)):
                found.setdefault(name, path.name)
    return found


def protocol_methods():
    return {name for name, member in inspect.getmembers(App, inspect.isfunction) if not name.startswith("_")}


def documented_notices():
    block = app.__doc__.split("notice", 1)[1]
    return set(re.findall(r"^\s{10,}([a-z\-]+)\s{2,}", block, flags=re.MULTILINE))


def test_every_request_the_page_sends_is_a_method_of_app():
    sent = sent_types(PAGE_MODULES, "call")
    assert sent, "no call(...) found in web/: the test reads the wrong files"
    unknown = {name: where for name, where in sent.items() if name not in protocol_methods() | WORKER_ONLY}
    assert not unknown, f"requests without an App method: {unknown}"


def test_the_worker_calls_only_app_s_methods_and_its_handlers_are_requests():
    called = sent_types(WORKER_MODULES, "callApp")
    assert not set(called) - protocol_methods(), set(called) - protocol_methods()
    handlers = set()
    for path in WORKER_MODULES:  # the keys of worker.js's `const handlers = {...}` and of the handler modules' `return`
        blocks = re.findall(r"^(?:const handlers = |  return )\{\n(.*?)\n\s*\};", path.read_text(),
                            flags=re.DOTALL | re.MULTILINE)
        for block in blocks:
            for line in block.splitlines():
                key = line.strip().split(":")[0].rstrip(",")
                if key and not key.startswith(("...", "//")):
                    handlers.add(key.strip('"'))
    assert {"init", "select_model", "correct", "start_training", "evaluate_test_set"} <= handlers
    assert handlers <= protocol_methods() | WORKER_ONLY, handlers - protocol_methods() - WORKER_ONLY


def test_every_method_of_app_is_sent_by_the_page_or_called_by_the_worker():
    used = set(sent_types(PAGE_MODULES, "call")) | set(sent_types(WORKER_MODULES, "callApp"))
    unused = protocol_methods() - used
    assert not unused, f"App methods nothing sends or calls (remove them, or use them): {sorted(unused)}"


def test_tests_and_benchmarks_send_only_protocol_requests():
    paths = sorted((REPO / "tests").glob("*.py")) + sorted((REPO / "bench").glob("*.py"))
    sent = {}
    for path in paths:
        for match in re.finditer(r"mnistCore\.call\(\s*\.{0,3}([^,)]*)", path.read_text()):
            for name in QUOTED.findall(match.group(1)):
                sent.setdefault(name, path.name)
    unknown = {name: where for name, where in sent.items() if name not in protocol_methods() | WORKER_ONLY}
    assert not unknown, unknown


def test_the_notices_the_worker_sends_and_the_page_hears_are_the_documented_ones():
    documented = documented_notices()
    assert {"progress", "training-progress"} <= documented  # the parser reads the table
    notified = set()
    for path in WORKER_MODULES:
        notified |= set(re.findall(r"notify\(\{\s*type:\s*\"([a-z\-]+)\"", path.read_text()))
    heard = set(sent_types(PAGE_MODULES, "onNotice"))
    assert notified and heard
    assert notified <= documented, notified - documented
    assert heard <= notified, heard - notified


@pytest.mark.parametrize("name", sorted(protocol_methods()))
def test_each_method_of_app_says_what_it_returns(name):
    method = getattr(App, name)
    assert method.__doc__ or name.startswith(("has_", "resume_")), f"App.{name} has no docstring"
