"""Trace files: the schedule of a failing run plus everything needed to
rebuild the run, as JSON with a versioned schema (never pickle).

Schema ``foliolab-trace/1``::

    {
      "schema": "foliolab-trace/1",
      "foliolab": "0.1.0",                      # foliolab.__version__
      "scenario": "readd-after-drain", "family": "lru_cache",
      "variant": "v0",                          # null: patches given by hand
      "label": "v0+my_fix",                     # variant + user patch files
      "patches": [{"name": "lru-cache-disable"},
                  {"name": "my-fix", "file": "my_fix.py", "sha256": "1f0c..."}],
      "settings": {"ncpus": 2, "preempt": "full", ...},   # complete
      "strategy": {"name": "pct", "depth": 2, "budget": 1000},
      "seed": 7,
      "schedule_index": 41,                     # 1-based, in the exploration
      "failure": {"kind": "property", "message": "...", "task": "M",
                  "step": 24, "property": "..."},
      "tasks": ["M", "U", "kworker/0", ...],    # task names by task id
      "schedule": [0, 0, 1, ...],               # task id stepped at each step
      "shrunk": null | {"schedule": [...], "steps": 24, "preemptions": 1,
                        "preemption_steps": [3], "failure": {...},
                        "tasks": [...]},
      "nondeterminism": null | "what diverged"  # the failure did not replay
    }

``sha256`` is the (16-hex-digit prefix of the) SHA-256 of the user's patch
file, as :func:`foliolab.patches.load_patch_file` computes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile

import foliolab

from .run import InputError
from .registry import (
    variant_label, LookupFailure, PatchError, find_scenario, find_variant, variant_patches,
)

SCHEMA = "foliolab-trace/1"


class TraceError(InputError):
    """A trace file that cannot be replayed (one-line message)."""


def trace_filename(scenario_slug, variant, strategy, seed, key=""):
    """``slug.variant.strategy.seed[.key].json``; ``key`` is a short hash of
    the other parameters that change the schedules, when they are not the
    defaults (explorer.params_key)."""
    def clean(s):
        return re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(s))[:80]
    tail = f".{clean(key)}" if key else ""
    return (f"{clean(scenario_slug)}.{clean(variant or 'custom')}.{clean(strategy)}."
            f"{clean(seed)}{tail}.json")


def patch_entries(patches):
    out = []
    for p in patches:
        e = {"name": p.name}
        if getattr(p, "source", None):
            e["file"] = p.source
            e["sha256"] = getattr(p, "digest", None)
        out.append(e)
    return out


def make_trace(*, scenario, family, variant, patches, settings, strategy,
               seed, schedule_index, failure, tasks, schedule, shrunk=None,
               nondeterminism=None):
    return {
        "schema": SCHEMA,
        "foliolab": foliolab.__version__,
        "scenario": scenario.slug,
        "family": family,
        "variant": variant,
        "label": variant_label(variant, patches),
        "patches": patch_entries(patches),
        "settings": dict(settings),
        "strategy": dict(strategy),
        "seed": seed,
        "schedule_index": schedule_index,
        "failure": failure.to_json() if failure is not None else None,
        "tasks": list(tasks),
        "schedule": list(schedule),
        "shrunk": shrunk,
        "nondeterminism": nondeterminism,
    }


def write_trace(trace, path):
    """Write ``trace`` to ``path`` atomically and durably: a temporary file
    in the same directory, fsync'd, renamed over ``path``, then the
    directory fsync'd -- a crash or a kill leaves the old trace or the new
    one, never a torn one.  OSError is the caller's to report."""
    d = os.path.dirname(path) or "."
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".trace-", suffix=".tmp", dir=d)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(trace, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(d)
    return path


def _fsync_dir(d):
    try:
        fd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass                    # a file system that cannot sync directories
    finally:
        os.close(fd)


def check_trace_dir(d):
    """Before a search: ``d`` exists (created if need be), is a directory
    and takes a new file.  Returns None or a one-line reason."""
    try:
        os.makedirs(d, exist_ok=True)
    except FileExistsError:
        return f"{d}: not a directory"
    except OSError as e:
        return f"{d}: {e.strerror or e}"
    if not os.path.isdir(d):
        return f"{d}: not a directory"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".probe-", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        return f"{d}: not writable ({e.strerror or e})"
    return None


def _need(cond, path, what):
    if not cond:
        raise TraceError(f"{path}: malformed trace: {what}")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_schedule(path, name, sched, ntasks):
    _need(isinstance(sched, list), path, f"{name} is not a list")
    for x in sched:
        _need(_is_int(x) and 0 <= x < ntasks, path,
              f"{name} has an entry {x!r} that is not a task id")


def load_trace(path):
    """Read and validate a trace file: the dict, or :class:`TraceError`."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        tr = json.loads(text)
    except ValueError as e:
        raise TraceError(f"{path}: not a JSON trace ({e})") from None
    _need(isinstance(tr, dict), path, "not a JSON object")
    schema = tr.get("schema")
    if schema != SCHEMA:
        raise TraceError(f"{path}: unsupported trace schema {schema!r} "
                         f"(this foliolab reads {SCHEMA!r})")
    for key, typ in (("scenario", str), ("family", str), ("patches", list),
                     ("settings", dict), ("strategy", dict), ("tasks", list),
                     ("schedule", list)):
        _need(isinstance(tr.get(key), typ), path, f"field {key!r} missing or not a {typ.__name__}")
    _need(tr.get("variant") is None or isinstance(tr["variant"], str), path,
          "field 'variant' is not a string")
    for e in tr["patches"]:
        _need(isinstance(e, dict) and isinstance(e.get("name"), str), path,
              "a patch entry has no name")
        if "file" in e:
            _need(isinstance(e["file"], str) and isinstance(e.get("sha256"), str),
                  path, f"patch entry {e['name']!r} has a file but no sha256")
    _need(all(isinstance(n, str) for n in tr["tasks"]), path, "task names must be strings")
    _check_schedule(path, "schedule", tr["schedule"], len(tr["tasks"]))
    _need(len(tr["schedule"]) > 0, path, "the schedule is empty")
    f = tr.get("failure")
    if f is not None:
        _need(isinstance(f, dict) and isinstance(f.get("kind"), str)
              and isinstance(f.get("message"), str) and _is_int(f.get("step")),
              path, "field 'failure' needs kind, message and step")
    sh = tr.get("shrunk")
    if sh is not None:
        _need(isinstance(sh, dict) and isinstance(sh.get("tasks", tr["tasks"]), list), path,
              "field 'shrunk' is not an object")
        _check_schedule(path, "shrunk schedule", sh.get("schedule"),
                        len(sh.get("tasks", tr["tasks"])))
    return tr


def resolve_trace(tr, path="trace"):
    """(family, scenario, patches, settings) of a loaded trace; unknown
    names, a changed variant or a changed user patch file raise
    :class:`TraceError`."""
    try:
        fam, sc = find_scenario(tr["scenario"])
    except LookupFailure as e:
        raise TraceError(f"{path}: {e}") from None
    if fam.name != tr["family"]:
        raise TraceError(f"{path}: scenario {tr['scenario']!r} belongs to family "
                         f"{fam.name}, the trace says {tr['family']}")
    patches = []
    entries = list(tr["patches"])
    try:
        if tr.get("variant") is not None:
            v = find_variant(fam, tr["variant"])
            patches = variant_patches(v)
            names = [p.name for p in patches]
            recorded = [e["name"] for e in entries[:len(names)]]
            if recorded != names:
                raise TraceError(
                    f"{path}: variant {v.name} now applies {', '.join(names) or 'no patches'}; "
                    f"the trace was recorded with {', '.join(recorded) or 'no patches'}")
            entries = entries[len(names):]
        for e in entries:
            if "file" in e:
                from ..patches import load_patch_file
                p = load_patch_file(e["file"])
                if p.digest != e["sha256"]:
                    raise TraceError(
                        f"{path}: patch file {e['file']} changed since the trace was "
                        f"recorded (sha256 {p.digest}, recorded {e['sha256']})")
                if p.name != e["name"]:
                    raise TraceError(f"{path}: patch file {e['file']} now defines "
                                     f"{p.name!r}, the trace says {e['name']!r}")
            else:
                from ..patches import get_patch
                p = get_patch(e["name"])
            patches.append(p)
    except LookupFailure as e:
        raise TraceError(f"{path}: {e}") from None
    except PatchError as e:
        raise TraceError(f"{path}: {e}") from None
    return fam, sc, patches, dict(tr["settings"])
