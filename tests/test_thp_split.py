"""Family thp_split (seed 003): the fidelity table and what the livelock
report says.

Every (scenario, variant) cell is a test, checked by the explorer against
the scenario's Expect (b0 must be caught livelocking, every fixed variant
and every control certified); no outcome is asserted by hand.
"""

from __future__ import annotations

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from fidelity import applicable_cells, assert_cell

FAMILY = find_family("thp_split")
CELLS = applicable_cells(FAMILY)


@pytest.mark.parametrize("slug,variant", [pytest.param(s, v, id=f"{s}-{v}") for s, v in CELLS])
def test_fidelity(slug, variant):
    assert_cell(FAMILY, slug, variant)


def test_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert {"tail-wait-livelock", "tail-wait-k-lt-n", "tail-wait-preempt-full"} <= slugs
    assert list(FAMILY.variants) == ["b0", "b1-cond-resched", "b3-compound-head",
                                     "b4-wait-on-locked"]
    assert FAMILY.era == "v5.12"


def test_the_livelock_report_names_the_starving_and_the_spinning_tasks():
    sc = FAMILY.scenario("tail-wait-livelock")
    ex = explore(sc, "b0", variant_patches(FAMILY.variants["b0"]), "portfolio", 2000, 0,
                 trace_dir=None, progress=False, shrink=False, family=FAMILY.name)
    assert ex.failure is not None and ex.failure.kind == "livelock"
    msg = ex.failure.message
    # a repeating state, not a step budget
    assert "is the state after step" in msg and "did not finish within" not in msg
    assert "starving: P0 (runnable: cpu0 held by T2" in msg
    assert "T1 on cpu1" in msg and "T2 on cpu0" in msg
    assert "asleep: P1" in msg


# ------------------------------------------------------------- measure mode
def _totals(e, variants, seeds, params, costs=None):
    from foliolab.measure.costs import CostModel
    from foliolab.measure.run import run_one
    out = {}
    for v in variants:
        tot = {}
        for seed in range(seeds):
            r = run_one(e, v, seed, e.params(params), CostModel(costs or {}))
            for key, n in r["counters"].items():
                tot[key] = tot.get(key, 0) + n
        out[v] = tot
    return out


def test_split_success_rate_shape_b3_lowest_b4_highest():
    from foliolab.measure.experiments import find_experiment
    e = find_experiment("split-success-rate")
    tot = _totals(e, e.variants, 3, {"split_attempts": 40})
    rate = {v: t.get("thp_split_page", 0) / t["split_attempts"] for v, t in tot.items()}
    assert rate["b3-compound-head"] < rate["b0"] <= rate["b4-wait-on-locked"] == 1.0, rate
    assert all(not t.get("migration_entry_left") for t in tot.values())


def test_b0_hangs_when_need_resched_meets_the_remap_and_b3_does_not():
    from foliolab.measure.experiments import find_experiment
    e = find_experiment("thp-hang")
    tot = _totals(e, ("b0", "b3-compound-head"), 3, {"split_attempts": 300},
                  {"slice": 20_000})
    assert tot["b0"].get("livelock", 0) >= 1, tot["b0"]
    assert not tot["b3-compound-head"].get("livelock"), tot["b3-compound-head"]


@pytest.mark.parametrize("slug,variant", [pytest.param(s, v, id=f"fp-{s}-{v}") for s, v in CELLS])
def test_every_step_declares_what_it_touches(slug, variant):
    """The family is searched with the reduction (footprints = True): the
    footprint checker watches the random walk, the sticky walk and the first
    DFS schedules of every cell."""
    from foliolab.explore.fpcheck import FootprintChecker
    sc = FAMILY.scenario(slug)
    assert sc.footprints
    patches = variant_patches(FAMILY.variants[variant])
    with FootprintChecker() as chk:
        for strategy, budget in (("random", 10), ("sticky", 10), ("dfs", 40)):
            explore(sc, variant, patches, strategy, budget, 1, trace_dir=None,
                    progress=False, shrink=False, record=False, setup=chk.prepare,
                    family=FAMILY.name, preemptions=1)
    assert not chk.violations, chk.report()
