"""foliolab as a pytest plugin (entry point pytest11, foliolab/pytest_plugin.py),
used as a user would: test files in a fresh directory, pytest in a
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX = os.path.join(ROOT, "examples", "flags_race")

RACE_TEST = '''
from foliolab.mm.mm_inline import setup_lru_folio
from foliolab.mm.page import folio_test_lru
from foliolab.mm.page_alloc import setup_alloc_page_at
from foliolab.pytest_plugin import race


@race(ncpus=2, budget=200)
def test_uptodate_vs_isolate(k):
    """__SetPageUptodate() on a folio the LRU can reach."""
    F = setup_alloc_page_at(k, 0x800, name="F")
    setup_lru_folio(k, F)
    res = {}

    def isolate():
        res["isolated"] = yield from k.fn.folio_isolate_lru(F)

    k.m.spawn("A", 0, k.fn.__folio_mark_uptodate(F))
    k.m.spawn("I", 1, isolate())

    def check():
        assert not (res.get("isolated") and folio_test_lru(F)), "isolated with PG_lru set"
    return check
'''

FIXTURE_TEST = f'''
FAMILY = {os.path.join(EX, "family.py")!r}
FIX = {os.path.join(EX, "atomic_uptodate.py")!r}


def test_fixed(foliolab_explore):
    foliolab_explore("uptodate-vs-isolate", family=FAMILY, patches=[FIX], budget=300)


def test_unfixed(foliolab_explore):
    foliolab_explore("uptodate-vs-isolate", family=FAMILY, budget=300)
'''


def pytest_in(d, *args):
    env = dict(os.environ)
    env.pop("FOLIOLAB_FAMILIES", None)
    env.pop("FOLIOLAB_EXAMPLES", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:xdist", *args], capture_output=True, text=True, cwd=d,
                          env=env, timeout=300)


def test_race_decorator_fails_with_the_table_and_keeps_the_example(tmp_path):
    (tmp_path / "test_race.py").write_text(RACE_TEST)
    p = pytest_in(tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "a failing interleaving" in p.stdout
    assert "__SetPageUptodate(F): load F->flags" in p.stdout
    assert "isolated with PG_lru set" in p.stdout
    db = tmp_path / ".foliolab" / "examples"
    files = list(db.iterdir())
    assert len(files) == 1
    ex = json.loads(files[0].read_text())["examples"]
    assert len(ex) == 1 and ex[0]["schedule"]
    # next time: the stored example is replayed first
    p = pytest_in(tmp_path)
    assert p.returncode == 1
    assert "a stored failing interleaving still fails" in p.stdout


def test_fixture_explores_a_family_with_and_without_the_fix(tmp_path):
    (tmp_path / "test_fix.py").write_text(FIXTURE_TEST)
    p = pytest_in(tmp_path, "-rA")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "PASSED test_fix.py::test_fixed" in p.stdout
    assert "FAILED test_fix.py::test_unfixed" in p.stdout
    assert "an isolated folio has PG_lru clear" in p.stdout


def test_replay_as_test_writes_a_regression_test(tmp_path):
    env = dict(os.environ)
    env.pop("FOLIOLAB_FAMILIES", None)
    fl = [sys.executable, "-m", "foliolab.cli"]
    p = subprocess.run(fl + ["explore", "uptodate-vs-isolate", "--family",
                             os.path.join(EX, "family.py"), "--json", "--trace-dir", "tr"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 1, p.stderr
    trace = json.loads(p.stdout)["trace"]
    p = subprocess.run(fl + ["replay", trace, "--as-test", "test_regression.py"],
                       capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert p.returncode == 1, p.stderr
    assert "regression test: test_regression.py" in p.stderr
    os.unlink(tmp_path / trace)            # the test embeds the trace
    p = pytest_in(tmp_path, "test_regression.py")
    assert p.returncode == 0, p.stdout + p.stderr
    # once fixed: FIXED = True and the fix's patch file
    src = (tmp_path / "test_regression.py").read_text()
    src = src.replace("FIXED = False", "FIXED = True").replace(
        "FIX_PATCHES = []", f"FIX_PATCHES = [{os.path.join(EX, 'atomic_uptodate.py')!r}]")
    (tmp_path / "test_regression.py").write_text(src)
    p = pytest_in(tmp_path, "test_regression.py")
    assert p.returncode == 0, p.stdout + p.stderr
    # and it can fail: FIXED without the fix
    (tmp_path / "test_regression.py").write_text(src.replace(
        f"FIX_PATCHES = [{os.path.join(EX, 'atomic_uptodate.py')!r}]", "FIX_PATCHES = []"))
    p = pytest_in(tmp_path, "test_regression.py")
    assert p.returncode == 1
