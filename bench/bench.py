#!/usr/bin/env python3
"""foliolab benchmark: everything measured in one run, on this machine.

    .venv/bin/python bench/bench.py            # the full benchmark
    .venv/bin/python bench/bench.py --quick    # fewer seeds and schedules

1. Engine speed with tracing and oracles on: a lock/atomic workload on 4
   CPUs stepped by the machine (random choice among enabled tasks, every
   step recorded with its label, lockdep and the other oracles active), next
   to a bare round-robin loop over the same number of plain generators, in
   the same process; and the step rate inside Machine.run() on the
   readd-after-drain scenario.
2. Time to the first bug: for every lru_cache scenario, under v0 where v0
   fails, else under the first variant the catalogue expects to fail: the
   median schedules and seconds to the first failure over N seeds, for
   random walk and for PCT (d=2), and their ratio.
3. The DFS certificate: preemption-bounded DFS (k=2) of lru-cache-disable
   on readd-after-drain and add-after-drain: schedules and seconds.

Wall time is used here for reporting only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from foliolab.engine.machine import Machine
from foliolab.engine.sync import atomic_inc, atomic_t, spin_lock, spin_unlock, spinlock_t
from foliolab.explore.explorer import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios import BUG, HANG
from foliolab.scenarios.base import make_run


# ------------------------------------------------------------- 1. engine
def _worker(lock, counter, n):
    for _ in range(n):
        yield from spin_lock(lock)
        yield "critical section"
        yield from spin_unlock(lock)
        yield from atomic_inc(counter)


def engine_steps_per_second(ncpus=4, per_task=25_000, seed=1):
    m = Machine(ncpus, max_steps=10**9, hung_task_steps=10**9)
    lock = spinlock_t(m, "bench_lock")
    counter = atomic_t(m, "bench_counter")
    for cpu in range(ncpus):
        m.spawn(f"T{cpu}", cpu, _worker(lock, counter, per_task))
    m.labels = []                      # tracing on: every label recorded
    rng = random.Random(seed)
    t0 = time.perf_counter()
    res = m.run(lambda m_, en: rng.choice(en))
    dt = time.perf_counter() - t0
    assert res.failure is None and counter.counter == ncpus * per_task
    return res.steps / dt, res.steps


def _plain(n):
    for _ in range(n):
        yield "critical section"


def bare_steps_per_second(ntasks=4, steps=400_000):
    gens = [_plain(steps // ntasks) for _ in range(ntasks)]
    done = 0
    t0 = time.perf_counter()
    live = list(gens)
    while live:
        for g in list(live):
            try:
                next(g)
                done += 1
            except StopIteration:
                live.remove(g)
    return done / (time.perf_counter() - t0)


def scenario_steps_per_second(slug="readd-after-drain", variant="v0", runs=200):
    fam = find_family("lru_cache")
    sc = fam.scenario(slug)
    patches = variant_patches(fam.variants[variant])
    steps = 0
    run_time = 0.0
    t_all = time.perf_counter()
    for seed in range(runs):
        k = make_run(sc, patches, sc.settings())
        k.m.labels = []
        rng = random.Random(seed)
        t0 = time.perf_counter()
        res = k.m.run(lambda m_, en: rng.choice(en))
        run_time += time.perf_counter() - t0
        steps += res.steps
    total = time.perf_counter() - t_all
    return steps / run_time, runs / total, steps / runs


# ------------------------------------------------- 2. time to first bug
def buggy_variant(sc, fam):
    e = sc.expect("v0")
    if e.outcome in (BUG, HANG):
        return "v0"
    for name in fam.variants:
        if sc.expect(name).outcome in (BUG, HANG):
            return name
    return None


def time_to_first_bug(sc, fam, variant, strategy, seeds, budget):
    patches = variant_patches(fam.variants[variant])
    sched, secs, missed = [], [], 0
    for seed in range(seeds):
        ex = explore(sc, variant, patches, strategy, budget, seed, trace_dir=None,
                     progress=False, depth=2, shrink=False, record=False)
        if ex.failure is None:
            missed += 1
            continue
        sched.append(ex.schedule_index)
        secs.append(ex.seconds)
    if not sched:
        return None, None, missed
    return statistics.median(sched), statistics.median(secs), missed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=int, default=3000, help="schedules per search")
    ap.add_argument("--dfs-budget", type=int, default=200_000)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = 3, 1000
    out = sys.stdout.write

    out("foliolab benchmark\n\n1. engine speed (tracing + oracles on)\n")
    eng, nsteps = engine_steps_per_second()
    bare = bare_steps_per_second()
    out(f"   machine, 4 CPUs spin_lock/atomic_inc workload: {eng:12,.0f} steps/s ({nsteps:,} steps)\n")
    out(f"   bare round-robin generator loop (same run):      {bare:12,.0f} steps/s\n")
    out(f"   ratio machine / bare:                            {eng / bare:12.3f}\n")
    run_rate, sched_rate, per_run = scenario_steps_per_second()
    out(f"   readd-after-drain v0, inside Machine.run():      {run_rate:12,.0f} steps/s "
        f"({per_run:.0f} steps/schedule)\n")
    out(f"   readd-after-drain v0, build + run:               {sched_rate:12,.0f} schedules/s\n")

    fam = find_family("lru_cache")
    out(f"\n2. time to the first failure, median over {args.seeds} seeds "
        f"(budget {args.budget} schedules per seed)\n")
    out(f"   {'scenario':22} {'variant':22} {'random sched':>12} {'s':>7} "
        f"{'pct(d=2) sched':>14} {'s':>7} {'ratio sched':>11} {'ratio s':>8}\n")
    for sc in fam.scenarios:
        v = buggy_variant(sc, fam)
        if v is None:
            out(f"   {sc.slug:22} no variant expected to fail\n")
            continue
        r_n, r_s, r_miss = time_to_first_bug(sc, fam, v, "random", args.seeds, args.budget)
        p_n, p_s, p_miss = time_to_first_bug(sc, fam, v, "pct", args.seeds, args.budget)

        def cell(n, s, miss):
            if n is None:
                return f"{'none':>12} {'-':>7}"
            tag = f"*{miss}" if miss else ""
            return f"{n:>10.0f}{tag:>2} {s:7.3f}"
        ratio_n = f"{r_n / p_n:11.1f}" if r_n and p_n else f"{'-':>11}"
        ratio_s = f"{r_s / p_s:8.1f}" if r_s and p_s else f"{'-':>8}"
        out(f"   {sc.slug:22} {v:22} {cell(r_n, r_s, r_miss)} {cell(p_n, p_s, p_miss):>22} "
            f"{ratio_n} {ratio_s}\n")
    out("   (*N: N seeds found no failure within the budget; the median is over the others)\n")

    out("\n3. preemption-bounded DFS certificates (k=2)\n")
    for slug in ("readd-after-drain", "add-after-drain"):
        sc = fam.scenario(slug)
        patches = variant_patches(fam.variants["lru-cache-disable"])
        ex = explore(sc, "lru-cache-disable", patches, "dfs", args.dfs_budget, 0,
                     trace_dir=None, progress=False, preemptions=2, shrink=False, record=False)
        what = ex.certificate if ex.outcome == "certified" else ex.outcome
        out(f"   {slug:22} lru-cache-disable  {ex.schedules:8,} schedules  "
            f"{ex.seconds:7.1f} s  {what}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
