"""The footprints the model declares are complete (lru_cache, gup_longterm,
memcg_lru_lock).

The partial-order reduction of the systematic search trusts them: a step
that touches a model object without declaring it would let the search skip
schedules it must run (tests/test_dpor.py shows the lost update vanishing
that way).  The footprint checker (explore/fpcheck.py) records every read
and write of a model object's fields between two yields; here it watches
every applicable (scenario, variant) cell of the family under the random
walk, the sticky walk (stores lingering in the store buffers) and the first
schedules of the systematic search (the non-preemptive runs and their first
reversals), and any undeclared access fails the test with the step, the task
and the field.
"""

from __future__ import annotations

import pytest

from foliolab.explore import explore
from foliolab.explore.fpcheck import FootprintChecker
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios import NA

FAMILIES = ("lru_cache", "gup_longterm", "memcg_lru_lock")
CELLS = [(name, s.slug, v) for name in FAMILIES
         for s in find_family(name).scenarios for v in find_family(name).variants
         if s.expect(v).outcome != NA]


@pytest.mark.parametrize("family", FAMILIES)
def test_the_family_is_searched_with_the_reduction(family):
    assert all(s.footprints for s in find_family(family).scenarios)


@pytest.mark.parametrize("family,slug,variant", CELLS)
def test_every_step_declares_what_it_touches(family, slug, variant):
    FAMILY = find_family(family)
    sc = FAMILY.scenario(slug)
    patches = variant_patches(FAMILY.variants[variant])
    with FootprintChecker() as chk:
        for strategy, budget in (("random", 10), ("sticky", 10), ("dfs", 40)):
            explore(sc, variant, patches, strategy, budget, 1, trace_dir=None,
                    progress=False, shrink=False, record=False, setup=chk.prepare,
                    family=FAMILY.name, preemptions=1)
    assert not chk.violations, chk.report()
