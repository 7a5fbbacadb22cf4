"""verdict(): the outcome of one scenario under one variant, judged against
the scenario's expectation (the fidelity table, `foliolab list`).

How a cell is computed:

1. ``Expect.outcome`` is NA: ``-``, nothing runs.
2. Look for a failure with the portfolio (PCT d=2, PCT d=3, a random walk,
   the sticky walk that lets stores linger in the store buffers, POS,
   interleaved schedule by schedule, the sticky walk in four slots of eight),
   ``budget`` schedules per slot, a
   fixed seed derived from ``seed``.  A cell expected to be safe is decided
   by its certificate (3.): its portfolio search, a smoke test beyond the
   bound, gets ``budget`` schedules in all.  The first failure gives ``BUG @N``
   (``HANG @N`` for a hung-task, deadlock or livelock kind), N = schedules
   run until it.
3. No failure: preemption-bounded DFS with ``k = Expect.preemptions`` (up to
   ``dfs_budget`` schedules).  It completes: ``safe k<=K`` (a certificate);
   it is cut by the budget: ``safe?``; it finds a failure: BUG/HANG as above.
   For a cell expected to fail, the DFS is a last resort and gets at most
   ``BUG_DFS_BUDGET`` schedules.
4. Witnesses: every name in ``Expect.witness`` must be reached by at least
   one explored run (``scenario.witnesses[name](k)`` true at the end of the
   run).  When the search stopped before that, the portfolio keeps looking
   (up to ``budget`` schedules).

The cell is *as expected* when the outcome matches (BUG: a failure whose kind
is in ``Expect.kinds``, or any non-hang kind if none is given; HANG: a hang
kind, or one of ``kinds``; SAFE: a certificate) and every witness was
reached.  Nondeterminism is never as expected.
"""

from __future__ import annotations

import time

from ..scenarios.base import BUG, HANG, NA, SAFE, Expect
from ..engine.kernel import record_lookups
from .cellcache import CACHE, reuse
from .explorer import explore
from .registry import variant_label
from .strategies import Portfolio
from .run import HANG_KINDS

# A cell expected to fail, or a user's patch, gets this many times --budget
# schedules of the portfolio (1,800 by default); a cell expected safe, --budget.
PORTFOLIO_ROUNDS = 8
BUG_DFS_BUDGET = 20_000


class Verdict:
    """One cell of the verdict table."""

    def __init__(self, scenario, column, expect, judged):
        self.scenario = scenario
        self.column = column           # variant name (or "V+file")
        self.expect = expect
        self.judged = judged           # False: no expectation (a user's patch)
        self.outcome = NA              # bug | hang | safe | safe? | n/a | nondeterminism | error
        self.cell = "-"
        self.schedules_to_failure = None
        self.schedules = 0
        self.steps = 0
        self.seconds = 0.0
        self.failure = None            # FailureInfo
        self.found_by = None           # strategy description
        self.trace_path = None
        self.certificate = None
        self.dfs_schedules = None
        self.partial_certificate = None
        self.witnesses = {}            # reached: name -> first schedule index
        self.problems = []             # why the cell is not as expected
        self.nondeterminism = None
        self.interrupted = False       # Ctrl-C: the cell is incomplete
        self.settings = None           # the machine settings the cell ran with
        self.same_as = None            # the variant whose exploration this cell shares (cellcache)

    def __getstate__(self):
        # Sent back from worker processes: the scenario object may come from
        # a module the parent cannot import by name (FOLIOLAB_FAMILIES, a
        # user's file), so only its slug travels.
        d = dict(self.__dict__)
        d["scenario"] = _ScenarioRef(self.scenario.slug, getattr(self.scenario, "witnesses", {}))
        return d

    @property
    def as_expected(self):
        return not self.problems

    def expected_text(self):
        e = self.expect
        if e.outcome == NA:
            return "n/a"
        if e.outcome == SAFE:
            return f"safe (k<={e.preemptions})"
        kinds = f" ({', '.join(e.kinds)})" if e.kinds else ""
        return f"{e.outcome}{kinds}"

    def got_text(self):
        if self.failure is not None:
            return f"{self.cell} ({self.failure.headline()})"
        if self.outcome == "safe?":
            part = f"; {self.partial_certificate}" if self.partial_certificate else ""
            return (f"safe? (no failure, no certificate: DFS k<={self.expect.preemptions} "
                    f"cut after {self.dfs_schedules} schedules{part})")
        if self.outcome == "nondeterminism":
            return f"nondeterminism: {self.nondeterminism}"
        return self.cell

    def to_json(self):
        return {
            "scenario": self.scenario.slug, "variant": self.column,
            "cell": self.cell, "outcome": self.outcome,
            "expected": self.expect.outcome, "expected_kinds": list(self.expect.kinds),
            "judged": self.judged, "as_expected": self.as_expected,
            "problems": list(self.problems),
            "schedules_to_failure": self.schedules_to_failure,
            "schedules": self.schedules, "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "failure": self.failure.to_json() if self.failure else None,
            "found_by": self.found_by, "trace": self.trace_path,
            "certificate": self.certificate,
            "partial_certificate": self.partial_certificate,
            "interrupted": self.interrupted, "witnesses": dict(self.witnesses),
            "settings": self.settings,
            "same_as": self.same_as,
        }


class _ScenarioRef:
    """What a Verdict keeps of its scenario across processes."""

    def __init__(self, slug, witnesses):
        self.slug = slug
        self.witnesses = {name: None for name in witnesses}

    def __repr__(self):
        return f"<Scenario {self.slug}>"


def _matches(expect, kind):
    if expect.kinds:
        return kind in expect.kinds
    if expect.outcome == HANG:
        return kind in HANG_KINDS
    return kind not in HANG_KINDS


def verdict(scenario, variant, patches, expect=None, *, settings=None,
            family=None, budget=225, dfs_budget=100_000, seed=0,
            trace_dir=None, build=None, progress=False, judge=True,
            shrink=True, watchdog=None, cache=CACHE):
    """Compute one cell.  ``variant``: the variant's name; ``patches``: its
    Patch objects, possibly followed by user patch files (the column is
    then "V+file");
    ``expect``: an :class:`~foliolab.scenarios.base.Expect` (default: the
    scenario's for ``variant``); ``judge=False`` computes the cell without
    comparing it with an expectation (the NA rule and the DFS bound still
    come from ``expect``).  ``cache``: a :class:`~.cellcache.CellCache`
    (None: compute every cell afresh); a cell whose variant the scenario
    cannot tell from one computed before reuses its verdict (cellcache.py)."""
    if expect is None:
        expect = scenario.expect(variant)
    v = Verdict(scenario, variant_label(variant, patches), expect, judge)
    v.settings = scenario.settings(settings)
    if expect.outcome == NA:
        return v
    if cache is not None and build is None:
        params = dict(budget=budget, dfs_budget=dfs_budget, seed=seed, shrink=shrink)
        hit = cache.lookup(scenario, v.settings, expect, params, patches)
        if hit is not None:
            out = reuse(hit, v.column, judge)
            out.expect = expect
            if judge:
                _judge(out)
            else:
                _judge_broken(out)
            return out
        with record_lookups() as names:
            v = _verdict(v, scenario, variant, patches, expect, settings=settings,
                         family=family, budget=budget, dfs_budget=dfs_budget, seed=seed,
                         trace_dir=trace_dir, build=build, progress=progress, judge=judge,
                         shrink=shrink, watchdog=watchdog)
        cache.store(scenario, v.settings, expect, params, patches, names, v)
        return v
    return _verdict(v, scenario, variant, patches, expect, settings=settings,
                    family=family, budget=budget, dfs_budget=dfs_budget, seed=seed,
                    trace_dir=trace_dir, build=build, progress=progress, judge=judge,
                    shrink=shrink, watchdog=watchdog)


def _verdict(v, scenario, variant, patches, expect, *, settings, family, budget,
             dfs_budget, seed, trace_dir, build, progress, judge, shrink, watchdog):
    budget = max(budget, getattr(expect, "budget", 0) or 0)
    t0 = time.perf_counter()
    common = dict(settings=settings, trace_dir=trace_dir, progress=progress,
                  family=family, build=build, shrink=shrink, record=False,
                  watchdog=watchdog)
    found = None
    # A cell the catalogue expects to be safe is decided by its certificate;
    # the portfolio before it is a smoke test beyond the bound and gets
    # --budget schedules (a cell expected to fail, or a user's patch, whose
    # failure is the point, gets PORTFOLIO_ROUNDS times that).
    searched = budget if judge and expect.outcome == SAFE else budget * PORTFOLIO_ROUNDS
    ex = explore(scenario, variant, patches, Portfolio(seed * 7919),
                 searched, seed * 7919, **common)
    _absorb(v, ex)
    if ex.outcome in ("failure", "nondeterminism", "error"):
        found = ex
    elif ex.interrupted:
        return _interrupted(v, t0)
    if found is None:
        if expect.outcome in (BUG, HANG):
            # the search above should have found it; DFS is a last resort here
            dfs_budget = min(dfs_budget, BUG_DFS_BUDGET)
        ex = explore(scenario, variant, patches, "dfs", dfs_budget, seed,
                     preemptions=expect.preemptions, **common)
        _absorb(v, ex)
        v.dfs_schedules = ex.schedules
        v.partial_certificate = ex.partial_certificate
        if ex.interrupted and ex.outcome != "failure":
            return _interrupted(v, t0)
        if ex.outcome in ("failure", "nondeterminism", "error"):
            found = ex
        elif ex.outcome == "certified":
            v.outcome = SAFE
            v.cell = f"safe k<={expect.preemptions}"
            v.certificate = ex.certificate
        else:
            v.outcome = "safe?"
            v.cell = "safe?"
    if found is not None:
        if found.outcome == "nondeterminism":
            v.outcome = "nondeterminism"
            v.cell = "NONDET"
            v.nondeterminism = found.nondeterminism
        elif found.outcome == "error":
            v.outcome = "error"
            v.cell = "ERROR"
            v.nondeterminism = found.error
        else:
            v.failure = found.failure
            v.found_by = found.strategy
            v.trace_path = found.trace_path
            v.schedules_to_failure = v.schedules - found.schedules + found.schedule_index
            hang = found.failure.kind in HANG_KINDS
            v.outcome = HANG if hang else BUG
            v.cell = f"{'HANG' if hang else 'BUG'} @{v.schedules_to_failure}"
    missing = [w for w in expect.witness if w not in v.witnesses]
    if missing and v.outcome not in ("nondeterminism", "error"):
        known = [w for w in missing if w in getattr(scenario, "witnesses", {})]
        if known:
            # the portfolio: its sticky walk lets a CPU run on, which a
            # witness inside another CPU's short window needs
            ex = explore(scenario, variant, patches, Portfolio(seed * 7919 + 11), budget,
                         seed * 7919 + 11,
                         mode="count", stop_when_witnessed=known,
                         **dict(common, trace_dir=None))
            _absorb(v, ex, failures=False)
            if ex.interrupted:
                v.interrupted = True
                v.problems.append("interrupted (Ctrl-C) while looking for the witnesses")
    v.seconds = time.perf_counter() - t0
    if judge:
        _judge(v)
    else:
        # no expectation (a user's patch), but an ERROR or NONDET cell is
        # never as expected
        _judge_broken(v)
    return v


def _interrupted(v, t0):
    v.interrupted = True
    v.outcome = "interrupted"
    v.cell = "?"
    v.problems.append("interrupted (Ctrl-C) before the cell was complete")
    v.seconds = time.perf_counter() - t0
    return v


def _absorb(v, ex, failures=True):
    base = v.schedules
    v.schedules += ex.schedules
    v.steps += ex.steps
    for name, idx in ex.witnesses.items():
        if name not in v.witnesses:
            v.witnesses[name] = base + idx


def _judge_broken(v):
    """A cell whose run broke: True (and the problem noted) or False."""
    if v.outcome == "nondeterminism":
        v.problems.append(f"nondeterminism (a foliolab bug): {v.nondeterminism}")
        return True
    if v.outcome == "error":
        v.problems.append(f"an exception: {v.nondeterminism}")
        return True
    return False


def _judge(v):
    e = v.expect
    p = v.problems
    if _judge_broken(v):
        return
    if e.outcome in (BUG, HANG):
        if v.failure is None or not _matches(e, v.failure.kind):
            p.append(f"expected {v.expected_text()}, got {v.got_text()}")
    elif e.outcome == SAFE:
        if v.outcome != SAFE:
            p.append(f"expected {v.expected_text()}, got {v.got_text()}")
    for w in e.witness:
        if w not in getattr(v.scenario, "witnesses", {}):
            p.append(f"witness {w!r} is not defined by the scenario")
        elif w not in v.witnesses:
            p.append(f"witness {w!r} never reached in {v.schedules} schedules")


def expectations(family):
    """[(scenario, variant name, Expect)] in table order."""
    return [(s, vn, s.expect(vn)) for s in family.scenarios for vn in family.variants]


__all__ = ["Verdict", "verdict", "expectations", "Expect", "PORTFOLIO_ROUNDS"]
