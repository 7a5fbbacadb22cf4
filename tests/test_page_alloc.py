"""Tests of the page allocator core: mm/page_alloc.py, page_isolation.py,
compaction.py, cma.py.

The migration and LRU functions that alloc_contig_range() calls belong to
other modules; the stand-ins below are registered only for these tests,
through a Patch (replacing the baseline function when it exists).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from foliolab.engine.kernel import BASELINE, Patch
from foliolab.engine.machine import Machine
from foliolab.engine.oracles import BadPageState, KernelBug, ListCorruption, RefcountUnderflow
from foliolab.mm.cma import cma_declare_contiguous
from foliolab.mm.errno import EBUSY, ENOMEM
from foliolab.mm import kernel as mm_kernel
from foliolab.mm.compaction import compact_control
from foliolab.mm.kernel import MemMap, build_kernel
from foliolab.mm.mmzone import (
    MAX_ORDER, MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_MOVABLE, MIGRATE_UNMOVABLE,
)
from foliolab.mm.page import (
    PG_lru, PageBuddy, _nonatomic_set, folio_mapcount, folio_page, folio_put_testzero,
    folio_set_lru, folio_test_lru, page_count,
)
from foliolab.mm.page_alloc import (
    GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_TRANSHUGE, GFP_USER, __GFP_NOWARN,
    check_free_area_invariants, del_page_from_free_list, get_pageblock_migratetype,
    memalloc_nocma_restore, memalloc_nocma_save, setup_alloc_page_at,
    setup_reserve_range,
)

ZONE = 4096


# ------------------------------------------------------------- stand-ins
class FakeMapping:
    def __init__(self, anon):
        self.anon = anon


ANON = FakeMapping(True)
FILE = FakeMapping(False)


def _standins():
    """Built at each boot: whether a name exists in BASELINE depends on which
    model modules other tests have imported by then."""
    p = Patch("test-standins", title="test stand-ins",
              summary="minimal LRU and migration for page allocator tests")
    funcs = {}

    def reg(f):
        funcs[f.__name__] = f
        return f

    @reg
    def folio_lruvec(k, folio):
        return k.test_lruvec

    @reg
    def lruvec_del_folio(k, lruvec, folio):
        lst = lruvec.lists[0]
        if folio.lru is not lst:
            raise ListCorruption(f"list_del corruption: {folio.label}")
        del lst[folio.pfn]
        folio.lru = None

    @reg
    def folio_is_file_lru(k, folio):
        return folio.mapping is FILE

    @reg
    def folio_put(k, folio):
        if folio_put_testzero(folio):
            yield f"folio_put: {folio.label} last reference"
            yield from k.fn.free_folio(folio)
        else:
            yield f"folio_put: {folio.label} ref {folio._refcount}"

    @reg
    def migrate_prep(k):
        yield "migrate_prep (stand-in)"

    @reg
    def lru_add_drain_all(k):
        yield "lru_add_drain_all (stand-in)"

    @reg
    def alloc_migration_target(k, page, private):
        return (yield from k.fn.__alloc_pages(private.gfp_mask, 0))

    @reg
    def migrate_pages(k, from_list, get_new_page, put_new_page, private, mode, reason):
        """Moves a folio whose refcount is exactly isolation + mappings +
        page cache; leaves the others on the list (-EAGAIN)."""
        k.test_migrate_calls += 1
        failed = 0
        for folio in list(from_list):
            k.test_migrate_seen.append(folio.label)
            expected = 1 + folio_mapcount(folio) + (folio.mapping is FILE)
            yield f"migrate_pages (stand-in): {folio.label} ref {folio._refcount}/{expected}"
            if folio._refcount != expected:
                failed += 1
                continue
            new = yield from get_new_page(folio, private)
            if new is None:
                return -ENOMEM
            from_list.remove(folio)
            new.name = folio.name
            new._mapcount = folio._mapcount
            new.mapping = folio.mapping
            add_lru(k, new)
            key = "NR_ISOLATED_FILE" if folio.mapping is FILE else "NR_ISOLATED_ANON"
            k.pgdat.vm_stat[key] -= 1
            k.test_migrated.append((folio.pfn, new.pfn))
            folio._mapcount = -1
            folio.mapping = None
            folio._refcount = 1
            yield from k.fn.__free_pages(folio, 0)
        return failed

    @reg
    def putback_movable_pages(k, lst):
        for folio in list(lst):
            lst.remove(folio)
            key = "NR_ISOLATED_FILE" if folio.mapping is FILE else "NR_ISOLATED_ANON"
            k.pgdat.vm_stat[key] -= 1
            add_lru(k, folio)
            yield from k.fn.folio_put(folio)

    for name, f in funcs.items():
        (p.replaces if name in BASELINE else p.adds)(name)(f)

    @p.init
    def init(k):
        from foliolab.mm.mmzone import lruvec
        k.test_lruvec = lruvec(k, k.pgdat, None, "lruvec(test)")
        k.test_migrate_calls = 0
        k.test_migrate_seen = []
        k.test_migrated = []

    return p


def add_lru(k, folio):
    lst = k.test_lruvec.lists[0]
    lst[folio.pfn] = folio
    folio.lru = lst
    folio_set_lru(folio)


def boot(ncpus=1, **settings_):
    m = Machine(ncpus)
    k = build_kernel(m, settings_, [_standins()])
    return m, k


class EagerMemMap(MemMap):
    """mem_map as it was before split ranges: split_map_pages() creates
    every order-0 page of the split blocks at once.  The reference the lazy
    representation must be indistinguishable from."""

    __slots__ = ()

    def add_split_range(self, start, end):
        for pfn in range(start, end):
            self[pfn]._refcount = 1


def boot_eager(ncpus=1, **settings_):
    orig = mm_kernel.MemMap
    mm_kernel.MemMap = EagerMemMap
    try:
        return boot(ncpus, **settings_)
    finally:
        mm_kernel.MemMap = orig


def materialised(k):
    """How many Page objects exist (the eager model's len(mem_map) counts
    the untouched split pages too)."""
    return dict.__len__(k.mem_map)


def mem_map_view(k):
    """Every page's state, in mem_map's iteration order."""
    return [(pfn, p._refcount, p.flags, p.page_type, p.private, p.order, p._mapcount,
             p.lru.name if p.lru is not None else None, p.index,
             p.compound_head.pfn if p.compound_head is not None else None)
            for pfn, p in k.mem_map.items()]


def run(m, *gens, choose=None):
    """Run generator(s), one task per CPU; return the tasks' return values."""
    tasks = [m.spawn(f"T{i}", i, g) for i, g in enumerate(gens)]
    res = m.run(choose or (lambda m, en: en[0]))
    if res.failure is not None:
        raise res.failure
    return [t.retval for t in tasks] if len(tasks) > 1 else tasks[0].retval


def free_lists(k):
    z = k.zone
    return [(o, mt, list(z.free_area[o].free_list[mt]))
            for o in range(MAX_ORDER) for mt in range(6) if z.free_area[o].free_list[mt]]


def lru_folio(k, pfn, mapping=None, refs=1, mapcount=1, name="F"):
    """An LRU folio at pfn: anon (mapping None) or file (FILE)."""
    f = setup_alloc_page_at(k, pfn, 0, GFP_HIGHUSER_MOVABLE, name=name)
    f._refcount = refs
    f._mapcount = mapcount - 1
    f.mapping = mapping
    add_lru(k, f)
    return f


# ================================================================== boot
def test_boot_state():
    m, k = boot(2)
    z = k.zone
    check_free_area_invariants(k)
    assert z.vm_stat == {"NR_FREE_PAGES": ZONE, "NR_FREE_CMA_PAGES": 0}
    assert free_lists(k) == [(MAX_ORDER - 1, MIGRATE_MOVABLE, [0, 1024, 2048, 3072])]
    assert [a.nr_free for a in z.free_area] == [0] * (MAX_ORDER - 1) + [4]
    assert z.pageblock_flags == [MIGRATE_MOVABLE] * (ZONE >> 9)
    assert all(p.count == 0 for p in z.pageset) and len(z.pageset) == 2
    assert len(k.mem_map) == 4            # pages are created lazily
    assert k.printk == [] and k.cma_areas == []


def test_boot_settings_checked():
    with pytest.raises(ValueError):
        build_kernel(Machine(1), {"zone_pages": 1000})
    with pytest.raises(ValueError):
        build_kernel(Machine(1), {"pageblock_order": 11})


def test_setup_alloc_page_at_splits_the_block():
    m, k = boot()
    p = setup_alloc_page_at(k, 1030)
    assert p._refcount == 1 and not PageBuddy(p)
    check_free_area_invariants(k)
    assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE - 1
    # 1030 = 1024 + 6: the 1024-block splits into orders 9..0 around it
    orders = sorted((o, pfns) for o, mt, pfns in free_lists(k) if o < MAX_ORDER - 1)
    assert [o for o, _ in orders] == list(range(MAX_ORDER - 1))
    assert (1, [1028]) in orders and (0, [1031]) in orders and (2, [1024]) in orders
    thp = setup_alloc_page_at(k, 2560, 9, GFP_TRANSHUGE)
    assert thp.order == 9 and k.pfn_to_page(2561).compound_head is thp
    check_free_area_invariants(k)
    with pytest.raises(ValueError):
        setup_alloc_page_at(k, 1030)      # already allocated


# ====================================================== alloc/free paths
def test_alloc_free_roundtrip_restores_exact_lists():
    m, k = boot()
    before = free_lists(k)

    def t():
        p = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 3)
        assert p.pfn == 0 and p._refcount == 1
        check_free_area_invariants(k)
        assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE - 8
        yield from k.fn.__free_pages(p, 3)
    run(m, t())
    check_free_area_invariants(k)
    assert free_lists(k) == before


def test_order0_goes_through_pcp_and_drain_merges_back():
    m, k = boot()

    def t():
        pages = []
        for _ in range(5):
            pages.append((yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)))
        pcp = k.zone.pageset[0]
        assert pcp.count == k.zone.pageset_batch - 5    # refilled once by rmqueue_bulk
        for p in pages:
            yield from k.fn.__free_pages(p, 0)
        assert pcp.count == k.zone.pageset_batch
        check_free_area_invariants(k)
        yield from k.fn.drain_all_pages(k.zone)
        assert pcp.count == 0
    run(m, t())
    check_free_area_invariants(k)
    assert free_lists(k)[0][0] == MAX_ORDER - 1 and k.zone.vm_stat["NR_FREE_PAGES"] == ZONE
    assert k.vmstat["pgalloc_normal"] == 5 and k.vmstat["pgfree"] == 5


def test_drain_all_pages_runs_on_the_other_cpu():
    m, k = boot(2)
    state = {}

    def cpu1():
        p = yield from k.fn.alloc_pages(GFP_KERNEL, 0)
        yield from k.fn.__free_pages(p, 0)
        state["filled"] = k.zone.pageset[1].count
        yield "cpu1 done"

    def cpu0():
        while "filled" not in state:
            yield "wait"
        yield from k.fn.drain_all_pages(None)
        return k.zone.pageset[1].count
    r0, _ = run(m, cpu0(), cpu1())
    assert state["filled"] > 0 and r0 == 0
    assert any(t.name == "kworker/1" for t in m.tasks)
    check_free_area_invariants(k)
    assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE


def test_fallback_steals_whole_pageblocks_for_unmovable():
    m, k = boot()

    def t():
        return (yield from k.fn.alloc_pages(GFP_KERNEL, 0))
    p = run(m, t())
    assert p is not None
    # the order-10 block was stolen: both pageblocks become UNMOVABLE
    assert k.zone.pageblock_flags[:2] == [MIGRATE_UNMOVABLE] * 2
    assert k.zone.pageblock_flags[2:] == [MIGRATE_MOVABLE] * 6
    check_free_area_invariants(k)


def test_cma_balancing_and_nocma():
    m, k = boot()
    cma_declare_contiguous(k, 1024, 3072)
    assert k.zone.vm_stat["NR_FREE_CMA_PAGES"] == 3072
    check_free_area_invariants(k)

    def t():
        movable = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 2)
        kernel = yield from k.fn.alloc_pages(GFP_KERNEL, 2)
        flags = memalloc_nocma_save(k)
        pinned = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 2)
        memalloc_nocma_restore(k, flags)
        return movable, kernel, pinned
    movable, kernel, pinned = run(m, t())
    assert get_pageblock_migratetype(movable) == MIGRATE_CMA    # CMA > half of free
    assert get_pageblock_migratetype(kernel) != MIGRATE_CMA
    assert get_pageblock_migratetype(pinned) != MIGRATE_CMA
    check_free_area_invariants(k)


def test_watermark_counts_cma_as_unusable_without_alloc_cma():
    m, k = boot()
    cma_declare_contiguous(k, 1024, 3072)

    def t():
        big = yield from k.fn.alloc_pages(GFP_KERNEL, 10)     # all non-CMA memory
        none = yield from k.fn.alloc_pages(GFP_KERNEL, 0)
        quiet = yield from k.fn.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 0)
        movable = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)
        return big, none, quiet, movable
    big, none, quiet, movable = run(m, t())
    assert big.pfn == 0 and none is None and quiet is None
    assert movable is not None and get_pageblock_migratetype(movable) == MIGRATE_CMA
    assert sum("page allocation failure: order:0" in s for s in k.printk) == 1


def test_allocation_fails_when_empty():
    m, k = boot()

    def t():
        got = []
        while True:
            p = yield from k.fn.alloc_pages(GFP_KERNEL | __GFP_NOWARN, 10)
            if p is None:
                return got
            got.append(p)
    got = run(m, t())
    assert len(got) == 4 and k.zone.vm_stat["NR_FREE_PAGES"] == 0
    check_free_area_invariants(k)


# ================================================================ oracles
def test_free_of_referenced_or_lru_page_is_a_bad_page():
    m, k = boot()
    p = setup_alloc_page_at(k, 100)
    _nonatomic_set(p, PG_lru)
    p._refcount = 0
    with pytest.raises(BadPageState, match="PAGE_FLAGS_CHECK_AT_FREE"):
        run(m, k.fn.free_unref_page(p))


def test_double_free_is_caught():
    m, k = boot()
    p = setup_alloc_page_at(k, 100)

    def t():
        yield from k.fn.__free_pages(p, 0)
        yield from k.fn.__free_pages(p, 0)
    with pytest.raises(RefcountUnderflow):
        run(m, t())


def test_list_del_of_unlisted_page_is_list_corruption():
    m, k = boot()
    p = setup_alloc_page_at(k, 100)
    with pytest.raises(ListCorruption):
        del_page_from_free_list(p, k.zone, 0)


def test_invariant_checker_catches_corruption():
    m, k = boot()
    setup_alloc_page_at(k, 1030)
    check_free_area_invariants(k)
    k.zone.vm_stat["NR_FREE_PAGES"] += 1
    with pytest.raises(KernelBug, match="NR_FREE_PAGES"):
        check_free_area_invariants(k)
    k.zone.vm_stat["NR_FREE_PAGES"] -= 1
    # an unmerged pair of buddies
    z = k.zone
    a = z.free_area[0].free_list[MIGRATE_MOVABLE].first()        # 1031
    b = k.pfn_to_page(a.pfn ^ 1)                                  # 1030, allocated
    b._refcount = 0
    b.private = 0
    b.page_type |= 1
    lh = z.free_area[0].free_list[MIGRATE_MOVABLE]
    lh[b.pfn] = b
    b.lru = lh
    z.free_area[0].nr_free += 1
    z.vm_stat["NR_FREE_PAGES"] += 1
    with pytest.raises(KernelBug, match="unmerged free buddies"):
        check_free_area_invariants(k)


# ============================================================== isolation
def test_isolation_moves_free_pages_and_undo_restores():
    m, k = boot()
    before = free_lists(k)

    def t():
        ret = yield from k.fn.start_isolate_page_range(1024, 2048, MIGRATE_MOVABLE, 0)
        assert ret == 0
        assert k.zone.pageblock_flags[2:4] == [MIGRATE_ISOLATE] * 2
        assert k.zone.nr_isolate_pageblock == 2
        assert list(k.zone.free_area[10].free_list[MIGRATE_ISOLATE]) == [1024]
        assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE - 1024
        check_free_area_invariants(k)
        assert (yield from k.fn.test_pages_isolated(1024, 2048, 0)) == 0
        # a second isolator of an overlapping range fails
        assert (yield from k.fn.start_isolate_page_range(1536, 2560, MIGRATE_MOVABLE, 0)) == -EBUSY
        assert k.zone.pageblock_flags[4] == MIGRATE_MOVABLE     # undone
        yield from k.fn.undo_isolate_page_range(1024, 2048, MIGRATE_MOVABLE)
    run(m, t())
    check_free_area_invariants(k)
    assert k.zone.nr_isolate_pageblock == 0
    assert sorted(free_lists(k)[0][2]) == sorted(before[0][2])
    assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE


def test_free_into_isolated_pageblock_and_merge_on_undo():
    m, k = boot()
    p = setup_alloc_page_at(k, 1030)
    _nonatomic_set(p, PG_lru)         # has_unmovable_pages() takes an LRU page as movable

    def t():
        assert (yield from k.fn.start_isolate_page_range(1024, 2048, MIGRATE_MOVABLE, 0)) == 0
        assert (yield from k.fn.test_pages_isolated(1024, 2048, 0)) == -EBUSY
        assert k.last_test_pages_isolated_pfn == 1030
        assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE - 1024
        p.flags &= ~(1 << PG_lru)
        yield from k.fn.__free_pages(p, 0)        # straight to the ISOLATE list
        assert k.zone.pageset[0].count == 0
        assert list(k.zone.free_area[10].free_list[MIGRATE_ISOLATE]) == [1024]
        assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE - 1024
        check_free_area_invariants(k)
        assert (yield from k.fn.test_pages_isolated(1024, 2048, 0)) == 0
        yield from k.fn.undo_isolate_page_range(1024, 2048, MIGRATE_MOVABLE)
    run(m, t())
    check_free_area_invariants(k)
    assert [a.nr_free for a in k.zone.free_area][-1] == 4
    assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE


def test_isolated_pageblock_does_not_merge_with_non_isolated_buddy():
    m, k = boot(pageblock_order=9)
    p = setup_alloc_page_at(k, 1024, 9, GFP_TRANSHUGE)   # first pageblock of a 1024-block
    p2 = setup_alloc_page_at(k, 1536, 9, GFP_TRANSHUGE)
    _nonatomic_set(p, PG_lru)                              # an LRU THP: movable

    def t():
        yield from k.fn.__free_pages(p2, 9)                       # 1536 free, MOVABLE
        assert (yield from k.fn.start_isolate_page_range(1024, 1536, MIGRATE_MOVABLE, 0)) == 0
        p.flags &= ~(1 << PG_lru)
        yield from k.fn.__free_pages(p, 9)                        # 1024 free, ISOLATE
        assert list(k.zone.free_area[9].free_list[MIGRATE_ISOLATE]) == [1024]
        assert list(k.zone.free_area[9].free_list[MIGRATE_MOVABLE]) == [1536]
        check_free_area_invariants(k)                             # allowed exception
        yield from k.fn.undo_isolate_page_range(1024, 1536, MIGRATE_MOVABLE)
    run(m, t())
    check_free_area_invariants(k)
    assert 1024 in k.zone.free_area[10].free_list[MIGRATE_MOVABLE]


def test_allocated_non_lru_page_is_unmovable():
    m, k = boot()
    setup_alloc_page_at(k, 1030)

    def t():
        return (yield from k.fn.start_isolate_page_range(1024, 2048, MIGRATE_MOVABLE, 0))
    assert run(m, t()) == -EBUSY
    assert k.last_isolate_unmovable == 1030
    assert k.zone.pageblock_flags[2:4] == [MIGRATE_MOVABLE] * 2
    check_free_area_invariants(k)


def test_free_unref_page_window_strands_a_page_on_the_pcp_list():
    """free_unref_page() reads the pageblock type before disabling irqs.  A
    pageblock isolated (and drained) in that window gets the page on a
    MOVABLE pcp list: drain_all_pages() saw pcp->count == 0 on that CPU, so
    test_pages_isolated() fails.  The kernel race the model must show."""
    m, k = boot(2)
    p = setup_alloc_page_at(k, 1030)
    m.labels = []
    st_ = {"phase": 0, "drained": False}

    def t0():
        while st_["phase"] < 1:
            yield "wait"
        assert (yield from k.fn.start_isolate_page_range(1024, 2048, MIGRATE_MOVABLE, 0)) == 0
        yield from k.fn.drain_all_pages(k.zone)
        st_["drained"] = True
        while st_["phase"] < 3:
            yield "wait"
        ret = yield from k.fn.test_pages_isolated(1024, 2048, 0)
        yield from k.fn.undo_isolate_page_range(1024, 2048, MIGRATE_MOVABLE)
        return ret

    def t1():
        yield from k.fn.__free_pages(p, 0)
        st_["phase"] = 3

    def choose(m, en):
        by = {t.name: t for t in en}
        if st_["phase"] == 0 and m.current is not None and m.current.name == "T1" \
                and m.labels[-1].startswith("free_unref_page:"):
            st_["phase"] = 1
        if st_["phase"] == 1 and st_["drained"]:
            st_["phase"] = 2
        want = {0: "T1", 1: "T0", 2: "T1"}.get(st_["phase"], "T0")
        return by.get(want, en[0])
    ret, _ = run(m, t0(), t1(), choose=choose)
    assert ret == -EBUSY and k.last_test_pages_isolated_pfn == 1030
    assert 1030 in k.zone.pageset[1].lists[MIGRATE_MOVABLE]
    check_free_area_invariants(k)


def test_unmovable_page_fails_isolation():
    m, k = boot()
    setup_reserve_range(k, 1100, 1)

    def t():
        return (yield from k.fn.alloc_contig_range(1024, 1536, MIGRATE_MOVABLE, GFP_KERNEL))
    assert run(m, t()) == -EBUSY
    assert k.last_contig.stage == "isolate" and k.last_contig.busy_pfns == [1100]
    assert k.zone.nr_isolate_pageblock == 0
    check_free_area_invariants(k)


# ============================================================ contig / CMA
def test_alloc_contig_range_on_free_cma_range_and_free_contig_range():
    m, k = boot()
    cma_declare_contiguous(k, 2048, 2048)

    def t():
        ret = yield from k.fn.alloc_contig_range(2053, 2085, MIGRATE_CMA, GFP_KERNEL)
        assert ret == 0
        assert all(k.pfn_to_page(p)._refcount == 1 for p in range(2053, 2085))
        assert k.zone.vm_stat["NR_FREE_CMA_PAGES"] == 2048 - 32
        assert k.zone.nr_isolate_pageblock == 0
        check_free_area_invariants(k)
        yield from k.fn.free_contig_range(2053, 32)
        yield from k.fn.drain_all_pages(k.zone)
    run(m, t())
    check_free_area_invariants(k)
    assert k.last_contig.stage == "ok"
    assert k.zone.vm_stat == {"NR_FREE_PAGES": ZONE, "NR_FREE_CMA_PAGES": 2048}
    assert sorted(k.zone.free_area[10].free_list[MIGRATE_CMA]) == [2048, 3072]


def test_alloc_contig_range_migrates_lru_folio():
    m, k = boot()
    cma_declare_contiguous(k, 2048, 2048)
    f = lru_folio(k, 2060)

    def t():
        return (yield from k.fn.alloc_contig_range(2048, 2560, MIGRATE_CMA, GFP_KERNEL))
    assert run(m, t()) == 0
    assert k.test_migrate_calls == 1
    (old, new), = k.test_migrated
    assert old == 2060 and not 2048 <= new < 2560
    assert f._refcount == 1 and not folio_test_lru(f)      # now part of the allocation
    assert k.pgdat.vm_stat["NR_ISOLATED_ANON"] == 0
    check_free_area_invariants(k)


def test_pinned_anon_folio_is_skipped_by_the_v512_heuristic():
    m, k = boot()
    cma_declare_contiguous(k, 2048, 2048)
    lru_folio(k, 2060, refs=2)        # one extra reference (a pin or an LRU batch)

    def t():
        return (yield from k.fn.alloc_contig_range(2048, 2560, MIGRATE_CMA, GFP_KERNEL))
    assert run(m, t()) == -EBUSY
    # never isolated (v5.12 calls migrate_pages() once, on the empty list)
    assert k.test_migrate_seen == [] and k.test_migrate_calls == 1
    assert k.last_contig.stage == "test_pages_isolated"
    assert k.last_contig.busy_pfns == [2060]
    assert k.printk[-1] == "alloc_contig_range: [800, a00) PFNs busy"
    assert k.zone.nr_isolate_pageblock == 0
    check_free_area_invariants(k)


def test_busy_file_folio_gets_five_migrate_tries():
    m, k = boot()
    cma_declare_contiguous(k, 2048, 2048)
    f = lru_folio(k, 2060, mapping=FILE, refs=3)     # map + cache + 1 unexpected

    def t():
        return (yield from k.fn.alloc_contig_range(2048, 2560, MIGRATE_CMA, GFP_KERNEL))
    assert run(m, t()) == -EBUSY
    assert k.test_migrate_calls == 5 and k.last_contig.tries == 5
    assert k.test_migrate_seen == ["F"] * 5
    assert k.last_contig.migrate_ret == -EBUSY
    assert folio_test_lru(f) and f._refcount == 3               # put back
    assert k.pgdat.vm_stat["NR_ISOLATED_FILE"] == 0
    check_free_area_invariants(k)


def test_cma_alloc_retries_next_area_on_ebusy():
    m, k = boot()
    c = cma_declare_contiguous(k, 2048, 2048, name="test")
    k.trace_events = []
    lru_folio(k, 2051, mapping=FILE, refs=3)

    def t():
        return (yield from k.fn.cma_alloc(c, 512, 9, False))
    page = run(m, t())
    assert page is not None and page.pfn == 2560
    events = [e[3] for e in k.trace_events if e[3].startswith("cma:")]
    assert events == ["cma:cma_alloc_start", "cma:cma_alloc_busy_retry", "cma:cma_alloc_finish"]
    assert k.vmstat["cma_alloc_success"] == 1 and "cma_alloc_fail" not in k.vmstat
    assert c.bitmap[512:1024] == [True] * 512 and not any(c.bitmap[:512])
    assert any("PFNs busy" in s for s in k.printk)
    check_free_area_invariants(k)

    def rel():
        return (yield from k.fn.cma_release(c, page, 512))
    m2 = k.m
    assert run(m2, rel()) is True
    assert not any(c.bitmap)


def test_cma_alloc_fails_when_every_range_is_busy():
    m, k = boot()
    c = cma_declare_contiguous(k, 2048, 1024)
    lru_folio(k, 2051, refs=2, name="A")
    lru_folio(k, 2600, refs=2, name="B")

    def t():
        return (yield from k.fn.cma_alloc(c, 512, 9, True))
    assert run(m, t()) is None
    assert k.vmstat["cma_alloc_fail"] == 1
    assert not any(c.bitmap)
    assert not any("alloc failed" in s for s in k.printk)       # no_warn
    check_free_area_invariants(k)


def test_lost_test_clear_lru_drops_the_reference():
    """Two CPUs race for PG_lru: whoever loses leaves the folio's refcount
    as it was; exactly one of them owns the folio, in every schedule."""
    for seed in range(40):
        m, k = boot(2)
        cma_declare_contiguous(k, 2048, 2048)
        f = lru_folio(k, 2060, mapping=FILE, refs=2)
        from foliolab.mm.compaction import compact_control
        cc = compact_control(k.zone, gfp_mask=GFP_KERNEL, alloc_contig=True)
        won = {}

        def other():
            yield "other: starts"
            won["other"] = f.flags >> PG_lru & 1 == 1 and f._refcount > 0
            if won["other"]:
                f.flags &= ~(1 << PG_lru)               # TestClearPageLRU by another isolator
            yield "other: TestClearPageLRU"

        def scan():
            return (yield from k.fn.isolate_migratepages_range(cc, 2048, 2560))
        state = [seed]

        def choose(m, en):
            state[0] = (state[0] * 1103515245 + 12345) & 0x7fffffff
            return en[state[0] % len(en)]
        run(m, scan(), other(), choose=choose)
        isolated = f in cc.migratepages
        assert isolated != won["other"], seed
        assert f._refcount == (3 if isolated else 2), seed


# ============================================================ split pages
def test_cma_alloc_leaves_split_pages_unmaterialised():
    """cma_alloc() of a whole max-order block creates no struct page for its
    1023 tail pages; every accessor still sees refcount 1, and cma_release()
    gives everything back."""
    m, k = boot()
    c = cma_declare_contiguous(k, 2048, 2048, name="test")
    before = [(o, mt, sorted(pfns)) for o, mt, pfns in free_lists(k)]
    n0 = materialised(k)

    def alloc():
        return (yield from k.fn.cma_alloc(c, 1024, 10, False))
    page = run(m, alloc())
    assert page is not None and page.pfn == 2048 and page._refcount == 1
    assert k.last_contig.stage == "ok"
    mm = k.mem_map
    assert materialised(k) == n0               # the block's head existed, 2560 too
    assert mm.nr_lazy == 1022 and len(mm) == materialised(k) + 1022
    assert k.zone.vm_stat == {"NR_FREE_PAGES": ZONE - 1024, "NR_FREE_CMA_PAGES": 1024}
    # untouched pages through every accessor
    assert mm.peek(2049) is None and 2049 in mm
    assert mm.get(2049)._refcount == 1
    assert k.pfn_to_page(2050)._refcount == 1 and mm[2051]._refcount == 1
    assert folio_page(page, 3)._refcount == 1 and page_count(k.pfn_to_page(2052)) == 1
    assert mm.get(3071, "x")._refcount == 1
    assert mm.get(16) is None and mm.get(16, "x") == "x" and 16 not in mm   # pristine
    p = mm.get(2049)
    assert mm.get(2049) is p and k.pfn_to_page(2049) is p    # materialised once
    assert not PageBuddy(p) and p.flags == 0 and p.lru is None
    assert mm.nr_lazy == 1022 - 5 and materialised(k) == n0 + 5
    assert [pfn for pfn in range(2048, 3072) if mm.peek(pfn) is None] == \
        [pfn for pfn in range(2053, 3071) if pfn != 2560]
    check_free_area_invariants(k)               # iterating materialises the rest
    assert mm.nr_lazy == 0 and mm.split == {} and len(mm) == materialised(k)
    assert set(range(2048, 3072)) <= set(mm.keys())
    assert all(mm.peek(pfn)._refcount == 1 for pfn in range(2048, 3072))

    def release():
        assert (yield from k.fn.cma_release(c, page, 1024)) is True
        yield from k.fn.drain_all_pages(None)
    run(m, release())
    check_free_area_invariants(k)
    assert not any(c.bitmap)
    assert [(o, mt, sorted(pfns)) for o, mt, pfns in free_lists(k)] == before
    assert k.zone.vm_stat == {"NR_FREE_PAGES": ZONE, "NR_FREE_CMA_PAGES": 2048}


def test_cma_release_of_untouched_split_pages():
    """Freeing a range nobody looked at materialises each page only as it
    is freed (it goes on a pcp list); the split range disappears."""
    m, k = boot()
    c = cma_declare_contiguous(k, 2048, 2048, name="test")

    def t():
        page = yield from k.fn.cma_alloc(c, 512, 9, False)
        # the order-10 block was split; its upper half went back at once
        assert page.pfn == 2048 and k.mem_map.nr_lazy == 511
        yield from k.fn.cma_release(c, page, 512)
        assert k.mem_map.nr_lazy == 0 and k.mem_map.split == {}
        yield from k.fn.drain_all_pages(None)
        page = yield from k.fn.cma_alloc(c, 1024, 10, False)
        assert page.pfn == 2048
        yield from k.fn.cma_release(c, page, 1024)
        yield from k.fn.drain_all_pages(None)
    run(m, t())
    check_free_area_invariants(k)
    assert k.zone.vm_stat == {"NR_FREE_PAGES": ZONE, "NR_FREE_CMA_PAGES": 2048}
    assert sorted(k.zone.free_area[10].free_list[MIGRATE_CMA]) == [2048, 3072]


def _split_then_isolate(k, mt, base):
    """alloc_contig_range() of [base + 6, base + 0x46) splits an order-10
    block and frees the rest again; base + 6 (created when the buddy head
    was searched for) is freed too.  A second alloc_contig_range() over the
    pageblock meets the untouched pages [base + 7, base + 0x46)."""
    def t():
        assert (yield from k.fn.alloc_contig_range(base + 6, base + 0x46, mt, GFP_KERNEL)) == 0
        yield from k.fn.free_contig_range(base + 6, 1)
        if type(k.mem_map) is MemMap:
            assert k.mem_map.nr_lazy == 0x3f
            assert all(k.mem_map.peek(pfn) is None for pfn in range(base + 7, base + 0x46))
        ret = yield from k.fn.alloc_contig_range(base, base + 512, mt, GFP_KERNEL)
        return ret
    return t()


@pytest.mark.parametrize("mt", [MIGRATE_MOVABLE, MIGRATE_CMA])
def test_untouched_split_pages_are_seen_by_the_scanners(mt):
    """has_unmovable_pages() (MOVABLE: the first kept page is unmovable) and
    isolate_migratepages_block() + test_pages_isolated() (CMA: every kept
    page is !PageLRU and busy) see the untouched split pages as the eager
    model's pages, step for step."""
    views = []
    for boot_ in (boot, boot_eager):
        m, k = boot_()
        if mt == MIGRATE_CMA:
            cma_declare_contiguous(k, 2048, 2048)
        base = 2048 if mt == MIGRATE_CMA else 1024
        m.labels = []
        ret = run(m, _split_then_isolate(k, mt, base))
        assert ret == -EBUSY
        res = k.last_contig
        if mt == MIGRATE_MOVABLE:
            assert res.stage == "isolate" and res.busy_pfns == [base + 7]
        else:
            assert res.stage == "test_pages_isolated"
            assert res.busy_pfns == list(range(base + 7, base + 0x46))
            assert sum("!PageLRU, skipped" in s for s in m.labels) == 0x3f
        if boot_ is boot and mt == MIGRATE_MOVABLE:
            # only the page has_unmovable_pages() stopped at was created
            assert k.mem_map.peek(base + 7)._refcount == 1
            assert all(k.mem_map.peek(pfn) is None for pfn in range(base + 8, base + 0x46))
        views.append((list(m.labels), m.schedule, free_lists(k), dict(k.zone.vm_stat),
                      res.busy_pfns, len(k.mem_map), mem_map_view(k)))
        check_free_area_invariants(k)
    assert views[0] == views[1]


def test_release_freepages_materialises_as_it_frees():
    """isolate_freepages_range() that meets a busy page gives back what it
    split (release_freepages): the untouched pages come and go one at a time."""
    out = []
    for boot_ in (boot, boot_eager):
        m, k = boot_()
        cma_declare_contiguous(k, 2048, 2048)
        setup_alloc_page_at(k, 2600)
        cc = compact_control(k.zone, gfp_mask=GFP_KERNEL, alloc_contig=True)
        m.labels = []

        def t():
            return (yield from k.fn.isolate_freepages_range(cc, 2048, 2560 + 64))
        assert run(m, t()) == 0
        run(m, k.fn.drain_all_pages(None))
        assert k.mem_map.nr_lazy == 0 and k.mem_map.split == {}
        check_free_area_invariants(k)
        assert k.zone.vm_stat == {"NR_FREE_PAGES": ZONE - 1, "NR_FREE_CMA_PAGES": 2047}
        out.append((list(m.labels), free_lists(k), len(k.mem_map), mem_map_view(k)))
    assert out[0] == out[1]


def test_corrupted_free_and_offline_walk_see_split_pages():
    """Walkers that must see untouched split pages as the in-use pages they
    are: __free_pages() of a split page as if it were still an order-10
    block (free_pages_prepare() checks every tail: bad page), and the offline
    walk of do_migrate_range() (takes a reference on each, fails to isolate
    it), with the eager model's labels and result."""
    out = []
    for boot_ in (boot, boot_eager):
        m, k = boot_()
        c = cma_declare_contiguous(k, 2048, 2048)
        m.labels = []

        def t():
            page = yield from k.fn.cma_alloc(c, 1024, 10, False)
            yield from k.fn.do_migrate_range(3064, 3072)
            yield from k.fn.__free_pages(page, 10)
        with pytest.raises(BadPageState) as e:
            run(m, t())
        assert "pfn:0x801 refcount:1" in str(e.value)
        out.append((str(e.value), list(m.labels), len(k.mem_map), mem_map_view(k)))
    assert sum("do_migrate_range: get" in s for s in out[0][1]) == 8
    assert out[0] == out[1]


def test_split_pages_keep_the_eager_iteration_order():
    """Pages created after a split, split pages touched in any order later,
    a second split over pages that already exist: mem_map iterates as the
    eager model's mem_map does."""
    views = []
    for boot_ in (boot, boot_eager):
        m, k = boot_()
        c = cma_declare_contiguous(k, 2048, 2048)

        def t():
            a = yield from k.fn.cma_alloc(c, 512, 9, False)           # splits 2048..3071
            b = yield from k.fn.alloc_pages(GFP_KERNEL, 3)             # pages made after
            for pfn in (2700, 2049, 3000):                             # touched out of order
                k.pfn_to_page(pfn)
            yield from k.fn.cma_release(c, a, 512)                     # 2048..2559 back
            yield from k.fn.drain_all_pages(None)
            a2 = yield from k.fn.alloc_contig_range(2048, 2100, MIGRATE_CMA, GFP_KERNEL)
            k.mem_map.get(2099)
            yield from k.fn.__free_pages(b, 3)
            return a2
        assert run(m, t()) == 0
        views.append((len(k.mem_map), mem_map_view(k), free_lists(k)))
        check_free_area_invariants(k)
    assert views[0] == views[1]


# ============================================================ properties
# Contiguous ranges: alloc_contig_range() of [start, start + nr) in the CMA
# area (or, without one, as MOVABLE) or in the MOVABLE first half; give one
# back; look at one of its pages through one of the accessors; iterate mem_map.
CONTIG_OPS = (
    st.tuples(st.just("contig"), st.integers(0, 2047), st.integers(1, 300), st.booleans()),
    st.tuples(st.just("release"), st.integers(0, 1000)),
    st.tuples(st.just("touch"), st.integers(0, 1000), st.integers(0, 1023), st.integers(0, 3)),
    st.tuples(st.just("look"),),
)
OPS = st.lists(st.one_of(
    st.tuples(st.just("alloc"), st.integers(0, MAX_ORDER - 1),
              st.sampled_from([GFP_KERNEL, GFP_USER, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE])),
    st.tuples(st.just("free"), st.integers(0, 1000)),
    st.tuples(st.just("drain"),),
    *CONTIG_OPS,
), max_size=40)


def _touch(k, pfn, start, how):
    """A page of a range we hold, through one of the accessors."""
    if how == 0:
        return k.pfn_to_page(pfn)
    if how == 1:
        return k.mem_map.get(pfn)
    if how == 2:
        return k.mem_map[pfn]
    return folio_page(k.pfn_to_page(start), pfn - start)


def _exerciser(k, ops, held, check, contig=None):
    """Run ``ops``; ``held``: blocks from alloc_pages(), ``contig``: the
    (pfn, nr) ranges from alloc_contig_range() (None: no contig ops)."""
    for op in ops:
        if op[0] == "alloc":
            _, order, gfp = op
            p = yield from k.fn.alloc_pages(gfp | __GFP_NOWARN, order)
            if p is not None:
                held.append((p, order))
        elif op[0] == "free" and held:
            p, order = held.pop(op[1] % len(held))
            if p.order:
                p._refcount = 0
                yield from k.fn.free_folio(p)
            else:
                yield from k.fn.__free_pages(p, order)
        elif op[0] == "drain":
            yield from k.fn.drain_all_pages(None)
        elif op[0] == "contig" and contig is not None:
            _, off, nr, in_cma = op
            base = 2048 if in_cma else 0
            mt = MIGRATE_CMA if in_cma and k.cma_areas else MIGRATE_MOVABLE
            start = base + off % 2048
            end = min(start + nr, base + 2048)
            ret = yield from k.fn.alloc_contig_range(start, end, mt, GFP_KERNEL)
            if ret == 0:
                contig.append((start, end - start))
        elif op[0] == "release" and contig:
            start, nr = contig.pop(op[1] % len(contig))
            yield from k.fn.free_contig_range(start, nr)
        elif op[0] == "touch" and contig:
            _, i, off, how = op
            start, nr = contig[i % len(contig)]
            p = _touch(k, start + off % nr, start, how)
            assert p.pfn == start + off % nr and p._refcount == 1
            assert not PageBuddy(p) and p.lru is None and p.flags == 0
        elif op[0] == "look" and contig is not None:
            k.mem_map.items()
        check()


def _accounted(k, held, contig=()):
    z = k.zone
    return (z.vm_stat["NR_FREE_PAGES"] + sum(p.count for p in z.pageset)
            + sum(1 << o for _, o in held) + sum(nr for _, nr in contig))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=OPS, cma=st.booleans())
def test_random_alloc_free_keeps_invariants(ops, cma):
    m, k = boot()
    if cma:
        cma_declare_contiguous(k, 2048, 2048)
    held = []
    contig = []

    def check():
        check_free_area_invariants(k)
        assert _accounted(k, held, contig) == ZONE

    def t():
        yield from _exerciser(k, ops, held, check, contig)
        while held:
            p, order = held.pop()
            if p.order:
                p._refcount = 0
                yield from k.fn.free_folio(p)
            else:
                yield from k.fn.__free_pages(p, order)
        while contig:
            yield from k.fn.free_contig_range(*contig.pop())
        yield from k.fn.drain_all_pages(None)
    run(m, t())
    check_free_area_invariants(k)
    assert k.mem_map.split == {} and k.mem_map.nr_lazy == 0
    assert k.zone.vm_stat["NR_FREE_PAGES"] == ZONE
    assert k.zone.vm_stat["NR_FREE_CMA_PAGES"] == (2048 if cma else 0)
    assert k.zone.free_area[MAX_ORDER - 1].nr_free == 4


def _light_state(k):
    """What a run shows without iterating mem_map (which would materialise
    the untouched split pages)."""
    z = k.zone
    return (free_lists(k), [a.nr_free for a in z.free_area], dict(z.vm_stat),
            sorted(k.vmstat.items()), [[list(lh) for lh in p.lists] + [p.count] for p in z.pageset],
            list(z.pageblock_flags), list(k.printk), len(k.mem_map))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops0=OPS, ops1=OPS, sched=st.lists(st.integers(0, 7), min_size=1, max_size=64))
def test_split_pages_match_the_eager_mem_map(ops0, ops1, sched):
    """Two CPUs allocate and free blocks, take and give back contiguous
    ranges, look at their pages and iterate mem_map, under one schedule: the
    kernel with split ranges and the one that creates every split page
    (EagerMemMap) run step for step alike and end with the same mem_map."""
    out = []
    for boot_ in (boot, boot_eager):
        m, k = boot_(2)
        cma_declare_contiguous(k, 2048, 2048)
        m.labels = []
        states = []
        i = [0]

        def choose(m, en):
            i[0] += 1
            return en[sched[i[0] % len(sched)] % len(en)]

        def snap(k=k, states=states):
            states.append(_light_state(k))
        m.spawn("T0", 0, _exerciser(k, ops0, [], snap, []))
        m.spawn("T1", 1, _exerciser(k, ops1, [], snap, []))
        res = m.run(choose)
        out.append((str(res.failure), list(res.schedule), list(m.labels), states,
                    _light_state(k), mem_map_view(k)))
    assert out[0] == out[1]


MOVABLE_GFPS = [GFP_KERNEL, GFP_USER, GFP_HIGHUSER_MOVABLE, GFP_TRANSHUGE]
UNMOVABLE_GFPS = [GFP_KERNEL, GFP_USER]


def _ops(gfps):
    return st.lists(st.one_of(
        st.tuples(st.just("alloc"), st.integers(0, MAX_ORDER - 1), st.sampled_from(gfps)),
        st.tuples(st.just("free"), st.integers(0, 1000)),
        st.tuples(st.just("drain"),),
    ), max_size=30)


@st.composite
def concurrent_case(draw):
    """pageblock_order 10 (a max-order block is one pageblock) with every
    kind of allocation, or pageblock_order 9 with allocations that cannot
    touch the CMA range being isolated: see
    test_v512_undo_isolation_window_double_counts_free_pages for what
    happens otherwise."""
    pbo = draw(st.sampled_from([9, 10]))
    gfps = MOVABLE_GFPS if pbo == 10 else UNMOVABLE_GFPS
    return (pbo, draw(_ops(gfps)), draw(_ops(gfps)),
            draw(st.lists(st.integers(0, 7), min_size=1, max_size=64)), draw(st.booleans()))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=concurrent_case())
def test_concurrent_alloc_free_isolate_keeps_invariants_at_every_step(case):
    """Two CPUs allocate and free concurrently while a third isolates, drains
    and un-isolates the CMA range; the free area invariants hold at every
    step and every page is accounted for at the end."""
    pbo, ops0, ops1, sched, isolate = case
    m, k = boot(3, pageblock_order=pbo)
    cma_declare_contiguous(k, 2048, 2048)
    held0, held1 = [], []
    m.labels = []
    m.on_step = lambda t: check_free_area_invariants(k)

    def iso():
        if isolate:
            ret = yield from k.fn.start_isolate_page_range(2048, 3072, MIGRATE_CMA, 0)
            if ret == 0:
                yield from k.fn.drain_all_pages(k.zone)
                yield from k.fn.undo_isolate_page_range(2048, 3072, MIGRATE_CMA)
        yield "iso done"

    i = [0]

    def choose(m, en):
        i[0] += 1
        return en[sched[i[0] % len(sched)] % len(en)]
    run(m, _exerciser(k, ops0, held0, lambda: None),
        _exerciser(k, ops1, held1, lambda: None), iso(), choose=choose)
    check_free_area_invariants(k)
    assert k.zone.nr_isolate_pageblock == 0
    assert _accounted(k, held0 + held1) == ZONE


def test_v512_undo_isolation_window_double_counts_free_pages():
    """A v5.12 accounting bug the model finds.  undo_isolate_page_range()
    un-isolates pageblock A (moving the order-10 block headed in A, 1024
    pages, back to the CMA list and counting them free) and only then
    pageblock B.  An allocation in between splits that block: expand() puts
    B's half (order 9) on the CMA list although B is still ISOLATE.
    unset_migratetype_isolate(B) sees a free order-9 block whose buddy is not
    isolated, takes it with __isolate_free_page() -- which does not uncount
    it, B being ISOLATE -- and __putback_isolated_page() counts it again:
    NR_FREE_PAGES and NR_FREE_CMA_PAGES drift up by 512."""
    m, k = boot()
    cma_declare_contiguous(k, 2048, 2048)
    for pfn in (0, 1024, 3072):             # only the 2048 block stays free
        setup_alloc_page_at(k, pfn, 10, GFP_KERNEL)
    check_free_area_invariants(k)
    a, b = k.pfn_to_page(2048), k.pfn_to_page(2560)

    def t():
        assert (yield from k.fn.start_isolate_page_range(2048, 3072, MIGRATE_CMA, 0)) == 0
        yield from k.fn.unset_migratetype_isolate(a, MIGRATE_CMA)      # undo, first block
        p = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE, 0)      # the other CPU
        assert p is not None and 2048 <= p.pfn < 2560
        assert list(k.zone.free_area[9].free_list[MIGRATE_CMA]) == [2560]
        assert get_pageblock_migratetype(b) == MIGRATE_ISOLATE
        check_free_area_invariants(k)          # tolerated: B's half on the CMA list
        with pytest.raises(KernelBug, match="strict|wrong list"):
            check_free_area_invariants(k, strict_isolate=True)
        yield from k.fn.unset_migratetype_isolate(b, MIGRATE_CMA)      # undo, second block
    run(m, t())
    z = k.zone
    on_lists = sum(len(z.free_area[o].free_list[MIGRATE_CMA]) << o for o in range(MAX_ORDER))
    assert z.vm_stat["NR_FREE_CMA_PAGES"] - on_lists == 512
    with pytest.raises(KernelBug, match="NR_FREE_PAGES"):
        check_free_area_invariants(k)
