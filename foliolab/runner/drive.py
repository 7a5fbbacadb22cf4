"""The driver's side of the long commands: cut the work into units, run
them through a :class:`~foliolab.runner.Runner`, put the results back
together in serial order (foliolab/cli.py calls these)."""

from __future__ import annotations

import os
import time

from . import Progress, Unit
from .rundir import RunDir, fingerprint, new_run_path


def open_rundir(command, argv, params, run_dir=None, resume=None):
    """The run directory of this command: ``resume`` (an existing one,
    checked against this command's fingerprint) or a new one under
    ``run_dir``.  None when neither is given."""
    fp = fingerprint(command, params)
    if resume:
        return RunDir(resume, command, argv, fp, resume=True)
    if run_dir:
        return RunDir(new_run_path(run_dir, command), command, argv, fp, made=True)
    return None


# ---------------------------------------------------------------- cells
def run_cells(runner, cells, groups, *, rundir=None, progress=False, desc="cells"):
    """Verdict cells through ``runner``.  ``cells``: the payloads (dicts
    with ``index``), ``groups``: lists of indexes run together, one unit
    each.  Returns ({index: Verdict}, interrupted)."""
    done = {}
    prefix = "cells:" + (getattr(rundir, "prefix", "") or "")
    if rundir is not None:
        for key, res in rundir.done.items():
            if key.startswith(prefix) and "/" not in key[len(prefix):]:
                for i, v in res:
                    done[i] = v
    by_index = {c["index"]: c for c in cells}
    cwd = os.getcwd()
    units = []
    for g in groups:
        g = [i for i in g if i not in done]
        if g:
            units.append(Unit(prefix + ",".join(map(str, g)), "cells",
                              {"cells": [by_index[i] for i in g], "cwd": cwd}, items=len(g)))
    bar = Progress(len(cells), desc, unit="cell", enabled=progress,
                   failed=lambda r: sum(1 for _, v in r if v.failure is not None))
    if bar.bar is not None and done:
        bar.bar.update(len(done))
    try:
        out = runner.run(units, rundir=rundir, progress=bar,
                         interrupted=lambda r: any(v.interrupted for _, v in r),
                         summarize=lambda r: [v.to_json() for _, v in r])
    finally:
        bar.close()
    results = dict(done)
    for r in out.results.values():
        for i, v in r:
            results[i] = v
    interrupted = out.interrupted or any(v.interrupted for v in results.values())
    return results, interrupted


# ------------------------------------------------------------ split DFS
def dfs_units(scenario, family, variant, patches, patch_files, *, preemptions, seed,
              settings, trace_dir, split, budget=None, shrink=True, watchdog=None):
    """The units of a split DFS (one per subtree, in serial order) and
    whether the bound refused a choice at a split node."""
    from ..explore.split import split_prefixes
    prefixes, cut = split_prefixes(scenario, patches, settings, preemptions, split)
    cwd = os.getcwd()
    units = [Unit(f"dfs:{'.'.join(map(str, p))}", "dfs", {
        "family": family, "scenario": scenario.slug, "variant": variant,
        "patch_files": list(patch_files), "prefix": p, "preemptions": preemptions,
        "seed": seed, "settings": settings, "trace_dir": trace_dir, "shrink": shrink,
        "watchdog": watchdog, "budget": budget, "cwd": cwd}) for p in prefixes]
    return units, cut


def split_dfs(runner, scenario, family, variant, patches, patch_files, *, preemptions,
              seed, settings, trace_dir, split, budget=None, shrink=True, watchdog=None,
              rundir=None, progress=False):
    """The systematic search split into subtrees (explore/split.py), run
    through ``runner``.  Returns an Exploration: certified when every
    subtree finished without a failure (the certificate says how many
    subtrees), else the first failure in the subtrees' order, re-run here
    so that its table can be shown, with its schedule index counted over
    the subtrees before it."""
    from ..explore import explore
    from ..explore.explorer import Exploration
    from ..explore.split import PrefixSystematic
    from ..explore.dpor import certificate_text, reduction_text, scope
    from ..explore.explorer import with_strategy_settings
    t0 = time.perf_counter()
    units, cut = dfs_units(scenario, family, variant, patches, patch_files,
                           preemptions=preemptions, seed=seed, settings=settings,
                           trace_dir=trace_dir, split=split, budget=budget, shrink=shrink,
                           watchdog=watchdog)
    bar = Progress(len(units), f"{scenario.slug} dfs(k={preemptions}) split", unit="subtree",
                   enabled=progress, failed=lambda r: 1 if r["failure"] is not None else 0)
    try:
        out = runner.run(units, rundir=rundir, progress=bar,
                         done=rundir.done if rundir is not None else None,
                         stops=lambda r: r["outcome"] in ("failure", "error", "nondeterminism"),
                         interrupted=lambda r: r["interrupted"],
                         summarize=lambda r: {k: v for k, v in r.items()
                                              if k not in ("failure",)})
    finally:
        bar.close()
    res = [out.results[u.key] for u in units if u.key in out.results]
    strat = PrefixSystematic([], preemptions)
    full = with_strategy_settings(scenario.settings(settings), settings, strat)
    schedules = sum(r["schedules"] for r in res)
    if out.stopped_at is not None:
        stop = out.results[out.stopped_at]
        before = sum(r["schedules"] for r in res if r is not stop)
        # the failing subtree again, here, recorded for the table (the
        # same payload: the same schedules, the same failure)
        i = next(n for n, u in enumerate(units) if u.key == out.stopped_at)
        p = units[i].payload
        ex = explore(scenario, variant, patches, PrefixSystematic(p["prefix"], preemptions),
                     budget, seed, settings=settings, trace_dir=trace_dir, progress=False,
                     family=family, shrink=shrink, record=True, watchdog=watchdog)
        if ex.schedule_index is not None:
            ex.schedule_index += before
            if ex.trace is not None and ex.trace_path:
                from ..explore.trace import write_trace
                ex.trace["schedule_index"] = ex.schedule_index
                write_trace(ex.trace, ex.trace_path)
        ex.schedules = before + ex.schedules
        ex.steps = sum(r["steps"] for r in res)
        ex.strategy = f"dfs(k={preemptions}, split into {len(units)} subtrees)"
        ex.search_seconds = 0.0
        ex.seconds = time.perf_counter() - t0
        ex.split = {"subtrees": len(units), "finished": len(res)}
        return ex
    ex = Exploration(scenario, family, variant, patches, full,
                     f"dfs(k={preemptions}, split into {len(units)} subtrees)",
                     seed, budget, "first")
    ex.strategy_params = dict(strat.params(), budget=budget, split=split)
    ex.schedules = schedules
    ex.steps = sum(r["steps"] for r in res)
    ex.max_run_steps = max((r["max_run_steps"] for r in res), default=0)
    ex.interrupted = out.interrupted
    ex.split = {"subtrees": len(units), "finished": len(res)}
    ex.distinct_schedules = sum(r["distinct"] or 0 for r in res)
    complete = len(res) == len(units) and all(r["complete"] for r in res)
    ex.complete = complete
    exhaustive = complete and not cut and all(r["exhaustive"] for r in res)
    blocked = sum(r["sleep_blocked"] for r in res)
    pruned = sum(r["pruned"] for r in res)
    cached = sum(r.get("cached", 0) for r in res)
    reduced = all(r["reduced"] for r in res) if res else True
    ex.search = {"bound": preemptions, "certified_level": preemptions if complete else None,
                 "exhaustive": exhaustive, "reduction": "dpor", "reduced": reduced,
                 "runs": schedules, "complete_runs": ex.distinct_schedules,
                 "sleep_blocked": blocked, "pruned_branches": pruned,
                 "state_cache_hits": cached,
                 "subtrees": len(units), "subtrees_finished": len(res),
                 "scope": scope(full)}
    if complete and not out.interrupted:
        ex.outcome = "certified"
        ex.certificate = certificate_text(
            preemptions, exhaustive, full, reduction_text("dpor", not reduced),
            ex.distinct_schedules,
            sleep_blocked=blocked, cached=cached, pruned=pruned if reduced else None,
            max_run=ex.max_run_steps, subtrees=len(units))
    ex.seconds = time.perf_counter() - t0
    return ex


# ----------------------------------------------------------- seed range
def seed_units(scenario, family, variant, patch_files, *, strategy, seed, seeds, budget,
               depth, settings, trace_dir, shrink=True, watchdog=None, per_unit=1):
    """The units of a seed range: ``per_unit`` consecutive seeds each."""
    cwd = os.getcwd()
    units = []
    for lo in range(seed, seed + seeds, per_unit):
        hi = min(lo + per_unit, seed + seeds)
        units.append(Unit(f"seeds:{lo}-{hi - 1}", "seeds", {
            "family": family, "scenario": scenario.slug, "variant": variant,
            "patch_files": list(patch_files), "strategy": strategy, "lo": lo, "hi": hi,
            "budget": budget, "depth": depth, "settings": settings, "trace_dir": trace_dir,
            "shrink": shrink, "watchdog": watchdog, "cwd": cwd}, items=hi - lo))
    return units


def seed_range(runner, scenario, family, variant, patches, patch_files, *, strategy, seed,
               seeds, budget, depth, settings, trace_dir, shrink=True, watchdog=None,
               rundir=None, progress=False, per_unit=1):
    """Seeds ``seed``..``seed+seeds-1`` of one strategy, ``budget``
    schedules each, through ``runner``; the first failing seed in seed
    order is shown (re-run here for its table)."""
    from ..explore import explore
    t0 = time.perf_counter()
    units = seed_units(scenario, family, variant, patch_files, strategy=strategy, seed=seed,
                       seeds=seeds, budget=budget, depth=depth, settings=settings,
                       trace_dir=trace_dir, shrink=shrink, watchdog=watchdog,
                       per_unit=per_unit)
    bar = Progress(seeds, f"{scenario.slug} {strategy} seeds", unit="seed", enabled=progress,
                   failed=lambda r: sum(1 for _, s in r if s["failure"] is not None))
    try:
        out = runner.run(units, rundir=rundir, progress=bar,
                         done=rundir.done if rundir is not None else None,
                         stops=lambda r: any(s["outcome"] != "no-failure" for _, s in r),
                         interrupted=lambda r: any(s["interrupted"] for _, s in r),
                         summarize=lambda r: [{k: v for k, v in s.items() if k != "failure"}
                                              for _, s in r])
    finally:
        bar.close()
    runs = [s for u in units if u.key in out.results for _, s in out.results[u.key]]
    total = sum(s["schedules"] for s in runs)
    first = next((s for s in runs if s["outcome"] != "no-failure"), None)
    if first is not None:
        ex = explore(scenario, variant, patches, strategy, budget, first["seed"],
                     settings=settings, trace_dir=trace_dir, progress=False, family=family,
                     depth=depth, shrink=shrink, record=True, watchdog=watchdog)
    else:
        last = runs[-1]["seed"] if runs else seed
        ex = explore(scenario, variant, patches, strategy, 1, last, settings=settings,
                     trace_dir=None, progress=False, family=family, depth=depth,
                     shrink=False, record=False, watchdog=watchdog)
        ex.outcome = "no-failure"
        ex.seed = seed
        ex.budget = budget
        ex.strategy_params["budget"] = budget
        ex.steps = sum(s["steps"] for s in runs)
        ex.witnesses = {}
        ex.max_run_steps = max((s["max_run_steps"] for s in runs), default=0)
    ex.schedules = total
    ex.search_seconds = 0.0             # the rate is over the whole range
    ex.interrupted = out.interrupted
    ex.seeds = {"first": seed, "count": seeds, "finished": len(runs),
                "failing_seed": first["seed"] if first else None}
    ex.seconds = time.perf_counter() - t0
    return ex


# -------------------------------------------------------------- measure
def measure_runs(runner, meas, *, rundir=None, progress=None, on_result=None):
    """Every run of a Measurement through ``runner`` (measure/session.py's
    results by (point, variant, seed)); Ctrl-C keeps the finished runs."""
    cwd = os.getcwd()
    units = []
    for value, variant, seed, params in meas.jobs():
        units.append(Unit(f"measure:{value}:{variant}:{seed}", "measure", {
            "experiment": meas.experiment.name, "variant": variant, "seed": seed,
            "params": params, "costs": meas.costs.costs, "trace": meas._traced(value, seed),
            "cwd": cwd, "at": (value, variant, seed)}))
    at = {u.key: u.payload["at"] for u in units}

    class _P:
        def unit_done(self, u, r):
            value, variant, seed = at[u.key]
            meas._done(value, variant, seed, r, progress, on_result)

    out = runner.run(units, rundir=rundir, progress=_P(),
                     done=rundir.done if rundir is not None else None,
                     summarize=lambda r: {k: r[k] for k in ("counters", "sim_ns", "steps",
                                                            "failure") if k in r})
    meas.interrupted = out.interrupted
    return meas
