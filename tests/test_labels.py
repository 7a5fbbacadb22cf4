"""Step labels name what the step did that another CPU can observe (issue
12, 5): the three held-out cases -- a migratetype read before zone->lock,
a page committed to a pcp list, the CPUs a pcp drain skips -- each in a
run of the model, recorded as the interleaving table shows it."""

from __future__ import annotations

from foliolab.explore.run import run_schedule
from foliolab.explore.strategies import RandomWalk
from foliolab.mm.page import folio_put_testzero
from foliolab.mm.page_alloc import setup_alloc_page_at
from foliolab.scenarios.base import Scenario


def _free(k, page, order):
    folio_put_testzero(page)
    if order:
        yield from k.fn.__free_pages_ok(page, order)
    else:
        yield from k.fn.free_unref_page(page)


def _drain(k):
    yield from k.fn.drain_all_pages(None)


class Frees(Scenario):
    slug = "label-audit"
    defaults = {"memory_model": "sc", "ncpus": 2}
    sc_reason = "one task at a time: the labels, not the interleavings"

    def setup(self, k):
        big = setup_alloc_page_at(k, 0x800, order=2)
        small = setup_alloc_page_at(k, 0x900)
        k.m.spawn("B", 0, _free(k, big, 2))
        k.m.spawn("S", 0, _free(k, small, 0))
        k.m.spawn("D", 1, _drain(k))


def _labels():
    sc = Frees()
    k, res = run_schedule(sc, [], sc.settings(), RandomWalk(0).next_choose(), record=True)
    assert res.failure is None, res.failure
    return [(r.chain[-1] if r.chain else "", r.label) for r in k.recording.steps]


def test_the_migratetype_read_before_the_lock_is_named():
    labels = _labels()
    assert any(f == "free_one_page" and "pfn 0x800 read as Movable; spin_lock(" in x
               for f, x in labels), labels


def test_a_pcp_commit_is_named_not_local_irq_enable():
    labels = _labels()
    assert any("pfn 0x900 on cpu0's pcp Movable list (count 1); local_irq_enable" in x
               for _, x in labels), labels
    assert ("free_unref_page", "local_irq_enable") not in labels


def test_the_cpus_a_drain_skips_are_named():
    labels = _labels()
    drain = [x for f, x in labels if "pcp->count" in x]
    assert drain and "skips cpu0, cpu1" in drain[0], labels
    assert not any(x == "mutex_unlock(pcpu_drain_mutex)" for _, x in labels)


def test_a_failure_names_the_batch_in_the_eras_words():
    """A v5.12 failure names the per-CPU pagevec (lru_pvecs.lru_add), not the
    v5.12 move function that shares the modern batch's name
    (__pagevec_lru_add_fn)."""
    from foliolab.explore.explorer import explore
    from foliolab.explore.registry import find_scenario, find_variant, variant_patches

    fam, sc = find_scenario("drain-gen-shortcut")
    v = "no-mb-after-gen-bump"
    ex = explore(sc, v, variant_patches(find_variant(fam, v)), "portfolio", 500, 0,
                 trace_dir=None, progress=False, shrink=False, record=False, family=fam.name)
    assert ex.failure is not None
    assert "cpu0's lru_pvecs.lru_add batch" in ex.failure.message
    assert "__pagevec_lru_add_fn" not in ex.failure.message
