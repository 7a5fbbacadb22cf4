"""The timeline exports (report/timeline.py): the Chrome trace a Perfetto UI
opens and the self-contained HTML page, checked on their content here and in
a real browser in tests/test_timeline_browser.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAMILY = os.path.join(ROOT, "examples", "flags_race", "family.py")


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    d = tmp_path_factory.mktemp("timeline")
    env = dict(os.environ)
    env.pop("FOLIOLAB_FAMILIES", None)

    def fl(*a):
        return subprocess.run([sys.executable, "-m", "foliolab.cli", *a], capture_output=True,
                              text=True, cwd=d, env=env, timeout=300)
    # readd-after-drain: many lanes (kworkers), locks, the watched folio
    p = fl("explore", "readd-after-drain", "--variant", "v0", "--strategy", "pct", "--seed",
           "7", "--json", "--trace-dir", "traces")
    assert p.returncode == 1, p.stderr
    trace = json.loads(p.stdout)["trace"]
    p = fl("replay", trace, "--html", "t.html", "--perfetto", "t.json")
    assert p.returncode == 1, p.stderr
    return d, trace


def test_chrome_trace_has_every_lane_steps_locks_and_the_failure(views):
    d, _ = views
    tr = json.loads((d / "t.json").read_text())
    ev = tr["traceEvents"]
    for e in ev:
        assert e["ph"] in ("M", "X", "i") and isinstance(e["pid"], int)
        assert isinstance(e["tid"], int)
        if e["ph"] != "M":
            assert isinstance(e["ts"], int) and e["ts"] >= 0
        if e["ph"] == "X":
            assert e["dur"] >= 1
    lanes = {e["args"]["name"] for e in ev if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"M (cpu0)", "U (cpu1)", "watched state"} <= lanes
    assert any(n.startswith("kworker/0") for n in lanes)
    steps = [e for e in ev if e.get("cat") == "step"]
    assert len(steps) == tr["otherData"]["steps"] - 1 or len(steps) > 100
    locks = [e for e in ev if e.get("cat") == "lock"]
    assert any("lru_lock" in e["name"] for e in locks)
    fails = [e for e in ev if e.get("cat") == "failure"]
    assert len(fails) == 1 and fails[0]["name"].startswith("FAILED property")
    assert any(e.get("cat") == "watch" for e in ev)


def test_html_is_self_contained(views):
    d, _ = views
    page = (d / "t.html").read_text()
    assert "<script id=\"trace-data\" type=\"application/json\">" in page
    for bad in ("http://", "https://", "src=", "@import"):
        # the SVG namespace is a name, not a fetch
        assert bad not in page.replace('"http://www.w3.org/2000/svg"', ""), bad
