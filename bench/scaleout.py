#!/usr/bin/env python3
"""Scale-out benchmark (issue 13, docs/scaleout.md): one run, ratios.

    .venv/bin/python bench/scaleout.py [--quick] [--cells RUN] [--no-ray]

1. The process pool on this machine against one worker (the same units,
   the in-process runner), wall time:
   * a split k=2 DFS certificate (drain-gen-shortcut under v0, --split 32);
   * a PCT seed portfolio (readd-after-drain under sync-rcu, safe: every
     seed runs its whole budget).
   Beside each: the machine's load average (the machine is shared: other
   processes take cores from the pool) and the best the units allow on 2
   workers (their measured times, packed in serial order onto 2 workers).
2. Ray against the pool on this machine (a local Ray instance, 2 CPUs):
   the overhead per unit (units that do nothing) and in total (the split
   certificate above).
3. The past-one-machine plan, simulated from the measured per-unit costs
   and the Ray overhead per unit (a driver that dispatches units one after
   another, workers that take the next unit in serial order):
   * ``reproduce`` (its cells; their costs from a reproduce run directory,
     ``--cells RUN``, e.g. ``foliolab reproduce -j 1 --run-dir runs``);
   * a k=3 certificate of nested-disablers under sync-rcu, split into
     subtrees, each subtree's cost estimated from a sample (Knuth's
     estimator of dpor.py over a short search of the subtree, times the
     measured cost per schedule);
   on 8, 64 and 512 workers, and where the split stops scaling.

Wall time is used here for reporting only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from foliolab.explore.registry import find_scenario, find_variant, variant_patches  # noqa: E402
from foliolab.runner import InlineRunner, PoolRunner, Unit  # noqa: E402
from foliolab.runner.drive import dfs_units, seed_units  # noqa: E402




def _load():
    return os.getloadavg()[0]


def timed(runner, units):
    t = time.perf_counter()
    out = runner.run(units)
    return time.perf_counter() - t, out


def best_on(costs, workers, overhead=0.0, dispatch=0.0):
    """Makespan of ``costs`` taken in serial order by ``workers`` workers,
    each unit paying ``overhead`` on its worker, the driver handing out
    one unit every ``dispatch`` seconds."""
    import heapq
    free = [0.0] * min(workers, max(1, len(costs)))
    heapq.heapify(free)
    t_driver = 0.0
    end = 0.0
    for c in costs:
        t_driver += dispatch
        w = heapq.heappop(free)
        start = max(w, t_driver)
        done = start + c + overhead
        end = max(end, done)
        heapq.heappush(free, done)
    return end


def _cell(slug, variant):
    fam, sc = find_scenario(slug)
    v = find_variant(fam, variant)
    return fam, sc, v, variant_patches(v)


def split_units(slug, variant, k, split):
    fam, sc, v, patches = _cell(slug, variant)
    units, _ = dfs_units(sc, fam.name, v.name, patches, [], preemptions=k, seed=0,
                         settings=None, trace_dir=None, split=split, shrink=False)
    return units


def pct_units(slug, variant, seeds, budget):
    fam, sc, v, patches = _cell(slug, variant)
    return seed_units(sc, fam.name, v.name, [], strategy="pct", seed=0, seeds=seeds,
                      budget=budget, depth=2, settings=None, trace_dir=None, shrink=False)


def unit_seconds(out, units):
    res = []
    for u in units:
        r = out.results[u.key]
        if isinstance(r, list):
            res.append(sum(s["seconds"] for _, s in r))
        else:
            res.append(r["seconds"])
    return res


def row(label, figure, baseline):
    print(f"  {label:46s} {figure:>18s}   {baseline}")


# ---------------------------------------------------------------- 1. pool
def pool_speedup(quick):
    print("1. process pool (2 workers) against one worker, wall time")
    cases = [("split k=2 DFS certificate (drain-gen-shortcut v0, --split 32)",
              split_units("drain-gen-shortcut", "v0", 1 if quick else 2, 32)),
             ("PCT seed portfolio (readd-after-drain sync-rcu)",
              pct_units("readd-after-drain", "sync-rcu", 16 if quick else 48,
                        50 if quick else 150))]
    out = {}
    for label, units in cases:
        load0 = _load()
        t1, o1 = timed(InlineRunner(), units)
        t2, o2 = timed(PoolRunner(2), units)
        same = o1.results == o2.results or _same(o1, o2, units)
        costs = unit_seconds(o1, units)
        ideal = sum(costs) / best_on(costs, 2)
        row(label, f"{t1 / t2:.2f}x", f"1 worker {t1:.1f} s, pool {t2:.1f} s; {len(units)} "
            f"units; best the units allow {ideal:.2f}x; load avg {load0:.1f}; "
            f"results equal: {same}")
        out[label] = (t1, t2, costs)
    return out


def _same(o1, o2, units):
    def strip(r):
        if isinstance(r, list):
            return [(s, {k: v for k, v in d.items() if k != "seconds"}) for s, d in r]
        d = {k: v for k, v in r.items() if k != "seconds"}
        d["failure"] = d["failure"] and d["failure"].to_json()
        return d
    return all(strip(o1.results[u.key]) == strip(o2.results[u.key]) for u in units)


# ----------------------------------------------------------------- 2. ray
def ray_overhead(split_case, quick):
    print("2. Ray (local instance, 2 CPUs) against the pool, same machine")
    try:
        import logging

        import ray
    except ImportError:
        print("  Ray is not installed (pip install 'foliolab[ray]'): skipped")
        return None
    from foliolab.runner import RayRunner
    # a throwaway local instance: no token written to ~/.ray (Ray 2.5x
    # would write one, and every later `ray start` would then require it)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
             log_to_driver=False)
    try:
        n = 200 if quick else 1000
        noop = [Unit(f"n{i}", "noop", {"i": i}) for i in range(n)]
        rr = RayRunner("local")
        timed(rr, noop[:20])                       # workers started
        tr, _ = timed(rr, noop)
        tp, _ = timed(PoolRunner(2), noop)
        ti, _ = timed(InlineRunner(), noop)
        per_ray = (tr - ti) / n
        per_pool = (tp - ti) / n
        row("overhead per unit (empty units)", f"{per_ray * 1e3:.2f} ms",
            f"pool {per_pool * 1e3:.2f} ms; ray/pool {per_ray / per_pool:.1f}x "
            f"({n} units: ray {tr:.2f} s, pool {tp:.2f} s)")
        units = split_units("drain-gen-shortcut", "v0", 1 if quick else 2, 32)
        t_ray, o_ray = timed(rr, units)
        t_pool, o_pool = timed(PoolRunner(2), units)
        row("split certificate in total", f"{t_ray / t_pool:.2f}x pool",
            f"ray {t_ray:.1f} s, pool {t_pool:.1f} s; results equal: "
            f"{_same(o_ray, o_pool, units)}")
        return per_ray
    finally:
        ray.shutdown()


# ------------------------------------------------------------ 3. the plan
def plan(split_costs, per_unit, cells_run, quick):
    print("3. past one machine, simulated (Ray overhead per unit "
          f"{per_unit * 1e3:.2f} ms, on the driver and on the worker)")
    workers = (8, 64, 512)
    # reproduce: one unit per cell
    costs = None
    if cells_run:
        costs = []
        for line in open(os.path.join(cells_run, "results.jsonl")):
            rec = json.loads(line)
            for cell in rec["summary"] or ():
                costs.append(cell["seconds"])
    if costs:
        total = sum(costs)
        figs = ", ".join(f"{w}: {best_on(costs, w, per_unit, per_unit):.0f} s" for w in workers)
        row(f"reproduce ({len(costs)} cells, 1 worker {total:.0f} s)", figs.split(",")[0],
            f"{figs}; the longest cell {max(costs):.0f} s bounds it")
    else:
        print("  reproduce: no --cells RUN given (foliolab reproduce -j 1 --run-dir DIR)")
    # the k=3 certificate of nested-disablers under sync-rcu
    fam, sc, v, patches = _cell("nested-disablers", "sync-rcu")
    from foliolab.explore import explore
    from foliolab.explore.split import PrefixSystematic
    split = 128 if quick else 1024
    units, _ = dfs_units(sc, fam.name, v.name, patches, [], preemptions=3, seed=0,
                         settings=None, trace_dir=None, split=split, shrink=False)
    rng = random.Random(3)
    sample = sorted(rng.sample(range(len(units)), min(len(units), 12 if quick else 32)))
    est = []
    per_sched = []
    for i in sample:
        strat = PrefixSystematic(units[i].payload["prefix"], 3)
        t = time.perf_counter()
        ex = explore(sc, v.name, patches, strat, 40, 0, trace_dir=None, progress=False,
                     family=fam.name, shrink=False, record=False)
        dt = time.perf_counter() - t
        per_sched.append(dt / max(1, ex.schedules))
        est.append(strat.estimate_total() or ex.schedules if not ex.complete else ex.schedules)
    c = statistics.mean(per_sched)
    sub = [e * c for e in est]
    total = statistics.mean(sub) * len(units)
    costs = [sub[i % len(sub)] for i in range(len(units))]
    figs = [(w, best_on(costs, w, per_unit, per_unit)) for w in workers]
    row(f"k=3 nested-disablers sync-rcu ({len(units)} subtrees)",
        f"{figs[0][1] / 3600:.1f} h on 8",
        "; ".join(f"{w}: {t / 3600:.2f} h" for w, t in figs)
        + f"; 1 worker {total / 3600:.1f} h (estimated, {c * 1e3:.1f} ms per schedule, "
          f"subtrees {min(sub):.0f}-{max(sub):.0f} s)")
    # where the split stops scaling
    big = max(sub)
    print(f"  stops scaling: on W workers the time is at least max(total/W, the largest unit, "
          f"units x {per_unit * 1e3:.2f} ms at the driver);")
    print(f"    here the largest subtree ({big:.0f} s) is reached at W = {total / big:.0f}; "
          f"the driver's share ({len(units) * per_unit:.1f} s) is never the bound below "
          f"{int(big / per_unit):,} units.")
    if split_costs:
        sc2 = split_costs
        print(f"    the k=2 certificate of section 1: {len(sc2)} units, the largest "
              f"{max(sc2) / sum(sc2):.0%} of the whole: at most {sum(sc2) / max(sc2):.1f}x "
              f"on any number of workers (split it finer: --split N)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--cells", metavar="RUN", default=None,
                    help="A reproduce run directory: its cells' measured seconds.")
    ap.add_argument("--only", choices=["pool", "ray", "plan"], default=None)
    a = ap.parse_args()
    os.environ.pop("FOLIOLAB_FAMILIES", None)
    print(f"scale-out benchmark: {os.cpu_count()} CPUs, load average {_load():.1f}")
    pool = {}
    if a.only in (None, "pool"):
        pool = pool_speedup(a.quick)
    split_costs = next((v[2] for k, v in pool.items() if k.startswith("split")), None)
    per_unit = 1e-3
    if a.only in (None, "ray") and not a.no_ray:
        per_unit = ray_overhead(split_costs, a.quick) or per_unit
    if a.only in (None, "plan"):
        cells = a.cells
        if cells is None:
            found = sorted(glob.glob("runs/reproduce-*"))
            cells = found[-1] if found else None
        plan(split_costs, per_unit, cells, a.quick)


if __name__ == "__main__":
    main()
