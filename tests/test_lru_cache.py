"""Family lru_cache (seed 000): the fidelity table and the model's findings.

Every (scenario, variant) cell is a test: the explorer must find the failure
the catalogue expects (BUG/HANG) or certify the scenario (SAFE) with the
bound the scenario states.  The failures are found by the explorer, never
asserted by hand; removing a fix (running the scenario under the variant
without it) flips the cell, which the same table checks.
"""

from __future__ import annotations

import pytest

from foliolab.explore import explore, replay_schedule, run_schedule
from foliolab.explore.verdict import verdict
from foliolab.mm.swap import folio_in_cpu_batches
from foliolab.explore.registry import find_family, variant_patches
from fidelity import applicable_cells, assert_cell
from foliolab.scenarios.base import make_run

FAMILY = find_family("lru_cache")

# Cells the explorer cannot decide within the verdict's budgets, with the
# reason (xfail, strict: a cell that starts passing must be moved out).
# nested-skip v2 used to be here: its race needs a store that stays in CPU0's
# store buffer across a dozen steps of two other CPUs; PCT (d<=3, 20,000
# schedules) and the k=2 DFS (cut at 100,000) miss it, the sticky walk finds
# it in about 1 schedule in 500.
EXPLORER_GAPS = {}

CELLS = applicable_cells(FAMILY)


def _params():
    for slug, v in CELLS:
        marks = ()
        if (slug, v) in EXPLORER_GAPS:
            marks = (pytest.mark.xfail(reason=EXPLORER_GAPS[(slug, v)], strict=True),)
        yield pytest.param(slug, v, id=f"{slug}-{v}", marks=marks)


@pytest.mark.parametrize("slug,variant", list(_params()))
def test_fidelity(slug, variant):
    assert_cell(FAMILY, slug, variant)


def test_every_variant_and_scenario_of_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert slugs == {"readd-after-drain", "add-after-drain", "nested-disablers", "busy-cpu",
                     "unpaired-disable", "drain-transient", "drain-gen-shortcut"}
    for v in ("v0", "minchan-rfc", "lru-cache-disable", "mhocko-atomic", "nested-skip-v1",
              "nested-skip-v2", "sync-rcu", "sync-rcu-expedited"):
        assert v in FAMILY.variants


def _guided_nested_run(variant):
    """C0 adds F and reads the disable count as 0; C1 increments; C2 does
    everything else: Michal's diagram as a schedule (two preemptions)."""
    sc = FAMILY.scenario("nested-disablers")
    k = make_run(sc, variant_patches(FAMILY.variants[variant]), sc.settings())
    byname = {t.name: t for t in k.m.tasks}
    C0, C1, C2 = byname["C0"], byname["C1"], byname["C2"]

    def choose(m, en):
        queued = bool(folio_in_cpu_batches(k, k.F))
        if C0 in en and k.lru_disable_count.counter == 0 and (not queued or C0.preempt_count):
            return C0
        if C1 in en and k.lru_disable_count.counter == 0:
            return C1
        return C2 if C2 in en else en[0]

    return k.m.run(choose)


def test_nested_skip_v2_race_is_in_the_model():
    """Michal's diagram as a two-preemption schedule: v2 fails on it, the
    merged forced drain does not."""
    r = _guided_nested_run("nested-skip-v2")
    assert r.failure is not None and r.failure.kind == "property"
    assert "waits in cpu0's cpu_fbatches.lru_add" in r.failure.message
    assert _guided_nested_run("lru-cache-disable").failure is None


def test_nested_skip_v2_needs_the_store_buffer():
    """Under sequential consistency the same schedule is safe for v2: the
    non-forced drain sees CPU0's batch counter."""
    sc = FAMILY.scenario("nested-disablers")
    saved = sc.defaults
    sc.defaults = dict(saved, memory_model="sc")
    try:
        r = _guided_nested_run("nested-skip-v2")
    finally:
        sc.defaults = saved
    assert r.failure is None


def _mhocko_atomic(slug):
    return FAMILY.scenario(slug), variant_patches(FAMILY.variants["mhocko-atomic"])


def _follow_by_name(names):
    """A policy that runs the tasks named in ``names``, one a step, for as long
    as they are enabled (a schedule recorded under TSO, its store-buffer steps
    dropped: under SC, task ids differ and there is no store buffer), and the
    first enabled task once the run has left it."""
    def choose(m, en):
        if m.steps < len(names):
            for t in en:
                if t.name == names[m.steps]:
                    return t
        return en[0]

    return choose


def test_mhocko_atomic_readd_failure_needs_the_store_buffer():
    """The explorer's failing schedule of Race A under Michal's sketch (TSO)
    replays exactly under TSO; the same schedule under SC does not fail: U's
    batch counter is visible to M's drain, which queues the drain on cpu1 --
    the run leaves the recorded schedule there, and F is drained."""
    sc, patches = _mhocko_atomic("readd-after-drain")
    tso = {"memory_model": "tso"}
    ex = explore(sc, "mhocko-atomic", patches, "sticky", 3000, 0, settings=tso,
                 trace_dir=None, progress=False, shrink=False, record=False)
    assert ex.outcome == "failure" and ex.failure.kind == "property"
    assert "cpu1's lru_pvecs.activate_page" in ex.failure.message

    _, res = replay_schedule(sc, patches, sc.settings(tso), ex.schedule)
    assert res.failure is not None and res.failure.kind == "property"

    names = [ex.tasks[tid] for tid in ex.schedule if not ex.tasks[tid].startswith("sb/")]
    k, res = run_schedule(sc, patches, sc.settings({"memory_model": "sc"}),
                          _follow_by_name(names))
    assert res.failure is None and not k.stranded_causes
    ran = [k.m.tasks[tid].name for tid in res.schedule]
    diverged = next(i for i, (a, b) in enumerate(zip(ran, names)) if a != b)
    # where SC leaves the schedule: the drain found cpu1's batch non-empty and
    # cpu1's kworker drains F (under TSO M went on to isolate F)
    assert ran[diverged] == "kworker/1" and names[diverged] == "M"


def _guided_readd_run(variant, memory_model):
    """Race A as the SB shape: U queues F and leaves its batch section (its
    counter store still buffered under TSO); M runs its increment and its
    drain; the store becomes visible right after the drain; then M goes on.
    Returns the run's result and the steps at which a buffered store of
    cpu1 was made visible."""
    sc = FAMILY.scenario("readd-after-drain")
    k = make_run(sc, variant_patches(FAMILY.variants[variant]),
                 sc.settings({"memory_model": memory_model}))
    byname = {t.name: t for t in k.m.tasks}
    M, U, sb1 = byname["M"], byname["U"], byname.get("sb/1")
    flushed = []

    def choose(m, en):
        if U in en and (not folio_in_cpu_batches(k, k.F) or U.preempt_count):
            return U
        drained = k.lru_drain_gen.v >= 1 and k.lru_add_drain_all_lock.owner is None
        if drained and sb1 in en:
            flushed.append(m.steps + 1)
            return sb1
        if M in en:
            return M
        return next(t for t in en if not t.is_sb)

    return k.m.run(choose), flushed


def test_mhocko_atomic_store_needs_to_linger_only_across_the_drain():
    """The store of U's batch counter becomes visible right after M's drain
    skipped cpu1: too late, F stays batched while M migrates.  SC, and the
    designs that run something on cpu1 after the increment (the RFC's
    barrier, the forced drain), do not fail on this schedule."""
    r, flushed = _guided_readd_run("mhocko-atomic", "tso")
    assert r.failure is not None and r.failure.kind == "property"
    assert "cpu1's cpu_fbatches.lru_activate" in r.failure.message
    assert len(flushed) == 1               # cpu1's counter store, right after the drain
    assert _guided_readd_run("mhocko-atomic", "sc")[0].failure is None
    for v in ("minchan-rfc", "lru-cache-disable"):
        r, flushed = _guided_readd_run(v, "tso")
        assert r.failure is None and not flushed   # cpu1's context switch drained it


@pytest.mark.parametrize("slug", ["readd-after-drain", "add-after-drain"])
def test_mhocko_atomic_is_safe_under_sc(slug):
    """Under sequential consistency Michal's sketch closes Race A and B: the
    k=2 DFS certifies both scenarios."""
    sc, patches = _mhocko_atomic(slug)
    ex = explore(sc, "mhocko-atomic", patches, "dfs", 200_000, 0,
                 settings={"memory_model": "sc"}, preemptions=2,
                 trace_dir=None, progress=False, shrink=False, record=False)
    assert ex.outcome == "certified", ex.failure


def test_removing_the_fix_reopens_race_a():
    """The same scenario: the fixed kernel is certified, the kernel without
    the patch fails -- the test is about the patch, not the scenario."""
    sc = FAMILY.scenario("readd-after-drain")
    fixed = verdict(sc, "sync-rcu", variant_patches(FAMILY.variants["sync-rcu"]),
                    family=FAMILY.name, trace_dir=None, shrink=False)
    base = verdict(sc, "v0", variant_patches(FAMILY.variants["v0"]),
                   family=FAMILY.name, trace_dir=None, shrink=False)
    assert fixed.outcome == "safe" and base.outcome == "bug"
    assert "lru_pvecs.activate_page" in base.failure.message
