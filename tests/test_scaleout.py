"""Scale-out (issue 13, foliolab/runner): the same results on every local
backend and worker count, the split DFS is a certificate, the run
directory keeps what finished (Ctrl-C, a torn line, a killed worker) and
--resume finishes the run.  The Ray cluster: tests/test_ray_cluster.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from hypothesis import given

from foliolab.explore.split import PrefixSystematic, split_prefixes
from foliolab.runner import InlineRunner, PoolRunner, Unit, make_runner, BackendError
from foliolab.runner import units as unit_mod
from foliolab.runner.rundir import RunDir, RunDirError, fingerprint

from interrupt import sigint_after_results
from test_cli import TOY, ROOT, foliolab, one_line_error
from test_dpor import SETTINGS, TooBig, behaviour, classes, make_program, programs

from foliolab.explore.registry import builder
from foliolab.explore.run import run_schedule
from hypothesis import assume


def _strip(d):
    """A --json document without its wall times."""
    if isinstance(d, dict):
        return {k: _strip(v) for k, v in d.items() if k not in ("seconds", "steps_per_second")}
    if isinstance(d, list):
        return [_strip(x) for x in d]
    return d


# ------------------------------------------------------------- runners
def _square(p):
    return p["x"] * p["x"]


def _fails_at_3(p):
    return {"x": p["x"], "fail": p["x"] >= 3}


unit_mod.WORK["test-square"] = _square
unit_mod.WORK["test-fail3"] = _fails_at_3


def test_every_local_runner_returns_results_by_unit():
    units = [Unit(f"u{i}", "test-square", {"x": i}) for i in range(12)]
    for runner in (InlineRunner(), PoolRunner(2), PoolRunner(3)):
        out = runner.run(units)
        assert out.results == {f"u{i}": i * i for i in range(12)}, runner.describe()
        assert not out.interrupted and out.stopped_at is None


def test_the_first_stopping_unit_is_the_first_in_serial_order():
    """Units after the first failure in serial order may be cancelled;
    every unit before it runs, and nothing after it is reported, whatever
    finished first."""
    units = [Unit(f"u{i}", "test-fail3", {"x": i}) for i in range(10)]
    seen = []
    for runner in (InlineRunner(), PoolRunner(2)):
        out = runner.run(units, stops=lambda r: r["fail"])
        assert out.stopped_at == "u3"
        assert sorted(out.results) == ["u0", "u1", "u2", "u3"]
        seen.append(out.results)
    assert seen[0] == seen[1]


def test_bad_backend_input_is_refused():
    with pytest.raises(BackendError):
        make_runner("local", 2, "auto")
    with pytest.raises(BackendError):
        make_runner("ray", 1, "no-port")
    with pytest.raises(BackendError):
        make_runner("ray", 1, "host:99999")
    assert isinstance(make_runner("local", 1), InlineRunner)
    assert isinstance(make_runner("local", 2), PoolRunner)


# ----------------------------------------------------------- run dirs
def test_the_run_directory_keeps_whole_lines_and_resumes(tmp_path):
    fp = fingerprint("x", ["a"])
    rd = RunDir(str(tmp_path / "r"), "x", ["x", "a"], fp)
    units = [Unit(f"u{i}", "test-square", {"x": i}) for i in range(5)]
    InlineRunner().run(units[:3], rundir=rd, summarize=lambda r: {"sq": r})
    rd.close()
    with open(tmp_path / "r" / "results.jsonl", "a") as f:
        f.write('{"key": "u3", "summ')            # a line cut short by a crash
    rd2 = RunDir(str(tmp_path / "r"), "x", ["x", "a"], fp, resume=True)
    assert rd2.done == {"u0": 0, "u1": 1, "u2": 4}
    ran = []
    unit_mod.WORK["test-record"] = lambda p: ran.append(p["x"]) or p["x"] * p["x"]
    units = [Unit(f"u{i}", "test-record", {"x": i}) for i in range(5)]
    out = InlineRunner().run(units, rundir=rd2, done=rd2.done)
    assert ran == [3, 4] and out.results == {f"u{i}": i * i for i in range(5)}
    rd2.close()
    lines = open(tmp_path / "r" / "results.jsonl").read().splitlines()
    assert [json.loads(x)["key"] for x in lines] == ["u0", "u1", "u2", "u3", "u4"]
    with pytest.raises(RunDirError):
        RunDir(str(tmp_path / "r"), "x", ["x", "b"], fingerprint("x", ["b"]), resume=True)


@pytest.mark.parametrize("content", [None, "{", '{"schema": "foliolab-run/1"}'])
def test_a_malformed_run_directory_is_one_line_and_exit_2(tmp_path, content):
    d = tmp_path / "run"
    d.mkdir()
    if content is not None:
        (d / "run.json").write_text(content)
    one_line_error(foliolab("compare", "--resume", str(d)))


def test_malformed_results_are_one_line_and_exit_2(tmp_path):
    p = foliolab("compare", "toy", "-j", "1", "--no-progress", "--run-dir", str(tmp_path),
                 "--trace-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    (run,) = [x for x in tmp_path.iterdir() if x.name.startswith("compare-")]
    (run / "results.jsonl").write_text("not json\n")
    one_line_error(foliolab("compare", "--resume", str(run)))


@pytest.mark.parametrize("args", [
    ("compare", "toy", "--address", "auto"),
    ("compare", "toy", "--backend", "ray", "--address", "nowhere"),
    ("compare", "toy", "--backend", "nope"),
    ("compare", "toy", "-j", "0"),
    ("explore", "sb-sc", "--split", "4"),
    ("explore", "sb-sc", "-s", "dfs", "--seeds", "4"),
    ("explore", "sb-sc", "-j", "2"),
    ("compare", "toy", "--backend", "ray", "--address", "127.0.0.1:1"),
])
def test_scaleout_input_errors_are_one_line(args):
    one_line_error(foliolab(*args))


# -------------------------------------------------- same on every backend
def test_compare_is_the_same_in_process_and_in_a_pool(tmp_path):
    outs = []
    for j in ("1", "2"):
        p = foliolab("compare", "toy", "-j", j, "--json", "--trace-dir", str(tmp_path / j))
        assert p.returncode == 0, p.stderr
        d = _strip(json.loads(p.stdout))
        for fam in d["families"]:
            for c in fam["cells"]:
                c["trace"] = c["trace"] and os.path.basename(c["trace"])
        outs.append(d)
    assert outs[0] == outs[1]


@pytest.mark.parametrize("variant,outcome", [("locked", "certified"), ("racy", "failure")])
def test_split_dfs_is_the_same_on_any_worker_count(tmp_path, variant, outcome):
    outs = []
    for j in ("1", "2", "3"):
        p = foliolab("explore", "lost-update", "-V", variant, "-s", "dfs", "--split", "6",
                     "-j", j, "--json", "--trace-dir", str(tmp_path / j))
        d = _strip(json.loads(p.stdout))
        assert d["outcome"] == outcome, (p.stdout, p.stderr)
        d.pop("trace", None)
        outs.append(d)
    assert outs[0] == outs[1] == outs[2]
    if outcome == "certified":
        assert "subtrees, every one finished" in outs[0]["certificate"]
        assert outs[0]["search"]["subtrees"] == outs[0]["search"]["subtrees_finished"] >= 6


def test_seed_range_first_failure_is_by_seed_order(tmp_path):
    outs = []
    for j in ("1", "2"):
        p = foliolab("explore", "sb-tso", "-s", "random", "--seeds", "12", "-n", "2",
                     "-j", j, "--json", "--trace-dir", str(tmp_path / j))
        assert p.returncode == 1, p.stderr
        outs.append(_strip(json.loads(p.stdout)))
        outs[-1].pop("trace", None)
    assert outs[0] == outs[1]


# ---------------------------------------------- the split is a certificate
def split_classes(program, bound, target):
    """The behaviours of every complete run of the split search."""
    prefixes, _ = split_prefixes(program, [], None, bound, target)
    b = builder(program)
    full = program.settings()
    full.update(PrefixSystematic.settings_overrides)
    seen = []
    for prefix in prefixes:
        strat = PrefixSystematic(prefix, bound)
        while True:
            assert strat.runs < 10**5
            choose = strat.next_choose()
            if choose is None:
                break
            labels = []

            def setup(k, labels=labels, strat=strat):
                strat.prepare(k)
                k.m.labels = labels

            k, res = run_schedule(program, [], full, choose, build=b, setup=setup)
            if not res.aborted:
                assert bound is None or res.preemptions <= bound
                assert list(res.schedule[:len(prefix)]) == prefix
                seen.append(behaviour(k, res, labels))
            strat.after(res)
    return seen, len(prefixes)


@SETTINGS
@given(programs(tso=True))
def test_the_split_search_shows_every_behaviour(threads):
    """On generated programs (TSO stores, locks, atomics), the union of the
    subtrees shows every behaviour the plain search shows, at bounds 0, 1,
    2 and unbounded, split into 1, 3 and 8 subtrees or more."""
    program = make_program(threads, tso=True)
    for bound in (0, 1, 2, None):
        try:
            plain, _ = classes(program, bound, "none")
        except TooBig:
            assume(False)
        for target in (1, 3, 8):
            got, _n = split_classes(program, bound, target)
            missing = set(plain) - set(got)
            assert not missing, (bound, target, sorted(missing)[:3])


# ------------------------------------------------ nothing lost, resumed
def _children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


SEEDS_ARGS = ["explore", "lost-update", "-V", "locked", "-s", "random", "--seeds", "60",
              "-n", "400", "--json"]


def _run_seeds_serial(tmp_path):
    p = foliolab(*SEEDS_ARGS, "-j", "1", "--trace-dir", str(tmp_path / "serial"))
    assert p.returncode == 0, p.stderr
    return _strip(json.loads(p.stdout))


@pytest.mark.skipif(sys.platform != "linux", reason="/proc children, SIGKILL")
def test_a_killed_pool_worker_loses_nothing_and_its_unit_runs_again(tmp_path):
    serial = _run_seeds_serial(tmp_path)
    e = dict(os.environ, FOLIOLAB_FAMILIES=TOY)
    proc = subprocess.Popen([sys.executable, "-m", "foliolab.cli", *SEEDS_ARGS, "-j", "2",
                             "--trace-dir", str(tmp_path / "pool"),
                             "--run-dir", str(tmp_path / "runs")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=e, cwd=ROOT)
    try:
        killed = None
        deadline = time.monotonic() + 120
        while killed is None:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no pool worker"
            kids = _children(proc.pid)
            res = list((tmp_path / "runs").glob("explore-*/results.jsonl"))
            if kids and res and res[0].stat().st_size > 0:
                killed = kids[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert _strip(json.loads(out)) == serial


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_ctrl_c_then_resume_finishes_the_run(tmp_path, jobs):
    serial = _run_seeds_serial(tmp_path)
    e = dict(os.environ, FOLIOLAB_FAMILIES=TOY)
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "foliolab.cli", *SEEDS_ARGS, "-j", jobs,
                             "--trace-dir", str(tmp_path / "t"), "--run-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                            cwd=ROOT, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    out, err = sigint_after_results(proc, runs, "explore-*/results.jsonl", lines=3)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    (run,) = runs.glob("explore-*")
    assert f"--resume {run}" in err
    d = json.loads(out)
    assert d["interrupted"] is True
    before = (run / "results.jsonl").read_text().count("\n")
    assert 3 <= before < 60
    p = foliolab("explore", "--resume", str(run), "-j", jobs)
    assert p.returncode == 0, p.stderr
    assert _strip(json.loads(p.stdout)) == serial
    keys = [json.loads(x)["key"] for x in (run / "results.jsonl").read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 60       # nothing done twice


def test_a_split_certificate_counts_what_the_serial_one_counts(tmp_path):
    """The split search's certificate is the serial one's text (one
    function writes both), with the subtrees: the runs its state cache cut
    short are counted too."""
    args = ("explore", "readd-after-drain", "-V", "lru-cache-disable", "-s", "dfs", "-k", "0",
            "--json", "--trace-dir", str(tmp_path))
    serial = json.loads(foliolab(*args).stdout)
    split = json.loads(foliolab(*args, "--split", "2", "-j", "1").stdout)
    assert split["outcome"] == serial["outcome"] == "certified"
    hits = split["search"]["state_cache_hits"]
    assert hits > 0
    assert f"{hits} cut short at a state searched before" in split["certificate"]
    head = serial["certificate"].split(":")[0]
    assert split["certificate"].startswith(head + ":")
