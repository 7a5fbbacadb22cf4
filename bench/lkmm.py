#!/usr/bin/env python3
"""The LKMM memory model (issue 15): what it costs and what it classifies.

    .venv/bin/python bench/lkmm.py            # litmus table + lru_cache growth
    .venv/bin/python bench/lkmm.py --quick    # litmus table only

1. The kernel's litmus tests (tests/data/litmus, 47 tests): classification
   rate against herd7's "Result:" line under sc, tso and lkmm, and the time
   per test under lkmm with exhaustive DFS (partial-order reduction on,
   every program order LKMM allows): median and maximum, beside herd7's
   published figure (about 6 s for its 10-process RCU test; the tests here
   have 1 to 4 processes).
2. The state-space growth of lru_cache cells under lkmm against tso: the
   DPOR schedules of a complete k-bounded search (or the cap) for each cell.

Wall time is used here for reporting only.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from foliolab.explore.explorer import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.litmus.table import manifest_paths, render, run_files

CELLS = [("drain-gen-shortcut", "v0", 1), ("drain-gen-shortcut", "no-mb-after-gen-bump", 1),
         ("busy-cpu", "v0", 1), ("readd-after-drain", "lru-cache-disable", 1),
         ("drain-transient", "v0", 0), ("nested-disablers", "nested-skip-v2", 0)]


def litmus_section(markdown=None):
    models = ["sc", "tso", "lkmm"]
    t0 = time.perf_counter()
    rows = run_files(manifest_paths(), models)
    wall = time.perf_counter() - t0
    print(render(rows, models))
    if markdown:
        with open(markdown, "w") as f:
            f.write(render(rows, models, markdown=True))
    ok = sum(1 for r in rows if not r[3])
    lk = sorted(r[2]["lkmm"] for r in rows)
    worst = max(rows, key=lambda r: r[2]["lkmm"])
    print(f"classified as herd7 says: {ok}/{len(rows)} ({100 * ok / len(rows):.0f}%)")
    print(f"time per test under lkmm (DFS, exhaustive): median {1000 * statistics.median(lk):.0f} ms, "
          f"mean {1000 * statistics.mean(lk):.0f} ms, max {lk[-1]:.2f} s ({worst[0].name}, {worst[1]['lkmm'].runs} schedules); "
          f"herd7: about 6 s for its 10-process RCU test")
    print(f"whole table (3 models, {len(rows)} tests): {wall:.1f} s")
    return ok == len(rows)


def growth_section(cap):
    fam = find_family("lru_cache")
    print(f"\nlru_cache state space with DPOR, tso against lkmm (cap {cap} schedules)")
    print(f"{'cell':52s} {'k':>2s} {'tso':>14s} {'lkmm':>14s} {'growth':>7s}")
    for slug, var, k in CELLS:
        sc = fam.scenario(slug)
        out = {}
        for mm in ("tso", "lkmm"):
            t0 = time.perf_counter()
            ex = explore(sc, var, variant_patches(fam.variants[var]), "dfs", cap, preemptions=k,
                         settings={"memory_model": mm}, trace_dir=None, progress=False,
                         family=fam.name, mode="count", record=False, shrink=False)
            done = "" if ex.complete else "+"
            out[mm] = (ex.schedules, done, time.perf_counter() - t0, ex.failures)
        g = out["lkmm"][0] / max(1, out["tso"][0])
        cell = f"{slug} / {var}"
        print(f"{cell:52s} {k:>2d} {out['tso'][0]:>8d}{out['tso'][1]:1s} {out['tso'][2]:4.0f}s "
              f"{out['lkmm'][0]:>8d}{out['lkmm'][1]:1s} {out['lkmm'][2]:4.0f}s {g:6.1f}x"
              f"  failing: tso {out['tso'][3]}, lkmm {out['lkmm'][3]}")
    print("(+: the cap cut the search)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the litmus table only")
    ap.add_argument("--cap", type=int, default=20_000, help="schedules per growth cell")
    ap.add_argument("--markdown", metavar="FILE", help="also write the litmus table as markdown")
    args = ap.parse_args(argv)
    ok = litmus_section(args.markdown)
    if not args.quick:
        growth_section(args.cap)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
