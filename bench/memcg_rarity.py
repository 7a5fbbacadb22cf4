#!/usr/bin/env python3
"""The rarity of Hugh Dickins' v11 VM_BUG_ON (seed 004), in numbers.

    .venv/bin/python bench/memcg_rarity.py [--seeds-1s N] [--seeds-60s N] [-j N]

1. The measure experiment ``cg-m`` (measure/memcg_workload.py) under b-v11
   with charge moves every 60 and every 1 simulated "seconds": the mean
   simulated time to the first VM_BUG_ON with its exact Poisson interval,
   the failure probability per charge-move pass (Wilson), and the ratio of
   the two failure rates with its exact interval (the conditional binomial
   test of two Poisson rates), beside Hugh's 6 h / 8 h and 1.5 h and the
   interval his four crashes allow for their ratio.
2. The window in exploration: the fraction of random-walk schedules of
   move-charge-vs-rotate (and its no-DEBUG_VM form) under b-v11 that fail,
   with its Wilson interval.

Simulated time is reported for reporting only; wall time is not used.
"""

from __future__ import annotations

import argparse
import sys
from concurrent.futures import ProcessPoolExecutor

from scipy.stats import beta

from foliolab.measure.experiments import find_experiment
from foliolab.measure.memcg_workload import time_to_failure
from foliolab.measure.run import run_one
from foliolab.stats import wilson


def _run(args):
    period_s, seed, limit = args
    e = find_experiment("cg-m")
    S = e.defaults["second_ns"]
    p = e.params({"move_period_ns": period_s * S, "sim_limit_ns": limit})
    r = run_one(e, "b-v11", seed, p)
    return period_s, r


def rate_ratio_interval(n_fast, t_fast, n_slow, t_slow, conf=0.95):
    """Exact interval of the ratio of two Poisson rates (fast / slow),
    conditional on the total count: Clopper-Pearson on the share of the
    fast condition."""
    n = n_fast + n_slow
    a = (1 - conf) / 2
    lo = beta.ppf(a, n_fast, n_slow + 1) if n_fast > 0 else 0.0
    hi = beta.ppf(1 - a, n_fast + 1, n_slow) if n_slow > 0 else float("inf")
    odds = lambda p: p / (1 - p) if p < 1 else float("inf")  # noqa: E731
    return (n_fast / t_fast) / (n_slow / t_slow) if n_slow else float("inf"), \
        odds(lo) * t_slow / t_fast, odds(hi) * t_slow / t_fast


def window(slug, n, seed=0):
    from foliolab.explore import explore
    from foliolab.explore.registry import find_family, variant_patches
    fam = find_family("memcg_lru_lock")
    sc = fam.scenario(slug)
    fails = 0
    for i in range(n):
        ex = explore(sc, "b-v11", variant_patches(fam.variants["b-v11"]), "random", 1,
                     seed * 100_000 + i, trace_dir=None, progress=False, shrink=False,
                     record=False, family=fam.name)
        fails += ex.failure is not None
    return fails


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds-1s", type=int, default=48)
    ap.add_argument("--seeds-60s", type=int, default=48)
    ap.add_argument("--limit-1s-ms", type=float, default=20)
    ap.add_argument("--limit-60s-ms", type=float, default=100)
    ap.add_argument("--window-schedules", type=int, default=2000)
    ap.add_argument("-j", type=int, default=2)
    args = ap.parse_args(argv)
    out = sys.stdout.write
    e = find_experiment("cg-m")
    S = e.defaults["second_ns"]
    jobs = [(1, s, int(args.limit_1s_ms * 1e6)) for s in range(args.seeds_1s)]
    jobs += [(60, s, int(args.limit_60s_ms * 1e6)) for s in range(args.seeds_60s)]
    runs = {1: [], 60: []}
    with ProcessPoolExecutor(args.j) as ex:
        for period, r in ex.map(_run, jobs):
            runs[period].append(r)
    out(f"1. cg-m under b-v11 (one simulated second = {S / 1e3:.0f} us; {e.defaults['task_pages']} "
        f"pages moved per pass; a writeback rotation every {e.defaults['wb_think_ns'] / 1e3:.0f} us "
        f"on average)\n")
    out(f"   {'period':>8} {'runs':>5} {'VM_BUG_ON':>9} {'sim time':>10} {'passes':>7} "
        f"{'mean time to VM_BUG_ON (95%)':>34} {'P(fail) per pass (95%)':>26}\n")
    res = {}
    for period in (60, 1):
        rs = runs[period]
        n, exposure, mean, lo, hi = time_to_failure(rs)
        passes = sum(r["counters"].get("moves", 0) for r in rs) + n
        plo, phi = wilson(n, passes) if passes else (0, 0)
        res[period] = (n, exposure)
        mt = (f"{mean / 1e6:8.1f} ms [{lo / 1e6:.1f}, {hi / 1e6:.1f}]" if n
              else f"> {lo / 1e6:.0f} ms (rule of three)")
        out(f"   {period:>6} s {len(rs):>5} {n:>9} {exposure / 1e6:>7.0f} ms {passes:>7} "
            f"{mt:>34} {n / passes if passes else 0:>10.4f} [{plo:.4f}, {phi:.4f}]\n")
    n1, t1 = res[1]
    n60, t60 = res[60]
    if n1 and n60:
        r, lo, hi = rate_ratio_interval(n1, t1, n60, t60)
        out(f"   failure rate 1 s / 60 s: {r:.1f}x [{lo:.1f}, {hi:.1f}] (exact, conditional)\n")
    elif n1:
        r, lo, hi = rate_ratio_interval(n1, t1, 0, t60)
        out(f"   failure rate 1 s / 60 s: > {lo:.1f}x (no VM_BUG_ON at 60 s)\n")
    hr, hlo, hhi = rate_ratio_interval(2, 3.0, 2, 14.0)
    out(f"   Hugh (seed 004): 2 crashes in 6 h + 8 h at 60 s, 2 machines crashed within 1.5 h at "
        f"1 s: ratio {hr:.1f}x, 95% interval [{hlo:.2f}, {hhi:.0f}] from those four events\n")
    out(f"   a linear law (rate proportional to the move frequency) predicts "
        f"{(60 * S + 4000) / (S + 4000):.0f}x here\n")

    out(f"\n2. the window in exploration: random-walk schedules of b-v11 that fail "
        f"({args.window_schedules} schedules each)\n")
    for slug in ("move-charge-vs-rotate", "move-charge-vs-rotate-nodebug"):
        f = window(slug, args.window_schedules)
        lo, hi = wilson(f, args.window_schedules)
        out(f"   {slug:32} {f:>5} / {args.window_schedules}  p = {f / args.window_schedules:.4f} "
            f"[{lo:.4f}, {hi:.4f}]\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
