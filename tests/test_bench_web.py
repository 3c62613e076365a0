"""bench/bench_web.py's reports: the comparison of two built sites (--against), each visit's medians side by side and in
how many rounds (one run of each site, taken in turn) each site's visit was ready sooner; and the visit after the
browser's restart, which is not called a repeat visit where the browser kept nothing across it."""

import json
import sys

from conftest import REPO

sys.path.insert(0, str(REPO / "bench"))
from bench_web import report_comparison, report_starts  # noqa: E402


def run(first, repeat, restarted, *later):
    """One run's results as time_starts gives them, ready at these ms."""
    def app(ms):
        return {"loadMs": str(ms), "loadMarks": json.dumps({"ready": ms}), "start": "snapshot", "startReason": ""}
    return {"first": app(first), "repeat": app(repeat), "restarted": app(restarted), "later": [app(ms) for ms in later],
            "offline": "ready", "first_bytes": 34e6, "after_bytes": 36e6, "repeat_bytes": 0, "restarted_bytes": 0,
            "version": "156"}


def test_the_comparison_gives_both_medians_and_the_rounds_each_visit_was_sooner_in(capsys):
    results = {"new": [run(800, 600, 610, 550), run(900, 700, 590, 650), run(850, 500, 700, 700)],
               "old": [run(900, 650, 660, 600), run(850, 750, 700, 640), run(950, 640, 690, 720)]}
    report_comparison("chromium", results)
    out = capsys.readouterr().out
    assert "== new\nfirst visit, navigation to ready: median 0.85 s over 3" in out
    assert "first visit: median 0.85 s (new) against 0.90 s (old); new sooner in 2 of 3 rounds" in out
    assert "repeat visit: median 0.60 s (new) against 0.65 s (old); new sooner in 3 of 3 rounds" in out
    assert ("repeat visit after the browser restarted: median 0.61 s (new) against 0.69 s (old); new sooner in 2 of 3 "
            "rounds") in out
    assert "visit 3: median 0.65 s (new) against 0.64 s (old); new sooner in 2 of 3 rounds" in out


def test_a_browser_that_kept_nothing_across_its_restart_is_not_reported_as_a_repeat_visit(capsys):
    runs = [run(800, 600, 610), run(900, 700, 590)]
    report_starts("webkit", runs)
    assert "kept nothing" not in capsys.readouterr().out
    runs[1]["restarted_bytes"] = 34e6
    report_starts("webkit", runs)
    assert ("repeat visit after the browser restarted, navigation to ready: median 0.60 s over 2 (0.61, 0.59 s), "
            "started from snapshot; NOT a repeat visit: the browser kept nothing of the site across its restart"
            ) in capsys.readouterr().out
