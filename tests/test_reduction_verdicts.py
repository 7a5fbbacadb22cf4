"""The reduction changes how many schedules a cell costs, never its verdict.

For every applicable lru_cache cell, the systematic search with partial-order
reduction and the plain one (every schedule within the bound) run at the
same bound; where the plain search finishes within its cap, the two must
agree: both certify, or both find a failure.  The bound
is 0 preemptions: the plain search at the cells' own bounds runs to hundreds
of thousands of schedules (bench/bench.py --only certificates prints both
counts at the cells' bounds).  Cells whose plain search does not finish
within the cap are skipped, with the count, so the gap is visible.
"""

from __future__ import annotations

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios import NA

FAMILY = find_family("lru_cache")
CELLS = [(s.slug, v) for s in FAMILY.scenarios for v in FAMILY.variants
         if s.expect(v).outcome != NA]
PLAIN_CAP = 4000


def _verdict(ex):
    # the first failure each search meets may differ (the two orders of
    # the tree differ); whether there is one may not
    return ex.outcome


@pytest.mark.parametrize("slug,variant", CELLS)
def test_same_verdict_with_and_without_the_reduction(slug, variant):
    sc = FAMILY.scenario(slug)
    patches = variant_patches(FAMILY.variants[variant])
    kw = dict(trace_dir=None, progress=False, shrink=False, record=False,
              family=FAMILY.name, preemptions=0)
    plain = explore(sc, variant, patches, "dfs", PLAIN_CAP, 0, reduction="none", **kw)
    if plain.outcome != "failure" and not plain.complete:
        pytest.skip(f"the plain search at k<=0 needs more than {PLAIN_CAP} schedules")
    reduced = explore(sc, variant, patches, "dfs", None, 0, **kw)
    assert _verdict(reduced) == _verdict(plain), (
        f"DPOR: {reduced.summary()}\nplain: {plain.summary()}")
    assert reduced.schedules <= plain.schedules or plain.outcome == "failure"
