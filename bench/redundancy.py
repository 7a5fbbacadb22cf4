#!/usr/bin/env python3
"""How many runs the bounded search spends per Mazurkiewicz trace.

    .venv/bin/python bench/redundancy.py                       # the default cells
    .venv/bin/python bench/redundancy.py lru_cache/drain-gen-shortcut/v0/2 ...

For each cell (family/scenario/variant/k) it runs the DPOR search of
``foliolab explore --strategy dfs -k K`` and counts, level by level, the runs
and the distinct traces among the complete ones (a trace: every step with
its vector clock: dpor.mazurkiewicz_trace).  Without a bound every
complete run is a distinct trace (sleep sets); under one, BPOR's
conservative points and conservative sleep sets explore a trace many
times, and the ratio says how much a search that ran each trace once would
save.

Wall time is reported, never asserted.
"""

from __future__ import annotations

import argparse
import time

from foliolab.explore import dpor
from foliolab.explore.explorer import explore
from foliolab.explore.registry import find_family, variant_patches

DEFAULT = ("lru_cache/drain-gen-shortcut/v0/2", "lru_cache/readd-after-drain/sync-rcu/2")


def measure(cell):
    fam_name, slug, variant, k = cell.split("/")
    fam = find_family(fam_name)
    sc = fam.scenario(slug)
    runs, traces = {}, {}
    orig = dpor.Systematic.after

    def after(self, res):
        runs[self.level] = runs.get(self.level, 0) + 1
        if not res.aborted:
            traces.setdefault(self.level, set()).add(
                dpor.mazurkiewicz_trace(self._events, len(res.machine.tasks)))
        return orig(self, res)

    dpor.Systematic.after = after
    try:
        t0 = time.perf_counter()
        ex = explore(sc, variant, variant_patches(fam.variants[variant]), "dfs", None, 0,
                     trace_dir=None, progress=False, preemptions=int(k), shrink=False,
                     record=False)
        dt = time.perf_counter() - t0
    finally:
        dpor.Systematic.after = orig
    return ex, dt, runs, traces


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cells", nargs="*", default=DEFAULT,
                    help="family/scenario/variant/k (default: %(default)s)")
    args = ap.parse_args(argv)
    print("runs per Mazurkiewicz trace, bounded DPOR (BPOR)")
    for cell in args.cells:
        ex, dt, runs, traces = measure(cell)
        print(f"\n{cell}: {ex.outcome}, {ex.schedules:,} runs, {dt:.1f} s")
        for level in sorted(runs):
            n = len(traces.get(level, ()))
            ratio = runs[level] / n if n else float("nan")
            print(f"   k={level}: {runs[level]:8,} runs  {n:7,} distinct traces  "
                  f"{ratio:6.1f} runs per trace")


if __name__ == "__main__":
    main()
