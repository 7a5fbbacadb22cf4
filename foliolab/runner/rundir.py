"""The run directory: what a long command has finished, on disk as it
finishes.

    RUN/run.json        the command line and a fingerprint of its work,
                        written once (temporary name, fsync, rename)
    RUN/results.jsonl   one line per finished unit: {"key", "summary", "data"}
                        appended with one write() on an O_APPEND descriptor
                        and fsync'd before the next unit is taken

``summary`` is the unit's result as JSON for people and scripts (a cell's
``to_json()``, a run's counters); ``data`` is the result itself (pickle,
base64) that ``--resume`` gives back to the command, so a resumed table is
the table the uninterrupted run would have printed.  A line cut short by a
crash (no newline at the end of the file) is the unit not finished: it is
ignored and its unit runs again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pickle

RUN_SCHEMA = "foliolab-run/1"


class RunDirError(Exception):
    """A run directory that cannot be used (one line, exit 2)."""


def write_json_atomic(path, obj):
    """Temporary name, fsync, rename, fsync of the directory: a trace's
    write (explore/trace.py) serves any JSON document."""
    from ..explore.trace import write_trace
    write_trace(obj, path)


def load_header(path):
    """The run.json of run directory ``path``, checked; RunDirError if it
    is not a run directory foliolab wrote."""
    f = os.path.join(path, "run.json")
    if not os.path.isdir(path):
        raise RunDirError(f"--resume {path}: not a directory")
    try:
        with open(f) as fh:
            hdr = json.load(fh)
    except FileNotFoundError:
        raise RunDirError(f"--resume {path}: no run.json (not a foliolab run directory)") from None
    except (OSError, ValueError) as e:
        raise RunDirError(f"--resume {path}: run.json unreadable: {e}") from None
    if not isinstance(hdr, dict) or hdr.get("schema") != RUN_SCHEMA \
            or not isinstance(hdr.get("argv"), list) \
            or not all(isinstance(a, str) for a in hdr["argv"]) \
            or not isinstance(hdr.get("fingerprint"), str):
        raise RunDirError(f"--resume {path}: run.json is not a {RUN_SCHEMA} header")
    return hdr


class RunDir:
    """A run directory being written (see the module docstring)."""

    def __init__(self, path, command, argv, fingerprint, resume=False, made=False):
        self.path = path
        self.results_path = os.path.join(path, "results.jsonl")
        self.done = {}
        self.prefix = ""                 # the command's key prefix (reproduce: the family)
        if resume:
            hdr = load_header(path)
            if hdr.get("command") != command or hdr["fingerprint"] != fingerprint:
                raise RunDirError(
                    f"--resume {path}: the run was made by `foliolab {' '.join(hdr['argv'])}`, "
                    f"another computation (resume it with that command line)")
            self.done = self._load()
        else:
            try:
                os.makedirs(path, exist_ok=made)
            except FileExistsError:
                raise RunDirError(f"--run-dir {path}: already exists") from None
            except OSError as e:
                raise RunDirError(f"--run-dir {path}: {e.strerror}") from None
            from .. import __version__
            write_json_atomic(os.path.join(path, "run.json"), {
                "schema": RUN_SCHEMA, "command": command, "argv": list(argv),
                "fingerprint": fingerprint, "foliolab": __version__})
        try:
            self.fd = os.open(self.results_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise RunDirError(f"{path}: {e.strerror}") from None
        if resume:
            self._trim_torn_tail()

    def _load(self):
        done = {}
        try:
            with open(self.results_path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            return done
        lines = data.split(b"\n")
        # the last piece has no newline: a line being written when the run
        # died (or empty); its unit runs again
        for n, line in enumerate(lines[:-1], 1):
            try:
                rec = json.loads(line)
                key = rec["key"]
                obj = pickle.loads(base64.b64decode(rec["data"]))
            except Exception:
                raise RunDirError(f"--resume {self.path}: results.jsonl line {n} is "
                                  f"malformed") from None
            done[key] = obj
        return done

    def _trim_torn_tail(self):
        size = os.path.getsize(self.results_path)
        if not size:
            return
        with open(self.results_path, "rb") as f:
            data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep != len(data):
            os.truncate(self.results_path, keep)

    def append(self, key, result, summary=None):
        rec = {"key": key, "summary": summary,
               "data": base64.b64encode(pickle.dumps(result)).decode("ascii")}
        line = (json.dumps(rec, default=str) + "\n").encode()
        os.write(self.fd, line)          # one write, O_APPEND: whole lines
        os.fsync(self.fd)

    def close(self):
        with contextlib.suppress(OSError):
            os.close(self.fd)


def fingerprint(command, params):
    import hashlib
    text = json.dumps({"command": command, "params": params}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_run_path(parent, command):
    """A fresh directory under ``parent``, made here: the command, then the
    first free number (mkdir decides: two runs never share one)."""
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise RunDirError(f"--run-dir {parent}: {e.strerror}") from None
    n = 1
    while True:
        p = os.path.join(parent, f"{command}-{n}")
        try:
            os.mkdir(p)
            return p
        except FileExistsError:
            n += 1
        except OSError as e:
            raise RunDirError(f"--run-dir {parent}: {e.strerror}") from None
