"""foliolab in pytest (registered with the entry point ``pytest11``).

Explore a scenario inside a test::

    def test_my_fix(foliolab_explore):
        foliolab_explore("readd-after-drain", variant="v0",
                         patches=["my_fix.py"], budget=500)

or write the race itself as generators, on the model's kernel ``k``::

    from foliolab.pytest_plugin import race

    @race(ncpus=2, budget=200)
    def test_flags(k):
        F = setup_alloc_page_at(k, 0x800, name="F")
        k.m.spawn("A", 0, k.fn.__folio_mark_uptodate(F))
        k.m.spawn("B", 1, k.fn.folio_isolate_lru(F))
        return lambda: ...            # the check, run once every task is done

A failing exploration fails the test with the interleaving table.  Failing
schedules are kept in a local example database, ``.foliolab/examples/``
(like Hypothesis' ``.hypothesis/``; ``FOLIOLAB_EXAMPLES`` moves it, an
empty value turns it off), and replayed first the next time the test runs;
an example that no longer fails is dropped.  ``foliolab replay TRACE
--as-test FILE`` writes a regression test for one trace.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

DB_ENV = "FOLIOLAB_EXAMPLES"


class RaceFailure(AssertionError):
    """A failing interleaving, with its table."""


def _db_dir():
    d = os.environ.get(DB_ENV)
    if d is None:
        d = os.path.join(os.getcwd(), ".foliolab", "examples")
    return d or None


def _db_file(key):
    d = _db_dir()
    if not d:
        return None
    h = hashlib.sha256(key.encode()).hexdigest()[:16]
    return os.path.join(d, f"{h}.json")


def _db_load(key):
    path = _db_file(key)
    if not path or not os.path.isfile(path):
        return []
    try:
        with open(path) as f:
            d = json.load(f)
        return [e for e in d.get("examples", []) if isinstance(e.get("schedule"), list)]
    except (OSError, ValueError):
        return []


def _db_save(key, examples):
    path = _db_file(key)
    if not path:
        return
    if not examples:
        if os.path.exists(path):
            os.unlink(path)
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"key": key, "examples": examples}, f, indent=1)
    os.replace(tmp, path)


def _table(sc, patches, settings, schedule, label):
    from .explore.run import failure_info, replay_schedule
    from .report import header_line, interleaving_table
    k, res = replay_schedule(sc, patches, settings, schedule, record=True)
    f = failure_info(k, res)
    head = header_line(sc.slug, label, "replay", None, None, settings, "original",
                       era=getattr(sc, "era", None))
    return f, interleaving_table(k.recording, header=head, failure=f, extra_lines=[])


def _replay_examples(key, sc, patches, settings, label):
    """Replay the stored failing schedules first: the first that still
    fails is the test's failure; the others are kept or dropped."""
    from .explore.run import ModelError, NondeterminismError
    kept = []
    first = None
    for e in _db_load(key):
        try:
            f, table = _table(sc, patches, dict(settings, **e.get("settings", {})),
                              e["schedule"], label)
        except (NondeterminismError, ModelError, Exception):  # the model moved on
            continue
        if f is None:
            continue                   # fixed: the example goes
        kept.append(e)
        if first is None:
            first = (f, table)
    _db_save(key, kept)
    return first


def run_exploration(key, sc, patches, *, variant=None, strategy="portfolio", budget=1000,
                    seed=0, settings=None, family=None, label=None):
    """Explore ``sc`` under ``patches``; raise :class:`RaceFailure` with the
    interleaving table on a failure (replaying the example database first)."""
    from .explore import explore
    from .report import interleaving_table
    full = sc.settings(settings or {})
    label = label or variant or "custom"
    hit = _replay_examples(key, sc, patches, full, label)
    if hit is not None:
        f, table = hit
        raise RaceFailure(f"{sc.slug}: a stored failing interleaving still fails "
                          f"({_db_dir()}):\n{table}")
    ex = explore(sc, variant, list(patches), strategy, budget, seed, settings or {},
                 None, False, family=family, record=True)
    if ex.outcome in ("nondeterminism", "error"):
        raise RaceFailure(f"{sc.slug}: {ex.outcome}: {ex.nondeterminism or ex.error}")
    if ex.outcome != "failure":
        return ex
    sched = ex.shrunk.schedule if ex.shrunk is not None else ex.schedule
    stored = _db_load(key)
    stored.append({"schedule": list(sched), "settings": dict(settings or {}),
                   "failure": (ex.recording.failure or ex.failure).to_json()})
    _db_save(key, stored)
    failure = ex.recording.failure or ex.failure
    table = interleaving_table(ex.recording, header=f"{sc.slug}  {label}", failure=failure,
                               extra_lines=[ex.summary()])
    raise RaceFailure(f"{sc.slug}: a failing interleaving:\n{table}")


@pytest.fixture
def foliolab_explore(request):
    """``foliolab_explore(scenario, variant=None, patches=(), family=None,
    budget=1000, strategy="portfolio", seed=0, settings=None)``: explore a
    scenario of a family (a name, or ``family=FILE``); fails the test with
    the interleaving table when a schedule fails."""
    from .explore.registry import (
        default_variant, find_scenario, find_variant, load_family_file, variant_patches,
        variant_label,
    )
    from .patches import get_patch, load_patch_file

    def run(scenario, variant=None, patches=(), family=None, **kw):
        if family:
            load_family_file(str(family))
        fam, sc = find_scenario(scenario)
        v = find_variant(fam, variant) if variant else default_variant(fam)
        user = [p if not isinstance(p, (str, os.PathLike)) else
                (load_patch_file(str(p)) if os.path.exists(str(p)) else get_patch(str(p)))
                for p in patches]
        allp = variant_patches(v) + user
        key = f"{request.node.nodeid}::{sc.slug}::{variant_label(v.name, allp)}"
        return run_exploration(key, sc, allp, variant=v.name, family=fam.name,
                               label=variant_label(v.name, allp), **kw)

    return run


def race(*, ncpus=2, budget=1000, strategy="portfolio", seed=0, settings=None, patches=()):
    """Decorator: the test's body ``f(k)`` builds a race on the model's
    kernel (spawning generator tasks on ``k.m``) and returns the check to
    run when every task is done (a callable raising AssertionError), or
    None.  The test explores its interleavings and fails with the table."""
    def deco(f):
        from .engine.oracles import PropertyViolation
        from .scenarios.base import Scenario

        class _Race(Scenario):
            slug = f.__name__
            family = "pytest"
            title = (f.__doc__ or f.__name__).strip().splitlines()[0]
            prop = "the test's check"
            defaults = dict({"ncpus": ncpus}, **(settings or {}))

            def setup(self, k):
                k._race_check = f(k)

            def check(self, k):
                c = getattr(k, "_race_check", None)
                if c is None:
                    return
                try:
                    c()
                except AssertionError as e:
                    # pytest's rewritten asserts explain with object reprs
                    # (addresses): the message's first line only, deterministic
                    msg = str(e).split("\n", 1)[0].strip() or "assertion failed"
                    raise PropertyViolation(self.prop, msg) from None

        def test():
            key = f"{f.__module__}.{f.__qualname__}"
            run_exploration(key, _Race(), list(patches), strategy=strategy, budget=budget,
                            seed=seed, label="test")

        test.__name__ = f.__name__
        test.__doc__ = f.__doc__
        test.__module__ = f.__module__
        return test

    return deco


def regression_test_source(trace_path, r):
    """The text of a pytest file that replays ``trace_path`` (embedded) and
    expects its failure -- or, once ``FIXED = True``, its absence: the
    scenario explored again under the recorded patches finds no failure."""
    with open(trace_path) as f:
        trace = json.load(f)
    name = "".join(c if c.isalnum() else "_" for c in trace["scenario"])
    headline = r.failure.headline() if r.failure is not None else "no failure"
    return f'''"""Regression test written by `foliolab replay {os.path.basename(trace_path)} --as-test`.

{trace["scenario"]} ({trace.get("label") or trace.get("variant")}): {headline}

Set FIXED = True once the bug is fixed: the test then explores the scenario
under the recorded patches (plus FIX_PATCHES) and expects no failure.
"""

import json

FIXED = False
FIX_PATCHES = []          # patch files of the fix, when FIXED
TRACE = json.loads({json.dumps(json.dumps(trace))})


def test_{name}_regression(tmp_path):
    from foliolab.explore import replay
    from foliolab.explore.trace import resolve_trace
    path = tmp_path / "trace.json"
    path.write_text(json.dumps(TRACE))
    if not FIXED:
        r = replay(str(path))
        assert r.outcome == "failure", r.to_json()
        assert r.failure.kind == TRACE["failure"]["kind"]
        return
    from foliolab.explore import explore
    from foliolab.patches import load_patch_file
    fam, sc, patches, settings = resolve_trace(TRACE, str(path))
    patches = patches + [load_patch_file(p) for p in FIX_PATCHES]
    ex = explore(sc, TRACE.get("variant"), patches, "portfolio", 1000, 0, settings,
                 None, False, family=fam.name, record=False)
    assert ex.outcome != "failure", ex.summary()
'''
