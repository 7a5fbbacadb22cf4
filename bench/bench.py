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
2. Time to the first bug.
   And for every cell expected to fail: the median schedules to the
   first failure of the portfolio and of each single strategy (the
   portfolio's shares come from failure rates: bench/portfolio.py).
3. The small programs measured against the Python peers (ploom, musil):
   the lost update, the two-preemption "stages" bug and its fix, N locked
   increments for N = 2, 3, 4: runs, complete runs and seconds with and
   without partial-order reduction.
4. The certificate of every safe cell (every family) at its bound: schedules and
   seconds with DPOR, and the plain search's schedules (cut at a cap).
5. Measure mode: its step rate on the same scenario code as explore mode
   (the discrete-event clock against the random walk), and
   ``foliolab measure minchan-2021`` with its default seeds on every core:
   seconds, and the v0 / lru-cache-disable ratio of failing migrations.

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
from foliolab.explore.strategies import RandomWalk
from foliolab.explore.registry import families, find_family, variant_patches
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
    choose = RandomWalk(seed).next_choose()     # the explorer's own random walk
    t0 = time.perf_counter()
    res = m.run(choose)
    dt = time.perf_counter() - t0
    assert res.failure is None and counter.counter == ncpus * per_task
    return res.steps / dt, res.steps


def step_check_cost(ncpus=4, per_task=25_000, seed=1):
    """The engine workload with per-step invariant checks
    (Machine.add_step_check): none, one after every step, one after every
    release of the lock.  Returns steps/s for each."""
    out = {}
    for mode in ("none", "every step", "lock release"):
        m = Machine(ncpus, max_steps=10**9, hung_task_steps=10**9)
        lock = spinlock_t(m, "bench_lock")
        counter = atomic_t(m, "bench_counter")
        calls = [0]

        def check():
            calls[0] += 1
            if counter.counter < 0:
                raise AssertionError("negative")
        if mode == "every step":
            m.add_step_check(check)
        elif mode == "lock release":
            m.add_step_check(check, after_release_of=lock)
        for cpu in range(ncpus):
            m.spawn(f"T{cpu}", cpu, _worker(lock, counter, per_task))
        m.labels = []
        choose = RandomWalk(seed).next_choose()
        t0 = time.perf_counter()
        res = m.run(choose)
        dt = time.perf_counter() - t0
        assert res.failure is None
        out[mode] = (res.steps / dt, calls[0])
    return out


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


def build_ms(slug="readd-after-drain", variant="lru-cache-disable", runs=2000):
    """Milliseconds to put one run together (make_run: machine, booted
    kernel, scenario state), as a systematic search does once per schedule,
    with the settings of the DFS certificate; the collector off (what it
    costs depends on the search's heap: explore/explorer.py
    SEARCH_GC_THRESHOLD)."""
    import gc
    fam = find_family("lru_cache")
    sc = fam.scenario(slug)
    patches = variant_patches(fam.variants[variant])
    settings = sc.settings({"fair_bound": 0, "retry_collapse": True})
    make_run(sc, patches, settings)
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(runs):
            make_run(sc, patches, settings)
        return (time.perf_counter() - t0) / runs * 1000
    finally:
        gc.enable()


def measure_vs_explore_steps_per_second(slug="readd-after-drain", variant="v0", runs=200):
    """The same scenario runs stepped by measure mode's clock and by the
    explorer's random walk: steps/s inside Machine.run() for each."""
    from foliolab.measure.clock import Clock
    from foliolab.measure.costs import CostModel
    fam = find_family("lru_cache")
    sc = fam.scenario(slug)
    patches = variant_patches(fam.variants[variant])
    rates = {}
    for mode in ("explore", "measure"):
        steps = 0
        run_time = 0.0
        for seed in range(runs):
            k = make_run(sc, patches, sc.settings({"memory_model": "sc"}))
            rng = random.Random(seed)
            if mode == "measure":
                clock = Clock(k.m, CostModel(), rng).install()
                choose = clock.choose
            else:
                k.m.labels = []
                choose = RandomWalk(seed).next_choose()
            t0 = time.perf_counter()
            res = k.m.run(choose)
            run_time += time.perf_counter() - t0
            steps += res.steps
        rates[mode] = steps / run_time
    return rates


def measure_minchan():
    """foliolab measure minchan-2021, default seeds, every core."""
    from foliolab.measure.costs import CostModel
    from foliolab.measure.experiments import find_experiment
    from foliolab.measure.session import Measurement, default_jobs
    e = find_experiment("minchan-2021")
    meas = Measurement(e, e.variants, e.seeds, e.params(), CostModel())
    t0 = time.perf_counter()
    meas.run(jobs=default_jobs())
    secs = time.perf_counter() - t0
    summ = meas.summary()
    tot = {v: summ["variants"][v]["rows"]["migrate_fail_pass_gt2"]["total"] for v in e.variants}
    steps = sum(summ["variants"][v]["steps"] for v in e.variants)
    return secs, tot, steps, default_jobs()


# ---------------------------------------- 3. programs (the Python peers)
def program_rows(cap):
    """The small programs measured against ploom and musil: runs, complete
    (distinct) runs and seconds, with and without the reduction."""
    from foliolab.scenarios import programs as P
    cases = [("lost update (k<=2)", P.lost_update(), 2),
             ("stages bug (k<=2)", P.stages(), 2),
             ("stages fixed (exhaustive)", P.stages(fixed=True), None)]
    cases += [(f"{n} locked increments (exhaustive)", P.locked_increments(n), None)
              for n in (2, 3, 4)]
    for name, prog, k in cases:
        row = [name]
        for reduction in ("dpor", "none"):
            ex = explore(prog, "plain", [], "dfs", cap, 0, trace_dir=None, progress=False,
                         preemptions=k, shrink=False, record=False, reduction=reduction)
            done = ex.outcome if ex.outcome != "no-failure" else f"cut at {cap:,}"
            row.append((ex.schedules, ex.distinct_schedules, ex.seconds, done))
        yield row


# ------------------------------------------------ 4. cell certificates
def certificate_rows(fam, dfs_budget, plain_cap, deeper_budget=0):
    """Every safe cell at the bound it is certified with: schedules and
    seconds with the reduction, and schedules of the plain search (cut at
    ``plain_cap``); with ``deeper_budget``, the certificate one bound
    deeper, cut at that many schedules (None where not tried)."""
    for sc in fam.scenarios:
        for v in fam.variants:
            e = sc.expect(v)
            if e.outcome != "safe":
                continue
            patches = variant_patches(fam.variants[v])
            red = explore(sc, v, patches, "dfs", dfs_budget, 0, trace_dir=None, progress=False,
                          preemptions=e.preemptions, shrink=False, record=False)
            plain = explore(sc, v, patches, "dfs", plain_cap, 0, trace_dir=None,
                            progress=False, preemptions=e.preemptions, shrink=False,
                            record=False, reduction="none")
            deeper = None
            if deeper_budget and red.outcome == "certified" and e.preemptions is not None:
                deeper = explore(sc, v, patches, "dfs", deeper_budget, 0, trace_dir=None,
                                 progress=False, preemptions=e.preemptions + 1, shrink=False,
                                 record=False)
            yield sc.slug, v, e.preemptions, red, plain, deeper


# ---------------------------------------------------- 2b. the portfolio
STRATS = (("portfolio", 2), ("pct", 2), ("pct", 3), ("random", 2), ("sticky", 2), ("pos", 2))


def first_failure_rows(fam, seeds, budget):
    """Every cell expected to fail: median schedules to the first failure
    per strategy, and the portfolio over the best single strategy."""
    for sc in fam.scenarios:
        for v in fam.variants:
            if sc.expect(v).outcome not in (BUG, HANG):
                continue
            patches = variant_patches(fam.variants[v])
            meds = []
            for strat, depth in STRATS:
                found = []
                for seed in range(seeds):
                    ex = explore(sc, v, patches, strat, budget, seed, trace_dir=None,
                                 progress=False, depth=depth, shrink=False, record=False)
                    found.append(ex.schedule_index if ex.failure is not None else None)
                # a miss counts as budget+1 in the median: "none" if most missed
                vals = sorted(x if x is not None else budget + 1 for x in found)
                med = statistics.median(vals)
                meds.append(None if med > budget else med)
            yield sc.slug, v, meds


# Figures before issue 5 (the baseline each figure is shown beside): the
# issue's own measurements on the 2-core machine.
BASELINE = {
    "engine": 480_000, "ratio": 0.044, "scenario": 19_000,
    "readd_k2": "29 s, 15,000 schedules (SC; no reduction)",
    "n4": "not done in 40 s (172,824 runs at k<=2)",
    "stages_fixed": "3.15 s, 65,972 runs",
    "build": "0.15 ms",
}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--budget", type=int, default=2000, help="schedules per search")
    ap.add_argument("--dfs-budget", type=int, default=200_000)
    ap.add_argument("--plain-cap", type=int, default=20_000,
                    help="schedules of the search without reduction before it is cut")
    ap.add_argument("--deeper-budget", type=int, default=60_000,
                    help="schedules for the certificate one bound deeper (0: not tried)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("engine", "first", "programs", "certificates", "measure"),
                    action="append", help="only these sections (repeatable)")
    ap.add_argument("--family", action="append",
                    help="sections 2 and 4 for these families only (default: every family)")
    args = ap.parse_args(argv)
    fams = [find_family(n) for n in (args.family or list(families()))]
    if args.quick:
        args.seeds, args.budget, args.plain_cap = 3, 1000, 3000
        args.deeper_budget = min(args.deeper_budget, 10_000)
    only = set(args.only or ("engine", "first", "programs", "certificates", "measure"))
    out = sys.stdout.write
    out("foliolab benchmark (baselines: the figures before the search work of issue 5)\n")

    if "engine" in only:
        out("\n1. engine speed (tracing + oracles on)\n")
        eng, nsteps = engine_steps_per_second()
        bare = bare_steps_per_second()
        out(f"   machine, 4 CPUs spin_lock/atomic_inc workload: {eng:12,.0f} steps/s "
            f"({nsteps:,} steps)   baseline {BASELINE['engine']:,}\n")
        out(f"   bare round-robin generator loop (same run):      {bare:12,.0f} steps/s\n")
        out(f"   ratio machine / bare:                            {eng / bare:12.3f}"
            f"   baseline {BASELINE['ratio']}\n")
        costs = step_check_cost()
        for mode, (rate, calls) in costs.items():
            out(f"   with per-step checks: {mode:12}               {rate:12,.0f} steps/s "
                f"({calls:,} check calls; {rate / costs['none'][0] - 1:+.1%} against none)\n"
                if mode != "none" else
                f"   with per-step checks: none (same workload)        {rate:12,.0f} steps/s\n")
        run_rate, sched_rate, per_run = scenario_steps_per_second()
        out(f"   readd-after-drain v0, inside Machine.run():      {run_rate:12,.0f} steps/s "
            f"({per_run:.0f} steps/schedule)   baseline {BASELINE['scenario']:,}\n")
        out(f"   readd-after-drain v0, build + run:               {sched_rate:12,.0f} "
            f"schedules/s ({1000 / sched_rate:.2f} ms per schedule)\n")
        out(f"   readd-after-drain lru-cache-disable, build only: {build_ms():12.3f} "
            f"ms per run   baseline {BASELINE['build']}\n")

    if "first" in only:
        out(f"\n2. schedules to the first failure, median over {args.seeds} seeds "
            f"(budget {args.budget}; 'none': most seeds found nothing)\n")
        names = [f"{n}(d={d})" if n == "pct" else n for n, d in STRATS]
        out(f"   {'scenario':20} {'variant':20} " + " ".join(f"{n:>10}" for n in names)
            + f" {'portf/best':>10}\n")
        worst = 0.0
        rows = [row for f in fams for row in first_failure_rows(f, args.seeds, args.budget)]
        for slug, v, meds in rows:
            cells = " ".join(f"{'none' if m is None else f'{m:.0f}':>10}" for m in meds)
            singles = [m for m in meds[1:] if m is not None]
            if meds[0] is not None and singles:
                ratio = meds[0] / min(singles)
                worst = max(worst, ratio)
                r = f"{ratio:10.1f}"
            else:
                r = f"{'-':>10}"
            out(f"   {slug:20} {v:20} {cells} {r}\n")
        out(f"   worst portfolio / best single: {worst:.1f}x   baseline (pct d=2 alone): "
            f"'none in 1000' where random found it at 764\n")
        out("   (medians of a few seeds scatter: a member that fails on its 2nd schedule by\n"
            "   luck makes any portfolio look 10x worse; the ratios from failure rates, and\n"
            "   the least any mixture of the members can do: bench/portfolio.py)\n")

    if "programs" in only:
        out(f"\n3. small programs (the peers' benchmark): runs / complete runs / seconds, "
            f"with DPOR and without (cut at {args.dfs_budget:,})\n")
        for name, dpor, plain in program_rows(args.dfs_budget):
            def fmt(r):
                runs, distinct, secs, done = r
                return f"{runs:>8,} {distinct or 0:>8,} {secs:7.2f} s {done:>10}"
            out(f"   {name:34} DPOR {fmt(dpor)}   none {fmt(plain)}\n")
        out(f"   baseline: N=4 exhaustive {BASELINE['n4']}; stages fixed exhaustive "
            f"{BASELINE['stages_fixed']}\n")

    if "certificates" in only:
        out(f"\n4. certificates of the safe cells (DPOR; the plain search is cut at "
            f"{args.plain_cap:,})\n")
        total = 0.0
        rows = [row for f in fams
                for row in certificate_rows(f, args.dfs_budget, args.plain_cap,
                                            args.deeper_budget)]
        under_minute = []
        for slug, v, k, red, plain, deeper in rows:
            total += red.seconds
            what = "certified" if red.outcome == "certified" else red.outcome
            p = (f"{plain.schedules:>8,}" + ("" if plain.complete else "+"))
            d = ""
            if deeper is not None:
                if deeper.outcome == "certified":
                    d = f"  k<={k + 1}: {deeper.schedules:,} in {deeper.seconds:.1f} s"
                    if deeper.seconds < 60:
                        under_minute.append(f"{slug}/{v}")
                elif deeper.outcome == "failure":
                    d = f"  k<={k + 1}: FAILS @{deeper.schedule_index}"
                else:
                    d = f"  k<={k + 1}: cut at {deeper.schedules:,}"
            out(f"   {slug:20} {v:20} k<={k}  {red.schedules:>8,} schedules {red.seconds:7.1f} s "
                f"{what:10}  plain {p:>9} schedules {plain.seconds:6.1f} s{d}\n")
        if args.deeper_budget:
            out(f"   one bound deeper certified in under a minute: {len(under_minute)} of "
                f"{len(rows)} cells (budget {args.deeper_budget:,} schedules)\n")
        out(f"   total certificate time {total:.0f} s   baseline readd-after-drain / "
            f"lru-cache-disable k<=2: {BASELINE['readd_k2']}\n")

    if "measure" in only:
        out("\n5. measure mode\n")
        r = measure_vs_explore_steps_per_second()
        out(f"   readd-after-drain v0 (sc), explore random walk:  {r['explore']:12,.0f} steps/s\n")
        out(f"   same runs under measure mode's clock:            {r['measure']:12,.0f} steps/s"
            f"   ratio {r['measure'] / r['explore']:.2f} (target >= 0.5)\n")
        secs, tot, steps, jobs = measure_minchan()
        base, lcd = tot["v0"], tot["lru-cache-disable"]
        ratio = f"{base / lcd:.1f}" if lcd else f"inf ({base} vs 0)"
        out(f"   foliolab measure minchan-2021 (default seeds, {jobs} jobs): {secs:6.1f} s, "
            f"{steps:,} steps   target < 60 s\n")
        out(f"   migrate fail (pass>2), total: v0 {base}, lru-cache-disable {lcd}, ratio {ratio}"
            f"   target >= 10 (changelog: ~400 vs < 30)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
