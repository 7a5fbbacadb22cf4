#!/usr/bin/env python3
"""The default portfolio's shares, from measured failure rates.

    .venv/bin/python bench/portfolio.py                 # every family
    .venv/bin/python bench/portfolio.py --family lru_cache --jobs 2

For every cell the catalogue expects to fail, each member strategy of the
portfolio (PCT d=2, PCT d=3, random walk, sticky walk, POS) runs in count
mode until it has seen ``--failures`` failing schedules or run ``--cap``
schedules: its rate ``p`` is the share of its schedules that fail.  A
portfolio that gives member ``i`` the share ``s_i`` of the schedules fails
on a schedule with probability ``sum_i s_i p_i``, so the number of schedules
it needs, over the best single member's, is

    ratio(cell) = max_i p_i / sum_i s_i p_i

(first failures are geometric: the same ratio holds for means and medians).
The shares that minimise the worst ratio over the cells are a small linear
program (maximise t with sum_i s_i p_i >= t max_i p_i on every cell and
sum_i s_i = 1; the worst ratio is 1/t): scipy's linprog solves it, and
no fixed mixture of these members can beat it.  That mixture can leave many
cells over 2x, so the report also searches the whole rounds of ``--round``
schedules (every member at least once) for the one with the fewest cells
over 2x whose worst ratio stays within ``--worst``: the default portfolio's
(foliolab/explore/strategies.py Portfolio.SHARES).  For today's portfolio,
the minimax and that round: the worst ratio, the cells over 2x and the
geometric mean of the ratios; and the cells that bind the minimax.

Wall time is used here for reporting only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import statistics
import sys
import time

from foliolab.explore.explorer import explore
from foliolab.explore.registry import families, find_family, variant_patches
from foliolab.explore.strategies import PCT, POS, Portfolio, RandomWalk, StickyWalk
from foliolab.scenarios import BUG, HANG

MEMBERS = ("pct(d=2)", "pct(d=3)", "random", "sticky", "pos")


def member(name, seed):
    return {"pct(d=2)": lambda: PCT(seed, 2), "pct(d=3)": lambda: PCT(seed, 3),
            "random": lambda: RandomWalk(seed), "sticky": lambda: StickyWalk(seed),
            "pos": lambda: POS(seed)}[name]()


def cells(fams):
    for fam in fams:
        for sc in fam.scenarios:
            for v in fam.variants:
                if sc.expect(v).outcome in (BUG, HANG):
                    yield fam.name, sc.slug, v


def rate(job):
    """(failing schedules, schedules) of one member on one cell: chunks of
    ``chunk`` schedules, each with its own seed, until ``failures`` failing
    schedules or ``cap`` schedules."""
    fam_name, slug, v, name, failures, cap, chunk = job
    fam = find_family(fam_name)
    sc = fam.scenario(slug)
    patches = variant_patches(fam.variants[v])
    bad = n = 0
    seed = 0
    while bad < failures and n < cap:
        ex = explore(sc, v, patches, member(name, 1000 + seed), min(chunk, cap - n), 0,
                     trace_dir=None, progress=False, shrink=False, record=False, mode="count")
        bad += ex.failures
        n += ex.schedules
        seed += 1
        chunk *= 2                 # low rates: longer chunks (PCT relearns k per chunk)
    return (fam_name, slug, v, name), (bad, n)


def current_shares():
    """The default portfolio's shares (Portfolio.SHARES: member index,
    schedules per round)."""
    total = sum(w for _, w in Portfolio.SHARES)
    out = dict.fromkeys(MEMBERS, 0.0)
    for i, w in Portfolio.SHARES:
        out[MEMBERS[i]] += w / total
    return out


def ratio(shares, rates):
    best = max(rates.values())
    mix = sum(shares[m] * rates[m] for m in MEMBERS)
    return float("inf") if mix == 0 else best / mix


def optimal_shares(table):
    """The shares minimising the worst ratio over ``table`` (cell -> member ->
    rate; cells with no failure at all left out): (shares, worst ratio).  No
    fixed mixture of the members does better."""
    from scipy.optimize import linprog
    rows = [r for r in table.values() if max(r.values()) > 0]
    k = len(MEMBERS)
    # variables s_1..s_k, t; maximise t
    c = [0.0] * k + [-1.0]
    a_ub = [[-r[m] / max(r.values()) for m in MEMBERS] + [1.0] for r in rows]
    b_ub = [0.0] * len(rows)
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=[[1.0] * k + [0.0]], b_eq=[1.0],
                  bounds=[(0, 1)] * k + [(0, None)], method="highs")
    s = dict(zip(MEMBERS, res.x[:k]))
    return s, 1 / res.x[k]


def summary(shares, live):
    """(worst ratio, cells over 2x, geometric mean of the ratios)."""
    rs = [ratio(shares, r) for r in live]
    return max(rs), sum(1 for x in rs if x > 2 + 1e-9), statistics.geometric_mean(rs)


def best_round(live, n, worst_cap):
    """Whole rounds of ``n`` schedules, every member at least once: among
    those whose worst ratio is at most ``worst_cap``, the one with the
    fewest cells over 2x (then the least geometric mean).  (weights, summary)
    or None."""
    best = None
    k = len(MEMBERS)
    for w in itertools.product(range(1, n - k + 2), repeat=k - 1):
        last = n - sum(w)
        if last < 1:
            continue
        w = (*w, last)
        sm = summary({m: x / n for m, x in zip(MEMBERS, w)}, live)
        if sm[0] <= worst_cap and (best is None or (sm[1], sm[2]) < (best[1][1], best[1][2])):
            best = (w, sm)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--family", action="append")
    ap.add_argument("--failures", type=int, default=20,
                    help="failing schedules a member's rate is measured to (default 20)")
    ap.add_argument("--cap", type=int, default=4000, help="schedules per member and cell at most")
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--round", type=int, default=20, help="schedules per round (default 20)")
    ap.add_argument("--worst", type=float, default=4.0,
                    help="the worst ratio a round may have (default 4)")
    ap.add_argument("--save", metavar="JSON", help="write the measured counts here")
    ap.add_argument("--load", metavar="JSON", help="counts measured before (no search)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    if args.load:
        with open(args.load) as f:
            got = {tuple(r["cell"]): (r["failures"], r["schedules"]) for r in json.load(f)}
    else:
        fams = [find_family(n) for n in (args.family or list(families()))]
        jobs = [(f, s, v, m, args.failures, args.cap, 50)
                for f, s, v in cells(fams) for m in MEMBERS]
        if args.jobs > 1:
            with multiprocessing.Pool(args.jobs) as pool:
                got = dict(pool.map(rate, jobs, chunksize=1))
        else:
            got = dict(map(rate, jobs))
    if args.save:
        with open(args.save, "w") as f:
            json.dump([{"cell": list(c), "failures": b, "schedules": n}
                       for c, (b, n) in got.items()], f, indent=1)
    table = {}
    for (f, s, v, m), (bad, n) in got.items():
        table.setdefault((f, s, v), {})[m] = bad / n
    live = [r for r in table.values() if max(r.values()) > 0]
    now = current_shares()
    free, _ = optimal_shares(table)
    found = best_round(live, args.round, args.worst)
    out = sys.stdout.write
    out(f"failure rate per schedule (count mode; {args.failures} failures or {args.cap:,} "
        f"schedules per member), {time.perf_counter() - t0:.0f} s\n")
    out(f"{'scenario':30} {'variant':22} " + " ".join(f"{m:>9}" for m in MEMBERS)
        + f" {'today':>7} {'minimax':>7}\n")
    for (f, s, v), r in table.items():
        if max(r.values()) == 0:
            tail = f" {'-':>7} {'-':>7}"
        else:
            tail = f" {ratio(now, r):7.1f} {ratio(free, r):7.1f}"
        out(f"{s:30} {v:22} " + " ".join(f"{r[m]:9.4f}" for m in MEMBERS) + tail + "\n")
    out(f"\n{'shares':14}" + " ".join(f"{m:>9}" for m in MEMBERS)
        + "   worst  >2x  geo-mean of the ratios\n")

    def line(name, sh, note=""):
        w, over, gm = summary(sh, live)
        out(f"{name:14}" + " ".join(f"{sh[m]:9.3f}" for m in MEMBERS)
            + f"  {w:5.2f}x {over:4d}  {gm:5.2f}{note}\n")
    line("today", now, f"   (of {len(live)} cells)")
    line("minimax", free, "   (the least worst ratio of any fixed mixture)")
    if found is None:
        out(f"no round of {args.round} with a worst ratio under {args.worst}x\n")
    else:
        w, _ = found
        line(f"round of {args.round}", {m: x / args.round for m, x in zip(MEMBERS, w)},
             f"   ({', '.join(f'{m} {x}' for m, x in zip(MEMBERS, w))}: the fewest cells "
             f"over 2x with a worst ratio <= {args.worst}x)")
    out("cells that bind the minimax (within 1% of its worst):\n")
    worst = summary(free, live)[0]
    for (f, s, v), r in table.items():
        if max(r.values()) > 0 and ratio(free, r) >= worst * 0.99:
            out(f"   {f}/{s} {v}\n")


if __name__ == "__main__":
    main()
