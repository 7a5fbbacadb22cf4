"""Cells that cannot differ: one exploration for variants a scenario cannot
tell apart.

A verdict table runs each scenario under every variant, and many variants
change functions a given scenario never calls: drain-gen-shortcut exercises
lru_add_drain_all()'s generation counter and none of the migration paths
the lru_cache variants patch, so its eight cells explored the same 21,716
schedules eight times.

When a cell has been computed, :class:`CellCache` keeps, with its verdict,
the names of every kernel function its runs looked up (called, probed or
tested with ``in``; engine/kernel.py ``record_lookups``) and the functions
the cell's table had under those names.  Another variant's cell of the same
scenario reuses the verdict when:

* the cell is computed the same way: the same scenario, resolved settings,
  expectation (outcome, preemption bound, budget, witnesses), budgets and
  seed;
* under every one of those names, the variant's table holds the same
  functions (``table_provenance``: the same function objects, wrappers
  included), and the variant's patches run the same ``init`` hooks.

Why this is exact: a run is a deterministic function of the machine, the
kernel state its boot and init hooks create, its function table and the
scheduling choices.  The first run of both explorations asks the table for
the same names and gets the same code, so it takes the same steps and gives
the strategy the same result; the strategy's next choices are then the same,
and so on for every run of the cell (by induction over the runs).  Only
results without a failure are reused (a failure writes a trace that names
its variant), and only within one process.

The reuse is stated: the cell's JSON names the variant it shares the
exploration with (``same_as``) and the verdict table counts the shared
cells under the table.
"""

from __future__ import annotations

import copy
import json

from ..engine.kernel import PatchError, table_provenance


def _key(scenario, settings, expect, params):
    return (getattr(scenario, "family", None), scenario.slug, type(scenario).__qualname__,
            json.dumps(settings, sort_keys=True, default=str),
            expect.outcome, expect.preemptions, getattr(expect, "budget", None),
            tuple(expect.witness), tuple(sorted(params.items())))


def _hooks(patches):
    return tuple(h for p in patches for h in p.init_hooks)


class CellCache:
    """Computed cells, by how they were computed; see the module docstring."""

    def __init__(self):
        self.entries = {}          # key -> [(names, provenance on names, hooks, verdict)]
        self.hits = 0

    def lookup(self, scenario, settings, expect, params, patches):
        """A computed verdict this cell would repeat, or None."""
        entries = self.entries.get(_key(scenario, settings, expect, params))
        if not entries:
            return None
        try:
            prov = table_provenance(patches)
        except PatchError:
            return None
        hooks = _hooks(patches)
        for names, used, used_hooks, v in entries:
            if used_hooks != hooks:
                continue
            if all(_same(prov.get(n), used[n]) for n in names):
                self.hits += 1
                return v
        return None

    def store(self, scenario, settings, expect, params, patches, names, v):
        if v.failure is not None or v.interrupted or v.outcome in ("nondeterminism", "error"):
            return
        try:
            prov = table_provenance(patches)
        except PatchError:
            return
        used = {n: prov.get(n) for n in names}
        self.entries.setdefault(_key(scenario, settings, expect, params), []).append(
            (frozenset(names), used, _hooks(patches), v))


def _same(a, b):
    if a is None or b is None:
        return a is b
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def reuse(v, column, judged):
    """A copy of the computed cell ``v`` as the cell of ``column``."""
    out = copy.copy(v)
    out.column = column
    out.judged = judged
    out.same_as = v.same_as or v.column
    out.problems = []
    out.witnesses = dict(v.witnesses)
    out.seconds = 0.0
    return out


CACHE = CellCache()     # the process's cells (a table computes in one process per scenario)
