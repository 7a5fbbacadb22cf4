"""Family memcg_lru_lock (seed 004): the fidelity table, the two faces of
Hugh Dickins' VM_BUG_ON, and the lockdep report of the v17 munlock.

Every (scenario, variant) cell is a test, checked by the explorer against
the scenario's Expect (a buggy variant must be caught, a safe one certified
at the stated bound); no outcome is asserted by hand.  Removing a fix is
running the scenario under the variant without it: b-v11 vs
c-test-clear-lru (fc574c23558c, 9df41314390b), b4 vs d (the recheck under
the lock), e vs c (lock_page_memcg inside the lru_lock).
"""

from __future__ import annotations

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.patches.eras import get_era
from fidelity import applicable_cells, assert_cell

FAMILY = find_family("memcg_lru_lock")
CELLS = applicable_cells(FAMILY)


@pytest.mark.parametrize("slug,variant", [pytest.param(s, v, id=f"{s}-{v}") for s, v in CELLS])
def test_fidelity(slug, variant):
    assert_cell(FAMILY, slug, variant)


def test_every_scenario_and_variant_of_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert {"move-charge-vs-rotate", "move-charge-vs-rotate-nodebug",
            "compaction-trylock-before-ref", "final-put-under-lruvec-lock",
            "putback-vs-release", "munlock-lock-order"} <= slugs
    assert list(FAMILY.variants) == ["a-pgdat-lock", "b-v11", "b4-writer-lock",
                                     "c-test-clear-lru", "c2-folio", "d-lock-recheck",
                                     "e-memcg-lock-first"]


def test_the_family_runs_the_v5_11_era_with_the_reduction():
    assert FAMILY.era == "v5.11"
    assert all(s.era == "v5.11" and s.footprints for s in FAMILY.scenarios)
    assert get_era("v5.11").patches == ("era-v5.11",)


def _failure(slug, variant, budget=300):
    sc = FAMILY.scenario(slug)
    ex = explore(sc, variant, variant_patches(FAMILY.variants[variant]), "portfolio", budget, 0,
                 trace_dir=None, progress=False, shrink=False, record=False, family=FAMILY.name)
    assert ex.failure is not None, f"{slug} under {variant}: no failure in {budget} schedules"
    return ex.failure


def test_b_v11_shows_hughs_vm_bug_on_and_in_its_harmful_order_list_corruption():
    f = _failure("move-charge-vs-rotate", "b-v11")
    assert f.kind == "BUG"
    assert "VM_BUG_ON_PAGE(lruvec_memcg(lruvec) != memcg)" in f.message
    f = _failure("move-charge-vs-rotate-nodebug", "b-v11")
    assert f.kind == "list-corruption"
    assert "list_del corruption" in f.message and "lruvec(B,node0)" in f.message


def test_the_lockdep_report_of_the_v17_munlock_names_both_chains():
    f = _failure("munlock-lock-order", "e-memcg-lock-first", budget=5)
    assert f.kind == "lockdep"
    msg = f.message
    assert "circular locking dependency" in msg
    assert "&memcg->move_lock -> &lruvec->lru_lock by" in msg
    assert "&lruvec->lru_lock -> &memcg->move_lock by munlock" in msg
    assert "__munlock_pagevec" in msg and "lock_page_memcg" in msg


def test_cg_m_shape_b_v11_hits_the_vm_bug_on_c_never():
    """The measure experiment's shape on a small run (1 s period, 20 ms of
    simulated time): b-v11 ends in the VM_BUG_ON on most seeds (the mean
    time to it is about 10-20 ms); c-test-clear-lru never does.  Counts,
    not exact figures."""
    from foliolab.measure.experiments import find_experiment
    from foliolab.measure.run import run_one
    e = find_experiment("cg-m")
    p = e.params({"move_period_ns": e.defaults["second_ns"], "sim_limit_ns": 20_000_000})
    b = [run_one(e, "b-v11", seed, p) for seed in range(6)]
    assert sum(1 for r in b if r["failure"] and "VM_BUG_ON" in r["failure"]) >= 3
    p = e.params({"move_period_ns": e.defaults["second_ns"], "sim_limit_ns": 3_000_000})
    c = [run_one(e, "c-test-clear-lru", seed, p) for seed in range(2)]
    assert all(r["failure"] is None and r["counters"]["moves"] > 10 for r in c)
