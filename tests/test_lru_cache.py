"""Family lru_cache (seed 000): the fidelity table and the model's findings.

Every (scenario, variant) cell is a test: the explorer must find the failure
the catalogue expects (BUG/HANG) or certify the scenario (SAFE) with the
bound the scenario states.  The failures are found by the explorer, never
asserted by hand; removing a fix (running the scenario under the variant
without it) flips the cell, which the same table checks.
"""

from __future__ import annotations

import pytest

from foliolab.explore.verdict import verdict
from foliolab.mm.swap import folio_in_cpu_batches
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios import NA
from foliolab.scenarios.base import make_run

FAMILY = find_family("lru_cache")

# Cells the explorer cannot decide within the verdict's budgets, with the
# reason (xfail, strict: a cell that starts passing must be moved out).
# nested-skip v2 used to be here: its race needs a store that stays in CPU0's
# store buffer across a dozen steps of two other CPUs; PCT (d<=3, 20,000
# schedules) and the k=2 DFS (cut at 100,000) miss it, the sticky walk finds
# it in about 1 schedule in 500.
EXPLORER_GAPS = {}

CELLS = [(s.slug, v) for s in FAMILY.scenarios for v in FAMILY.variants
         if s.expect(v).outcome != NA]


def _params():
    for slug, v in CELLS:
        marks = ()
        if (slug, v) in EXPLORER_GAPS:
            marks = (pytest.mark.xfail(reason=EXPLORER_GAPS[(slug, v)], strict=True),)
        yield pytest.param(slug, v, id=f"{slug}-{v}", marks=marks)


@pytest.mark.parametrize("slug,variant", list(_params()))
def test_fidelity(slug, variant):
    sc = FAMILY.scenario(slug)
    v = verdict(sc, variant, variant_patches(FAMILY.variants[variant]),
                family=FAMILY.name, trace_dir=None, shrink=False)
    assert v.as_expected, f"{slug} under {variant}: {'; '.join(v.problems)}"


def test_every_variant_and_scenario_of_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert slugs == {"readd-after-drain", "add-after-drain", "nested-disablers", "busy-cpu",
                     "unpaired-disable", "drain-transient", "drain-gen-shortcut"}
    for v in ("v0", "minchan-rfc", "lru-cache-disable", "nested-skip-v1", "nested-skip-v2",
              "sync-rcu", "sync-rcu-expedited"):
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
    assert "waits in cpu0's lru_add batch" in r.failure.message
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


def test_removing_the_fix_reopens_race_a():
    """The same scenario: the fixed kernel is certified, the kernel without
    the patch fails -- the test is about the patch, not the scenario."""
    sc = FAMILY.scenario("readd-after-drain")
    fixed = verdict(sc, "sync-rcu", variant_patches(FAMILY.variants["sync-rcu"]),
                    family=FAMILY.name, trace_dir=None, shrink=False)
    base = verdict(sc, "v0", variant_patches(FAMILY.variants["v0"]),
                   family=FAMILY.name, trace_dir=None, shrink=False)
    assert fixed.outcome == "safe" and base.outcome == "bug"
    assert "lru_activate batch" in base.failure.message
