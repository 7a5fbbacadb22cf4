"""The model functions of a long-running workload, run sequentially on one or
two CPUs: page-cache reads that miss (mm/filemap.py), anonymous and file
faults and zaps (mm/memory.py), MADV_COLD and MADV_FREE (mm/madvise.py),
reclaim of the inactive file list (mm/vmscan.py).  Each test checks the
state the kernel would be in afterwards: references, mapcounts, LRU lists
and per-CPU batches, the page cache, vmstat.  A last test runs the
footprint checker over a small two-CPU workload.
"""

from __future__ import annotations

from foliolab.engine.machine import Machine
from foliolab.explore import explore
from foliolab.explore.fpcheck import FootprintChecker
from foliolab.mm.cma import cma_declare_contiguous
from foliolab.mm.errno import ENOMEM
from foliolab.mm.filemap import address_space
from foliolab.mm.kernel import build_kernel
from foliolab.mm.madvise import MADV_COLD, MADV_FREE
from foliolab.mm.memory import VM_FAULT_NOPAGE
from foliolab.mm.mmzone import (
    LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, MIGRATE_CMA,
)
from foliolab.mm.page import (
    PG_active, PG_locked, PG_lru, PG_referenced, PG_swapbacked, PG_uptodate,
    PageBuddy, folio_test_anon,
)
from foliolab.mm.page_alloc import (
    __GFP_MOVABLE, check_free_area_invariants, get_pageblock_migratetype,
)
from foliolab.mm.rmap import mm_struct
from foliolab.mm.swap import folio_in_cpu_batches
from foliolab.mm.vmscan import set_current_kswapd
from foliolab.scenarios.base import Scenario

ZONE = 4096
ADDR = 0x7F00_0000_0000


def boot(ncpus=1, **settings):
    m = Machine(ncpus)
    k = build_kernel(m, settings)
    k.file = address_space(k, "file")
    k.app = mm_struct(k, "app")
    k.lruvec = k.root_mem_cgroup.nodeinfo[0]
    return m, k


def run(k, cpu, gen):
    """Run one task on ``cpu`` to completion; return its return value."""
    t = k.m.spawn(f"T{len(k.m.tasks)}", cpu, gen)
    res = k.m.run(lambda m, en: en[0])
    if res.failure is not None:
        raise res.failure
    return t.retval


def flag(folio, bit):
    return bool(folio.flags >> bit & 1)


def on_list(k, folio, lru):
    return folio.lru is k.lruvec.lists[lru] and folio.pfn in k.lruvec.lists[lru]


def nr_free(k):
    """Free pages: the buddy allocator's plus the pcp lists'."""
    return k.zone.vm_stat["NR_FREE_PAGES"] + sum(p.count for p in k.zone.pageset)


def vm(k, item):
    return k.vmstat.get(item, 0)


# ===================================================================== read
def test_read_miss_reads_the_page_in_then_hits():
    m, k = boot()
    free0 = nr_free(k)
    assert run(k, 0, k.fn.filemap_read(k.file, 5)) == 0
    F = k.file.i_pages[5]
    assert k.file.nrpages == 1 and F.mapping is k.file and F.index == 5
    # the cache's reference and the lru_add batch's; the reader's is gone
    assert F._refcount == 2
    assert folio_in_cpu_batches(k, F) == [(0, "lru_add")]
    assert flag(F, PG_uptodate) and flag(F, PG_referenced)
    assert not flag(F, PG_locked) and not flag(F, PG_lru) and F.lru is None
    assert nr_free(k) == free0 - 1
    # a hit: no new page, the second access marks the batched folio active
    assert run(k, 0, k.fn.filemap_read(k.file, 5)) == 0
    assert k.file.i_pages == {5: F} and nr_free(k) == free0 - 1
    assert F._refcount == 2 and flag(F, PG_active)
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_ACTIVE_FILE) and flag(F, PG_lru) and F._refcount == 1
    assert folio_in_cpu_batches(k, F) == []


def test_page_cache_is_movable_and_may_come_from_cma():
    m, k = boot()
    assert k.file.gfp_mask & __GFP_MOVABLE
    # three quarters of the free memory is CMA: v5.12 serves movable
    # requests from CMA first once it is more than half of the free pages
    cma_declare_contiguous(k, 1024, 3072, "A")
    run(k, 0, k.fn.filemap_read(k.file, 0))
    F = k.file.i_pages[0]
    assert get_pageblock_migratetype(F) == MIGRATE_CMA


def test_read_miss_without_memory_is_enomem():
    m, k = boot(min_free_pages=ZONE)
    assert run(k, 0, k.fn.filemap_read(k.file, 0)) == -ENOMEM
    assert k.file.i_pages == {} and k.file.nrpages == 0
    assert nr_free(k) == ZONE


def test_racing_read_misses_keep_the_first_folio():
    """T0 allocates its folio and waits for xa_lock while T1 reads the same
    index in: T0's insertion fails with -EEXIST, its folio is freed and its
    second lookup finds T1's."""
    m, k = boot(2)
    entered = []
    k.fn.probe("__filemap_add_folio", pre=lambda mapping, folio, index: entered.append(
        (m.current.name, folio)))
    t0 = m.spawn("T0", 0, k.fn.filemap_read(k.file, 3))
    t1 = m.spawn("T1", 1, k.fn.filemap_read(k.file, 3))

    def choose(m, en):
        if not entered and t0 in en:
            return t0
        return t1 if t1 in en else en[0]

    res = m.run(choose)
    assert res.failure is None
    assert (t0.retval, t1.retval) == (0, 0)
    assert [name for name, _ in entered] == ["T0", "T1"]
    lost, won = entered[0][1], entered[1][1]
    assert lost is not won and k.file.i_pages == {3: won} and k.file.nrpages == 1
    assert lost._refcount == 0 and lost.mapping is None and not flag(lost, PG_locked)
    assert folio_in_cpu_batches(k, lost) == []
    assert won._refcount == 2 and folio_in_cpu_batches(k, won) == [(1, "lru_add")]
    assert nr_free(k) == ZONE - 1


# ==================================================================== faults
def test_anonymous_fault_then_zap_frees_the_page():
    m, k = boot()
    assert run(k, 0, k.fn.do_anonymous_page(k.app, ADDR)) == 0
    kind, A = k.app.ptes[ADDR]
    assert kind == "present" and folio_test_anon(A) and A.mapping is k.app.anon_vma
    assert flag(A, PG_swapbacked) and flag(A, PG_uptodate)
    assert A._mapcount == 0 and A.pvmw == [(k.app, ADDR)]
    assert A._refcount == 2 and folio_in_cpu_batches(k, A) == [(0, "lru_add")]
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, A, LRU_INACTIVE_ANON) and A._refcount == 1
    assert k.lruvec.nr_pages[LRU_INACTIVE_ANON] == 1

    assert run(k, 0, k.fn.zap_pte_range(k.app, ADDR)) is True
    assert ADDR not in k.app.ptes
    assert A._refcount == 0 and A._mapcount == -1 and A.mapping is None and A.flags == 0
    assert A.pvmw == [] and k.lruvec.nr_pages[LRU_INACTIVE_ANON] == 0
    assert all(not lst for lst in k.lruvec.lists)
    run(k, 0, k.fn.drain_local_pages(k.zone))
    assert nr_free(k) == k.zone.vm_stat["NR_FREE_PAGES"] == ZONE
    assert PageBuddy(k.pfn_to_page(0))
    check_free_area_invariants(k)
    # nothing left to zap
    assert run(k, 0, k.fn.zap_pte_range(k.app, ADDR)) is False


def test_anonymous_fault_on_a_mapped_address_releases_its_page():
    m, k = boot()
    run(k, 0, k.fn.do_anonymous_page(k.app, ADDR))
    A = k.app.ptes[ADDR][1]
    free = nr_free(k)
    assert run(k, 0, k.fn.do_anonymous_page(k.app, ADDR)) == 0
    assert k.app.ptes[ADDR] == ("present", A) and A._mapcount == 0
    assert nr_free(k) == free                # the second folio went back


def test_file_fault_maps_a_page_cache_folio_and_zap_keeps_it_cached():
    m, k = boot()
    assert run(k, 0, k.fn.do_read_fault(k.app, ADDR, k.file, 2)) == 0
    F = k.file.i_pages[2]
    assert k.app.ptes[ADDR] == ("present", F) and not folio_test_anon(F)
    # cache + mapping + lru_add batch; unlocked, uptodate, never accessed
    assert F._refcount == 3 and F._mapcount == 0 and F.pvmw == [(k.app, ADDR)]
    assert not flag(F, PG_locked) and flag(F, PG_uptodate) and not flag(F, PG_referenced)
    # a second mm maps the cached folio: +1 reference, +1 mapcount
    other = mm_struct(k, "other")
    assert run(k, 0, k.fn.do_read_fault(other, ADDR, k.file, 2)) == 0
    assert F._refcount == 4 and F._mapcount == 1
    # the same address again: already mapped, the fault's reference is dropped
    assert run(k, 0, k.fn.do_read_fault(other, ADDR, k.file, 2)) == VM_FAULT_NOPAGE
    assert F._refcount == 4 and F._mapcount == 1

    run(k, 0, k.fn.lru_add_drain())
    assert run(k, 0, k.fn.zap_pte_range(k.app, ADDR)) is True
    assert F._refcount == 2 and F._mapcount == 0 and F.pvmw == [(other, ADDR)]
    assert flag(F, PG_referenced)            # the PTE counted as young
    # the second unmap is the second access: F is queued for activation
    run(k, 0, k.fn.zap_pte_range(other, ADDR))
    assert F._mapcount == -1 and F.pvmw == [] and k.file.i_pages == {2: F}
    assert folio_in_cpu_batches(k, F) == [(0, "lru_activate")] and F._refcount == 2
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_ACTIVE_FILE) and F._refcount == 1


# =================================================================== madvise
def _active_mapped_file_folio(k, mm, index):
    """A file folio read twice (active), mapped once, drained."""
    run(k, 0, k.fn.filemap_read(k.file, index))
    run(k, 0, k.fn.filemap_read(k.file, index))
    run(k, 0, k.fn.do_read_fault(mm, ADDR + index * 4096, k.file, index))
    run(k, 0, k.fn.lru_add_drain())
    F = k.file.i_pages[index]
    assert on_list(k, F, LRU_ACTIVE_FILE) and F._refcount == 2
    return F


def test_madv_cold_deactivates_through_the_batch():
    m, k = boot()
    F = _active_mapped_file_folio(k, k.app, 0)
    run(k, 0, k.fn.filemap_read(k.file, 0))        # PG_referenced set again
    assert flag(F, PG_referenced)
    assert run(k, 0, k.fn.do_madvise(k.app, [ADDR, ADDR + 4096], MADV_COLD)) == 0
    # queued: still on the active list with PG_lru, the batch holds a reference
    assert folio_in_cpu_batches(k, F) == [(0, "lru_deactivate")]
    assert on_list(k, F, LRU_ACTIVE_FILE) and flag(F, PG_lru) and F._refcount == 3
    assert not flag(F, PG_referenced)
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_INACTIVE_FILE) and not flag(F, PG_active)
    assert F._refcount == 2 and vm(k, "pgdeactivate") == 1


def test_madv_cold_leaves_shared_folios_alone():
    m, k = boot()
    F = _active_mapped_file_folio(k, k.app, 0)
    other = mm_struct(k, "other")
    run(k, 0, k.fn.do_read_fault(other, ADDR, k.file, 0))
    run(k, 0, k.fn.do_madvise(k.app, [ADDR], MADV_COLD))
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_ACTIVE_FILE) and vm(k, "pgdeactivate") == 0


def test_madv_free_moves_anon_to_the_inactive_file_list():
    m, k = boot()
    run(k, 0, k.fn.do_anonymous_page(k.app, ADDR))
    A = k.app.ptes[ADDR][1]
    # madvise drains first: the folio leaves the lru_add batch, then queues
    assert run(k, 0, k.fn.do_madvise(k.app, [ADDR], MADV_FREE)) == 0
    assert folio_in_cpu_batches(k, A) == [(0, "lru_lazyfree")]
    assert on_list(k, A, LRU_INACTIVE_ANON) and A._refcount == 2
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, A, LRU_INACTIVE_FILE) and not flag(A, PG_swapbacked)
    assert A._refcount == 1 and folio_test_anon(A) and vm(k, "pglazyfree") == 1
    # a lazily freed folio is still mapped: reclaim keeps it, then activates it
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 0
    assert on_list(k, A, LRU_INACTIVE_FILE) and flag(A, PG_referenced)
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 0
    assert on_list(k, A, LRU_ACTIVE_FILE) and flag(A, PG_active)
    # unmapping frees it: off the LRU without PG_lru and PG_active
    # (__folio_clear_lru_flags), or the free would be a bad page
    run(k, 0, k.fn.zap_pte_range(k.app, ADDR))
    assert A._refcount == 0 and A.flags == 0 and not any(k.lruvec.lists)


# =================================================================== reclaim
def test_reclaim_frees_clean_unmapped_file_folios_and_keeps_mapped_ones():
    m, k = boot()
    run(k, 0, k.fn.filemap_read(k.file, 0))              # A: unmapped, referenced
    run(k, 0, k.fn.do_read_fault(k.app, ADDR, k.file, 1))  # B: mapped once
    run(k, 0, k.fn.filemap_read(k.file, 2))              # C: referenced, then mapped
    run(k, 0, k.fn.do_read_fault(k.app, ADDR + 4096, k.file, 2))
    A, B, C = (k.file.i_pages[i] for i in range(3))
    free = nr_free(k)
    # the drain is reclaim's own
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 1
    assert k.file.i_pages == {1: B, 2: C} and k.file.nrpages == 2
    assert A._refcount == 0 and A.mapping is None and A.flags == 0
    assert nr_free(k) == free + 1
    assert on_list(k, B, LRU_INACTIVE_FILE) and flag(B, PG_referenced) and B._refcount == 2
    assert on_list(k, C, LRU_ACTIVE_FILE) and C._refcount == 2
    assert not flag(B, PG_locked) and not flag(C, PG_locked)
    assert (vm(k, "pgscan_direct"), vm(k, "pgscan_file"), vm(k, "pgsteal_direct"),
            vm(k, "pgsteal_file"), vm(k, "pgactivate")) == (3, 3, 1, 1, 1)
    assert vm(k, "pgscan_kswapd") == vm(k, "pgsteal_kswapd") == 0
    assert k.pgdat.vm_stat["NR_ISOLATED_FILE"] == 0
    # B, now PG_referenced and still mapped, is activated on the next pass
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 0
    assert on_list(k, B, LRU_ACTIVE_FILE)


def test_reclaim_scans_at_most_nr_to_scan_from_the_tail_and_counts_kswapd():
    m, k = boot()
    for i in range(4):
        run(k, 0, k.fn.filemap_read(k.file, i))
    run(k, 0, k.fn.lru_add_drain())
    folios = [k.file.i_pages[i] for i in range(4)]

    def kswapd():
        set_current_kswapd(k)
        return (yield from k.fn.shrink_inactive_list(k.lruvec, 2, True))

    assert run(k, 0, kswapd()) == 2
    # the two oldest (added first: at the tail) went
    assert sorted(k.file.i_pages) == [2, 3]
    assert all(f._refcount == 0 for f in folios[:2])
    assert (vm(k, "pgscan_kswapd"), vm(k, "pgsteal_kswapd"), vm(k, "pgscan_direct")) == (2, 2, 0)


def test_remove_mapping_fails_while_a_per_cpu_batch_holds_a_reference():
    """F waits in cpu1's lru_activate batch (PG_lru set, one reference):
    cpu0's reclaim isolates it, but the refcount freeze at isolation + cache
    fails; F goes back to the inactive list and stays cached.  cpu1's drain
    activates it later."""
    m, k = boot(2)
    run(k, 1, k.fn.filemap_read(k.file, 0))
    run(k, 1, k.fn.lru_add_drain())
    F = k.file.i_pages[0]
    assert on_list(k, F, LRU_INACTIVE_FILE) and flag(F, PG_referenced)
    run(k, 1, k.fn.filemap_read(k.file, 0))      # second access: folio_activate
    assert folio_in_cpu_batches(k, F) == [(1, "lru_activate")] and F._refcount == 2
    assert not flag(F, PG_referenced)

    eagain = []
    k.fn.probe("__remove_mapping", post=lambda ret, mapping, folio, reclaimed:
               eagain.append((folio, ret, folio._refcount)))
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 0
    assert eagain == [(F, False, 3)]              # isolation + cache + cpu1's batch
    assert k.file.i_pages == {0: F} and F._refcount == 2
    assert on_list(k, F, LRU_INACTIVE_FILE) and flag(F, PG_lru) and not flag(F, PG_locked)
    assert vm(k, "pgsteal_direct") == 0 and vm(k, "pgscan_direct") == 1
    run(k, 1, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_ACTIVE_FILE) and F._refcount == 1
    # without the batch's reference nothing keeps it once it is inactive again
    run(k, 0, k.fn.deactivate_file_folio(F))
    run(k, 0, k.fn.lru_add_drain())
    assert on_list(k, F, LRU_INACTIVE_FILE)
    assert run(k, 0, k.fn.shrink_inactive_list(k.lruvec, 32, True)) == 1
    assert k.file.i_pages == {} and F._refcount == 0


# ================================================================ footprints
class Workload(Scenario):
    """Two CPUs doing the workload's operations on one file and one mm,
    racing on the same page-cache index and the same LRU lists."""

    slug = "workload-mm"
    family = "test"
    footprints = True
    defaults = {"ncpus": 2}

    def setup(self, k):
        k.file = address_space(k, "file")
        k.app = mm_struct(k, "app")
        lruvec = k.root_mem_cgroup.nodeinfo[0]

        def cpu0():
            yield from k.fn.filemap_read(k.file, 0)
            yield from k.fn.do_read_fault(k.app, ADDR, k.file, 1)
            yield from k.fn.filemap_read(k.file, 0)
            yield from k.fn.do_madvise(k.app, [ADDR], MADV_COLD)
            yield from k.fn.shrink_inactive_list(lruvec, 8, True)
            yield from k.fn.zap_pte_range(k.app, ADDR)

        def cpu1():
            yield from k.fn.filemap_read(k.file, 0)
            yield from k.fn.do_anonymous_page(k.app, ADDR + 0x10000)
            yield from k.fn.lru_add_drain()
            yield from k.fn.do_madvise(k.app, [ADDR + 0x10000], MADV_FREE)
            yield from k.fn.shrink_inactive_list(lruvec, 8, True)
            yield from k.fn.zap_pte_range(k.app, ADDR + 0x10000)

        k.m.spawn("C0", 0, cpu0())
        k.m.spawn("C1", 1, cpu1())


def test_the_workload_functions_declare_what_they_touch():
    sc = Workload()
    with FootprintChecker() as chk:
        for strategy, budget in (("random", 40), ("sticky", 20), ("dfs", 60)):
            ex = explore(sc, None, [], strategy, budget, 1, trace_dir=None, progress=False,
                         shrink=False, record=False, setup=chk.prepare, family="test",
                         preemptions=1)
            assert ex.outcome != "failure", ex.failure
    assert chk.steps_checked > 1000
    assert not chk.violations, chk.report()
