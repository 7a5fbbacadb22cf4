"""The units of work and the functions that run them, in any process.

A payload is plain data (names, numbers, file paths): a worker rebuilds
the scenario, the variant's patches and the user's patch files from it, so
the same payload gives the same result in this process, in a forked pool
worker or in a Ray worker on another machine (which needs the same
foliolab and, for a user's families and patches, the same files: on one
machine or a shared file system).

* ``cells``: a group of verdict cells (explore/verdict.py), the cells of one
  scenario the cell cache may prove equal, in table order;
* ``dfs``: one subtree of a split systematic search (explore/split.py);
* ``seeds``: a range of seeds of one random strategy, stopping at the first
  failure;
* ``measure``: one measured run (measure/run.py).
"""

from __future__ import annotations

import os

WORK = {}


def work(kind):
    def deco(f):
        WORK[kind] = f
        return f
    return deco


def _resolve(family, slug, variant, patch_files):
    from ..explore.registry import find_family, find_variant, variant_patches
    from ..patches import load_patch_file
    fam = find_family(family)
    sc = fam.scenario(slug)
    v = find_variant(fam, variant)
    return fam, sc, v, variant_patches(v) + [load_patch_file(p) for p in patch_files]


def _chdir(payload):
    cwd = payload.get("cwd")
    if cwd and os.path.isdir(cwd) and os.getcwd() != cwd:
        os.chdir(cwd)


# ---------------------------------------------------------------- cells
@work("cells")
def run_cells(payload):
    """[(cell index, Verdict)] in table order; stops after a cell cut short
    by Ctrl-C."""
    from ..explore import verdict
    _chdir(payload)
    out = []
    for c in payload["cells"]:
        fam, sc, v, patches = _resolve(c["family"], c["scenario"], c["variant"],
                                       c["patch_files"])
        res = verdict(sc, v.name, patches, c["expect"], judge=c["judged"], **c["kw"])
        out.append((c["index"], res))
        if res.interrupted:
            break
    return out


# ------------------------------------------------------------------ dfs
def _exploration_summary(ex):
    s = ex.search or {}
    return {
        "outcome": ex.outcome, "schedules": ex.schedules, "steps": ex.steps,
        "max_run_steps": ex.max_run_steps, "complete": ex.complete,
        "exhaustive": bool(s.get("exhaustive")), "distinct": ex.distinct_schedules,
        "sleep_blocked": s.get("sleep_blocked", 0), "pruned": s.get("pruned_branches", 0),
        "cached": s.get("state_cache_hits", 0),
        "reduced": s.get("reduced"), "failure": ex.failure,
        "schedule_index": ex.schedule_index, "trace": ex.trace_path,
        "found_by": ex.found_by, "error": ex.error, "nondeterminism": ex.nondeterminism,
        "interrupted": ex.interrupted, "failures": ex.failures,
        "witnesses": dict(ex.witnesses), "seconds": ex.seconds,
    }


@work("dfs")
def run_subtree(payload):
    """One subtree of a split DFS: the summary of its exploration."""
    from ..explore import explore
    from ..explore.split import PrefixSystematic
    _chdir(payload)
    fam, sc, v, patches = _resolve(payload["family"], payload["scenario"],
                                   payload["variant"], payload["patch_files"])
    strat = PrefixSystematic(payload["prefix"], payload["preemptions"])
    ex = explore(sc, v.name, patches, strat, payload.get("budget"), payload["seed"],
                 settings=payload["settings"], trace_dir=payload["trace_dir"],
                 progress=False, family=fam.name, shrink=payload.get("shrink", True),
                 record=False, watchdog=payload.get("watchdog"))
    out = _exploration_summary(ex)
    out["prefix"] = list(payload["prefix"])
    return out


# ---------------------------------------------------------------- seeds
@work("seeds")
def run_seeds(payload):
    """Seeds ``lo``..``hi``-1 of one strategy, each with ``budget``
    schedules; stops at the first failing seed.  [(seed, summary)]."""
    from ..explore import explore
    _chdir(payload)
    fam, sc, v, patches = _resolve(payload["family"], payload["scenario"],
                                   payload["variant"], payload["patch_files"])
    out = []
    for seed in range(payload["lo"], payload["hi"]):
        ex = explore(sc, v.name, patches, payload["strategy"], payload["budget"], seed,
                     settings=payload["settings"], trace_dir=payload["trace_dir"],
                     progress=False, family=fam.name, depth=payload.get("depth", 2),
                     shrink=payload.get("shrink", True), record=False,
                     watchdog=payload.get("watchdog"))
        s = _exploration_summary(ex)
        s["seed"] = seed
        out.append((seed, s))
        if ex.outcome != "no-failure" or ex.interrupted:
            break
    return out


# -------------------------------------------------------------- measure
@work("measure")
def run_measured(payload):
    from ..measure import session
    from ..measure.costs import CostModel
    from ..measure.experiments import find_experiment
    _chdir(payload)
    return session.run_one(find_experiment(payload["experiment"]), payload["variant"],
                   payload["seed"], payload["params"], CostModel(payload["costs"]),
                   payload["trace"])


# ----------------------------------------------------------------- noop
@work("noop")
def run_nothing(payload):
    """An empty unit: what a backend costs per unit (bench/scaleout.py)."""
    return payload.get("i")
