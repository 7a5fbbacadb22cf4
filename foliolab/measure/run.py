"""One measured run: a booted kernel, a workload, the clock, and what they
counted.  ``run_one`` is a plain function of (experiment, variant, seed,
settings, costs) so worker processes can run seeds in parallel and a result
never depends on which worker ran it."""

from __future__ import annotations

import random

from ..explore.registry import find_family, find_variant, variant_patches
from ..scenarios.base import SettingsError, make_machine
from .clock import Clock
from .costs import CostModel
from .workload import (
    Workload, app_launcher, cma_user, disable_user, kswapd, probe_latency,
    probe_migrate_failures,
)

# Machine settings of measure mode.  SC: a store-buffer window lasts
# nanoseconds, far below what a rate over milliseconds can see (explore
# mode is where TSO matters); --set memory_model=tso is accepted.
MEASURE_MACHINE = {
    "ncpus": 8,
    "preempt": "full",
    "memory_model": "sc",
    "fair_bound": 0,              # the clock is the fairness
    "max_steps": 50_000_000,      # a livelock guard: minchan-2021 runs ~100 k
    "hung_task_steps": 10**9,
}

MM_SETTINGS = ("pagevec_size", "pageblock_order", "zone_pages")


class RunResult(dict):
    """counters (vmstat + workload counts), samples (ns lists), sim_ns,
    steps, failure (text or None)."""


def _trace_sink(clock, keep):
    class TraceSink(list):
        def append(self, ev):
            step, cpu, task, event, fields = ev
            counts[event] = counts.get(event, 0) + 1
            if event == "migrate:mm_migrate_pages":
                # per-reason migration counts (the tracepoint's reason field)
                for f in ("nr_succeeded", "nr_failed"):
                    key = f"{event}:{fields['reason']}:{f}"
                    counts[key] = counts.get(key, 0) + fields[f]
            if keep:
                list.append(self, (clock.now, cpu, task, event, fields))
    counts = {}
    sink = TraceSink()
    sink.counts = counts
    return sink


def run_one(experiment, variant_name, seed, params, costs=None, trace=False):
    """Run ``experiment`` (measure/experiments.py) under one variant with one
    seed.  ``params``: the experiment's parameters, overrides applied."""
    from ..mm.kernel import build_kernel
    fam = find_family(experiment.family)
    variant = find_variant(fam, variant_name)
    patches = variant_patches(variant)
    if fam.era is not None:
        # the family's kernel era first, as make_run() does for explore
        from ..patches.eras import get_era
        patches = get_era(fam.era).patch_objects() + list(patches)
    settings = dict(MEASURE_MACHINE)
    for key in list(MEASURE_MACHINE) + list(MM_SETTINGS):
        if key in params:
            settings[key] = params[key]
    m = make_machine(settings)
    rng = random.Random(f"measure:{experiment.name}:{variant_name}:{seed}")
    clock = Clock(m, costs or CostModel(), rng).install()
    k = build_kernel(m, settings, patches)
    sink = _trace_sink(clock, trace)
    k.trace_events = sink
    w = Workload(k, clock, rng, params)
    experiment.setup(w)
    res = m.run(clock.choose)            # kernel failures come back in res
    failure = f"{res.failure.kind}: {res.failure}" if res.failure is not None else None
    counters = dict(k.vmstat)
    counters.update(w.counts)
    for ev, n in sink.counts.items():
        counters[ev] = n
    out = RunResult(
        experiment=experiment.name, variant=variant_name, seed=seed,
        counters=counters, samples=w.samples, sim_ns=clock.time(), steps=m.steps,
        failure=failure, kind_ns=dict(clock.kind_ns),
    )
    if trace:
        out["trace"] = list(sink)
        out["pids"] = [(t.name, t.pid) for t in m.tasks]
    return out


def setup_lru_cache_workload(w):
    """The CMA area, the library file, probes and actors of the lru_cache
    experiments.  Parameters: see experiments.LRU_CACHE_DEFAULTS."""
    from ..mm.cma import cma_declare_contiguous
    from ..mm.filemap import address_space
    k, p = w.k, w.p
    w.cma = cma_declare_contiguous(k, p["cma_base"], p["cma_pages"], "A")
    w.lib = address_space(k, "libapp.so")
    probe_migrate_failures(w)
    if not probe_latency(w, "lru_cache_disable", "lru_cache_disable"):
        probe_latency(w, "migrate_prep", "lru_cache_disable")
    m = k.m
    ncpus = m.ncpus
    m.spawn("cma_user", 0, cma_user(w))
    for cpu in range(1 if ncpus > 1 else 0, ncpus):
        m.spawn(f"app/{cpu}", cpu, app_launcher(w, cpu))
    if p["kswapd"]:
        m.spawn("kswapd0", 0, kswapd(w))
    if p["disable_users"]:
        for i in range(p["disable_users"]):
            m.spawn(f"migrate/{i}", (i + 1) % ncpus, disable_user(w))

