"""Measure mode: the shape of the published figure, determinism, the cost
model's effect, and the command line.  No exact counts are asserted: a
change of the cost model may move them; the shape must hold."""

import json

import pytest

from foliolab import cli
from foliolab.measure.clock import Clock
from foliolab.measure.costs import CostError, CostModel, step_kind
from foliolab.measure.experiments import find_experiment
from foliolab.measure.run import run_one
from foliolab.measure.session import Measurement

SMALL = {"cma_allocs": 10}


def _total(meas, variant, key="migrate_fail_pass_gt2"):
    return meas.summary()["variants"][variant]["rows"][key]["total"]


def test_minchan_2021_shape_v0_well_above_lru_cache_disable():
    e = find_experiment("minchan-2021")
    meas = Measurement(e, ("v0", "lru-cache-disable"), 2, e.params(SMALL), CostModel()).run()
    v0, lcd = _total(meas, "v0"), _total(meas, "lru-cache-disable")
    assert v0 >= 10, f"v0 should fail migrations at pass > 2 under app launches ({v0})"
    assert v0 >= 10 * max(lcd, 1), (v0, lcd)
    s = meas.summary()
    for v in ("v0", "lru-cache-disable"):
        assert not s["variants"][v]["failures"], s["variants"][v]["failures"]


def test_a_run_is_a_function_of_its_seed():
    e = find_experiment("minchan-2021")
    p = e.params({"cma_allocs": 3})
    a = run_one(e, "v0", 7, p)
    b = run_one(e, "v0", 7, p)
    assert a["counters"] == b["counters"] and a["sim_ns"] == b["sim_ns"] and a["steps"] == b["steps"]
    c = run_one(e, "v0", 8, p)
    assert (c["sim_ns"], c["steps"]) != (a["sim_ns"], a["steps"])


def test_the_grace_period_cost_sets_the_sync_rcu_latency():
    e = find_experiment("disable-latency")
    p = e.params({"cma_allocs": 2, "disable_users": 1})

    def p50(costs):
        r = run_one(e, "sync-rcu", 0, p, CostModel(costs))
        xs = sorted(r["samples"]["lru_cache_disable"])
        return xs[len(xs) // 2]
    slow, fast = p50({}), p50({"rcu_gp": 1_000_000})
    assert slow > 5 * fast and fast >= 1_000_000
    exp = run_one(e, "sync-rcu-expedited", 0, p)["samples"]["lru_cache_disable"]
    assert max(exp) < slow / 10


def test_cost_model_rejects_unknown_kinds_and_bad_values():
    with pytest.raises(CostError):
        CostModel({"bogus": 1})
    with pytest.raises(CostError):
        CostModel({"copy": -1})
    with pytest.raises(CostError):
        CostModel({"jitter": 1.5})


def test_step_kinds_follow_the_kernel_function_of_the_label():
    assert step_kind("spin_lock_irq(zone(Normal)->lock)") == "lock"
    assert step_kind("folio_add_lru: get F (ref 2)") == "list"
    assert step_kind("queue_work_on(1, mm_percpu_wq, lru_add_drain_work/1)") == "work"
    assert step_kind("synchronize_rcu_expedited: waits for x") == "rcu_exp"
    assert step_kind("synchronize_rcu: waits for x") == "rcu_gp"
    assert step_kind("something unnamed") == "page"


def test_clock_runs_the_earliest_task_and_accrues_waiting():
    from foliolab.engine.machine import Machine
    from foliolab.engine.sync import spin_lock, spin_unlock, spinlock_t
    import random
    m = Machine(2, memory_model="sc", fair_bound=0)
    lock = spinlock_t(m, "l")

    def holder():
        yield from spin_lock(lock)
        for _ in range(10):
            yield "page step"
        yield from spin_unlock(lock)

    def waiter():
        yield "page step"
        yield from spin_lock(lock)
        yield from spin_unlock(lock)

    m.spawn("A", 0, holder())
    m.spawn("B", 1, waiter())
    clock = Clock(m, CostModel({"jitter": 0}), random.Random(0)).install()
    res = m.run(clock.choose)
    assert res.failure is None
    # B spun until A's unlock: it waited at least A's ten page steps
    assert clock.waited.get(1, 0) >= 10 * 20 - 20


def _cli(args, capsys):
    rc = cli.run(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_measure_list_and_bad_input(capsys, tmp_path):
    rc, out, _ = _cli(["measure", "--list"], capsys)
    assert rc == 0 and "minchan-2021" in out
    for args, what in [(["measure", "nope"], "unknown experiment"),
                       (["measure", "minchan-2021", "--set", "bogus=1"], "unknown parameter"),
                       (["measure", "minchan-2021", "--set", "ncpus=x"], "expected an integer"),
                       (["measure", "minchan-2021", "--set", "cma_alloc_pages=99999"], "larger than"),
                       (["measure", "minchan-2021", "--cost", "nope=1"], "unknown cost"),
                       (["measure", "minchan-2021", "-V", "nope"], "unknown variant"),
                       (["measure", "minchan-2021", "--plot", "/proc/nope"], "--plot"),
                       (["measure", "minchan-2021", "--seeds", "0"], "--seeds")]:
        rc, out, err = _cli(args, capsys)
        assert rc == 2 and what in err and len(err.strip().splitlines()) == 1, (args, err)
    bad = tmp_path / "costs.json"
    bad.write_text("{not json")
    rc, _, err = _cli(["measure", "minchan-2021", "--cost-file", str(bad)], capsys)
    assert rc == 2 and "not JSON" in err


def test_measure_json_plot_and_table(capsys, tmp_path):
    args = ["measure", "minchan-2021", "--seeds", "2", "--set", "cma_allocs=3", "-j", "1",
            "--no-progress"]
    rc, out, _ = _cli(args + ["--json"], capsys)
    assert rc == 0
    doc = json.loads(out)
    row = doc["variants"]["v0"]["rows"]["migrate_fail_pass_gt2"]
    assert {"mean", "low", "high", "stddev", "total", "n"} <= set(row)
    assert doc["runs_done"] == doc["runs_total"] == 4
    rc, out, _ = _cli(args + ["--plot", str(tmp_path), "--set", "ncpus=4", "--seeds", "1"],
                      capsys)
    assert rc == 0 and "migrate fail (pass>2)" in out
    files = sorted(p.name for p in tmp_path.iterdir())
    assert any(f.endswith(".png") for f in files) and any(f.endswith(".svg") for f in files)


def test_ctrl_c_keeps_the_finished_runs(capsys, monkeypatch):
    import foliolab.measure.session as S
    calls = {"n": 0}
    real = S.run_one

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **kw)
    monkeypatch.setattr(S, "run_one", flaky)
    rc, out, err = _cli(["measure", "minchan-2021", "--seeds", "2", "--set", "cma_allocs=2",
                         "-j", "1", "--no-progress"], capsys)
    assert rc == 130
    assert "interrupted: 2 of 4 runs finished" in out and "migrate fail" in out


def test_report_vs_contig_shape_fails_more_with_latency_and_never_under_v2():
    """The merged design's alloc_contig_range fails more often when the host
    acks later; v2 (wait for in-flight reports) never fails."""
    e = find_experiment("report-vs-contig")
    fails = {}
    for lat in (10_000, 3_000_000):
        p = e.params({"host_latency_ns": lat, "contig_attempts": 20})
        for v in ("v5-to-tail", "v2-drain-reports"):
            fails[(v, lat)] = sum(run_one(e, v, s, p)["counters"].get("contig_fail", 0)
                                  for s in range(2))
    assert fails[("v5-to-tail", 3_000_000)] > fails[("v5-to-tail", 10_000)] + 5, fails
    assert fails[("v2-drain-reports", 10_000)] == fails[("v2-drain-reports", 3_000_000)] == 0


def test_undo_isolation_split_drifts_under_v5_12_only():
    e = find_experiment("undo-isolation-split")
    p = e.params({"cma_allocs": 100, "alloc_think_ns": 1_000})
    drift = {v: sum(run_one(e, v, s, p)["counters"].get("nr_free_drift_pages", 0)
                    for s in range(n)) for v, n in (("v5.12", 2), ("hygiene-6.10", 1))}
    assert drift["v5.12"] > 0 and drift["v5.12"] % 512 == 0, drift
    assert drift["hygiene-6.10"] == 0, drift
