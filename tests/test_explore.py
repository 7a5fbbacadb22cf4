"""The explorer on the toy family (tests/toy_family.py): strategies, DFS
soundness and certificates, traces and replay, shrinking, the
nondeterminism check, verdicts, the interleaving table, determinism."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import toy_family as toy  # noqa: E402

from foliolab.engine.oracles import PropertyViolation  # noqa: E402
from foliolab.explore.dpor import Systematic  # noqa: E402
from foliolab.explore import (  # noqa: E402
    PCT, NondeterminismError, RandomWalk, TraceError, explore,
    failure_info, find_scenario, load_trace, register_family, replay,
    replay_schedule, run_schedule, variant_patches, verdict, wilson,
)
from foliolab.explore.strategies import last_visible, visible  # noqa: E402
from foliolab.report import ftrace_text, header_line, interleaving_table, verdict_table  # noqa: E402
from foliolab.scenarios.base import BUG, SAFE, Expect  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FAM = register_family(toy.FAMILY)
RACY = variant_patches(FAM.variants["racy"])
LOCKED = variant_patches(FAM.variants["locked"])


def sc(slug):
    return FAM.scenario(slug)


def ex(slug, patches, strategy, budget=500, seed=0, **kw):
    kw.setdefault("trace_dir", None)
    kw.setdefault("progress", False)
    variant = "locked" if patches is LOCKED else "racy"
    return explore(sc(slug), variant, patches, strategy, budget, seed, **kw)


# --------------------------------------------------------------- strategies
def test_random_walk_finds_the_lost_update():
    r = ex("lost-update", RACY, "random", budget=200, seed=3)
    assert r.outcome == "failure"
    assert r.failure.kind == "property"
    assert "counter is 1" in r.failure.message
    assert r.schedules <= 200


def test_pct_finds_the_lost_update_within_a_small_budget():
    for seed in range(5):
        r = ex("lost-update", RACY, "pct", budget=30, seed=seed, depth=2)
        assert r.outcome == "failure", seed
        assert r.schedules <= 30


def test_dfs_k0_misses_the_lost_update_and_k1_finds_it():
    r0 = ex("lost-update", RACY, "dfs", preemptions=0)
    assert r0.outcome == "certified"
    assert r0.failure is None
    assert r0.certificate.startswith("no failure within 0 preemptions (sc, 2 CPUs, "
                                     "CONFIG_PREEMPT; no reduction (the scenario declares "
                                     "no footprints)): 2 schedules")
    r1 = ex("lost-update", RACY, "dfs", preemptions=1)
    assert r1.outcome == "failure"
    assert r1.failure.kind == "property"


def test_dfs_certifies_the_locked_variant():
    r = ex("lost-update", LOCKED, "dfs", preemptions=2)
    assert r.outcome == "certified"
    assert r.complete
    assert r.certificate.startswith("no failure within 2 preemptions (")
    assert f"): {r.distinct_schedules} schedules" in r.certificate
    # iterative context bounding re-runs the lower levels: more runs than schedules
    assert r.schedules > r.distinct_schedules > 1


def test_dfs_cut_by_the_budget_gives_no_certificate():
    r = ex("lost-update", LOCKED, "dfs", budget=3, preemptions=2)
    assert r.outcome == "no-failure"
    assert r.certificate is None
    assert not r.complete
    assert "no certificate" in r.summary()


def test_store_buffering_is_found_under_tso_and_certified_impossible_under_sc():
    tso = ex("sb-tso", RACY, "dfs", preemptions=2)
    assert tso.outcome == "failure"
    assert "r0 == r1 == 0" in tso.failure.message
    assert ex("sb-tso", RACY, "random", budget=300, seed=1).outcome == "failure"
    assert ex("sb-tso", RACY, "pct", budget=300, seed=1).outcome == "failure"
    sc_ = ex("sb-sc", RACY, "dfs", preemptions=2)
    assert sc_.outcome == "certified"
    # the same scenario with memory_model=sc set by hand
    forced = ex("sb-tso", RACY, "dfs", preemptions=3, settings={"memory_model": "sc"})
    assert forced.outcome == "certified"
    assert ex("sb-sc", RACY, "random", budget=300, seed=1).outcome == "no-failure"


def test_abba_gives_a_lockdep_report():
    r = ex("abba", RACY, "pct", budget=50)
    assert r.outcome == "failure"
    assert r.failure.kind == "lockdep"
    assert "circular locking dependency" in r.failure.message


def test_flush_on_a_cpu_owned_by_a_fifo_task_hangs():
    r = ex("busy-cpu-flush", RACY, "random", budget=20)
    assert r.outcome == "failure"
    assert r.failure.kind == "hung-task"
    assert r.hang


# ------------------------------------------------- DFS against brute force
def _enumerate(slug, patches, settings=None):
    """{schedule: (preemptions, failed)} of every schedule, by unbounded
    stateless search over the choice points."""
    scen = sc(slug)
    full = scen.settings(settings)
    full["fair_bound"] = 0            # as the systematic search runs
    out = {}
    stack = [[]]                 # prefixes of choice answers (task ids)
    while stack:
        prefix = stack.pop()
        pos = [0]
        fresh = []

        def choose(m, en, prefix=prefix, pos=pos, fresh=fresh):
            i = pos[0]
            pos[0] += 1
            if i < len(prefix):
                return [t for t in en if t.tid == prefix[i]][0]
            fresh.append([t.tid for t in en])
            return en[0]

        k, res = run_schedule(scen, patches, full, choose)
        out[tuple(res.schedule)] = (res.preemptions, res.failure is not None)
        # branch: at each fresh choice point j, every alternative
        base = list(prefix)
        for j, opts in enumerate(fresh):
            for alt in opts[1:]:
                stack.append(base + [o[0] for o in fresh[:j]] + [alt])
    return out


class _Collect(Systematic):
    """The systematic search without reduction, remembering the schedules it
    ran, by level."""

    def __init__(self, k, iterative):
        super().__init__(k, "none", iterative)
        self.seen = {}

    def after(self, res):
        self.seen.setdefault(self.level, []).append(tuple(res.schedule))
        super().after(res)


@pytest.mark.parametrize("slug,patches,settings", [
    ("lost-update", "locked", None),
    ("lost-update", "racy", None),
    ("sb-tso", "racy", None),
    ("lost-update", "locked", {"ncpus": 2, "preempt": "none"}),
])
def test_dfs_explores_exactly_the_schedules_within_the_bound(slug, patches, settings):
    pats = LOCKED if patches == "locked" else RACY
    every = _enumerate(slug, pats, settings)
    most = max(p for p, _ in every.values())
    for bound in (0, 1, 2, 3):
        want = {s for s, (p, failed) in every.items() if p <= bound}
        # plain DFS: every schedule within the bound, each once
        strat = _Collect(bound, iterative=False)
        r = explore(sc(slug), patches, pats, strat, 100_000, 0, settings, None, False,
                    mode="count", shrink=False)
        assert strat.complete
        got = strat.seen[bound]
        assert len(got) == len(set(got)), "a schedule was explored twice"
        assert set(got) == want, bound
        assert r.failures == sum(1 for s in want if every[s][1])
        # iterative context bounding: level by level, the same set in the end
        strat = _Collect(bound, iterative=True)
        r = explore(sc(slug), patches, pats, strat, 100_000, 0, settings, None, False,
                    mode="count", shrink=False)
        assert strat.complete
        assert strat.distinct == len(want)
        for level, runs in strat.seen.items():
            assert len(runs) == len(set(runs))
            assert set(runs) == {s for s, (p, _) in every.items() if p <= level}
        assert max(strat.seen) == min(bound, most)
        assert strat.exhaustive == (bound >= most)


def test_dfs_does_not_branch_on_invisible_tasks():
    """An invisible busy loop on a third CPU adds no schedules."""
    class WithHog(toy.LostUpdate):
        slug = "lost-update-hog"
        defaults = {"ncpus": 3}

        def setup(self, k):
            super().setup(k)
            k.m.spawn("H", 2, toy.busy_loop(k, 10_000), daemon=True, rt_prio=50,
                      user=True, invisible=True)

    hog = WithHog()
    plain = explore(sc("lost-update"), "locked", LOCKED, "dfs", 10_000, 0, None, None, False)
    withhog = explore(hog, "locked", LOCKED, "dfs", 10_000, 0, None, None, False)
    assert plain.outcome == withhog.outcome == "certified"
    assert withhog.schedules == plain.schedules
    # PCT never lets the hog starve the visible tasks (runs stay short)
    p = explore(hog, "racy", RACY, "pct", 100, 1, None, None, False, mode="count")
    assert p.failures > 0
    assert p.max_run_steps < 64
    r = explore(hog, "racy", RACY, "random", 100, 1, None, None, False, mode="count")
    assert r.failures > 0 and r.max_run_steps < 64


# ------------------------------------------------------ traces and replay
def test_a_failure_is_traced_and_replays(tmp_path):
    r = ex("lost-update", RACY, "pct", budget=50, seed=2, trace_dir=str(tmp_path))
    assert r.outcome == "failure"
    assert r.trace_path == str(tmp_path / "lost-update.racy.pct.2.json")
    tr = load_trace(r.trace_path)
    assert tr["schema"] == "foliolab-trace/1"
    assert tr["scenario"] == "lost-update" and tr["family"] == "toy"
    assert tr["variant"] == "racy" and tr["seed"] == 2
    assert tr["strategy"] == {"name": "pct", "depth": 2, "budget": 50}
    assert tr["settings"]["ncpus"] == 2 and tr["settings"]["memory_model"] == "sc"
    assert tr["tasks"] == ["A", "B"]
    assert tr["failure"]["kind"] == "property"
    assert tr["failure"]["step"] == len(tr["schedule"])
    assert tr["schedule_index"] == r.schedule_index
    rp = replay(r.trace_path)
    assert rp.outcome == "failure"
    assert rp.failure.message == r.failure.message
    assert rp.failure.step == r.failure.step


def test_replay_in_a_separate_process(tmp_path):
    r = ex("lost-update", RACY, "random", budget=200, seed=5, trace_dir=str(tmp_path))
    assert r.outcome == "failure"
    env = dict(os.environ, FOLIOLAB_FAMILIES=os.path.join(HERE, "toy_family.py"),
               PYTHONHASHSEED="123")
    p = subprocess.run([sys.executable, "-m", "foliolab.cli", "replay", r.trace_path, "--json"],
                       capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert p.returncode == 1, p.stderr
    out = json.loads(p.stdout)
    assert out["outcome"] == "failure"
    assert out["kind"] == r.failure.kind
    assert out["message"] == r.failure.message
    assert out["failure"]["step"] == r.failure.step


def _write(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f)


def test_bad_traces_are_input_errors(tmp_path):
    r = ex("lost-update", RACY, "pct", budget=50, trace_dir=str(tmp_path))
    good = load_trace(r.trace_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    with pytest.raises(TraceError, match="not a JSON trace"):
        replay(str(bad))
    _write(bad, dict(good, schema="foliolab-trace/99"))
    with pytest.raises(TraceError, match="unsupported trace schema"):
        replay(str(bad))
    _write(bad, dict(good, scenario="no-such-scenario"))
    with pytest.raises(TraceError, match="unknown scenario"):
        replay(str(bad))
    _write(bad, dict(good, variant="no-such-variant"))
    with pytest.raises(TraceError, match="unknown variant"):
        replay(str(bad))
    _write(bad, dict(good, tasks=["A", "C"]))
    with pytest.raises(TraceError, match="tasks"):
        replay(str(bad))
    _write(bad, dict(good, schedule=[0, 7]))
    with pytest.raises(TraceError, match="not a task id"):
        replay(str(bad))
    _write(bad, dict(good, variant="locked"))
    with pytest.raises(TraceError, match="variant locked now applies counter-lock; "
                                        "the trace was recorded with no patches"):
        replay(str(bad))
    _write(bad, dict(good, patches=[{"name": "no-such-patch"}]))
    with pytest.raises(TraceError, match="unknown patch"):
        replay(str(bad))
    with pytest.raises(TraceError, match="cannot read"):
        replay(str(tmp_path / "missing.json"))


def test_a_recorded_task_that_is_not_enabled_is_nondeterminism(tmp_path):
    r = ex("lost-update", RACY, "pct", budget=50, trace_dir=str(tmp_path))
    tr = load_trace(r.trace_path)
    sched = tr["schedule"]
    # task 1 (B) exits; make it run again afterwards
    last_b = max(i for i, t in enumerate(sched) if t == 1)
    forged = sched[:last_b + 1] + [1] * (len(sched) - last_b - 1)
    assert forged != sched
    bad = tmp_path / "forged.json"
    _write(bad, dict(tr, schedule=forged, shrunk=None))
    rp = replay(str(bad))
    assert rp.outcome == "nondeterminism"


def test_user_patch_file_digest_is_checked(tmp_path):
    pf = tmp_path / "my_fix.py"
    pf.write_text(
        "from foliolab.engine.kernel import Patch\n"
        "PATCH = Patch('my-fix', title='t', summary='s')\n"
        "@PATCH.replaces('counter_inc')\n"
        "def counter_inc(k):\n"
        "    v = k.counter\n"
        "    yield 'load'\n"
        "    k.counter = v + 1\n"
        "    yield 'store'\n")
    from foliolab.patches import load_patch_file
    user = load_patch_file(str(pf))
    r = explore(sc("lost-update"), "racy", RACY + [user], "pct", 50, 0,
                trace_dir=str(tmp_path), progress=False)
    assert r.outcome == "failure"
    assert r.label == "racy+my-fix"
    assert r.trace_path.endswith("lost-update.racy+my-fix.pct.0.json")
    tr = load_trace(r.trace_path)
    assert tr["variant"] == "racy" and tr["label"] == "racy+my-fix"
    assert tr["patches"] == [{"name": "my-fix", "file": str(pf), "sha256": user.digest,
                              "source": pf.read_text()}]
    assert replay(r.trace_path).outcome == "failure"
    # the trace embeds the patch: a changed file is named, the recorded one runs
    pf.write_text(pf.read_text() + "# changed\n")
    rp = replay(r.trace_path)
    assert rp.outcome == "failure"
    assert len(rp.notes) == 1 and "changed since the trace was recorded" in rp.notes[0]
    assert "replaying the recorded patch" in rp.notes[0]
    # an old trace without the embedded text still checks the file's digest
    old = tmp_path / "old.json"
    tr["patches"][0].pop("source")
    _write(old, tr)
    with pytest.raises(TraceError, match="changed since the trace was recorded"):
        replay(str(old))
    # an embedded text that does not match its hash is malformed
    tr["patches"][0]["source"] = "tampered"
    _write(old, tr)
    with pytest.raises(TraceError, match="does not match its sha256"):
        replay(str(old))


def test_a_failure_that_does_not_replay_is_nondeterminism(tmp_path):
    r = explore(toy.FLAKY, "racy", RACY, "dfs", 100, 0, trace_dir=str(tmp_path),
                progress=False)
    assert r.outcome == "nondeterminism"
    assert "replayed" in r.nondeterminism
    assert r.failure is not None          # kept, but not reported as a bug


def test_replay_schedule_raises_on_divergence():
    scen = sc("lost-update")
    k, res = run_schedule(scen, RACY, scen.settings(), RandomWalk(1).next_choose())
    k2, res2 = replay_schedule(scen, RACY, scen.settings(), res.schedule)
    assert res2.schedule == res.schedule
    with pytest.raises(NondeterminismError):
        replay_schedule(scen, RACY, scen.settings(), res.schedule[:-2])


# --------------------------------------------------------------- shrinking
def test_shrinking_reduces_a_random_walk_failure_to_one_preemption():
    found = 0
    for seed in range(20):
        r = ex("lost-update", RACY, "random", budget=200, seed=seed)
        assert r.outcome == "failure"
        sh = r.shrunk
        assert sh is not None
        assert sh.preemptions == 1
        assert sh.failure.kind == "property"
        assert len(sh.preemption_steps) == 1
        assert sh.line().startswith("shrunk: 1 preemption (step ")
        # the shrunk schedule replays to the same failure
        k, res = replay_schedule(sc("lost-update"), RACY, sc("lost-update").settings(),
                                 sh.schedule)
        assert failure_info(k, res).same(sh.failure)
        found += sh.original_preemptions > 1
    assert found, "no random walk needed shrinking"


# ------------------------------------------------------------- count mode
def test_count_mode_gives_a_failure_rate_with_an_interval():
    r = ex("lost-update", RACY, "random", budget=400, seed=1, mode="count")
    assert r.schedules == 400
    assert 0 < r.failures < 400
    lo, hi = r.rate_ci
    assert lo < r.rate < hi
    assert r.kinds == {"property": r.failures}
    assert wilson(0, 10)[0] == 0.0 and 0 < wilson(0, 10)[1] < 0.35
    j = r.to_json()
    assert j["failures"] == r.failures and len(j["failure_rate_ci95"]) == 2


# -------------------------------------------------------------- Ctrl-C
def test_ctrl_c_keeps_the_failures_found(tmp_path):
    builds = [0]
    scen = sc("lost-update")

    def build(patches, settings):
        builds[0] += 1
        if builds[0] == 60:
            raise KeyboardInterrupt
        return scen.make_run(patches, settings)

    r = explore(scen, "racy", RACY, "random", 10_000, 1, trace_dir=str(tmp_path),
                progress=False, mode="count", build=build)
    assert r.interrupted
    assert r.schedules == 58        # the 60th build; one was the first failure's replay
    assert r.failures > 0
    assert r.trace_path and os.path.exists(r.trace_path)
    assert "interrupted" in r.summary()


def test_model_exceptions_are_reported_with_their_location():
    class Broken(toy.LostUpdate):
        slug = "broken"

        def setup(self, k):
            super().setup(k)

            def oops(k):
                yield "about to fail"
                raise TypeError("bad operand")

            k.m.spawn("Z", 0, oops(k))

    r = explore(Broken(), "racy", RACY, "random", 10, 0, trace_dir=None, progress=False)
    assert r.outcome == "error"
    assert "TypeError: bad operand" in r.error
    assert "test_explore.py" in r.error


# ----------------------------------------------------------- determinism
def _schedules(strategy, seed, n=20):
    scen = sc("lost-update")
    strat = RandomWalk(seed) if strategy == "random" else PCT(seed, 3)
    out = []
    for _ in range(n):
        k, res = run_schedule(scen, RACY, scen.settings(), strat.next_choose())
        strat.after(res)
        out.append(tuple(res.schedule))
    return out


def test_same_seed_same_schedules_in_process():
    for strategy in ("random", "pct"):
        assert _schedules(strategy, 11) == _schedules(strategy, 11)
        assert _schedules(strategy, 11) != _schedules(strategy, 12)


def test_same_seed_same_schedules_in_two_processes():
    code = (
        "import sys, json; sys.path.insert(0, %r)\n"
        "import test_explore as t\n"
        "print(json.dumps([t._schedules('random', 7), t._schedules('pct', 7)]))\n" % HERE)
    outs = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env=env, cwd=ROOT, timeout=120)
        assert p.returncode == 0, p.stderr
        outs.append(json.loads(p.stdout))
    here = [[list(s) for s in _schedules("random", 7)], [list(s) for s in _schedules("pct", 7)]]
    assert outs[0] == outs[1] == here


def test_pct_learns_the_run_length_in_choices():
    strat = PCT(3, 2)
    assert strat.k == 0
    scen = sc("lost-update")
    calls = []

    def counting(choose):
        def c(m, en):
            calls.append(m.steps)
            return choose(m, en)
        return c

    k, res = run_schedule(scen, RACY, scen.settings(), counting(strat.next_choose()))
    strat.after(res)
    assert strat.k == len(calls) > 0
    assert strat.k < res.steps          # single-choice steps are not counted
    before = strat.k
    for _ in range(20):
        calls.clear()
        k, res = run_schedule(scen, RACY, scen.settings(), counting(strat.next_choose()))
        strat.after(res)
        assert strat.k == max(before, len(calls))
        before = strat.k


def test_visibility_helpers():
    class T:
        def __init__(self, tid, invisible=False):
            self.tid, self.invisible = tid, invisible

    a, b, h = T(0), T(1), T(2, True)
    assert visible([a, b]) == [a, b]
    assert visible([a, h, b]) == [a, b]
    assert visible([h]) == [h]

    class M:
        def __init__(self, sched, tasks):
            self.schedule, self.tasks = sched, tasks
            self.current = tasks[sched[-1]]

    assert last_visible(M([0, 1, 2, 2], [a, b, h])) is b
    assert last_visible(M([2, 2], [a, b, h])) is None


# -------------------------------------------------------------- verdicts
EXPECTED_TOY_TABLE = {
    ("lost-update", "racy"): "BUG", ("lost-update", "locked"): "safe k<=2",
    ("abba", "racy"): "BUG", ("abba", "locked"): "BUG",
    ("busy-cpu-flush", "racy"): "HANG", ("busy-cpu-flush", "locked"): "-",
    ("sb-tso", "racy"): "BUG", ("sb-tso", "locked"): "BUG",
    ("sb-sc", "racy"): "safe k<=2", ("sb-sc", "locked"): "safe k<=2",
}


@pytest.fixture(scope="module")
def toy_verdicts():
    rows = []
    for s in FAM.scenarios:
        row = {}
        for vn, v in FAM.variants.items():
            row[vn] = verdict(s, vn, variant_patches(v), family="toy", budget=100)
        rows.append((s.slug, row))
    return rows


def test_verdicts_of_the_toy_family(toy_verdicts):
    for slug, row in toy_verdicts:
        for vn, v in row.items():
            want = EXPECTED_TOY_TABLE[(slug, vn)]
            assert v.cell.startswith(want), (slug, vn, v.cell)
            assert v.as_expected, (slug, vn, v.problems)
    text = verdict_table("toy", list(FAM.variants), toy_verdicts)
    lines = text.splitlines()
    assert lines[0].split() == ["toy", "racy", "locked"]
    assert lines[1].split()[:2] == ["lost-update", "BUG"]
    assert "safe k<=2" in lines[1]
    row = lines[3].split()
    assert row[:2] == ["busy-cpu-flush", "HANG"] and re.fullmatch(r"@\d+", row[2])
    assert row[3:] == ["-"]
    assert lines[-1].startswith("every cell as expected")
    lu_locked = toy_verdicts[0][1]["locked"]
    assert "contended" in lu_locked.witnesses
    assert lu_locked.certificate.startswith("no failure within 2 preemptions")


def test_verdict_flags_unexpected_cells():
    s = sc("lost-update")
    wrong = verdict(s, "racy", RACY, Expect(SAFE, preemptions=2), family="toy", budget=50)
    assert wrong.cell.startswith("BUG @")
    assert not wrong.as_expected
    assert "expected safe (k<=2), got BUG" in wrong.problems[0]
    kinds = verdict(s, "racy", RACY, Expect(BUG, kinds=("lockdep",)), family="toy", budget=50)
    assert not kinds.as_expected
    missing = verdict(s, "locked", LOCKED, Expect(SAFE, witness=("lost", "nonesuch")),
                      family="toy", budget=50)
    assert missing.cell == "safe k<=2"
    assert any("'lost' never reached" in p for p in missing.problems)
    assert any("'nonesuch' is not defined" in p for p in missing.problems)
    cut = verdict(s, "locked", LOCKED, Expect(SAFE), family="toy", budget=5, dfs_budget=3)
    assert cut.cell == "safe?" and not cut.as_expected
    text = verdict_table("toy", ["racy"], [("lost-update", {"racy": wrong})])
    assert "UNEXPECTED: lost-update / racy: expected safe (k<=2), got BUG" in text
    assert "BUG @1!" in text or "!" in text.splitlines()[1]
    na = verdict(sc("busy-cpu-flush"), "locked", LOCKED, family="toy")
    assert na.cell == "-" and na.schedules == 0 and na.as_expected


# ----------------------------------------------------- interleaving table
def test_interleaving_table_shows_functions_state_and_the_failure():
    r = ex("lost-update", RACY, "random", budget=200, seed=4, trace_dir="traces-x")
    assert r.recording is not None
    head = header_line("lost-update", "racy", r.strategy, 4, r.schedule_index,
                       r.settings, r.shown)
    text = interleaving_table(r.recording, header=head, failure=r.failure,
                              extra_lines=[r.shrunk.line(), "replay: foliolab replay x.json"])
    lines = text.splitlines()
    assert lines[0].startswith("lost-update  variant racy  strategy random seed 4  schedule ")
    assert "2 CPUs CONFIG_PREEMPT  SC" in lines[0]
    assert lines[1].split() == ["step", "CPU0", "A", "CPU1", "B", "counter"]
    assert "counter_inc: load counter = 0" in text
    assert "counter_inc: store counter = 1" in text
    assert 'FAILED  property "counter == 2": counter is 1 after two increments' in text
    assert "        shrunk: 1 preemption (step " in text
    assert lines[-1] == "        replay: foliolab replay x.json"
    # the state column follows the steps
    assert [ln.split()[-1] for ln in lines[3:-3]][-1] == "1"
    import shutil
    shutil.rmtree("traces-x", ignore_errors=True)


def test_repetitive_rows_are_elided_unless_full():
    r = ex("busy-cpu-flush", RACY, "random", budget=5)
    head = header_line("busy-cpu-flush", "racy", r.strategy, 0, 1, r.settings)
    short = interleaving_table(r.recording, header=head, failure=r.failure)
    full = interleaving_table(r.recording, header=head, failure=r.failure, full=True)
    assert "similar steps ..." in short
    assert "similar steps" not in full
    assert len(short.splitlines()) < 40 < len(full.splitlines())
    assert "busy_loop: busy" in short
    assert "flush_remote: flush_work(lru_add_drain_work): waits for kworker/1" in short
    assert "FAILED  hung-task: INFO: task M:" in short
    # a kworker that never ran has no column, the one that did not run either
    assert "kworker" not in short.splitlines()[1]


def test_store_buffer_pseudo_tasks_get_a_column_only_when_they_step():
    r = ex("sb-tso", RACY, "dfs", preemptions=2, shrink=False)
    head = header_line("sb-tso", "racy", r.strategy, 0, r.schedule_index, r.settings)
    text = interleaving_table(r.recording, header=head, failure=r.failure)
    stepped = {r.recording.tasks[s.tid].name for s in r.recording.steps}
    for name in ("sb/0", "sb/1"):
        assert (name in text.splitlines()[1]) == (name in stepped)
    assert "x86-TSO" in text.splitlines()[0]


def test_events_render_ftrace_style():
    r = ex("lost-update", RACY, "pct", budget=50, events=True)
    ev = r.recording.events
    assert ev and ev[0][3] == "toy:counter_store"
    text = ftrace_text(ev, r.recording.tasks)
    line = [ln for ln in text.splitlines() if not ln.startswith("#")][0]
    assert ": counter_store: value=1" in line and "toy:" not in line
    assert line.split()[0] in ("A-100", "B-101")
    assert "[000]" in line or "[001]" in line


def test_watch_is_not_called_when_not_recording():
    calls = [0]

    class Counting(toy.LostUpdate):
        slug = "counting"

        def watch(self, k):
            calls[0] += 1
            return super().watch(k)

    s = Counting()
    k, res = run_schedule(s, RACY, s.settings(), RandomWalk(0).next_choose())
    assert calls[0] == 0
    assert res.machine.labels is None and res.machine.on_step is None
    k, res = run_schedule(s, RACY, s.settings(), RandomWalk(0).next_choose(), record=True)
    assert calls[0] == res.steps + 1
    assert [r.step for r in k.recording.steps] == list(range(1, res.steps + 1))


def test_find_scenario_sees_registered_families():
    fam, s = find_scenario("lost-update")
    assert fam is FAM


def test_property_violation_message_is_kept_verbatim():
    # guards the FAILED line format used in mails
    f = PropertyViolation("p", "m")
    assert (f.kind, f.prop, f.message) == ("property", "p", "m")


# ------------------------------------------------- table layout, synthetic
def _recording(rows, names=("M", "U", "kworker/1"), cpus=(0, 1, 1)):
    """A Recording from [(tid, function, label, watch)]."""
    from foliolab.explore.run import Recording, StepRecord, TaskInfo

    class T:
        def __init__(self, tid, name, cpu):
            self.tid, self.name, self.cpu, self.pid = tid, name, cpu, 100 + tid
            self.is_sb, self.daemon, self.rt_prio = False, False, 0

    rec = Recording({"ncpus": 2})
    rec.tasks = [TaskInfo(T(i, n, c)) for i, (n, c) in enumerate(zip(names, cpus))]
    rec.watch0 = {"ref": "2"}
    rec.steps = [StepRecord(i + 1, tid, label, [fn] if fn else [], watch)
                 for i, (tid, fn, label, watch) in enumerate(rows)]
    return rec


def test_nested_repetitions_are_elided_block_by_block():
    rows = [(0, "cma_alloc", "start", {"ref": "2"})]
    for p in range(10):                                  # 10 passes of 7 steps
        for i in range(3):                               # inner repetition
            rows.append((0, "migrate_pages", f"pass {p + 1}: try {i}", {"ref": "3"}))
        rows += [(0, "migrate_pages", "-EAGAIN", {"ref": "3"}),
                 (1, "folio_activate", "get F", {"ref": "4"}),
                 (1, "folio_put", "put F", {"ref": "3"}),
                 (0, "migrate_pages", f"pass {p + 1} done", {"ref": "3"})]
    rows.append((0, "cma_alloc", "-EBUSY", {"ref": "2"}))
    rec = _recording(rows)
    text = interleaving_table(rec, header="h")
    assert "... 56 similar steps (8 x 7) ..." in text
    full = interleaving_table(rec, header="h", full=True)
    assert "similar" not in full
    assert len(full.splitlines()) == len(rows) + 4
    lines = text.splitlines()
    assert len(lines) < 25
    shown = [int(ln.split()[0]) for ln in lines[2:-1] if ln.split()[0].isdigit()]
    assert shown == sorted(shown) and shown[0] == 0 and shown[-1] == len(rows)


def test_long_cells_wrap_instead_of_being_cut():
    long = "unlock_page_lruvec_irqrestore: spin_unlock_irq(lruvec(/,node0)->lru_lock) and more"
    rows = [(0, "", "a" * 20, {"ref": "2"}), (1, "", "b" * 20, {"ref": "2"}),
            (2, "", long, {"ref": "3"})]
    rec = _recording(rows)
    text = interleaving_table(rec, header="h", col_width=20, max_area=60)
    lines = text.splitlines()
    area = 3 * 20 + 2 * 2                 # three columns of 20 (wider than max_area)
    assert max(len(ln) for ln in lines[1:-1]) <= 4 + 2 + area + 2 + 3
    pieces = [ln[6 + 44:6 + area].strip() for ln in lines[2:-1]]
    pieces = [p for p in pieces if p and not p.startswith("b")]
    assert len(pieces) > 1                 # wrapped
    assert "".join(pieces).replace(" ", "") == long.replace(" ", "")
    assert lines[-1] == "no failure (3 steps)"
    wide = interleaving_table(rec, header="h", col_width=20, max_area=60, full=True)
    assert long in wide


def test_every_scenario_defaults_to_tso_or_says_why_sc_is_enough():
    """A certificate under SC silently assumes that no store waits in a store
    buffer; a scenario that defaults to SC must say why that is enough."""
    from foliolab.explore.registry import families
    for fam in families().values():
        for s in fam.scenarios:
            mm = s.settings()["memory_model"]
            assert mm == "tso" or s.sc_reason, f"{fam.name}/{s.slug} defaults to {mm}"
