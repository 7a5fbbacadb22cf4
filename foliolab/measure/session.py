"""A measurement: every (sweep point, variant, seed) run, in worker
processes, summarised with intervals.

Runs are independent and deterministic (their generator is seeded from the
experiment, variant and seed), so the summary does not depend on ``jobs``
or on the order in which workers finish.  A run that is interrupted is
simply missing: the summary covers the runs that finished and says how
many.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import signal

import numpy as np

from .. import stats
from .costs import CostModel
from .run import run_one


class Measurement:
    def __init__(self, experiment, variants, seeds, params, costs, sweep_values=(),
                 trace=False):
        self.experiment = experiment
        self.variants = tuple(variants)
        self.seeds = seeds
        self.params = params
        self.costs = costs
        # sweep: [(value or None, params)]; None is the table's point
        self.points = [(None, params)]
        param = experiment.sweep[0] if experiment.sweep else None
        for v in sweep_values:
            if param is not None and v != params.get(param):
                self.points.append((v, dict(params, **{param: v})))
        self.results = {}              # (point value, variant, seed) -> RunResult
        self.trace = trace             # seed 0 of each variant keeps its events
        self.interrupted = False

    def jobs(self):
        for value, params in self.points:
            for variant in self.variants:
                for seed in range(self.seeds):
                    yield (value, variant, seed, params)

    def total(self):
        return len(self.points) * len(self.variants) * self.seeds

    # -------------------------------------------------------------- running
    def run(self, jobs=1, progress=None, on_result=None):
        """Run every job; ``progress(done, total)`` after each.  Ctrl-C keeps
        the finished runs (``self.interrupted`` is set)."""
        todo = list(self.jobs())
        costs = self.costs.costs
        try:
            if jobs <= 1:
                for value, variant, seed, params in todo:
                    r = run_one(self.experiment, variant, seed, params, CostModel(costs),
                                self._traced(value, seed))
                    self._done(value, variant, seed, r, progress, on_result)
            else:
                with cf.ProcessPoolExecutor(max_workers=jobs, initializer=_worker_init) as ex:
                    futs = {ex.submit(_job, self.experiment.name, variant, seed, params, costs,
                                      self._traced(value, seed)):
                            (value, variant, seed) for value, variant, seed, params in todo}
                    try:
                        for f in cf.as_completed(futs):
                            value, variant, seed = futs[f]
                            self._done(value, variant, seed, f.result(), progress, on_result)
                    except KeyboardInterrupt:
                        for f in futs:
                            f.cancel()
                        ex.shutdown(wait=False, cancel_futures=True)
                        raise
        except KeyboardInterrupt:
            self.interrupted = True
        return self

    def _traced(self, value, seed):
        return self.trace and value is None and seed == 0

    def _done(self, value, variant, seed, r, progress, on_result):
        self.results[(value, variant, seed)] = r
        if on_result is not None:
            on_result(r)
        if progress is not None:
            progress(len(self.results), self.total())

    # -------------------------------------------------------------- summary
    def runs(self, variant, point=None):
        return [r for (v, var, s), r in sorted(self.results.items(), key=lambda kv: kv[0][2])
                if v == point and var == variant]

    def row_summary(self, row, variant, point=None):
        runs = self.runs(variant, point)
        if not runs:
            return None
        if row.kind == "counter":
            vals = [r["counters"].get(row.key, 0) for r in runs]
            s = stats.mean_ci(vals)
            s["total"] = int(sum(vals))
            s["values"] = vals
            return s
        samples = [x for r in runs for x in r["samples"].get(row.key, ())]
        if not samples:
            return {"n": 0}
        return {"n": len(samples),
                "p50": stats.percentile_ci(samples, 50),
                "p99": stats.percentile_ci(samples, 99),
                "mean": float(np.mean(samples))}

    def summary(self):
        """Every figure with its interval (the --json document)."""
        e = self.experiment
        out = {"experiment": e.name, "title": e.title, "anchor": e.anchor,
               "family": e.family, "seeds": self.seeds, "params": self.params,
               "costs": self.costs.costs, "interrupted": self.interrupted,
               "runs_done": len(self.results), "runs_total": self.total(),
               "variants": {}, "comparisons": {}, "sweep": {}}
        base = self.variants[0]
        for variant in self.variants:
            runs = self.runs(variant)
            rows = {}
            for row in e.rows:
                rows[row.key] = self.row_summary(row, variant)
            names = sorted({n for r in runs for n in r["counters"]})
            out["variants"][variant] = {
                "runs": len(runs),
                # every counter of the run (vmstat, tracepoints, workload):
                # Amean per run with its bootstrap interval
                "counters": {n: stats.mean_ci([r["counters"].get(n, 0) for r in runs])
                             for n in names},
                "failures": [r["failure"] for r in runs if r["failure"]],
                "sim_ms": [r["sim_ns"] / 1e6 for r in runs],
                "steps": int(sum(r["steps"] for r in runs)),
                "rows": rows,
            }
        for variant in self.variants[1:]:
            comp = {}
            for row in e.rows:
                if row.kind != "counter":
                    continue
                a = out["variants"][base]["rows"].get(row.key)
                b = out["variants"][variant]["rows"].get(row.key)
                if not a or not b:
                    continue
                mark, p = stats.significance(a["values"], b["values"])
                comp[row.key] = {"pct_change": stats.pct_change(a["mean"], b["mean"]),
                                 "p": p, "mark": mark}
            out["comparisons"][variant] = comp
        if e.sweep and len(self.points) > 1:
            param = e.sweep[0]
            row = next(r for r in e.rows if r.key == e.plot_row)
            for value, params in self.points:
                x = params.get(param)
                for variant in self.variants:
                    s = self.row_summary(row, variant, value)
                    if s:
                        out["sweep"].setdefault(variant, []).append(
                            {param: x, "mean": s["mean"], "low": s["low"], "high": s["high"],
                             "n": s["n"]})
            for variant in out["sweep"]:
                out["sweep"][variant].sort(key=lambda d: d[param])
            out["sweep_param"] = param
            out["sweep_row"] = row.title
        return out


def _worker_init():
    # the parent handles Ctrl-C; workers just stop when told
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _job(exp_name, variant, seed, params, costs, trace):
    from .experiments import find_experiment
    return run_one(find_experiment(exp_name), variant, seed, params, CostModel(costs), trace)


def default_jobs():
    return max(1, min(os.cpu_count() or 1, 8))
