"""index.html preloads the page's modules: every module app.js imports, directly or not, and nothing else."""

import re

from web_support import REPO

WEB = REPO / "web"
IMPORT = re.compile(r'^import (?:[^"]*? from )?"\./([^"]+)";', re.MULTILINE)


def module_graph(entry):
    """The modules `entry` imports (statically, from web/), directly or not, `entry` left out."""
    found, todo = [], [entry]
    while todo:
        name = todo.pop(0)
        for imported in IMPORT.findall((WEB / name).read_text()):
            if imported not in found and imported != entry:
                found.append(imported)
                todo.append(imported)
    return found


def test_index_html_preloads_every_module_of_the_page_and_nothing_else():
    preloaded = re.findall(r'<link rel="modulepreload" href="([^"]+)">', (WEB / "index.html").read_text())
    graph = module_graph("app.js")
    assert len(graph) > 10 and "prediction.js" in graph and "inside-words.js" in graph  # the parse found the graph
    assert sorted(preloaded) == sorted(graph)
    assert len(preloaded) == len(set(preloaded))
