"""replay(path): rebuild the run of a trace file and follow its schedule
exactly.

Input problems (malformed JSON, another schema version, an unknown scenario
or variant, a changed variant or user patch file, task names that do not
match) raise :class:`~foliolab.explore.trace.TraceError`.  A recorded task
that is not enabled at its step, or a failure that does not come back
identically, is *nondeterminism* (``result.outcome``) -- unless the model
changed since the trace was recorded (its hash in ``provenance``): then the
replay raises :class:`TraceError` naming the change, since a different model
may well run differently.  User files (family, patches) are embedded in the
trace and run as recorded; ``result.notes`` says which changed on disk.
"""

from __future__ import annotations

from ..provenance import model_hash, version
from ..scenarios.base import SettingsError, validate_settings
from ..engine.kernel import PatchError
from .registry import builder
from .run import BadLabel, FailureInfo, ModelError, NondeterminismError, failure_info, replay_schedule, task_names
from .trace import TraceError, load_trace, resolve_trace


class Replay:
    def __init__(self, path, trace, family, scenario, patches, settings):
        self.path = path
        self.trace = trace
        self.family = family
        self.scenario = scenario
        self.patches = patches
        self.settings = settings
        self.outcome = None          # failure | no-failure | nondeterminism
        self.failure = None          # FailureInfo of the replayed run
        self.nondeterminism = None
        self.error = None            # a user's patch raised
        self.shown = None            # "original" | "shrunk"
        self.schedule = None         # schedule of the shown run
        self.recording = None        # Recording of the shown run
        self.steps = 0
        self.shrunk = trace.get("shrunk")
        self.notes = []              # user files that changed on disk since

    @property
    def variant(self):
        return self.trace.get("variant")

    def to_json(self):
        d = {
            "outcome": self.outcome,
            "trace": self.path,
            "scenario": self.scenario.slug,
            "family": self.family.name,
            "variant": self.variant,
            "patches": [p.name for p in self.patches],
            "schedules": 1 + (1 if self.shrunk else 0),
            "steps": self.steps,
            "shown": self.shown,
        }
        if self.failure is not None:
            d["failure"] = self.failure.to_json()
            d["kind"] = self.failure.kind
            d["message"] = self.failure.message
        if self.nondeterminism:
            d["nondeterminism"] = self.nondeterminism
        if self.error:
            d["error"] = self.error
        if self.notes:
            d["notes"] = list(self.notes)
        return d


def replay(path, *, record=True, events=False, original=False, build=None):
    """Replay a trace file.  Returns a :class:`Replay`; input errors raise
    :class:`TraceError`."""
    tr = load_trace(path)
    notes = []
    fam, sc, patches, settings = resolve_trace(tr, path, notes)
    full = sc.settings(settings)
    try:
        # settings the run cannot be built with are malformed input, not
        # nondeterminism
        validate_settings(full, sc)
    except SettingsError as e:
        raise TraceError(f"{path}: settings: {e}") from None
    r = Replay(path, tr, fam, sc, patches, full)
    r.notes = notes
    recorded_model = (tr.get("provenance") or {}).get("model_hash")
    model_changed = bool(recorded_model) and recorded_model != model_hash()

    def changed(what):
        # a different model may run differently: say so, not "nondeterminism"
        return TraceError(
            f"{path}: does not replay: the model changed since the trace was recorded "
            f"(recorded with foliolab {tr.get('foliolab')} model {recorded_model}; this "
            f"is foliolab {version()} model {model_hash()}): {what}")
    base = build or builder(sc)
    recorded_names = tr["tasks"]

    def checked_build(patches_, settings_):
        k = base(patches_, settings_)
        names = task_names(k.m)
        if names != recorded_names[:len(names)]:
            if model_changed:
                raise changed(f"the scenario now starts tasks {', '.join(names)}")
            raise TraceError(
                f"{path}: the scenario now starts tasks {', '.join(names)}; the "
                f"trace has {', '.join(recorded_names[:len(names)])} (recorded by "
                f"foliolab {tr.get('foliolab')})")
        return k

    version_note = ""
    if tr.get("foliolab") != version():
        version_note = (f" (the trace was recorded by foliolab {tr.get('foliolab')}, "
                        f"this is {version()})")
    want = FailureInfo.from_json(tr["failure"]) if tr.get("failure") else None
    sh = tr.get("shrunk")
    show_shrunk = bool(sh) and not original
    total = 0
    try:
        k, res = replay_schedule(sc, patches, full, tr["schedule"],
                                 record=record and not show_shrunk,
                                 events=events and not show_shrunk,
                                 build=checked_build)
        total += res.steps
        names = task_names(res.machine)
        if names != recorded_names:
            raise TraceError(f"{path}: task names differ from the trace "
                             f"({', '.join(names)} vs {', '.join(recorded_names)})")
        got = failure_info(k, res)
        if want is None and got is None:
            r.outcome = "no-failure"
        elif want is not None and want.same(got):
            r.outcome = "failure"
        else:
            g = f"{got.headline()} at step {got.step}" if got else "no failure"
            w = f"{want.headline()} at step {want.step}" if want else "no failure"
            raise NondeterminismError(f"recorded {w}; replayed, it gave {g}")
        r.failure = got
        r.shown, r.schedule, shown_k = "original", tr["schedule"], k
        if show_shrunk:
            want2 = FailureInfo.from_json(sh["failure"])
            k2, res2 = replay_schedule(sc, patches, full, sh["schedule"],
                                       record=record, events=events, build=base)
            total += res2.steps
            got2 = failure_info(k2, res2)
            if not want2.same(got2):
                g = f"{got2.headline()} at step {got2.step}" if got2 else "no failure"
                raise NondeterminismError(
                    f"shrunk schedule: recorded {want2.headline()} at step "
                    f"{want2.step}; replayed, it gave {g}")
            r.shown, r.schedule, shown_k = "shrunk", sh["schedule"], k2
    except ModelError as e:
        if e.patch is not None or isinstance(e.exc, BadLabel):
            # a user's patch raised (or yielded a label that is not a string)
            r.outcome = "error"
            r.error = e.describe()
        else:
            if model_changed:
                raise changed(str(e)) from None
            r.outcome = "nondeterminism"
            r.nondeterminism = str(e) + version_note
        return r
    except NondeterminismError as e:
        if model_changed:
            raise changed(str(e)) from None
        r.outcome = "nondeterminism"
        r.nondeterminism = str(e) + version_note
        return r
    except SettingsError as e:
        raise TraceError(f"{path}: settings: {e}") from None
    except PatchError as e:
        raise TraceError(f"{path}: {e}") from None
    finally:
        r.steps = total
    if record:
        r.recording = getattr(shown_k, "recording", None)
    return r
