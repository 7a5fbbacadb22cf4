"""One run of a scenario under a scheduling policy, optionally recorded.

``run_schedule(scenario, patches, settings, choose)`` builds a fresh run
(machine + kernel + scenario state), runs it with ``choose(m, enabled)`` and
returns ``(k, RunResult)``.  With ``record=True`` every step is recorded for
the interleaving table (:class:`StepRecord`: the task, its label, the call
chain of model functions it is suspended in, the scenario's ``watch(k)``
state); with ``record=False`` the machine's observer hooks stay unset and the
run costs exactly what the engine costs.
"""

from __future__ import annotations

import os

from .. import engine as _engine_pkg
from ..engine.kernel import PatchError
from ..scenarios import LookupFailure
from ..scenarios.base import SettingsError
from .registry import builder
from .watchdog import watching

ENGINE_DIR = os.path.dirname(os.path.abspath(_engine_pkg.__file__)) + os.sep
# failures raised by the machine itself rather than by the stepped task
MACHINE_KINDS = ("deadlock", "livelock", "hung-task")
HANG_KINDS = ("deadlock", "livelock", "hung-task")


class InputError(Exception):
    """Base for errors in what the user gave (raised by hooks such as the
    replay's task-name check)."""


INPUT_ERRORS = (SettingsError, PatchError, LookupFailure, InputError)


class NondeterminismError(Exception):
    """A run did not follow its recorded schedule: a foliolab bug (the model
    depends on something other than the schedule), never a kernel bug."""


class ModelError(Exception):
    """The model itself raised a Python exception (a bug in model, scenario
    or patch code, not a modelled kernel failure).  ``where`` names the
    innermost frame -- the innermost frame in a user's patch file when
    there is one (``patch`` is then that Patch); ``schedule`` is the
    schedule up to the exception."""

    def __init__(self, exc, schedule, where, patch=None):
        self.exc = exc
        self.schedule = list(schedule)
        self.where = where
        self.patch = patch
        super().__init__(f"{_exc_text(exc)} (at {where}, step {len(self.schedule)})")

    def describe(self):
        """``the model raised X: msg (at file:line in f, step N)`` or, for a
        user's patch, ``the patch P raised X: msg at file:line in f (step N)``."""
        if self.patch is not None:
            return (f"the patch {self.patch.name} raised {_exc_text(self.exc)} at "
                    f"{self.where} (step {len(self.schedule)})")
        return f"the model raised {self}"


class BadLabel(TypeError):
    """A step yielded something other than a string as its label."""


def _exc_text(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _model_error(exc, schedule, patches):
    """ModelError for ``exc``, located in the user's patch file if the
    exception went through one."""
    user = _user_frame(exc, patches)
    if user is not None:
        patch, f = user
        return ModelError(exc, schedule, f"{f.filename}:{f.lineno} in {f.name}", patch)
    if getattr(exc, "where", None):        # BadLabel, SoftLockup: where it happened
        return ModelError(exc, schedule, exc.where, getattr(exc, "patch", None))
    where = _where(exc)
    users = _user_files(patches)
    if users:
        # raised in the model, after a user's function returned (a return
        # value of the wrong type, say): name the user's files too
        where += " (with user patch " + ", ".join(
            f"{p.name} from {p.source}" for p in users.values()) + ")"
    return ModelError(exc, schedule, where)


def _user_files(patches):
    return {os.path.realpath(p.source): p for p in patches or ()
            if getattr(p, "source", None)}


def _user_frame(exc, patches):
    """(patch, frame summary) of the innermost traceback frame in a user's
    patch file, or None."""
    import traceback
    files = _user_files(patches)
    if not files:
        return None
    hit = None
    for f in traceback.extract_tb(exc.__traceback__):
        p = files.get(os.path.realpath(f.filename))
        if p is not None:
            hit = (p, f)
    return hit


def _where(exc):
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    return f"{f.filename}:{f.lineno} in {f.name}"


def _yield_site(t):
    """(file, line, function) where task ``t`` is suspended: its innermost
    generator frame (the yield that produced the step's label)."""
    g = t.gen
    site = None
    while g is not None and getattr(g, "gi_frame", None) is not None:
        fr = g.gi_frame
        site = (fr.f_code.co_filename, fr.f_lineno, fr.f_code.co_name)
        g = getattr(g, "gi_yieldfrom", None)
    return site


class StepRecord:
    """What one step did, for the interleaving table."""

    __slots__ = ("step", "tid", "label", "chain", "watch", "notes", "held")

    def __init__(self, step, tid, label, chain, watch, notes=(), held=()):
        self.held = held            # names of the locks the task holds after the step
        self.step = step
        self.tid = tid
        self.label = label
        self.chain = chain          # model function names, outermost first
        self.watch = watch          # {column: text}
        self.notes = notes          # what the step did in memory (TSO): buffered
                                    # stores, stale loads

    @property
    def function(self):
        """The innermost model (kernel) function of the step, or ''."""
        return self.chain[-1] if self.chain else ""

    def __repr__(self):
        return f"<step {self.step} task {self.tid} {self.function}: {self.label}>"


class TaskInfo:
    """What the report needs about a task."""

    __slots__ = ("tid", "name", "cpu", "pid", "is_sb", "daemon", "rt_prio")

    def __init__(self, t):
        self.tid = t.tid
        self.name = t.name
        self.cpu = t.cpu
        self.pid = t.pid
        self.is_sb = t.is_sb
        self.daemon = t.daemon
        self.rt_prio = t.rt_prio

    def to_json(self):
        return {"tid": self.tid, "name": self.name, "cpu": self.cpu, "pid": self.pid,
                "sb": self.is_sb, "daemon": self.daemon, "rt_prio": self.rt_prio}


class Recording:
    """A run recorded step by step: ``steps`` (:class:`StepRecord`),
    ``watch0`` (the watched state before the first step), ``tasks``
    (:class:`TaskInfo` by task id), ``events`` (the model's tracepoints, when
    asked for) and ``settings``."""

    __slots__ = ("steps", "watch0", "tasks", "events", "settings", "failure",
                 "vmstat0", "vmstat")

    def __init__(self, settings):
        self.steps = []
        self.watch0 = {}
        self.tasks = []
        self.events = None
        self.settings = settings
        self.failure = None
        self.vmstat0 = {}           # the model's vmstat counters before the first step
        self.vmstat = {}            # ... and at the end of the run

    def vmstat_delta(self):
        """{counter: change over the run} for the counters that moved."""
        return {n: v - self.vmstat0.get(n, 0) for n, v in self.vmstat.items()
                if v != self.vmstat0.get(n, 0)}

    def to_json(self):
        return {
            "tasks": [t.to_json() for t in self.tasks],
            "watch0": self.watch0,
            "vmstat_delta": self.vmstat_delta(),
            "steps": [dict({"step": r.step, "task": r.tid, "label": r.label,
                            "chain": r.chain, "watch": r.watch},
                           **({"memory": list(r.notes)} if r.notes else {}))
                      for r in self.steps],
            "events": None if self.events is None else [
                {"step": e[0], "cpu": e[1], "task": e[2], "event": e[3],
                 "fields": {kk: (vv if isinstance(vv, (int, float, str, bool)) or vv is None
                                 else str(vv)) for kk, vv in e[4].items()}}
                for e in self.events],
        }


class FailureInfo:
    """A failure as recorded in traces and reports."""

    __slots__ = ("kind", "message", "task", "step", "prop")

    def __init__(self, kind, message, task, step, prop=None):
        self.kind = kind
        self.message = message
        self.task = task
        self.step = step
        self.prop = prop

    @classmethod
    def from_run(cls, res, at_end=False):
        f = res.failure
        if f is None:
            return None
        m = res.machine
        task = None
        if not at_end and f.kind not in MACHINE_KINDS and m.current is not None:
            task = m.current.name
        return cls(f.kind, f.message, task, res.steps, getattr(f, "prop", None))

    def same(self, other):
        return (other is not None and self.kind == other.kind
                and self.message == other.message and self.step == other.step)

    def same_kind(self, other):
        return other is not None and self.kind == other.kind and self.prop == other.prop

    def message_class(self):
        """What a failure says, without its figures: the message up to its
        cause (`` -- ``), numbers and addresses masked.  Two failures of
        one class are the same symptom (an ISOLATE block stranded is not
        an NR_FREE_PAGES drift, though both are invariant violations)."""
        import re
        head = self.message.split(" -- ", 1)[0]
        return re.sub(r"0x[0-9a-fA-F]+|\d+", "#", head)

    def same_failure(self, other):
        """The shrinker's test: the same kind, property and message class."""
        return self.same_kind(other) and self.message_class() == other.message_class()

    def to_json(self):
        d = {"kind": self.kind, "message": self.message, "task": self.task,
             "step": self.step}
        if self.prop is not None:
            d["property"] = self.prop
        return d

    @classmethod
    def from_json(cls, d):
        return cls(d["kind"], d["message"], d.get("task"), d["step"], d.get("property"))

    def headline(self):
        """``property "x": message`` / ``lockdep: message``."""
        if self.prop:
            return f'{self.kind} "{self.prop}": {self.message}'
        return f"{self.kind}: {self.message}"

    def __repr__(self):
        return f"<failure {self.kind} at step {self.step}: {self.message}>"


def kernel_name(name):
    """The kernel function a model function stands for: shared bodies are
    named ``do_<kernel function>`` or ``<kernel function>_body``."""
    if name.startswith("do_"):
        name = name[3:]
    if name.endswith("_body"):
        name = name[:-5]
    return name


def call_chain(t):
    """Names of the model functions ``t`` is suspended in, outermost first;
    engine frames (primitives: spin_lock, flush_work ...) are skipped."""
    names = []
    g = t.gen
    while g is not None:
        code = getattr(g, "gi_code", None)
        if code is None or getattr(g, "gi_frame", None) is None:
            break
        if not code.co_filename.startswith(ENGINE_DIR):
            names.append(kernel_name(code.co_name))
        g = getattr(g, "gi_yieldfrom", None)
    return names


class _EndMark:
    """Inserted first in ``m.quiesce_checks``: tells an end-of-run check
    failure from a failure raised by a step."""

    __slots__ = ("reached",)

    def __init__(self):
        self.reached = False

    def __call__(self):
        self.reached = True


def run_schedule(scenario, patches, settings, choose, record=False, *,
                 events=False, build=None, setup=None):
    """Build a fresh run and run it with ``choose``.

    Returns ``(k, res)``; ``failure_info(k, res)`` describes a failure.  With
    ``record``, ``k.recording`` is a :class:`Recording` of the run.  With
    ``events``, ``k.trace_events`` collects the model's tracepoints.  ``build(patches,
    settings) -> k`` overrides how the run is put together (default: the
    scenario's own ``make_run`` or :func:`foliolab.scenarios.base.make_run`).
    ``setup(k)`` runs on the built kernel before the run (a systematic search
    attaches its footprint hook there).
    """
    try:
        k = (build or builder(scenario))(patches, settings)
    except INPUT_ERRORS:
        raise                           # settings/patch/lookup errors: input errors
    except (NondeterminismError, KeyboardInterrupt):
        raise
    except BaseException as e:          # SystemExit, GeneratorExit ... from a patch's init
        raise _model_error(e, [], patches) from e
    m = k.m
    if setup is not None:
        setup(k)
    mark = _EndMark()
    m.quiesce_checks.insert(0, mark)
    k._foliolab_end = mark
    if events:
        k.trace_events = []
    rec = None
    if record:
        rec = Recording(settings)
        steps = rec.steps
        labels = []
        m.labels = labels
        watch = scenario.watch
        era = getattr(k, "era", None)

        def on_step(t):
            chain = call_chain(t) if t.gen is not None else []
            label = labels[-1]
            if label.__class__ is not str:
                _bad_label(t, label, patches)
            if era is not None:         # the era's kernel names (patches/eras.py)
                chain = era.chain(chain)
                label = era.rename(label)
            notes = ()
            if m.mem_notes:
                notes = tuple(era.rename(n) for n in m.mem_notes) if era is not None \
                    else tuple(m.mem_notes)
                m.mem_notes.clear()
            steps.append(StepRecord(m.steps, t.tid, label, chain, watch(k), notes,
                                    tuple(getattr(lk, "name", str(lk)) for lk in t.held)))

        m.on_step = on_step
        m.mem_notes = []
        rec.watch0 = watch(k)
        rec.vmstat0 = dict(getattr(k, "vmstat", None) or {})
        k.recording = rec
    try:
        with watching(m):
            res = m.run(choose)
    except (NondeterminismError, KeyboardInterrupt):
        raise
    except BaseException as e:
        # anything a step raised, SystemExit and GeneratorExit included: the
        # model's (or a user patch's) exception, never the end of foliolab
        raise _model_error(e, m.schedule, patches) from e
    if rec is not None:
        rec.tasks = [TaskInfo(t) for t in m.tasks]
        rec.events = k.trace_events if events else None
        rec.failure = failure_info(k, res)
        rec.vmstat = dict(getattr(k, "vmstat", None) or {})
    return k, res


def _bad_label(t, label, patches):
    """A step's label is not a string: say where it was yielded."""
    site = _yield_site(t)
    e = BadLabel(f"task {t.name} yielded {label!r} ({type(label).__name__}): "
                 f"a step's label must be a string")
    if site is not None:
        e.where = f"{site[0]}:{site[1]} in {site[2]}"
        e.patch = _user_files(patches).get(os.path.realpath(site[0]))
    raise e


def failure_info(k, res):
    """:class:`FailureInfo` of a run, or None."""
    mark = getattr(k, "_foliolab_end", None)
    info = FailureInfo.from_run(res, at_end=bool(mark and mark.reached))
    era = getattr(k, "era", None)
    if info is not None and era is not None:
        info.message = era.rename(info.message)
    return info


def strict_choose(schedule):
    """A policy that follows ``schedule`` (task ids) exactly; a recorded task
    that is not enabled at its step raises :class:`NondeterminismError`."""
    n = len(schedule)

    def choose(m, en):
        i = m.steps
        if i >= n:
            raise NondeterminismError(
                f"the run goes on past the {n} recorded steps")
        tid = schedule[i]
        for t in en:
            if t.tid == tid:
                return t
        raise NondeterminismError(
            f"step {i + 1}: recorded task {tid} is not enabled "
            f"(enabled: {', '.join(f'{t.tid}:{t.name}' for t in en)})")

    return choose


def check_followed(res, schedule):
    """Raise :class:`NondeterminismError` when a strict replay diverged in a
    step the policy was not asked about (a forced or single-choice step)."""
    got = res.schedule
    if got != list(schedule):
        n = min(len(got), len(schedule))
        for i in range(n):
            if got[i] != schedule[i]:
                raise NondeterminismError(
                    f"step {i + 1}: ran task {got[i]}, recorded task {schedule[i]}")
        raise NondeterminismError(
            f"the run took {len(got)} steps, the recording {len(schedule)}")


def replay_schedule(scenario, patches, settings, schedule, record=False, *,
                    events=False, build=None):
    """Replay ``schedule`` exactly.  Returns ``(k, res)``; raises
    :class:`NondeterminismError` if the run does not follow it."""
    k, res = run_schedule(scenario, patches, settings, strict_choose(schedule),
                          record, events=events, build=build)
    check_followed(res, schedule)
    return k, res


def task_names(m):
    return [t.name for t in m.tasks]
