"""Trace files: the schedule of a failing run plus everything needed to
rebuild the run, as JSON with a versioned schema (never pickle).

Schema ``foliolab-trace/1``::

    {
      "schema": "foliolab-trace/1",
      "foliolab": "0.1.0",                      # foliolab.__version__
      "scenario": "readd-after-drain", "family": "lru_cache",
      "variant": "v0",                          # null: patches given by hand
      "label": "v0+my-fix",                     # variant + user patches (by name)
      "patches": [{"name": "lru-cache-disable"},
                  {"name": "my-fix", "file": "/home/me/my_fix.py", "sha256": "1f0c...",
                   "source": "from foliolab.engine.kernel import Patch\n..."}],
      "family_source": null | {"file": "/home/me/my_family.py",
                               "sha256": "...", "text": "..."},
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
      "nondeterminism": null | "what diverged", # the failure did not replay
      "provenance": {"foliolab": "0.1.0", "model_hash": "0815e9f4de57",
                     "era": "v5.12", "kernel": "v5.12", "ncpus": 2,
                     "preempt_kconfig": "CONFIG_PREEMPT", "memory_model": "tso"}
    }

``sha256`` is the (16-hex-digit prefix of the) SHA-256 of the user's patch
file, as :func:`foliolab.patches.load_patch_file` computes it.

A trace is self-contained: it embeds the text of every user file the run
depends on -- the family file of a family from outside the package
(``family_source``) and every user patch (``source``) -- with its hash.
Replay runs the recorded text, from any directory, with no environment
variable, and says so when the file on disk has changed since; the model
itself is identified by ``provenance.model_hash``, and a run that no longer
replays on a changed model is reported as that, not as nondeterminism.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile

from ..provenance import provenance, version
from .run import InputError
from .registry import (
    variant_label, LookupFailure, PatchError, families_from_source, family_source,
    find_family, find_scenario, find_variant, variant_patches,
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
            e["file"] = os.path.abspath(p.source)
            e["sha256"] = getattr(p, "digest", None)
            if getattr(p, "text", None) is not None:
                e["source"] = p.text
        out.append(e)
    return out


def make_trace(*, scenario, family, variant, patches, settings, strategy,
               seed, schedule_index, failure, tasks, schedule, shrunk=None,
               nondeterminism=None):
    fsrc = None
    try:
        fsrc = family_source(find_family(family)) if family else None
    except LookupFailure:
        pass
    return {
        "schema": SCHEMA,
        "foliolab": version(),
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
        "provenance": provenance(settings, getattr(scenario, "era", None)),
        "family_source": ({"file": os.path.abspath(fsrc["file"]), "sha256": fsrc["sha256"],
                           "text": fsrc["text"]} if fsrc else None),
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


# What a trace file may be, before anything in it is used: its size, how
# deep it nests, its text, then its shape (TRACE_SCHEMA, checked with
# jsonschema), then what the schema cannot say (task ids in range).
MAX_TRACE_BYTES = 64 << 20      # a 20,000-step trace takes about 100 KB
MAX_TRACE_DEPTH = 16            # a valid trace nests 4 deep
MAX_TASKS = 10_000
SEED_MAX = 2**64 - 1

_INT = {"type": "integer"}
_NAT = {"type": "integer", "minimum": 0}
_NAME = {"type": "string", "minLength": 1, "maxLength": 1000}
_SCHEDULE = {"type": "array", "items": _NAT, "minItems": 1}
_FAILURE = {
    "type": "object",
    "required": ["kind", "message", "step"],
    "properties": {
        "kind": _NAME, "message": {"type": "string"},
        "task": {"type": ["string", "null"]}, "step": _NAT,
        "property": {"type": ["string", "null"]},
    },
}
_TASKS = {"type": "array", "items": {"type": "string"}, "maxItems": MAX_TASKS}
TRACE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": SCHEMA,
    "type": "object",
    "required": ["schema", "scenario", "family", "patches", "settings", "strategy",
                 "tasks", "schedule"],
    "properties": {
        "schema": {"const": SCHEMA},
        "foliolab": {"type": ["string", "null"]},
        "scenario": _NAME,
        "family": _NAME,
        "variant": {"oneOf": [_NAME, {"type": "null"}]},
        "label": {"type": ["string", "null"]},
        "patches": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": _NAME, "file": _NAME,
                               "sha256": {"type": "string", "pattern": "^[0-9a-f]{16,64}$"},
                               "source": {"type": "string", "maxLength": 4 << 20}},
                "dependentRequired": {"file": ["sha256"]},
            },
        },
        "settings": {
            "type": "object",
            "propertyNames": {"maxLength": 100},
            "additionalProperties": {"type": ["integer", "number", "string", "boolean"]},
        },
        "strategy": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": _NAME,
                "depth": {"type": "integer", "minimum": 1},
                "preemptions": {"type": ["integer", "null"], "minimum": 0},
                "budget": {"type": ["integer", "null"], "minimum": 1},
            },
        },
        "seed": {"type": ["integer", "null"], "minimum": 0, "maximum": SEED_MAX},
        "schedule_index": {"type": ["integer", "null"], "minimum": 1},
        "failure": {"oneOf": [_FAILURE, {"type": "null"}]},
        "tasks": _TASKS,
        "schedule": _SCHEDULE,
        "shrunk": {"oneOf": [{"type": "null"}, {
            "type": "object",
            "required": ["schedule", "failure"],
            "properties": {
                "schedule": _SCHEDULE, "failure": _FAILURE, "tasks": _TASKS,
                "steps": _NAT, "preemptions": _NAT,
                "preemption_steps": {"type": "array", "items": _NAT},
                "original_preemptions": {"type": ["integer", "null"], "minimum": 0},
            },
        }]},
        "nondeterminism": {"type": ["string", "null"]},
        # the text of a user family's file, embedded: the trace replays anywhere
        "family_source": {"oneOf": [{"type": "null"}, {
            "type": "object",
            "required": ["file", "sha256", "text"],
            "properties": {"file": _NAME,
                           "sha256": {"type": "string", "pattern": "^[0-9a-f]{16,64}$"},
                           "text": {"type": "string", "maxLength": 4 << 20}},
        }]},
        # informative: the model hash, the kernel era, the machine in Kconfig terms
        "provenance": {"type": "object"},
        # the /proc/vmstat delta of the shown run (the shrunk one, if any)
        "vmstat_delta": {"type": "object"},
    },
}

_validator = None


def _schema_validator():
    global _validator
    if _validator is None:
        import jsonschema
        cls = jsonschema.validators.validator_for(TRACE_SCHEMA)
        cls.check_schema(TRACE_SCHEMA)
        _validator = cls(TRACE_SCHEMA)
    return _validator


def _short(text, n=160):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[:n - 3] + "..."


def _read_text(path):
    """The file's text: a regular file (a FIFO, a device, a directory is
    refused without blocking), at most MAX_TRACE_BYTES, UTF-8."""
    import stat
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TraceError(f"{path}: not a regular file")
        if st.st_size > MAX_TRACE_BYTES:
            raise TraceError(f"{path}: {st.st_size} bytes: a trace is at most "
                             f"{MAX_TRACE_BYTES} bytes")
        chunks = []
        size = 0
        while size <= MAX_TRACE_BYTES:
            b = os.read(fd, 1 << 20)
            if not b:
                break
            chunks.append(b)
            size += len(b)
    except OSError as e:
        raise TraceError(f"{path}: cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if size > MAX_TRACE_BYTES:
        raise TraceError(f"{path}: a trace is at most {MAX_TRACE_BYTES} bytes")
    try:
        return b"".join(chunks).decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(f"{path}: not a JSON trace (not UTF-8 text: byte {e.start})") from None


def _check_depth_and_text(path, tr):
    """Nesting depth at most MAX_TRACE_DEPTH; every string encodable
    (no lone surrogate from a \\ud800 escape)."""
    stack = [(tr, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_TRACE_DEPTH:
            raise TraceError(f"{path}: malformed trace: nested deeper than {MAX_TRACE_DEPTH}")
        if isinstance(v, dict):
            for key, x in v.items():
                _check_text(path, key)
                if isinstance(x, (dict, list)):
                    stack.append((x, d + 1))
                elif isinstance(x, str):
                    _check_text(path, x)
        elif isinstance(v, list):
            for x in v:
                if isinstance(x, (dict, list)):
                    stack.append((x, d + 1))
                elif isinstance(x, str):
                    _check_text(path, x)


def _check_text(path, s):
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        raise TraceError(f"{path}: malformed trace: a string with a lone surrogate "
                         f"({_short(ascii(s), 60)})") from None


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_schedule(path, name, sched, ntasks):
    _need(isinstance(sched, list), path, f"{name} is not a list")
    for x in sched:
        _need(_is_int(x) and 0 <= x < ntasks, path,
              f"{name} has an entry {x!r} that is not a task id")


def load_trace(path):
    """Read and validate a trace file: the dict, or :class:`TraceError`."""
    text = _read_text(path)
    try:
        tr = json.loads(text)
    except RecursionError:
        raise TraceError(f"{path}: malformed trace: nested deeper than "
                         f"{MAX_TRACE_DEPTH}") from None
    except ValueError as e:
        raise TraceError(f"{path}: not a JSON trace ({_short(e)})") from None
    _need(isinstance(tr, dict), path, "not a JSON object")
    schema = tr.get("schema")
    if schema != SCHEMA:
        raise TraceError(f"{path}: unsupported trace schema {_short(repr(schema), 60)} "
                         f"(this foliolab reads {SCHEMA!r})")
    _check_depth_and_text(path, tr)
    err = None
    try:
        import jsonschema
        err = jsonschema.exceptions.best_match(_schema_validator().iter_errors(tr))
    except RecursionError:
        raise TraceError(f"{path}: malformed trace: nested too deeply") from None
    if err is not None:
        where = "/".join(str(p) for p in err.absolute_path) or "the top level"
        msg = err.message
        if len(msg) > 160:          # the message starts with the instance: keep it short
            msg = (f"{_short(repr(err.instance), 40)} fails {err.validator} "
                   f"{_short(repr(err.validator_value), 60)}")
        raise TraceError(f"{path}: malformed trace: at {where}: {_short(msg)}")
    _check_schedule(path, "schedule", tr["schedule"], len(tr["tasks"]))
    f = tr.get("failure")
    # a failure is recorded at the step the run ended: the schedule's length
    _need(f is None or f["step"] == len(tr["schedule"]), path,
          f"the failure is at step {f and f['step']}, the schedule has "
          f"{len(tr['schedule'])} steps")
    sh = tr.get("shrunk")
    if sh is not None:
        _check_schedule(path, "shrunk schedule", sh["schedule"],
                        len(sh.get("tasks", tr["tasks"])))
        _need(sh["failure"]["step"] == len(sh["schedule"]), path,
              f"the shrunk failure is at step {sh['failure']['step']}, the shrunk "
              f"schedule has {len(sh['schedule'])} steps")
    return tr


def _sha(text):
    import hashlib
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _file_digest(path):
    import hashlib
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:16]
    except OSError:
        return None


def _resolve_family(tr, path, notes):
    """(family, scenario): the recorded family file's text when the trace
    embeds one (the local family of that name when it is the same file),
    else a family this process knows."""
    src = tr.get("family_source")
    try:
        fam, sc = find_scenario(tr["scenario"])
    except LookupFailure as e:
        if not src:
            raise TraceError(f"{path}: {e}") from None
        fam = sc = None
    if src:
        if _sha(src["text"]) != src["sha256"]:
            raise TraceError(f"{path}: malformed trace: the embedded family file "
                             f"{src['file']} does not match its sha256")
        local = family_source(fam) if fam is not None else None
        if local is not None and local["sha256"] == src["sha256"]:
            return fam, sc
        disk = _file_digest(src["file"])
        if disk is not None and disk != src["sha256"]:
            notes.append(f"family file {src['file']} changed since the trace was recorded "
                         f"(sha256 {disk}, recorded {src['sha256']}): replaying the "
                         f"recorded family")
        try:
            fams = families_from_source(src["text"], src["file"])
        except LookupFailure as e:
            raise TraceError(f"{path}: {e}") from None
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            raise TraceError(f"{path}: the trace's family file {src['file']} raised "
                             f"{type(e).__name__}: {e}") from None
        for f in fams:
            if f.name == tr["family"] and f.scenario(tr["scenario"]) is not None:
                return f, f.scenario(tr["scenario"])
        raise TraceError(f"{path}: unknown scenario {tr['scenario']!r}: the trace's family "
                         f"file {src['file']} has none in family {tr['family']}")
    return fam, sc


def resolve_trace(tr, path="trace", notes=None):
    """(family, scenario, patches, settings) of a loaded trace; unknown
    names and a changed variant raise :class:`TraceError`.  Embedded user
    files (family, patches) are run as recorded; ``notes`` receives one
    line for each such file that changed on disk since."""
    notes = [] if notes is None else notes
    fam, sc = _resolve_family(tr, path, notes)
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
            if "file" in e and "source" in e:
                from ..patches import load_patch_source
                if _sha(e["source"]) != e["sha256"]:
                    raise TraceError(f"{path}: malformed trace: the embedded patch "
                                     f"{e['file']} does not match its sha256")
                disk = _file_digest(e["file"])
                if disk is not None and disk != e["sha256"]:
                    notes.append(f"patch file {e['file']} changed since the trace was "
                                 f"recorded (sha256 {disk}, recorded {e['sha256']}): "
                                 f"replaying the recorded patch")
                p = load_patch_source(e["source"], e["file"])
                if p.name != e["name"]:
                    raise TraceError(f"{path}: the embedded patch {e['file']} defines "
                                     f"{p.name!r}, the trace says {e['name']!r}")
            elif "file" in e:
                # a trace of foliolab before traces embedded their patches
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
