"""Issue 14: bad input is the user's error.  Generated command lines, patch files and
mutated trace files, run in this process (foliolab.cli.run), must never
end in a traceback or an internal error: exit 0, 1 or 2, and an input
error (2) is one line on stderr; a failure explore finds is never lost
(its trace is on disk, or its schedule on stdout).  A mutated trace may also replay to a
different outcome, which foliolab can only call NONDETERMINISM (3) -- but
never "internal error".

A fixed seed (derandomize) and a bounded number of examples keep it
deterministic and quick in CI; FOLIOLAB_FUZZ_EXAMPLES runs it longer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
TOY = os.path.join(HERE, "toy_family.py")
SCALE = int(os.environ.get("FOLIOLAB_FUZZ_EXAMPLES", "0")) or None

def fuzz(n):
    return settings(derandomize=True, database=None, deadline=None, max_examples=SCALE or n,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def toy_family():
    old = os.environ.get("FOLIOLAB_FAMILIES")
    os.environ["FOLIOLAB_FAMILIES"] = TOY
    yield
    if old is None:
        os.environ.pop("FOLIOLAB_FAMILIES", None)
    else:
        os.environ["FOLIOLAB_FAMILIES"] = old


def run_cli(args):
    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run(list(args))
    return rc, out.getvalue(), err.getvalue()


def check_contract(args, rc, out, err, allowed=(0, 1, 2)):
    what = (args, rc, out[-2000:], err)
    assert "Traceback" not in out + err, what
    assert "internal error" not in err, what
    assert rc in allowed, what
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("foliolab: error: "), what
    if rc == 3:
        assert "nondeterminism" in out.lower(), what


# ------------------------------------------------------------ command lines
SCENARIOS = ["lost-update", "abba", "sb-tso", "sb-sc", "busy-cpu-flush", "nope", ""]
WEIRD_TEXT = st.text(alphabet=string.printable + "\u00e9\ud7ff\u2028", max_size=12)
NUMBERS = st.one_of(st.integers(-3, 70), st.sampled_from([2**63, 2**64, 10**30, -2**64]),
                    st.just("0x10"), st.just("1e3"), st.just(""), WEIRD_TEXT)
SETTING_KEYS = ["ncpus", "preempt", "memory_model", "fair_bound", "max_steps",
                "hung_task_steps", "pagevec_size", "pageblock_order", "zone_pages", "bogus", ""]
SETTING_VALUES = st.one_of(NUMBERS, st.sampled_from(["none", "full", "voluntary", "sc", "tso",
                                                     "true", "x", "1024", "4096"]))


@st.composite
def setting(draw):
    if draw(st.integers(0, 9)) == 0:
        return draw(WEIRD_TEXT)
    return f"{draw(st.sampled_from(SETTING_KEYS))}={draw(SETTING_VALUES)}"


@st.composite
def explore_args(draw, trace_dir):
    args = ["explore"]
    if draw(st.integers(0, 9)):
        args.append(draw(st.sampled_from(SCENARIOS)))
    args += ["--trace-dir", draw(st.sampled_from([trace_dir, trace_dir, "/dev/null", "/proc/x",
                                                  ""]))]
    # a bounded search: the budget is always small
    args += ["--budget", str(draw(st.integers(1, 15)))]
    for _ in range(draw(st.integers(0, 4))):
        opt = draw(st.sampled_from(["--variant", "--strategy", "--seed", "--depth",
                                    "--preemptions", "--set", "--all", "--json", "--full",
                                    "--events", "--no-shrink", "--bogus", "-n"]))
        if opt == "--variant":
            args += [opt, draw(st.sampled_from(["racy", "locked", "", "v0", "nope"]))]
        elif opt == "--strategy":
            args += [opt, draw(st.sampled_from(["random", "pct", "sticky", "pos", "portfolio",
                                                "dfs", "bfs", ""]))]
        elif opt in ("--seed", "--depth", "--preemptions"):
            v = draw(NUMBERS)
            if opt == "--preemptions" and isinstance(v, int) and v > 3:
                v = 3               # a DFS bound beyond 3 is legal but slow
            args += [opt, str(v)]
        elif opt == "-n":
            args += [opt, str(draw(st.one_of(st.integers(-2, 15), WEIRD_TEXT)))]
        elif opt == "--set":
            args += [opt, draw(setting())]
        else:
            args.append(opt)
    return args


@st.composite
def other_args(draw, trace_dir, trace):
    cmd = draw(st.sampled_from(["compare", "replay", "list", "reproduce", "measure",
                                "frobnicate", "--version", "--help", ""]))
    if cmd == "compare":
        args = ["compare", draw(st.sampled_from(["lost-update", "sb-sc", "nope", ""])),
                "-n", str(draw(st.integers(1, 3))), "--dfs-budget", "30", "-j", "1",
                "--trace-dir", trace_dir]
        if draw(st.booleans()):
            args += ["--variant", draw(st.sampled_from(["racy", "locked", "", "nope"]))]
        if draw(st.booleans()):
            args += ["--set", draw(setting())]
        if draw(st.booleans()):
            args += ["--seed", str(draw(NUMBERS))]
        return args
    if cmd == "replay":
        args = ["replay", draw(st.sampled_from([trace, trace_dir, "/dev/null", "missing.json",
                                                ""]))]
        return args + draw(st.lists(st.sampled_from(["--json", "--events", "--full",
                                                     "--original", "--bogus"]), max_size=3))
    if cmd == "reproduce":
        # every family's every cell is minutes: only the refusals
        return ["reproduce", "--family", draw(st.sampled_from(["nope", ""])), "-n", "1"]
    if cmd == "measure":
        # a valid measure runs seconds: only the refusals
        return ["measure", draw(st.sampled_from(["minchan-2021", "nope"])), "--set",
                draw(st.sampled_from(["bogus=1", "ncpus=0", "zone_pages=1099511627776",
                                      "ncpus=x", "pageblock_order=0"])),
                "--seeds", "1", "-j", "1"]
    if cmd == "list":
        return ["list"] + draw(st.lists(st.sampled_from(["--json", "--bogus"]), max_size=2))
    return [cmd] if cmd else []


@pytest.fixture(scope="module")
def failing_trace(tmp_path_factory):
    d = tmp_path_factory.mktemp("traces")
    rc, out, err = run_cli(["explore", "lost-update", "--json", "--trace-dir", str(d)])
    assert rc == 1, (out, err)
    return json.loads(out)["trace"]


def test_generated_command_lines_keep_the_exit_code_contract(tmp_path_factory, failing_trace):
    trace_dir = str(tmp_path_factory.mktemp("fuzz-traces"))

    @fuzz(500)
    @given(st.one_of(explore_args(trace_dir), other_args(trace_dir, failing_trace)))
    def check(args):
        rc, out, err = run_cli(args)
        check_contract(args, rc, out, err)
        if rc == 1 and args[0] == "explore":
            # no failure found is lost: its trace, or its schedule on stdout
            if "--json" in args:
                d = json.loads(out)
                assert (d["trace"] and os.path.exists(d["trace"])) or d.get("schedule"), args
            else:
                m = re.search(r"replay: foliolab replay (\S+)", out)
                assert (m and os.path.exists(m.group(1))) or "trace not written" in out, args

    check()


# ---------------------------------------------------------------- trace files
JSON_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
              st.floats(allow_nan=False), st.text(max_size=8),
              st.sampled_from(["\ud800", "A", "B", "racy", "lost-update", "toy", "property"])),
    lambda inner: st.one_of(st.lists(inner, min_size=1, max_size=4),
                            st.dictionaries(st.text(max_size=6), inner, min_size=1,
                                            max_size=4)),
    max_leaves=12)


def _paths(v, prefix=()):
    yield prefix
    if isinstance(v, dict):
        for k, x in v.items():
            yield from _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for i, x in enumerate(v[:6]):
            yield from _paths(x, prefix + (i,))


def _set(v, path, value, delete=False):
    for p in path[:-1]:
        v = v[p]
    if delete:
        if isinstance(v, dict):
            del v[path[-1]]
        else:
            v.pop(path[-1])
    else:
        v[path[-1]] = value


@st.composite
def mutated_trace(draw, original):
    """A structured mutation of a real trace (a value replaced, a key
    deleted, a list emptied or lengthened), or its bytes cut or flipped."""
    tr = json.loads(original)
    kind = draw(st.sampled_from(["replace", "replace", "replace", "delete", "bytes", "truncate",
                                 "deep"]))
    if kind in ("replace", "delete"):
        paths = [p for p in _paths(tr) if p]
        for _ in range(draw(st.integers(1, 3))):
            path = draw(st.sampled_from(paths))
            try:
                _set(tr, path, draw(JSON_VALUES), delete=(kind == "delete"))
            except (KeyError, IndexError, TypeError):
                pass
            paths = [p for p in _paths(tr) if p]
        return json.dumps(tr).encode("utf-8", "surrogatepass")
    data = original.encode()
    if kind == "bytes":
        b = bytearray(data)
        for _ in range(draw(st.integers(1, 8))):
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        return bytes(b)
    if kind == "truncate":
        return data[:draw(st.integers(0, len(data) - 1))]
    n = draw(st.integers(10, 5000))
    return ("[" * n + "]" * n).encode() if draw(st.booleans()) else ('{"a":' * n + "1" + "}" * n).encode()


def test_mutated_trace_files_keep_the_exit_code_contract(tmp_path_factory, failing_trace):
    original = open(failing_trace).read()
    d = tmp_path_factory.mktemp("mutated")

    @fuzz(500)
    @given(mutated_trace(original), st.sampled_from([(), ("--json",), ("--original",)]))
    def check(data, extra):
        path = d / "t.json"
        path.write_bytes(data)
        args = ["replay", str(path), *extra]
        rc, out, err = run_cli(args)
        check_contract(args, rc, out, err, allowed=(0, 1, 2, 3))

    check()


# ---------------------------------------------------------------- patch files
# the well-formed choice first and most often: most files get past loading
PATCH_NAMES = ["'fix'"] * 6 + ["''", "123", "None", "'a\\nb'", "'x' * 3"]
TARGETS = ["'counter_inc'"] * 6 + ["'no_such_function'", "'lru_add_drain_all'", "''", "42"]
STATEMENTS = ["yield 'a'", "yield 42", "yield None", "k.counter += 1",
              "v = k.counter", "k.counter = v + 1", "yield from k.fn.counter_inc()",
              "yield from k.fn.no_such()", "return 3", "raise ValueError('x')",
              "raise GeneratorExit", "import sys; sys.exit(0)", "import sys; sys.exit(5)",
              "raise type('Boom', (BaseException,), {})()", "k = None", "pass",
              "yield from orig()", "x = 1 / 0"]
PARAMS = ["k"] * 6 + ["", "k, orig", "k, x", "*args", "k, *, flag"]


@st.composite
def patch_source(draw):
    """A patch file from the grammar of real ones, with mistakes mixed in."""
    lines = ["from foliolab.engine.kernel import Patch"]
    if draw(st.integers(0, 9)) == 0:
        lines.append(draw(st.sampled_from(["import sys; sys.exit(0)", "raise KeyError('k')",
                                           "this is not python", "PATCH = 3"])))
    lines.append(f"PATCH = Patch({draw(st.sampled_from(PATCH_NAMES))}, title='t', summary='s')")
    for i in range(draw(st.integers(0, 2))):
        how = draw(st.sampled_from(["replaces", "wraps", "adds", "init"]))
        lines.append("@PATCH.init" if how == "init"
                     else f"@PATCH.{how}({draw(st.sampled_from(TARGETS))})")
        lines.append(f"def f{i}({draw(st.sampled_from(PARAMS))}):")
        body = draw(st.lists(st.sampled_from(STATEMENTS), min_size=1, max_size=4))
        lines += [f"    {s}" for s in body]
    return "\n".join(lines) + "\n"


def test_generated_patch_files_keep_the_exit_code_contract(tmp_path_factory):
    d = tmp_path_factory.mktemp("patches")
    traces = str(tmp_path_factory.mktemp("patch-traces"))

    @fuzz(150)
    @given(patch_source(), st.sampled_from([("-s", "random", "-n", "5"), ("-s", "dfs", "-n", "5"),
                                            ("-n", "3", "--json")]))
    def check(src, extra):
        path = d / "fix.py"
        path.write_text(src)
        args = ["explore", "lost-update", "--patch", str(path), "--trace-dir", traces,
                "--watchdog", "2", *extra]
        rc, out, err = run_cli(args)
        what = (src, args, rc, out[-1500:], err)
        assert "Traceback" not in out + err and "internal error" not in err, what
        assert rc in (0, 1, 2, 3), what
        if rc == 2:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("foliolab: error: "), what
        if rc == 3:
            # the user's file is named: the patch raised there, or the model
            # raised with it applied
            assert str(path) in out, what

    check()
