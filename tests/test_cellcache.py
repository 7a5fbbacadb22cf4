"""A cell reuses another variant's exploration only when the scenario runs
the same code under both (explore/cellcache.py)."""

from __future__ import annotations

from foliolab.engine.kernel import BASELINE, Patch, record_lookups
from foliolab.explore.cellcache import CellCache
from foliolab.explore.registry import find_family, variant_patches
from foliolab.explore.verdict import verdict

FAMILY = find_family("lru_cache")
SC = FAMILY.scenario("drain-gen-shortcut")
SMALL = dict(family=FAMILY.name, trace_dir=None, shrink=False, budget=3, dfs_budget=40)


def _cell(variant, cache, patches=None):
    return verdict(SC, variant, patches or variant_patches(FAMILY.variants[variant]),
                   cache=cache, **SMALL)


def _same_cell(a, b):
    return (a.cell, a.outcome, a.schedules, a.steps, a.certificate, a.partial_certificate,
            a.witnesses) == (b.cell, b.outcome, b.schedules, b.steps, b.certificate,
                             b.partial_certificate, b.witnesses)


def test_a_reused_cell_is_the_cell_computed_afresh():
    cache = CellCache()
    _cell("lru-cache-disable", cache)
    shared = _cell("nested-skip-v1", cache)
    assert shared.same_as == "lru-cache-disable" and cache.hits == 1
    fresh = _cell("nested-skip-v1", None)
    assert fresh.same_as is None
    assert _same_cell(shared, fresh)
    assert shared.column == "nested-skip-v1"


def _wrapper_patch(fname):
    p = Patch("test-wrap", title="a wrapper that changes nothing", summary="")

    @p.wraps(fname)
    def wrapper(k, orig, *args, **kw):
        return (yield from orig(*args, **kw))
    return p


def test_a_patch_to_a_function_the_scenario_calls_is_explored_again():
    cache = CellCache()
    with record_lookups() as names:
        _cell("v0", cache)
    called = sorted(n for n in names if n in BASELINE)
    assert "lru_add_drain_all" in called
    again = _cell("v0", cache, [_wrapper_patch("lru_add_drain_all")])
    assert again.same_as is None and cache.hits == 0


def test_a_patch_to_a_function_the_scenario_never_calls_shares_the_exploration():
    cache = CellCache()
    with record_lookups() as names:
        _cell("v0", cache)
    import inspect
    uncalled = sorted(n for n, f in BASELINE.items()
                      if n not in names and inspect.isgeneratorfunction(f))
    assert uncalled
    shared = _cell("v0", cache, [_wrapper_patch(uncalled[0])])
    assert shared.same_as == "v0" and cache.hits == 1
