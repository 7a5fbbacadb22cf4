"""Putting a run together cheaply: what the runs of one exploration share
(the function table of a patch list) and what each has of its own, and the
collector's threshold during a search (explore/explorer.py)."""

from __future__ import annotations

import functools
import gc

from foliolab.engine.kernel import BASELINE, Patch, build_table
from foliolab.explore.explorer import SEARCH_GC_THRESHOLD, explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios.base import make_run


def _cell(slug="readd-after-drain", variant="lru-cache-disable"):
    fam = find_family("lru_cache")
    sc = fam.scenario(slug)
    return sc, variant_patches(fam.variants[variant])


def test_runs_of_a_variant_share_the_table_and_nothing_else():
    sc, patches = _cell()
    k1 = make_run(sc, patches, sc.settings())
    k2 = make_run(sc, patches, sc.settings())
    assert k1.fn._table is k2.fn._table
    assert k1.fn is not k2.fn and k1.zone is not k2.zone and k1.F is not k2.F
    # each run binds and probes in its own FunctionTable
    assert k1.fn.isolate_migratepages_range is not k2.fn.isolate_migratepages_range
    assert not isinstance(k1.fn.isolate_migratepages_range, functools.partial)   # probed
    assert isinstance(k1.fn.lru_add_drain, functools.partial)
    assert k1.fn.lru_add_drain.args == (k1,) and k2.fn.lru_add_drain.args == (k2,)
    # the same keys, in the same order, for the same objects
    assert k1.m._keys == k2.m._keys
    assert (k1.zone.fpk, k1.cma_a.fpk) == (k2.zone.fpk, k2.cma_a.fpk)


def test_a_table_follows_its_patches():
    p = Patch("test-table-follows", title="t", summary="s")

    @p.replaces("lru_add_drain")
    def first(k):
        yield "first"

    t1 = build_table([p])
    assert t1["lru_add_drain"] is first
    assert build_table([p]) is t1

    # a patch given another function after a table was built with it
    @p.replaces("lru_add_drain")
    def second(k):
        yield "second"

    t2 = build_table([p])
    assert t2["lru_add_drain"] is second
    assert t1["lru_add_drain"] is first          # a run's table never changes under it
    assert "lru_add_drain" in build_table([]) and build_table([])["lru_add_drain"] \
        is BASELINE["lru_add_drain"]


def test_a_kfunc_registered_later_is_in_the_next_table(monkeypatch):
    before = build_table([])

    def foliolab_test_late(k):
        return 1

    monkeypatch.setitem(BASELINE, "foliolab_test_late", foliolab_test_late)
    after = build_table([])
    assert "foliolab_test_late" not in before
    assert after["foliolab_test_late"] is foliolab_test_late


def test_a_search_raises_the_collector_threshold_and_restores_it():
    sc, patches = _cell()
    old = gc.get_threshold()
    seen = []
    explore(sc, "lru-cache-disable", patches, "random", 2, 0, trace_dir=None,
            progress=False, shrink=False, record=False,
            setup=lambda k: seen.append(gc.get_threshold()))
    assert gc.get_threshold() == old
    assert seen and all(t[0] >= SEARCH_GC_THRESHOLD for t in seen)
