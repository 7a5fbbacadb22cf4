"""explore(): run a strategy over a scenario until a failure or the budget.

Every failure is replayed once in a fresh run before it is reported; a
failure that does not come back identically (same kind and message at the
same step) is reported as ``nondeterminism`` -- a foliolab bug, never a
kernel bug.  A reproduced failure is shrunk, written as a trace and recorded
step by step for the interleaving table.

Ctrl-C (KeyboardInterrupt) stops the exploration: what was found so far is
kept (and its trace written) and the result says ``interrupted``.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
import time

from ..scenarios.base import validate_settings
from .registry import builder, variant_label
from .run import (
    HANG_KINDS, BadLabel, ModelError, NondeterminismError, failure_info, replay_schedule,
    run_schedule, task_names,
)
from .shrink import shrink as shrink_schedule
from .strategies import make_strategy
from .watchdog import watchdog as _watchdog
from .trace import make_trace, trace_filename, write_trace

OUTCOMES = ("failure", "no-failure", "certified", "nondeterminism", "error")


def wilson(successes, n):
    """95% Wilson score interval for a proportion (scipy; the same interval
    measure mode reports, foliolab/stats.py)."""
    from ..stats import wilson as _wilson
    return _wilson(successes, n)


class Exploration:
    """What an exploration found.  ``outcome`` is one of ``failure``,
    ``no-failure``, ``certified`` (a DFS completed without a failure),
    ``nondeterminism`` (a failure did not replay)."""

    def __init__(self, scenario, family, variant, patches, settings, strategy,
                 seed, budget, mode):
        self.scenario = scenario
        self.family = family
        self.variant = variant              # the base variant's name (or None)
        self.patches = list(patches)
        self.label = variant_label(variant, patches)   # "v0+my_fix"
        self.settings = settings
        self.strategy = strategy            # description, e.g. "pct(d=2)"
        self.strategy_params = {}
        self.seed = seed
        self.budget = budget
        self.mode = mode
        self.outcome = "no-failure"
        self.schedules = 0
        self.steps = 0                      # steps executed over every schedule
        self.max_run_steps = 0
        self.seconds = 0.0                  # wall time, for reporting only
        self.search_seconds = 0.0           # of which running the schedules
        self.failure = None                 # FailureInfo of the first failure
        self.schedule_index = None          # 1-based index of that schedule
        self.schedule = None                # its schedule (task ids)
        self.tasks = None                   # its task names by id
        self.shrunk = None                  # Shrunk or None
        self.trace_path = None
        self.trace_error = None             # why the trace could not be written
        self.settings_overrides = {}        # what the strategy changes in the settings
        self.trace = None                   # the trace dict
        self.certificate = None
        self.partial_certificate = None     # a DFS cut by the budget: the levels it completed
        self.distinct_schedules = None      # DFS: distinct schedules (runs re-executed excluded)
        self.complete = False               # a systematic search ran out
        self.interrupted = False
        self.nondeterminism = None          # message
        self.error = None                   # the model raised an exception
        self.error_schedule = None
        self.failures = 0                   # failing schedules (count mode)
        self.kinds = {}                     # kind -> count (count mode)
        self.witnesses = {}                 # witness name -> first schedule index
        self.recording = None               # Recording of the shown failing run
        self.shown = None                   # "shrunk" | "original"
        self.dfs_branch_points = None
        self.search = None                  # systematic search: scope and counts (JSON)
        self.found_by = None                # portfolio: the member whose schedule failed

    # -------------------------------------------------------------- derived
    @property
    def found(self):
        return self.failure is not None

    @property
    def hang(self):
        return self.failure is not None and self.failure.kind in HANG_KINDS

    @property
    def steps_per_second(self):
        t = self.search_seconds or self.seconds
        return self.steps / t if t > 0 else 0.0

    @property
    def rate(self):
        return self.failures / self.schedules if self.schedules else 0.0

    @property
    def rate_ci(self):
        return wilson(self.failures, self.schedules)

    def summary(self):
        """One or two lines for humans."""
        head = (f"{self.scenario.slug}  variant {self.label}  "
                f"strategy {self.strategy} seed {self.seed}")
        run = (f"{self.schedules} schedule{'s' if self.schedules != 1 else ''}, "
               f"{self.steps} steps in {self.seconds:.2f} s "
               f"({self.steps_per_second:,.0f} steps/s)")
        lines = []
        if self.outcome == "certified":
            lines.append(f"{head}: {self.certificate}")
        elif self.outcome == "failure":
            by = f" (by {self.found_by})" if self.found_by else ""
            lines.append(f"{head}: FAILED at schedule {self.schedule_index}{by}: "
                         f"{self.failure.headline()}")
        elif self.outcome == "error":
            lines.append(f"{head}: ERROR: {self.error}")
        elif self.outcome == "nondeterminism":
            lines.append(f"{head}: NONDETERMINISM (a foliolab bug, not a kernel bug): "
                         f"{self.nondeterminism}")
        else:
            extra = ""
            if self.strategy.startswith("dfs") and not self.complete:
                extra = (f"; the search was cut by the budget of {self.budget} "
                         f"schedules: no certificate")
                if self.interrupted:
                    extra = "; interrupted: no certificate"
                if self.partial_certificate:
                    extra += f" (but {self.partial_certificate})"
            lines.append(f"{head}: no failure{extra}")
        lines.append(run + (" (interrupted)" if self.interrupted else ""))
        if self.mode == "count":
            lo, hi = self.rate_ci
            lines.append(f"failures: {self.failures}/{self.schedules} schedules = "
                         f"{100 * self.rate:.1f}% (95% Wilson CI {100 * lo:.1f}-{100 * hi:.1f}%"
                         + (f"; rule of three: < {300 / self.schedules:.2g}%"
                            if not self.failures and self.schedules else "") + ")"
                         + (" " + ", ".join(f"{k} {n}" for k, n in self.kinds.items())
                            if self.kinds else ""))
        return "\n".join(lines)

    def to_json(self):
        d = {
            "outcome": self.outcome,
            "scenario": self.scenario.slug,
            "family": self.family,
            "variant": self.variant,
            "label": self.label,
            "patches": [p.name for p in self.patches],
            "strategy": self.strategy_params,
            "seed": self.seed,
            "budget": self.budget,
            "schedules": self.schedules,
            "steps": self.steps,
            "max_run_steps": self.max_run_steps,
            "seconds": round(self.seconds, 6),
            "steps_per_second": round(self.steps_per_second, 1),
            "interrupted": self.interrupted,
            "complete": self.complete,
            "certificate": self.certificate,
            "partial_certificate": self.partial_certificate,
            "distinct_schedules": self.distinct_schedules,
            "search": self.search,
            "witnesses": dict(self.witnesses),
            "settings": self.settings,
        }
        if self.failure is not None:
            d["failure"] = self.failure.to_json()
            d["kind"] = self.failure.kind
            d["message"] = self.failure.message
            d["schedule_index"] = self.schedule_index
            d["found_by"] = self.found_by
            d["trace"] = self.trace_path
            if self.trace_error:
                d["trace_error"] = self.trace_error
                d["schedule"] = list(self.schedule or ())
                d["tasks"] = list(self.tasks or ())
                if self.shrunk is not None:
                    d["shrunk_schedule"] = list(self.shrunk.schedule)
            d["shrunk"] = self.shrunk.to_json() if self.shrunk else None
        if self.nondeterminism:
            d["nondeterminism"] = self.nondeterminism
        if self.error:
            d["error"] = self.error
        if self.mode == "count":
            lo, hi = self.rate_ci
            d["failures"] = self.failures
            d["failure_rate"] = self.rate
            d["failure_rate_ci95"] = [lo, hi]
            d["failure_kinds"] = dict(self.kinds)
        return d


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, unit="sched", file=sys.stderr,
                leave=False, dynamic_ncols=True, mininterval=0.25)


def _estimate(bar, strat, budget):
    """A systematic search's bar: its total is the sampled estimate of the
    schedules this bound will take (below the budget, if any)."""
    est = strat.estimate_total()
    if est is None:
        return
    done = bar.n
    total = done + max(0, est - strat.level_runs)
    if budget is not None:
        total = min(total, budget)
    bar.total = total
    lvl = "any k" if strat.level is None else f"k<={strat.level}"
    bar.set_postfix_str(f"{lvl}: est. {est:,} schedules", refresh=False)


def with_strategy_settings(full, settings, strat):
    """``full`` (a scenario's settings) with what the strategy changes: a
    systematic search replaces the fairness bound by its preemption bound,
    and collapses retries unless the user's ``settings`` set
    retry_collapse.  Returns ``full``."""
    full.update({key: val for key, val in getattr(strat, "settings_overrides", {}).items()
                 if key != "retry_collapse" or key not in (settings or {})})
    return full


# The collector's young-generation threshold during a search (CPython's
# default: 700).  Every run is a graph of cycles (pages, lists and locks
# point back at the kernel and the machine, tasks' generators at both) that
# only the cyclic collector frees, a few hundred objects a schedule.  At 700
# the collector runs about once a schedule and promotes the live run to the
# older generations each time, which makes it walk the whole heap -- a
# systematic search's own state, hundreds of thousands of sets and tuples --
# every few hundred schedules: a quarter of the time of readd-after-drain /
# lru-cache-disable at k<=2 (bench/bench.py).  At 10,000 the same garbage
# is freed a few schedules later and the full collections are rare.  When
# the collector runs changes no run: it already runs at points that depend
# on the process's history, and model code has nothing for it to run (no
# try/finally around a yield, tests/test_model_finally.py).
SEARCH_GC_THRESHOLD = 10_000


@contextlib.contextmanager
def _search_gc():
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], SEARCH_GC_THRESHOLD), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def explore(*args, watchdog=None, **kw):
    """:func:`_explore` (its docstring) with the soft-lockup watchdog on:
    ``watchdog`` seconds of wall time a step may run without yielding
    (None: off, as in measure mode and the tests), and the collector tuned
    for a search (``SEARCH_GC_THRESHOLD``)."""
    with _watchdog(watchdog), _search_gc():
        return _explore(*args, **kw)


def _explore(scenario, variant, patches, strategy="random", budget=1000, seed=0,
            settings=None, trace_dir="traces", progress=True, *, family=None,
            depth=2, preemptions=2, mode="first", shrink=True, shrink_budget=200,
            record=True, events=False, build=None, stop_when_witnessed=(),
            reduction="dpor", setup=None):
    """Explore ``scenario`` under ``patches``.

    ``variant``: the name of the variant whose patches ``patches`` starts
    with (for reports and the trace), or None; user patch files
    (``Patch.source``) may follow them.
    ``strategy``: "random", "pct" (``depth``), "dfs" (``preemptions``, None
    for no bound; ``reduction`` "dpor" or "none") or a
    :class:`~foliolab.explore.strategies.Strategy` instance.  ``budget``:
    maximum number of schedules (None: a systematic search runs to its end).  ``settings``: overrides of the scenario's
    settings.  ``trace_dir``: where the failure trace goes (None: not
    written).  ``mode``: "first" stops at the first failure, "count" explores
    the whole budget and counts failing schedules (failure rate with a 95%
    Wilson interval).  ``record``: record the shown failing run step by step
    (``result.recording``) for the interleaving table.
    ``stop_when_witnessed``: in count mode, stop early once every witness
    named here has been reached.  ``setup(k)``: called on every run after it
    is built (the footprint checker attaches there).
    """
    if mode not in ("first", "count"):
        raise ValueError(f"unknown mode {mode!r}")
    build = build or builder(scenario)
    if isinstance(strategy, str):
        strat = make_strategy(strategy, seed, depth=depth, preemptions=preemptions,
                              reduction=reduction)
    else:
        strat = strategy
    systematic = getattr(strat, "systematic", False)
    if budget is None and not systematic:
        raise ValueError("only a systematic search runs without a budget")
    if budget is not None and budget < 1:
        raise ValueError("the budget must be at least 1 schedule")
    full = scenario.settings(settings)
    validate_settings(full, scenario)       # impossible settings: the user's error
    with_strategy_settings(full, settings, strat)
    prepare = getattr(strat, "prepare", None)
    if setup is not None:
        # a caller's hook (the footprint checker) runs after the strategy's
        first_hook = prepare

        def prepare(k, _a=first_hook, _b=setup):
            if _a is not None:
                _a(k)
            _b(k)
    fam = family or getattr(scenario, "family", "") or ""
    ex = Exploration(scenario, fam, variant, patches, full, strat.describe(),
                     seed, budget, mode)
    ex.strategy_params = dict(strat.params(), budget=budget)
    ex.settings_overrides = dict(getattr(strat, "settings_overrides", {}))
    witnesses = list(getattr(scenario, "witnesses", {}).items())
    wanted = tuple(stop_when_witnessed)
    first = None                         # (index, schedule, info, names)
    bar = _progress(budget, f"{scenario.slug} {strat.describe()}", progress)
    t0 = time.perf_counter()
    steps = 0
    max_run = 0
    n = 0
    current = 0
    failures = 0
    kinds = ex.kinds
    limit = budget if budget is not None else float("inf")
    try:
        while n < limit:
            choose = strat.next_choose()
            if choose is None:
                break
            current = n + 1
            k, res = run_schedule(scenario, patches, full, choose, build=build,
                                  setup=prepare)
            n += 1
            rs = res.steps
            steps += rs
            if rs > max_run:
                max_run = rs
            if bar is not None:
                bar.update(1)
                if systematic and not n & 15:
                    _estimate(bar, strat, budget)
            if res.aborted:
                strat.after(res)
                continue
            if res.failure is not None:
                failures += 1
                kinds[res.failure.kind] = kinds.get(res.failure.kind, 0) + 1
                if first is None:
                    first = (n, res.schedule, failure_info(k, res),
                             task_names(res.machine))
                    member = getattr(strat, "current", None)
                    if member is not None:
                        ex.found_by = member.describe()
                    if trace_dir is not None:
                        # replayed and on disk the moment it is found: a
                        # Ctrl-C, a kill or a crash later loses nothing
                        # (rewritten, shrunk, below)
                        _confirm(ex, first, scenario, patches, full, build)
                        _write_trace(ex, first, scenario, full, trace_dir, None)
                        if ex.nondeterminism:
                            break
            if witnesses:
                for name, pred in list(witnesses):
                    if pred(k):
                        ex.witnesses[name] = n
                        witnesses.remove((name, pred))
            strat.after(res)
            if res.failure is not None and mode == "first":
                break
            if wanted and all(w in ex.witnesses for w in wanted):
                if mode == "count":
                    break
                wanted = ()
    except KeyboardInterrupt:
        ex.interrupted = True
    except NondeterminismError as e:
        ex.nondeterminism = f"schedule {current}: {e}"
    except ModelError as e:
        ex.error = f"schedule {current}: {e.describe()}"
        ex.error_schedule = e.schedule
    finally:
        if bar is not None:
            bar.close()
    ex.search_seconds = time.perf_counter() - t0
    ex.schedules = n
    ex.steps = steps
    ex.max_run_steps = max_run
    ex.failures = failures
    ex.complete = bool(strat.complete)
    if systematic:
        ex.dfs_branch_points = strat.branch_points
        ex.distinct_schedules = strat.distinct
        ex.search = strat.summary_json(full)
    if first is not None:
        # kept whatever the outcome (a failure that did not replay included)
        ex.schedule_index, ex.schedule, ex.failure, ex.tasks = first
    if ex.nondeterminism:
        ex.outcome = "nondeterminism"
    elif ex.error:
        ex.outcome = "error"
    elif first is not None:
        _report_failure(ex, first, scenario, patches, full, build, trace_dir,
                        shrink, shrink_budget, record, events)
    elif ex.complete and not ex.interrupted:
        ex.outcome = "certified"
        ex.certificate = strat.certificate(full, max_run)
    if systematic and not ex.complete and strat.certified_level is not None \
            and strat.certified_level >= 0:
        ex.partial_certificate = strat.certificate(full, max_run, partial=True)
    ex.seconds = time.perf_counter() - t0
    return ex


def _report_failure(ex, first, scenario, patches, full, build, trace_dir,
                    shrink, shrink_budget, record, events):
    idx, schedule, info, names = first
    ex.failure = info
    ex.schedule_index = idx
    ex.schedule = schedule
    ex.tasks = names
    ex.outcome = "failure"
    # the nondeterminism check: replay once in a fresh run
    shown_k = None
    try:
        shown_k = _replayed(first, scenario, patches, full, build, record, events)
    except ModelError as e:
        if isinstance(e.exc, BadLabel):
            # checked only when the run is recorded for the table
            ex.outcome = "error"
            ex.error = f"schedule {idx}: {e.describe()}"
        else:
            ex.outcome = "nondeterminism"
            ex.nondeterminism = str(e)
    except NondeterminismError as e:
        ex.outcome = "nondeterminism"
        ex.nondeterminism = str(e)
    except KeyboardInterrupt:
        ex.interrupted = True
    if ex.outcome == "failure" and shrink and not ex.interrupted:
        try:
            sh = shrink_schedule(scenario, patches, full, schedule, info,
                                 budget=shrink_budget, build=build)
        except KeyboardInterrupt:
            ex.interrupted = True
            sh = None
        if sh is not None:
            ex.shrunk = sh
            if record:
                try:
                    k3, res3 = replay_schedule(scenario, patches, full, sh.schedule,
                                               record=True, events=events, build=build)
                    if failure_info(k3, res3).same(sh.failure):
                        shown_k = k3
                        ex.shown = "shrunk"
                except (NondeterminismError, ModelError, KeyboardInterrupt):
                    pass
    if shown_k is not None and record:
        ex.recording = getattr(shown_k, "recording", None)
        if ex.shown is None:
            ex.shown = "original"
    _write_trace(ex, first, scenario, full, trace_dir,
                 ex.shrunk.to_json() if ex.shrunk else None,
                 ex.recording.vmstat_delta() if ex.recording is not None else None)


def _replayed(first, scenario, patches, full, build, record=False, events=False):
    """The nondeterminism check: the failing schedule replayed once in a
    fresh run.  Returns its kernel; a failure that does not come back
    identically raises NondeterminismError."""
    idx, schedule, info, _ = first
    k2, res2 = replay_schedule(scenario, patches, full, schedule,
                               record=record, events=events, build=build)
    info2 = failure_info(k2, res2)
    if not info.same(info2):
        got = info2.headline() + f" at step {info2.step}" if info2 else "no failure"
        raise NondeterminismError(
            f"schedule {idx} failed with {info.headline()} at step {info.step}; "
            f"replayed, it gave {got}")
    return k2


def _confirm(ex, first, scenario, patches, full, build):
    """The check of a failure just found; one that does not replay sets
    ``ex.nondeterminism``."""
    try:
        _replayed(first, scenario, patches, full, build)
    except (NondeterminismError, ModelError) as e:
        ex.nondeterminism = str(e)


def _write_trace(ex, first, scenario, full, trace_dir, shrunk, vmstat_delta=None):
    idx, schedule, info, names = first
    ex.trace = make_trace(
        scenario=scenario, family=ex.family, variant=ex.variant, patches=ex.patches,
        settings=full, strategy=ex.strategy_params, seed=ex.seed,
        schedule_index=idx, failure=info, tasks=names, schedule=schedule,
        shrunk=shrunk, nondeterminism=ex.nondeterminism)
    if vmstat_delta is not None:
        # of the run the table shows (the shrunk one when there is one)
        ex.trace["vmstat_delta"] = {"run": ex.shown, "delta": vmstat_delta}
    if trace_dir is not None:
        strat_name = ex.strategy_params.get("name", "x")
        path = os.path.join(trace_dir, trace_filename(
            scenario.slug, ex.label, strat_name, ex.seed,
            params_key(scenario, full, ex.strategy_params, ex.settings_overrides)))
        try:
            ex.trace_path = write_trace(ex.trace, path)
            ex.trace_error = None
        except OSError as e:
            # the failure is not lost: the command prints it and its schedule
            ex.trace_path = None
            ex.trace_error = f"{e.filename or path}: {e.strerror or e}"


def params_key(scenario, full, strategy_params, strategy_overrides=None):
    """A short hash of what changes the schedules besides the scenario,
    variant, strategy and seed (the strategy's parameters, the settings),
    or '' when they are the defaults: traces of runs that differ in them do
    not overwrite each other."""
    import hashlib
    import json
    params = {k: v for k, v in strategy_params.items() if k != "budget"}
    try:
        default = make_strategy(params.get("name", ""), 0).params()
    except (ValueError, TypeError):
        default = None
    base = scenario.settings()
    base.update(strategy_overrides or {})   # dfs sets fair_bound 0
    if params == default and full == base:
        return ""
    text = json.dumps({"strategy": params, "settings": full}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]
