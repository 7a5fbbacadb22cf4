"""The foliolab command, run as users run it (separate processes), on the
toy family (loaded through FOLIOLAB_FAMILIES)."""

from __future__ import annotations

import json
import re
import os
import signal
import subprocess
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOY = os.path.join(HERE, "toy_family.py")


def foliolab(*args, env=None, timeout=300, cwd=None):
    e = dict(os.environ, FOLIOLAB_FAMILIES=TOY)
    e.pop("FOLIOLAB_DEBUG", None)
    if env:
        e.update(env)
    return subprocess.run([sys.executable, "-m", "foliolab.cli", *args], capture_output=True,
                          text=True, env=e, timeout=timeout, cwd=cwd or ROOT)


def one_line_error(p):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("foliolab: error: "), p.stderr
    assert "Traceback" not in p.stderr
    return lines[0]


def test_list_shows_families_variants_and_scenarios():
    p = foliolab("list")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "family toy" in out
    assert "locked  [counter-lock]" in out
    assert "lost-update: two CPUs increment a counter without a lock" in out
    assert "expected: racy bug (property), locked safe k<=2" in out
    j = json.loads(foliolab("list", "--json").stdout)
    toy = [f for f in j["families"] if f["family"] == "toy"][0]
    assert [v["name"] for v in toy["variants"]] == ["racy", "locked"]


def test_explore_finds_prints_and_traces_a_failure(tmp_path):
    p = foliolab("explore", "lost-update", "--variant", "racy", "--strategy", "pct",
                 "--seed", "3", "--trace-dir", str(tmp_path))
    assert p.returncode == 1, p.stderr
    out = p.stdout
    first = out.splitlines()[0]
    assert first.startswith("lost-update  variant racy  strategy pct(d=2) seed 3  schedule ")
    assert "counter_inc: load counter = 0" in out
    assert 'FAILED  property "counter == 2": counter is 1 after two increments' in out
    assert "shrunk: 1 preemption (step " in out
    trace = tmp_path / "lost-update.racy.pct.3.json"
    assert f"replay: foliolab replay {trace}" in out
    assert trace.exists()
    assert p.stderr == ""          # no progress bar when stderr is not a tty


def test_explore_json(tmp_path):
    p = foliolab("explore", "lost-update", "--strategy", "random", "--seed", "2", "--json",
                 "--trace-dir", str(tmp_path))
    assert p.returncode == 1
    d = json.loads(p.stdout)
    assert d["outcome"] == "failure"
    assert d["kind"] == "property"
    assert d["message"] == "counter is 1 after two increments"
    assert d["trace"] == str(tmp_path / "lost-update.racy.random.2.json")
    assert d["schedules"] >= 1 and d["seconds"] >= 0 and d["steps"] > 0
    assert d["variant"] == "racy"
    p = foliolab("explore", "lost-update", "-V", "locked", "-s", "dfs", "--json")
    assert p.returncode == 0
    d = json.loads(p.stdout)
    assert d["outcome"] == "certified"
    assert d["certificate"].startswith("no failure within 2 preemptions (")
    p = foliolab("explore", "sb-sc", "-s", "random", "-n", "50", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["outcome"] == "no-failure"


def test_explore_dfs_certificate_and_budget_cut():
    p = foliolab("explore", "lost-update", "-V", "locked", "-s", "dfs", "-k", "2")
    assert p.returncode == 0, p.stderr
    assert "no failure within 2 preemptions (" in p.stdout
    p = foliolab("explore", "lost-update", "-V", "locked", "-s", "dfs", "-n", "2")
    assert p.returncode == 0
    assert "cut by the budget of 2 schedules: no certificate" in p.stdout
    p = foliolab("explore", "lost-update", "-s", "dfs", "-k", "0")
    assert p.returncode == 0
    assert "no failure within 0 preemptions (" in p.stdout and "): 2 schedules" in p.stdout


def test_explore_with_settings_and_events(tmp_path):
    p = foliolab("explore", "sb-tso", "--set", "memory_model=sc", "-s", "dfs", "--json")
    assert p.returncode == 0
    assert json.loads(p.stdout)["outcome"] == "certified"
    p = foliolab("explore", "lost-update", "--events", "--trace-dir", str(tmp_path))
    assert p.returncode == 1
    assert " counter_store: value=1" in p.stdout and "toy:counter_store" not in p.stdout
    assert "# tracer: nop" in p.stdout


def test_explore_count_mode(tmp_path):
    p = foliolab("explore", "lost-update", "-s", "random", "-n", "300", "--all", "--json",
                 "--trace-dir", str(tmp_path))
    assert p.returncode == 1
    d = json.loads(p.stdout)
    assert d["schedules"] == 300
    assert 0 < d["failures"] < 300
    lo, hi = d["failure_rate_ci95"]
    assert lo < d["failure_rate"] < hi


def test_replay_reproduces_in_another_process(tmp_path):
    p = foliolab("explore", "sb-tso", "-s", "random", "--seed", "4", "--json",
                 "--trace-dir", str(tmp_path))
    d = json.loads(p.stdout)
    assert d["outcome"] == "failure"
    r = foliolab("replay", d["trace"], env={"PYTHONHASHSEED": "77"})
    assert r.returncode == 1, r.stderr
    assert d["message"] in r.stdout
    assert "reproduced: same failure at step" in r.stdout
    assert "sb_thread: WRITE_ONCE(x, 1)" in r.stdout
    rj = json.loads(foliolab("replay", d["trace"], "--json").stdout)
    assert rj["outcome"] == "failure"
    assert rj["failure"] == d["failure"]
    ro = foliolab("replay", d["trace"], "--original")
    assert ro.returncode == 1 and "schedule" in ro.stdout.splitlines()[0]


def test_user_patch_column_and_explore(tmp_path):
    pf = tmp_path / "my_fix.py"
    pf.write_text(
        "from foliolab.engine.kernel import Patch\n"
        "from foliolab.engine.sync import atomic_t, atomic_inc\n"
        "PATCH = Patch('my-fix', title='atomic counter', summary='s')\n"
        "@PATCH.replaces('counter_inc')\n"
        "def counter_inc(k):\n"
        "    k.counter += 1\n"
        "    yield 'atomic increment'\n")
    p = foliolab("explore", "lost-update", "--patch", str(pf), "-s", "dfs", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert d["outcome"] == "certified" and d["label"] == "racy+my-fix"
    p = foliolab("compare", "lost-update", "--patch", str(pf), "-n", "50")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["toy", "racy", "locked", "racy+my-fix"]
    assert lines[1].split()[0] == "lost-update"
    cells = lines[1].split()[1:]
    assert cells[0] == "BUG" and re.fullmatch(r"@\d+", cells[1])
    assert cells[2:] == ["safe", "k<=2", "safe", "k<=2"]
    one_line_error(foliolab("explore", "lost-update", "--patch", str(tmp_path / "nope.py")))
    unknown = tmp_path / "unknown_fix.py"
    unknown.write_text(
        "from foliolab.engine.kernel import Patch\n"
        "PATCH = Patch('u', title='t', summary='s')\n"
        "@PATCH.replaces('no_such_function')\n"
        "def f(k):\n"
        "    yield 'x'\n")
    assert "no_such_function" in one_line_error(foliolab("explore", "lost-update",
                                                         "--patch", str(unknown)))
    crash = tmp_path / "crash_fix.py"
    crash.write_text(
        "from foliolab.engine.kernel import Patch\n"
        "PATCH = Patch('crash', title='t', summary='s')\n"
        "@PATCH.replaces('counter_inc')\n"
        "def counter_inc(k):\n"
        "    yield 'about to crash'\n"
        "    k.counter = k.counter + None\n")
    p = foliolab("explore", "lost-update", "--patch", str(crash))
    assert p.returncode == 3
    assert "TypeError" in p.stdout and "crash_fix.py" in p.stdout
    bad = tmp_path / "bad_fix.py"
    bad.write_text("PATCH = 3\n")
    assert "defines no PATCH" in one_line_error(foliolab("explore", "lost-update",
                                                          "--patch", str(bad)))


def test_compare_family_and_reproduce():
    p = foliolab("compare", "toy", "-n", "50")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["toy", "racy", "locked"]
    row = lines[3].split()
    assert row[:2] == ["busy-cpu-flush", "HANG"] and re.fullmatch(r"@\d+", row[2])
    assert row[3:] == ["-"]
    assert lines[-1].startswith("every cell as expected (the catalogue: foliolab list)")
    p = foliolab("reproduce", "--family", "toy", "-n", "50", "--json")
    assert p.returncode == 0
    d = json.loads(p.stdout)
    assert d["outcome"] == "as-expected"
    cells = d["families"][0]["cells"]
    assert len(cells) == 10 and all(c["as_expected"] for c in cells)
    p = foliolab("compare", "sb-tso", "-V", "racy")
    assert p.returncode == 0
    assert p.stdout.splitlines()[0].split() == ["toy", "racy"]


def test_input_errors_are_one_line_and_exit_2(tmp_path):
    assert "unknown scenario 'nope'" in one_line_error(foliolab("explore", "nope"))
    assert "unknown variant 'v9'" in one_line_error(foliolab("explore", "lost-update", "-V", "v9"))
    assert "--budget" in one_line_error(foliolab("explore", "lost-update", "--budget", "0"))
    assert "--depth" in one_line_error(foliolab("explore", "lost-update", "--depth", "0"))
    assert "--preemptions" in one_line_error(foliolab("explore", "lost-update",
                                                      "--preemptions", "-1"))
    assert "unknown setting" in one_line_error(foliolab("explore", "lost-update",
                                                        "--set", "bogus=1"))
    assert "expected an integer" in one_line_error(foliolab("explore", "lost-update",
                                                            "--set", "ncpus=two"))
    assert "ncpus=0" in one_line_error(foliolab("explore", "lost-update", "--set", "ncpus=0"))
    assert "expected key=value" in one_line_error(foliolab("explore", "lost-update",
                                                           "--set", "ncpus"))
    assert "preempt" in one_line_error(foliolab("explore", "lost-update",
                                                "--set", "preempt=sometimes"))
    one_line_error(foliolab("explore", "lost-update", "--strategy", "bfs"))
    one_line_error(foliolab("explore"))
    one_line_error(foliolab("frobnicate"))
    assert "unknown family or scenario 'nope'" in one_line_error(foliolab("compare", "nope"))
    assert "unknown family" in one_line_error(foliolab("reproduce", "--family", "nope"))
    # trace files
    bad = tmp_path / "bad.json"
    bad.write_text("{ this is not json")
    assert "not a JSON trace" in one_line_error(foliolab("replay", str(bad)))
    bad.write_text(json.dumps({"schema": "foliolab-trace/0"}))
    assert "unsupported trace schema" in one_line_error(foliolab("replay", str(bad)))
    assert "cannot read" in one_line_error(foliolab("replay", str(tmp_path / "missing.json")))
    p = foliolab("explore", "lost-update", "--json", "--trace-dir", str(tmp_path))
    trace = json.loads(p.stdout)["trace"]
    tr = json.loads(open(trace).read())
    tr["tasks"] = ["A", "Z"]
    bad.write_text(json.dumps(tr))
    assert "task" in one_line_error(foliolab("replay", str(bad)))
    tr["tasks"] = ["A", "B"]
    tr["scenario"] = "gone"
    bad.write_text(json.dumps(tr))
    assert "unknown scenario 'gone'" in one_line_error(foliolab("replay", str(bad)))


def test_bad_family_file_is_one_line(tmp_path):
    p = foliolab("list", env={"FOLIOLAB_FAMILIES": str(tmp_path / "none.py")})
    assert "no such file" in one_line_error(p)


def test_a_family_module_that_does_not_import_is_one_line():
    p = foliolab("list", env={"FOLIOLAB_FAMILIES": "no_such_family_module"})
    assert "FOLIOLAB_FAMILIES: no_such_family_module: ModuleNotFoundError" in one_line_error(p)
    p = foliolab("list", "--family", "no_such_family_module")
    assert ("--family no_such_family_module: not a file, and not an importable module "
            "(ModuleNotFoundError" in one_line_error(p))
    p = foliolab("list", env={"FOLIOLAB_FAMILIES": "json"})
    assert "FOLIOLAB_FAMILIES: json defines no FAMILY" in one_line_error(p)


def test_nondeterministic_trace_exits_3(tmp_path):
    p = foliolab("explore", "lost-update", "--json", "--no-shrink", "--trace-dir", str(tmp_path))
    trace = json.loads(p.stdout)["trace"]
    tr = json.loads(open(trace).read())
    tr["failure"]["message"] = "something else"
    bad = tmp_path / "nd.json"
    bad.write_text(json.dumps(tr))
    r = foliolab("replay", str(bad))
    assert r.returncode == 3
    assert "NONDETERMINISM" in r.stdout


def test_same_seed_same_trace_in_two_processes(tmp_path):
    outs = []
    for i, hs in enumerate(("1", "999")):
        d = tmp_path / f"run{i}"
        p = foliolab("explore", "sb-tso", "-s", "pct", "-d", "3", "--seed", "9", "--json",
                     "--trace-dir", str(d), env={"PYTHONHASHSEED": hs})
        tr = json.loads(open(json.loads(p.stdout)["trace"]).read())
        outs.append((tr["schedule"], tr["schedule_index"], tr["shrunk"]["schedule"]))
    assert outs[0] == outs[1]


def interrupted_run(args, trace_dir, *, settle=0.5):
    """Start foliolab in its own session with SIGINT *ignored* (as a shell
    running it in the background hands it down), wait until it has written
    a failure trace (it is running), send Ctrl-C, return (rc, out, err).
    Whatever happens, no process of the session outlives the test."""
    import contextlib
    e = dict(os.environ, FOLIOLAB_FAMILIES=TOY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "foliolab.cli", *args], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=e, cwd=ROOT, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        deadline = time.monotonic() + 120
        while not list(trace_dir.glob("*.json")):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no failure trace after 120 s"
            time.sleep(0.05)
        time.sleep(settle)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
def test_ctrl_c_keeps_failures_and_exits_130(tmp_path):
    rc, out, err = interrupted_run(
        ["explore", "lost-update", "-s", "random", "--all", "-n", "100000000", "--json",
         "--trace-dir", str(tmp_path)], tmp_path)
    assert rc == 130, (out, err)
    d = json.loads(out)
    assert d["interrupted"] is True
    assert d["failures"] > 0 and d["schedules"] > d["failures"]
    assert os.path.exists(d["trace"])
    assert "Traceback" not in err


def test_version_and_help():
    p = foliolab("--version")
    assert p.returncode == 0 and "foliolab" in p.stdout
    p = foliolab("explore", "--help")
    assert p.returncode == 0 and "--strategy" in p.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_during_compare_prints_the_cells_done_and_exits_130(tmp_path, jobs):
    rc, out, err = interrupted_run(
        ["compare", "toy", "-n", "100000000", "-j", jobs, "--trace-dir", str(tmp_path)],
        tmp_path, settle=1.5)
    assert rc == 130, (out, err)
    assert "Traceback" not in err
    lines = out.splitlines()
    assert lines[0].split() == ["toy", "racy", "locked"]
    assert lines[1].split()[:2] == ["lost-update", "BUG"]
    assert lines[-1].startswith("interrupted (Ctrl-C): only the cells shown were computed")
    assert "every cell as expected" not in out


def test_michals_sketch_as_a_user_patch_is_caught_with_default_settings(tmp_path):
    """Issue 5: the atomic-counter sketch tried as a user's patch was
    certified "safe k<=2" because readd-after-drain defaulted to SC.  Under
    the default (TSO) compare must catch it."""
    pf = tmp_path / "atomic_count.py"
    pf.write_text("from foliolab.patches.mhocko_atomic import *  # noqa\n"
                  "from foliolab.patches.mhocko_atomic import PATCH  # noqa\n")
    p = subprocess.run([sys.executable, "-m", "foliolab.cli", "compare", "readd-after-drain",
                        "--variant", "v0", "--patch", str(pf), "--json",
                        "--trace-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=900)
    d = json.loads(p.stdout)
    cells = {c["variant"]: c for c in d["families"][0]["cells"]}
    user = cells["v0+mhocko-atomic"]
    assert user["outcome"] == "bug", user
    assert user["settings"]["memory_model"] == "tso"


# ------------------------------------------------- issue 14: bad input is the user's error
def cli_in_process(*args, monkeypatch=None):
    """The command in this process (foliolab.cli.run): (rc, stdout, stderr)."""
    import contextlib
    import io

    from foliolab.cli import run
    out, err = io.StringIO(), io.StringIO()
    old = os.environ.get("FOLIOLAB_FAMILIES")
    os.environ["FOLIOLAB_FAMILIES"] = TOY
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = run(list(args))
    finally:
        if old is None:
            os.environ.pop("FOLIOLAB_FAMILIES", None)
        else:
            os.environ["FOLIOLAB_FAMILIES"] = old
    return rc, out.getvalue(), err.getvalue()


def one_line_error_in_process(*args):
    rc, out, err = cli_in_process(*args)
    assert rc == 2, (rc, out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("foliolab: error: "), err
    assert "Traceback" not in err + out
    return lines[0]


@pytest.mark.parametrize("setting, words", [
    ("pageblock_order=0", "pageblock_order=0: must be 1..10"),
    ("pageblock_order=-1", "pageblock_order=-1: must be 1..10"),
    ("pageblock_order=11", "pageblock_order=11: must be 1..10"),
    ("pageblock_order=100", "must be 1..10"),
    ("zone_pages=0", "zone_pages=0: must be 1024..1048576, a multiple of 1024"),
    ("zone_pages=-1024", "must be 1024..1048576"),
    ("zone_pages=1000", "a multiple of 1024"),
    ("zone_pages=1023", "a multiple of 1024"),
    ("zone_pages=1024", "readd-after-drain needs at least 2048"),
    ("ncpus=1", "ncpus=1: readd-after-drain needs at least 2"),
    ("ncpus=65", "ncpus=65: must be 1..64"),
    ("max_steps=0", "max_steps=0: must be 1.."),
])
def test_impossible_settings_are_input_errors(setting, words):
    """Issue 14 (1): impossible settings were "the model raised" (exit 3)."""
    assert words in one_line_error_in_process("explore", "readd-after-drain", "-n", "2",
                                              "--set", setting)


def test_unbounded_settings_and_parameters_are_refused():
    """Issue 14 (3, 4): a zone of 2**40 pages (13 GiB), a PCT depth of 2**63
    (a hang), a seed of 10**300 (a file name too long) are refused up front."""
    assert "zone_pages=1099511627776: must be 1024..1048576" in one_line_error_in_process(
        "explore", "readd-after-drain", "--set", "zone_pages=1099511627776")
    assert "--depth 9223372036854775808: must be 1..20000" in one_line_error_in_process(
        "explore", "lost-update", "-s", "pct", "--depth", "9223372036854775808")
    assert "--depth 1000000: must be 1..20000" in one_line_error_in_process(
        "explore", "lost-update", "-s", "pct", "--depth", "1000000")
    assert "--seed" in one_line_error_in_process("explore", "lost-update",
                                                 "--seed", str(10**300))
    assert "--seed" in one_line_error_in_process("explore", "lost-update",
                                                 "--seed", str(2**64))
    assert "--seed" in one_line_error_in_process("compare", "lost-update",
                                                 "--seed", str(2**64))
    assert "zone_pages" in one_line_error_in_process(
        "measure", "minchan-2021", "--set", "zone_pages=1099511627776")


def test_a_toy_scenario_states_the_cpus_it_needs():
    assert "lost-update needs at least 2" in one_line_error_in_process(
        "explore", "lost-update", "--set", "ncpus=1")


def test_a_scenario_that_does_not_state_its_cpus_still_gets_an_input_error():
    """A user's scenario without ``needs`` that spawns a task on a missing
    CPU: the settings are still the user's error."""
    from foliolab.explore import explore
    from foliolab.scenarios.base import SettingsError
    sys.path.insert(0, HERE)
    try:
        import toy_family
    finally:
        sys.path.remove(HERE)

    class Undeclared(toy_family.LostUpdate):
        needs = {}
    with pytest.raises(SettingsError, match="runs a task on cpu1, it needs at least 2"):
        explore(Undeclared(), "racy", [], "random", 2, 0, {"ncpus": 1}, None, False)


def _trace_of(tmp_path, *args):
    rc, out, err = cli_in_process("explore", *args, "--json", "--trace-dir", str(tmp_path))
    assert rc == 1, (rc, out, err)
    path = json.loads(out)["trace"]
    return path, json.loads(open(path).read())


@pytest.mark.parametrize("key, value", [("ncpus", 1), ("ncpus", 0), ("max_steps", 0),
                                        ("fair_bound", -1), ("preempt", "sometimes"),
                                        ("ncpus", True), ("bogus", 1)])
def test_a_trace_with_impossible_settings_is_malformed_not_nondeterminism(tmp_path, key, value):
    """Issue 14 (2): it said "NONDETERMINISM (a foliolab bug)"."""
    path, tr = _trace_of(tmp_path, "lost-update", "--no-shrink")
    tr["settings"][key] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tr))
    line = one_line_error_in_process("replay", str(bad))
    assert "NONDETERMINISM" not in line and key in line


def test_a_trace_with_impossible_mm_settings_is_malformed(tmp_path):
    path, tr = _trace_of(tmp_path, "readd-after-drain", "-n", "200", "--no-shrink")
    for key, value in (("pageblock_order", 0), ("zone_pages", 1000), ("zone_pages", 2**40)):
        t = json.loads(json.dumps(tr))
        t["settings"][key] = value
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps(t))
        assert f"{key}={value}" in one_line_error_in_process("replay", str(bad))


@pytest.mark.parametrize("where", ["/dev/null", "/proc/x", "file"])
@pytest.mark.parametrize("command", ["explore", "compare"])
def test_an_unusable_trace_dir_is_refused_before_the_search(tmp_path, where, command):
    """Issue 14 (4): "internal error" (exit 3) and nothing printed, after the
    search had found the failure."""
    if where == "file":
        where = str(tmp_path / "a-file")
        open(where, "w").close()
    line = one_line_error_in_process(command, "lost-update", "--trace-dir", where)
    assert f"--trace-dir {where}: " in line


def test_a_failure_whose_trace_cannot_be_written_is_printed(tmp_path, monkeypatch):
    """Issue 14 (4): if writing fails anyway, the failure and its schedule
    are on stdout and the exit status is still 1."""
    import errno

    from foliolab.explore import explorer

    def full_disk(trace, path):
        raise OSError(errno.ENOSPC, "No space left on device", path)
    monkeypatch.setattr(explorer, "write_trace", full_disk)
    rc, out, err = cli_in_process("explore", "lost-update", "-s", "random",
                                  "--trace-dir", str(tmp_path))
    assert rc == 1, (out, err)
    assert 'FAILED  property "counter == 2"' in out
    m = re.search(r"trace not written \(.*No space left on device\); the failing schedule "
                  r"\(task ids by step; tasks A, B\): ([0-9 ]+)", out)
    assert m, out
    assert "shrunk: " in out
    rc, out, err = cli_in_process("explore", "lost-update", "-s", "random", "--json",
                                  "--trace-dir", str(tmp_path))
    d = json.loads(out)
    assert rc == 1 and d["trace"] is None and "No space left" in d["trace_error"]
    assert d["schedule"] and d["tasks"] == ["A", "B"]


def test_a_failure_is_replayed_and_on_disk_when_found(tmp_path):
    """Issue 14 (12): in --all mode the failure was replayed (the
    nondeterminism check) only when the search ended; a flaky scenario now
    stops the count at its first failure, with the trace on disk."""
    sys.path.insert(0, HERE)
    try:
        import toy_family
    finally:
        sys.path.remove(HERE)
    from foliolab.explore import explore
    ex = explore(toy_family.FLAKY, "racy", [], "random", 500, 0, None, str(tmp_path), False,
                 mode="count", shrink=False, record=False)
    assert ex.outcome == "nondeterminism"
    assert ex.schedules < 5, ex.schedules
    tr = json.loads(open(ex.trace_path).read())
    assert tr["nondeterminism"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_a_failure_found_survives_sigkill(tmp_path):
    """Issue 14 (12): kill -9 during explore --all keeps a replayable trace."""
    e = dict(os.environ, FOLIOLAB_FAMILIES=TOY)
    proc = subprocess.Popen([sys.executable, "-m", "foliolab.cli", "explore", "lost-update",
                             "-s", "random", "--all", "-n", "100000000",
                             "--trace-dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e,
                            cwd=ROOT)
    try:
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob("*.json")):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait()
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".json"]   # no torn temp file
    (trace,) = tmp_path.glob("*.json")
    rc, out, err = cli_in_process("replay", str(trace))
    assert rc == 1 and "reproduced: same failure" in out, (out, err)


def test_trace_names_carry_what_changes_the_schedules(tmp_path):
    """Issue 14 (13): a --depth 3 --set ncpus=3 run overwrote the trace of a
    --depth 2 run of the same seed."""
    names = set()
    for extra in ([], ["-d", "3"], ["-d", "3", "--set", "ncpus=3"], ["--set", "fair_bound=10"]):
        rc, out, err = cli_in_process("explore", "sb-tso", "-s", "pct", "--seed", "1",
                                      "--json", "--trace-dir", str(tmp_path), *extra)
        assert rc == 1, (out, err)
        names.add(os.path.basename(json.loads(out)["trace"]))
    assert len(names) == 4, names
    assert "sb-tso.racy.pct.1.json" in names        # the defaults keep the plain name


@pytest.mark.parametrize("command", [("explore", "lost-update"), ("compare", "lost-update"),
                                     ("measure", "minchan-2021")])
def test_an_empty_variant_is_refused_everywhere(command):
    """Issue 14 (5): `explore --variant ''` silently ran the baseline."""
    assert "unknown variant ''" in one_line_error_in_process(*command, "--variant", "")


CRASH_PATCH = ("from foliolab.engine.kernel import Patch\n"
               "PATCH = Patch('crash', title='t', summary='s')\n"
               "@PATCH.replaces('counter_inc')\n"
               "def counter_inc(k):\n"
               "    yield 'about to crash'\n"
               "    k.counter = k.counter + None\n")


def test_compare_with_an_error_cell_is_never_as_expected(tmp_path):
    """Issue 14 (8): compare printed "every cell as expected" under an ERROR
    cell, exited 0, and --json said as_expected: true."""
    pf = tmp_path / "crash_fix.py"
    pf.write_text(CRASH_PATCH)
    args = ("compare", "lost-update", "--patch", str(pf), "-n", "20", "-j", "1",
            "--trace-dir", str(tmp_path))
    rc, out, err = cli_in_process(*args)
    assert rc == 3, (out, err)
    assert "ERROR!" in out and "every cell as expected" not in out
    assert "crash_fix.py:6" in out
    rc, out, err = cli_in_process(*args, "--json")
    assert rc == 3
    d = json.loads(out)
    assert d["outcome"] == "unexpected"
    cell = [c for c in d["families"][0]["cells"] if c["variant"] == "racy+crash"][0]
    assert cell["cell"] == "ERROR" and cell["as_expected"] is False


def _patch_file(tmp_path, name, body, head=True):
    pf = tmp_path / name
    pf.write_text(("from foliolab.engine.kernel import Patch\n"
                   "PATCH = Patch('p', title='t', summary='s')\n" if head else "") + body)
    return pf


def _replaces_counter_inc(*lines):
    return "@PATCH.replaces('counter_inc')\ndef counter_inc(k):\n" + "".join(
        f"    {line}\n" for line in lines)


@pytest.mark.parametrize("raise_line, shown", [
    ("import sys; sys.exit(0)", "SystemExit: 0"),
    ("import sys; sys.exit(7)", "SystemExit: 7"),
    ("raise GeneratorExit", "GeneratorExit"),
    ("raise type('Boom', (BaseException,), {})('b')", "Boom: b"),
    ("k.counter = k.counter + None", "TypeError"),
])
def test_whatever_a_patch_raises_is_exit_3_naming_its_file_and_line(tmp_path, raise_line, shown):
    """Issue 14 (6): sys.exit(0) in a patched function ended foliolab with
    exit 0 and no output, sys.exit(7) with exit 7, GeneratorExit or a
    BaseException subclass with a traceback."""
    pf = _patch_file(tmp_path, "fix.py", _replaces_counter_inc("yield 'a'", raise_line))
    for extra in ((), ("--json",)):
        rc, out, err = cli_in_process("explore", "lost-update", "--patch", str(pf), "-s",
                                      "random", "--trace-dir", str(tmp_path), *extra)
        assert rc == 3, (rc, out, err)
        assert f"the patch p raised {shown}" in out and f"{pf}:6 in counter_inc" in out
        assert "Traceback" not in out + err
    rc, out, err = cli_in_process("compare", "lost-update", "--patch", str(pf), "-n", "5",
                                  "-j", "1", "--trace-dir", str(tmp_path))
    assert rc == 3 and "ERROR!" in out and f"{pf}:6" in out, (out, err)


@pytest.mark.parametrize("body", ["import sys\nsys.exit(0)\n", "import sys\nsys.exit(7)\n",
                                  "raise GeneratorExit\n", "raise KeyError('x')\n",
                                  "raise type('Boom', (BaseException,), {})()\n"])
def test_an_exception_at_import_is_exit_2(tmp_path, body):
    """Issue 14 (6): sys.exit(0) at import gave exit 0 and no output."""
    pf = _patch_file(tmp_path, "fix.py", body)
    line = one_line_error_in_process("explore", "lost-update", "--patch", str(pf))
    last = 2 + body.count("\n")          # the raising line: the body's last
    assert "the patch raised" in line and f"{pf}:{last} " in line
    assert "while it was imported" in line


def test_a_family_file_that_exits_is_one_line(tmp_path):
    ff = tmp_path / "fam"
    ff.write_text("import sys\nsys.exit(0)\n")
    p = foliolab("list", env={"FOLIOLAB_FAMILIES": str(ff)})
    assert "SystemExit" in one_line_error(p)


def test_a_patch_file_without_py_is_python_source(tmp_path):
    """Issue 14 (7): "internal error: 'NoneType' object has no attribute 'loader'"."""
    src = (tmp_path / "x.py")
    pf = tmp_path / "my_fix.patch"
    pf.write_text(
        "from foliolab.engine.kernel import Patch\n"
        "PATCH = Patch('my-fix', title='atomic counter', summary='s')\n"
        "@PATCH.replaces('counter_inc')\n"
        "def counter_inc(k):\n"
        "    k.counter += 1\n"
        "    yield 'atomic increment'\n")
    rc, out, err = cli_in_process("explore", "lost-update", "--patch", str(pf), "-s", "dfs",
                                  "--json")
    assert rc == 0, (out, err)
    assert json.loads(out)["label"] == "racy+my-fix"
    assert not src.exists()


@pytest.mark.parametrize("body, words", [
    ("PATCH.wraps('counter_inc')(42)\n", "wraps('counter_inc') is given 42 (int), not a function"),
    ("PATCH.replaces('counter_inc')(lambda: None)\n", "must take (k, ...)"),
    ("@PATCH.replaces('counter_inc')\ndef counter_inc():\n    yield 'a'\n",
     "fix.py:3: replaces('counter_inc'): counter_inc must take (k, ...)"),
    ("@PATCH.wraps('counter_inc')\ndef counter_inc(k):\n    yield 'a'\n",
     "fix.py:3: wraps('counter_inc'): counter_inc must take (k, orig, ...)"),
    ("@PATCH.init\ndef init(k, x):\n    pass\n", "fix.py:3: init hook init must take (k)"),
    ("@PATCH.replaces('lru_add_drain_all')\ndef f(k):\n    return 0\n",
     "fix.py:3: replaces('lru_add_drain_all'): must be a generator (it yields)"),
    ("@PATCH.wraps('lru_add_drain_all')\ndef f(k, orig):\n    return orig()\n",
     "fix.py:3: wraps('lru_add_drain_all'): must be a generator"),
    ("@PATCH.replaces('folio_batch_add_and_move')\ndef f(k):\n    yield 'x'\n",
     "does not take the arguments of the kernel's folio_batch_add_and_move"),
    ("@PATCH.adds('lru_add_drain_all')\ndef f(k):\n    yield 'x'\n",
     "the kernel already has lru_add_drain_all"),
])
def test_a_patch_of_the_wrong_shape_is_refused_at_load_naming_its_line(tmp_path, body, words):
    """Issue 14 (9): the mistake surfaced inside foliolab."""
    pf = _patch_file(tmp_path, "fix.py", body)
    assert words in one_line_error_in_process("explore", "lost-update", "--patch", str(pf))


def test_patch_mistakes_at_run_time_point_at_the_users_line(tmp_path):
    """Issue 14 (9): a label that is not a string (a yielded 42 gave an
    AttributeError from report/table.py), an unknown k.fn name."""
    pf = _patch_file(tmp_path, "fix.py", _replaces_counter_inc("yield 42"))
    rc, out, err = cli_in_process("explore", "lost-update", "--patch", str(pf), "-s", "random",
                                  "--trace-dir", str(tmp_path))
    assert rc == 3, (out, err)
    assert "yielded 42 (int): a step's label must be a string" in out
    assert f"{pf}:5 in counter_inc" in out
    pf = _patch_file(tmp_path, "fix2.py", _replaces_counter_inc("yield 'a'",
                                                                "yield from k.fn.no_such()"))
    rc, out, err = cli_in_process("explore", "lost-update", "--patch", str(pf), "-s", "random",
                                  "--trace-dir", str(tmp_path))
    assert rc == 3
    assert "the kernel has no function no_such" in out and f"{pf}:6 in counter_inc" in out


@pytest.mark.parametrize("name", ["123", "''", "None", "'a\\nb'"])
def test_a_patch_name_must_be_a_string(tmp_path, name):
    """Issue 14 (14): Patch(123) explored, but its trace was then rejected."""
    pf = _patch_file(tmp_path, "fix.py",
                     f"from foliolab.engine.kernel import Patch\n"
                     f"PATCH = Patch({name}, title='t', summary='s')\n", head=False)
    assert "the name must be a non-empty string" in one_line_error_in_process(
        "explore", "lost-update", "--patch", str(pf))


def _mutations(tr):
    """Issue 14 (10): the malformed traces that gave "internal error" (or
    NONDETERMINISM, or rc 1 with --json)."""
    def edit(f):
        t = json.loads(json.dumps(tr))
        f(t)
        return json.dumps(t)
    return {
        "binary": b"\xff\xfe\x00\x81 not text",
        "latin-1": json.dumps(tr).replace('"A"', '"\xc9"').encode("latin-1"),
        "deep brackets": "[" * 100_000 + "]" * 100_000,
        "deep in a field": edit(lambda t: t["settings"].update(ncpus=json.loads("[" * 20 + "]" * 20))),
        "shrunk without failure": edit(lambda t: t["shrunk"].pop("failure")),
        "null strategy": edit(lambda t: t.update(strategy=None)),
        "strategy name not a string": edit(lambda t: t["strategy"].update(name=3)),
        "lone surrogate": edit(lambda t: t.update(scenario="\ud800")),
        "lone surrogate in a key": edit(lambda t: t["settings"].update({"\udfff": 1})),
        "empty shrunk schedule": edit(lambda t: t["shrunk"].update(schedule=[])),
        "empty schedule": edit(lambda t: t.update(schedule=[])),
        "seed beyond 64 bits": edit(lambda t: t.update(seed=2**64)),
        "negative step": edit(lambda t: t["failure"].update(step=-1)),
        "boolean task id": edit(lambda t: t.update(schedule=[True] * len(t["schedule"]))),
        "task id out of range": edit(lambda t: t.update(schedule=[5] * len(t["schedule"]))),
        "patch file without sha256": edit(lambda t: t.update(patches=[{"name": "x", "file": "f.py"}])),
        "failure not an object": edit(lambda t: t.update(failure=[])),
        "tasks not strings": edit(lambda t: t.update(tasks=[1, 2])),
    }


def test_malformed_trace_files_are_input_errors(tmp_path):
    path, tr = _trace_of(tmp_path, "lost-update")
    assert tr["shrunk"] is not None
    for what, content in _mutations(tr).items():
        bad = tmp_path / "bad.json"
        if isinstance(content, bytes):
            bad.write_bytes(content)
        else:
            bad.write_text(content, encoding="utf-8", errors="surrogatepass")
        for extra in ((), ("--json",)):
            rc, out, err = cli_in_process("replay", str(bad), *extra)
            assert rc == 2, (what, extra, rc, out, err)
            assert len(err.strip().splitlines()) == 1 and "internal error" not in err, (what, err)
            assert "NONDETERMINISM" not in out + err, what


def test_a_trace_too_large_is_refused(tmp_path, monkeypatch):
    from foliolab.explore import trace
    path, tr = _trace_of(tmp_path, "lost-update")
    monkeypatch.setattr(trace, "MAX_TRACE_BYTES", 100)
    assert "a trace is at most 100 bytes" in one_line_error_in_process("replay", path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs")
def test_replay_refuses_what_is_not_a_regular_file(tmp_path):
    """Issue 14 (11): replay on a FIFO with no writer hung."""
    fifo = tmp_path / "trace.json"
    os.mkfifo(fifo)
    p = foliolab("replay", str(fifo), timeout=30)
    assert "not a regular file" in one_line_error(p)
    assert "is a directory" in one_line_error_in_process("replay", str(tmp_path))
    assert "not a regular file" in one_line_error_in_process("replay", "/dev/null")


def test_the_readme_states_every_settings_range():
    """The README's settings table is what validate_settings does."""
    from foliolab.scenarios.base import SETTING_CHOICES, SETTING_RANGES
    readme = open(os.path.join(ROOT, "README.md")).read()
    for key, (lo, hi) in SETTING_RANGES.items():
        row = [line for line in readme.splitlines() if line.startswith(f"| `{key}` |")]
        assert row, key
        nums = [int(x.replace(",", "")) for x in re.findall(r"\d[\d,]*", row[0].split("|")[2])]
        assert lo in nums or (key == "fair_bound" and lo == 0), (key, row)
        assert hi in nums or f"10^{len(str(hi)) - 1}" in row[0], (key, row)
    for key, choices in SETTING_CHOICES.items():
        row = [line for line in readme.splitlines() if line.startswith(f"| `{key}` |")]
        assert row and ", ".join(choices) in row[0], key


def test_a_step_that_never_yields_is_a_soft_lockup(tmp_path):
    """Issue 14 (15): a patch that loops forever without yielding hung the
    run (the step-based oracles cannot see it).  The watchdog (on in
    explore, off in measure mode) stops it and names the line it spun on."""
    pf = _patch_file(tmp_path, "spin.py", "def helper():\n    while True:\n        pass\n"
                     + _replaces_counter_inc("yield 'a'", "helper()"))
    rc, out, err = cli_in_process("explore", "lost-update", "--patch", str(pf), "-s", "random",
                                  "--watchdog", "0.3", "--trace-dir", str(tmp_path))
    assert rc == 3, (out, err)
    assert "the patch p raised SoftLockup: soft lockup: task " in out
    assert f"without yielding at {pf}:4 in helper" in out or \
        f"without yielding at {pf}:5 in helper" in out, out
    from foliolab.cli import WATCHDOG_SECONDS
    assert WATCHDOG_SECONDS > 0


@pytest.mark.parametrize("args", [("explore", "lost-update", "-n", str(10**22)),
                                  ("compare", "lost-update", "-n", str(10**22)),
                                  ("compare", "lost-update", "--dfs-budget", str(10**22)),
                                  ("compare", "lost-update", "-j", "100000"),
                                  ("measure", "minchan-2021", "-j", "100000"),
                                  ("measure", "minchan-2021", "--seeds", str(10**9))])
def test_budgets_and_jobs_are_bounded(args):
    """Issue 14 (3): valid-looking numbers that never end (10**22
    schedules) or fork a hundred thousand workers are refused."""
    one_line_error_in_process(*args)


def test_a_wrong_return_type_names_the_users_patch(tmp_path):
    """Issue 14 (9): a wrong return type surfaces in the model, after the
    user's function returned: the error names the user's patch file too."""
    pf = _patch_file(tmp_path, "ret.py", "@PATCH.wraps('folio_lru_list')\n"
                     "def folio_lru_list(k, orig, folio):\n    return str(orig(folio))\n")
    rc, out, err = cli_in_process("explore", "readd-after-drain", "--patch", str(pf), "-n", "5",
                                  "--trace-dir", str(tmp_path))
    assert rc == 3, (out, err)
    assert "TypeError" in out and f"(with user patch p from {pf})" in out
