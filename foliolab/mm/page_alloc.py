"""The buddy page allocator: mm/page_alloc.c.

Baseline: Linux v5.12 (the "v0" of the first scenario family), with the
folio names of later kernels where they exist.  One node, one zone
("Normal"); orders 0..MAX_ORDER-1 (MAX_ORDER = 11); pageblocks of
``pageblock_order`` carry a migratetype.

State on the kernel ``k`` (created by :func:`page_alloc_init`):

* ``k.pgdat``, ``k.zone``: the node and its zone; ``zone.free_area[order]``
  holds one list per migratetype plus ``nr_free``; ``zone.vm_stat`` holds
  NR_FREE_PAGES / NR_FREE_CMA_PAGES; ``zone._watermark`` [min, low, high];
  ``zone.pageset[cpu]`` the per-CPU page lists (struct per_cpu_pages).
* ``k.printk``: kernel log lines (pr_info/pr_err/WARN text).
* ``k.last_contig``: what the last alloc_contig_range() found (for oracles).

Representation: a free buddy block is its head page only (PageBuddy, order
in ``page.private``, ``page.lru`` = the free list).  Pages are created
lazily by ``k.pfn_to_page``; a pfn never touched is a pristine page
(refcount 0, no flags), which the kernel code below treats exactly like a
real struct page in that state.  The order-0 pages that split_map_pages()
hands out (refcount 1, nothing else) are not created either: mem_map
records them as split ranges, and ``k.mem_map.get`` materialises one when
looked at (see kernel.MemMap for ``peek``, which does not).  A page on a
pcp list has refcount 0, is not PageBuddy and keeps its migratetype in
``page.index`` (set_pcppage_migratetype).

Locking model:

* ``zone->lock`` (a spinlock, irqs off) serialises every free list, PageBuddy
  and buddy order, nr_free, NR_FREE_*, the pageblock bitmap writes done by
  the allocator and isolation.  Every critical section does all its list
  work in the single step between the acquire and the release, so the free
  area invariants hold at every step boundary.
* The pcp lists are per-CPU and protected only by disabling interrupts on
  their CPU (v5.12; the 5.14+ local_lock and the 6.x pcp->lock are not
  modelled).  Other CPUs read ``pcp.count`` racily (drain_all_pages).

Not modelled (documented simplifications): reclaim, compaction and the OOM
killer in the slow path (__alloc_pages fails instead); watermark boosting
and kswapd; highatomic reserves (the lists exist but are never filled);
NUMA statistics; page poisoning, KASAN, page_owner; shuffle; the zone's
"contiguous" cache; CONFIG_DEBUG_PAGEALLOC guard pages.
"""

from __future__ import annotations

import inspect

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug, ListCorruption, WARN_ON
from ..engine.retry import retry_begin, retry_end, retry_unchanged
from ..engine.sync import (
    local_irq_disable, local_irq_enable, lockdep_assert_held, mutex, relabel,
    mutex_lock, mutex_unlock, preempt_disable, preempt_enable, spin_lock, spin_lock_irqsave, spin_unlock,
    spin_unlock_irqrestore,
)
from ..engine.workqueue import INIT_WORK, flush_work, queue_work_on, work_struct, workqueue_struct
from .errno import EBUSY, EINTR, errname
from .kernel import SPLIT_SHIFT
from .mmzone import (
    ListHead, MAX_ORDER, MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE,
    MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_TYPES,
    MIGRATE_UNMOVABLE, MIGRATETYPE_NAMES, list_add, list_add_tail, list_del,
    pglist_data, zone as zone_t,
)
from .page import (
    PAGE_FLAGS_CHECK_AT_FREE, PG_head, PG_reserved, PageBuddy, PageReported,
    __ClearPageBuddy, __ClearPageReported, __SetPageBuddy, _nonatomic_set,
    _test, bad_page, buddy_order, folio_put_testzero, folio_test_anon,
    folio_test_head, folio_test_lru, page_folio, page_fp_read, page_fp_write,
    pfn_fp_read, pfns_fp_read, pfns_fp_write,
)


# Footprints (engine/footprint.py): one key per struct page (page.py) and
# one per zone, for everything zone->lock protects -- free areas, counters,
# the pageblock bitmap -- since lockless readers (scanners, watermark
# checks) race with it; the pcp lists and count of a CPU have their own.
def zone_fp_read(zone):
    touch_read(zone.k.m, zone.fpk)


def zone_fp_write(zone):
    touch_write(zone.k.m, zone.fpk)


MAX_ORDER_NR_PAGES = 1 << (MAX_ORDER - 1)

# ------------------------------------------------------------------- GFP
# include/linux/gfp.h bit values (v5.12)
__GFP_DMA = 0x01
__GFP_HIGHMEM = 0x02
__GFP_DMA32 = 0x04
__GFP_MOVABLE = 0x08
__GFP_RECLAIMABLE = 0x10
__GFP_HIGH = 0x20
__GFP_IO = 0x40
__GFP_FS = 0x80
__GFP_ZERO = 0x100
__GFP_ATOMIC = 0x200
__GFP_DIRECT_RECLAIM = 0x400
__GFP_KSWAPD_RECLAIM = 0x800
__GFP_WRITE = 0x1000
__GFP_NOWARN = 0x2000
__GFP_RETRY_MAYFAIL = 0x4000
__GFP_NOFAIL = 0x8000
__GFP_NORETRY = 0x10000
__GFP_MEMALLOC = 0x20000
__GFP_COMP = 0x40000
__GFP_NOMEMALLOC = 0x80000
__GFP_HARDWALL = 0x100000
__GFP_THISNODE = 0x200000
__GFP_ACCOUNT = 0x400000

__GFP_RECLAIM = __GFP_DIRECT_RECLAIM | __GFP_KSWAPD_RECLAIM
GFP_ATOMIC = __GFP_HIGH | __GFP_ATOMIC | __GFP_KSWAPD_RECLAIM
GFP_KERNEL = __GFP_RECLAIM | __GFP_IO | __GFP_FS
GFP_NOWAIT = __GFP_KSWAPD_RECLAIM
GFP_NOIO = __GFP_RECLAIM
GFP_NOFS = __GFP_RECLAIM | __GFP_IO
GFP_USER = __GFP_RECLAIM | __GFP_IO | __GFP_FS | __GFP_HARDWALL
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_TRANSHUGE_LIGHT = ((GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC
                        | __GFP_NOWARN) & ~__GFP_RECLAIM)
GFP_TRANSHUGE = GFP_TRANSHUGE_LIGHT | __GFP_DIRECT_RECLAIM

GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_MOVABLE_SHIFT = 3


def gfp_migratetype(gfp_flags):
    """gfp_migratetype(): __GFP_MOVABLE -> MOVABLE, __GFP_RECLAIMABLE ->
    RECLAIMABLE, neither -> UNMOVABLE."""
    return (gfp_flags & GFP_MOVABLE_MASK) >> GFP_MOVABLE_SHIFT


# ------------------------------------------------------------ alloc flags
# mm/internal.h (v5.12)
WMARK_MIN, WMARK_LOW, WMARK_HIGH = 0, 1, 2
ALLOC_WMARK_MIN = WMARK_MIN
ALLOC_WMARK_LOW = WMARK_LOW
ALLOC_WMARK_HIGH = WMARK_HIGH
ALLOC_NO_WATERMARKS = 0x04
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
ALLOC_OOM = 0x08
ALLOC_HARDER = 0x10
ALLOC_HIGH = 0x20            # == __GFP_HIGH
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80
ALLOC_NOFRAGMENT = 0x100
ALLOC_KSWAPD = 0x800         # == __GFP_KSWAPD_RECLAIM

# fpi_t (v5.10+)
FPI_NONE = 0
FPI_SKIP_REPORT_NOTIFY = 1 << 0
FPI_TO_TAIL = 1 << 1

# isolation flags (include/linux/page-isolation.h)
MEMORY_OFFLINE = 0x1
REPORT_FAILURE = 0x2

SWAP_CLUSTER_MAX = 32

# fallbacks[] of v5.12: where each pcp type steals from, in order
fallbacks = {
    MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE),
    MIGRATE_MOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE),
    MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE),
    MIGRATE_CMA: (),             # never used
    MIGRATE_ISOLATE: (),         # never used
}

DEFAULT_PCP_BATCH = 7
DEFAULT_PCP_HIGH = 42        # 6 * batch, the kernel's ratio (pageset_set_batch)


# =================================================================== lists
# CONFIG_DEBUG_LIST-style list primitives: mmzone.list_add/list_add_tail/list_del.
_list_add = list_add
_list_add_tail = list_add_tail
_list_del = list_del


# ============================================================== pageblocks
def pageblock_index(zone, pfn):
    """pfn_to_bitidx() / NR_PAGEBLOCK_BITS: the pageblock number in the zone."""
    return (pfn - zone.pageblock_base) >> zone.pageblock_order


def get_pfnblock_migratetype(page, pfn):
    z = page.k.zone
    zone_fp_read(z)
    return z.pageblock_flags[(pfn - z.pageblock_base) >> z.pageblock_order]


def get_pageblock_migratetype(page):
    """get_pageblock_migratetype(): a plain read of the pageblock bitmap
    (racy unless zone->lock is held; the kernel reads it without the lock
    in the free paths and re-checks under the lock where it matters)."""
    z = page.k.zone
    zone_fp_read(z)
    return z.pageblock_flags[(page.pfn - z.pageblock_base) >> z.pageblock_order]


def set_pageblock_migratetype(page, migratetype):
    """set_pageblock_migratetype(): a cmpxchg on the bitmap word; callers
    hold zone->lock (isolation, fallback stealing) or run at boot."""
    z = page.k.zone
    if not z.zone_spans_pfn(page.pfn):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(!zone_spans_pfn) pfn 0x{page.pfn:x}")
    zone_fp_write(z)
    z.pageblock_flags[(page.pfn - z.pageblock_base) >> z.pageblock_order] = migratetype


def is_migrate_isolate_page(page):
    return get_pageblock_migratetype(page) == MIGRATE_ISOLATE


def is_migrate_cma_page(page):
    return get_pageblock_migratetype(page) == MIGRATE_CMA


def has_isolate_pageblock(zone):
    zone_fp_read(zone)
    return zone.nr_isolate_pageblock != 0


def pageblock_start_pfn(k, pfn):
    return pfn & ~(k.zone.pageblock_nr_pages - 1)


def pageblock_end_pfn(k, pfn):
    nr = k.zone.pageblock_nr_pages
    return (pfn & ~(nr - 1)) + nr


def pfn_max_align_down(k, pfn):
    """pfn_max_align_down() (v5.12 CONFIG_CONTIG_ALLOC): align to the larger
    of MAX_ORDER_NR_PAGES and a pageblock, so isolation never leaves half of
    a max-order buddy outside the isolated range."""
    a = max(MAX_ORDER_NR_PAGES, k.zone.pageblock_nr_pages)
    return pfn & ~(a - 1)


def pfn_max_align_up(k, pfn):
    """pfn_max_align_up() (v5.12)."""
    a = max(MAX_ORDER_NR_PAGES, k.zone.pageblock_nr_pages)
    return (pfn + a - 1) & ~(a - 1)


# ============================================================== free areas
def __mod_zone_freepage_state(zone, nr_pages, migratetype):
    """NR_FREE_PAGES (+ NR_FREE_CMA_PAGES for CMA).  Pages on ISOLATE
    pageblocks are never counted: callers skip the call for ISOLATE."""
    zone_fp_write(zone)
    vs = zone.vm_stat
    vs["NR_FREE_PAGES"] += nr_pages
    if migratetype == MIGRATE_CMA:
        vs["NR_FREE_CMA_PAGES"] += nr_pages


def set_buddy_order(page, order):
    page_fp_write(page)
    page.private = order
    __SetPageBuddy(page)


def add_to_free_list(page, zone, order, migratetype):
    area = zone.free_area[order]
    _list_add(area.free_list[migratetype], page)
    area.nr_free += 1


def add_to_free_list_tail(page, zone, order, migratetype):
    area = zone.free_area[order]
    _list_add_tail(area.free_list[migratetype], page)
    area.nr_free += 1


def move_to_free_list(page, zone, order, migratetype):
    """list_move_tail() to another migratetype's list of the same order
    (v5.12 moves to the tail)."""
    old = page.lru
    if old is None:
        raise ListCorruption(
            f"list_del corruption: {page.label} (pfn 0x{page.pfn:x}) moved to "
            f"free_area[{order}].{MIGRATETYPE_NAMES[migratetype]} but is on no list")
    _list_del(old, page)
    _list_add_tail(zone.free_area[order].free_list[migratetype], page)


def del_page_from_free_list(page, zone, order):
    if PageReported(page):
        __ClearPageReported(page)
    lh = page.lru
    if lh is None:
        raise ListCorruption(
            f"list_del corruption: {page.label} (pfn 0x{page.pfn:x}) is on no free list")
    _list_del(lh, page)
    __ClearPageBuddy(page)
    page.private = 0
    zone.free_area[order].nr_free -= 1


def get_page_from_free_area(area, migratetype):
    touch_read(area.m, area.fpk)
    return area.free_list[migratetype].first()


def page_is_buddy(zone, page, buddy, order):
    """page_is_buddy(): the buddy is free, of the same order, in the zone.
    A page that is out of the buddy allocator with refcount 0 (on a pcp
    list, being freed, isolated for reporting) is never merged with."""
    page_fp_read(buddy)
    if not (buddy.page_type & 1):
        return False
    if buddy.private != order:
        return False
    if not zone.zone_spans_pfn(buddy.pfn):
        return False
    if buddy._refcount != 0:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(page_count(buddy) != 0) "
                        f"pfn 0x{buddy.pfn:x}")
    return True


def buddy_merge_likely(k, zone, pfn, buddy_pfn, order):
    """buddy_merge_likely(): if the next-higher buddy is free, put the block
    at the tail so it has a chance to merge before being reallocated."""
    if order >= MAX_ORDER - 2:
        return False
    combined = buddy_pfn & pfn
    pfn_fp_read(k, combined ^ (1 << (order + 1)))
    higher_buddy = k.mem_map.peek(combined ^ (1 << (order + 1)))     # free heads only
    return higher_buddy is not None and page_is_buddy(zone, None, higher_buddy, order + 1)


@kfunc
def __free_one_page(k, page, pfn, zone, order, migratetype, fpi_flags):
    """__free_one_page() (v5.10 - v5.12): put a block into the buddy
    allocator and merge it with its free buddies.  Caller holds zone->lock.

    Merging below pageblock_order is unconditional (both halves are in one
    pageblock).  From pageblock_order up, a block in an ISOLATE pageblock is
    not merged with one in a non-ISOLATE pageblock (has_isolate_pageblock /
    is_migrate_isolate checks), else isolation would corrupt the free
    counts.  v5.12 still lets CMA and non-CMA pageblocks merge at max order
    (fixed in v5.18); CMA areas are max-order aligned here so it cannot
    happen."""
    # A buddy is a free block's head, always materialised: peek() (an
    # untouched page of a split block is no buddy either).
    peek = k.mem_map.peek
    pbo = zone.pageblock_order
    max_order = min(MAX_ORDER - 1, pbo)
    if migratetype != MIGRATE_ISOLATE:
        __mod_zone_freepage_state(zone, 1 << order, migratetype)
    if pfn & ((1 << order) - 1):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(pfn & ((1 << order) - 1)) "
                        f"pfn 0x{pfn:x} order {order}")
    while True:
        merged_out = False
        while order < max_order:
            buddy_pfn = pfn ^ (1 << order)
            pfn_fp_read(k, buddy_pfn)
            buddy = peek(buddy_pfn)
            if buddy is None or not page_is_buddy(zone, page, buddy, order):
                merged_out = True
                break
            del_page_from_free_list(buddy, zone, order)
            if buddy_pfn < pfn:
                page = buddy
                pfn = buddy_pfn
            order += 1
        if merged_out:
            break
        if order < MAX_ORDER - 1:
            if zone.nr_isolate_pageblock:
                buddy_mt = zone.pageblock_flags[
                    ((pfn ^ (1 << order)) - zone.pageblock_base) >> pbo]
                if migratetype != buddy_mt and (migratetype == MIGRATE_ISOLATE
                                                or buddy_mt == MIGRATE_ISOLATE):
                    break
            max_order = order + 1
            continue
        break
    __free_one_page_done(k, zone, page, pfn, order, migratetype, fpi_flags)


def __free_one_page_done(k, zone, page, pfn, order, migratetype, fpi_flags):
    """The done_merging tail of __free_one_page(): the merged block on its
    list (tail with FPI_TO_TAIL or when buddy_merge_likely()), then the
    free page reporting notification unless FPI_SKIP_REPORT_NOTIFY."""
    set_buddy_order(page, order)
    if fpi_flags & FPI_TO_TAIL:
        to_tail = True
    else:
        to_tail = buddy_merge_likely(k, zone, pfn, pfn ^ (1 << order), order)
    if to_tail:
        add_to_free_list_tail(page, zone, order, migratetype)
    else:
        add_to_free_list(page, zone, order, migratetype)
    if not (fpi_flags & FPI_SKIP_REPORT_NOTIFY) and k.page_reporting_enabled:
        # page_reporting_notify_free() (mm/page_reporting.py; off until a
        # device registers)
        k.fn.page_reporting_notify_free(order)


# ============================================================ page checks
def _bad_reason(page, check_flags):
    reason = None
    if page._mapcount != -1 or PageBuddy(page):
        reason = "nonzero mapcount"
    if page.mapping is not None:
        reason = "non-NULL mapping"
    if page._refcount != 0:
        reason = "nonzero _refcount"
    if page.flags & check_flags:
        reason = ("PAGE_FLAGS_CHECK_AT_FREE flag(s) set" if check_flags == PAGE_FLAGS_CHECK_AT_FREE
                  else "PAGE_FLAGS_CHECK_AT_PREP flag(s) set")
    if page.memcg_data is not None:
        reason = "page still charged to cgroup"
    return reason


def check_free_page(page):
    """check_free_page(): page_expected_state(PAGE_FLAGS_CHECK_AT_FREE) or
    bad_page().  (PageBuddy lives in _mapcount in the kernel, so freeing a
    free page reports 'nonzero mapcount'.)"""
    page_fp_read(page)
    if (page._mapcount == -1 and page.mapping is None and page._refcount == 0
            and page.memcg_data is None and not page.flags & PAGE_FLAGS_CHECK_AT_FREE
            and not page.page_type):
        return
    bad_page(page, _bad_reason(page, PAGE_FLAGS_CHECK_AT_FREE))


def check_new_page(page):
    """check_new_page(): page_expected_state(PAGE_FLAGS_CHECK_AT_PREP), where
    the v5.12 PAGE_FLAGS_CHECK_AT_PREP is every page flag."""
    page_fp_read(page)
    if (page._mapcount == -1 and page.mapping is None and page._refcount == 0
            and page.memcg_data is None and not page.flags and not page.page_type
            and page.lru is None and page.compound_head is None):
        return
    reason = _bad_reason(page, ~0)
    if reason is None:
        reason = ("still on a list" if page.lru is not None else "compound_head set")
    bad_page(page, reason)


def check_new_pages(k, page, order):
    """check_new_pages() (CONFIG_DEBUG_VM): every page of the block.  Pristine
    pages need no check; an untouched page of a split block (refcount 1) is
    not pristine and fails it."""
    check_new_page(page)
    if order:
        # (the head too, read above: whole pageblocks are one key each)
        pfns_fp_read(k, page.pfn, page.pfn + (1 << order))
        mem_map = k.mem_map
        peek, split = mem_map.peek, mem_map.split
        for pfn in range(page.pfn + 1, page.pfn + (1 << order)):
            p = peek(pfn)
            if p is None and pfn >> SPLIT_SHIFT in split:
                p = mem_map.materialise_split(pfn)
            if p is not None:
                check_new_page(p)


@kfunc
def free_pages_prepare(k, page, order, check_free=True):
    """free_pages_prepare() (v5.10 - v5.12): the checks and clean-up done
    before a block goes to the pcp lists or the buddy allocator.  Tail pages
    of a compound page are detached; an anon mapping pointer is cleared;
    every page flag is cleared.  Bad state -> bad_page() (an oracle)."""
    pfns_fp_write(k, page.pfn, page.pfn + (1 << order))
    if page.compound_head is not None:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageTail(page)) pfn 0x{page.pfn:x}")
    if k.trace_events is not None:
        k.trace("kmem:mm_page_free", pfn=page.pfn, order=order)
    if order:
        compound = folio_test_head(page)
        if compound and page.order != order:
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(compound_order(page) != order) "
                            f"pfn 0x{page.pfn:x}: {page.order} != {order}")
        mem_map = k.mem_map
        peek, split = mem_map.peek, mem_map.split
        for pfn in range(page.pfn + 1, page.pfn + (1 << order)):
            p = peek(pfn)
            if p is None and pfn >> SPLIT_SHIFT in split:
                p = mem_map.materialise_split(pfn)
            if p is None:
                continue                  # pristine
            if compound:
                if p.compound_head is not page:
                    bad_page(p, "compound_head not consistent")
                p.compound_head = None
                p.mapping = None
            check_free_page(p)
            p.flags = 0
    if folio_test_anon(page):
        page.mapping = None          # PageMappingFlags: the anon_vma pointer
    if check_free:
        check_free_page(page)
    page.flags = 0
    page.order = 0
    return True


def post_alloc_hook(page, order, gfp_flags):
    """post_alloc_hook(): private cleared, refcount 1 (set_page_refcounted)."""
    page_fp_write(page)
    page.private = 0
    page._refcount = 1


def prep_compound_page(k, page, order):
    """prep_compound_page(): PG_head on the head, compound_head on every
    tail (so the tails exist as Page objects), folio order on the head."""
    pfns_fp_write(k, page.pfn, page.pfn + (1 << order))
    _nonatomic_set(page, PG_head)
    page.order = order
    pfn_to_page = k.pfn_to_page
    for pfn in range(page.pfn + 1, page.pfn + (1 << order)):
        p = pfn_to_page(pfn)
        p._refcount = 0
        p.compound_head = page
    page._pincount = 0


@kfunc
def prep_new_page(k, page, order, gfp_flags, alloc_flags):
    """prep_new_page() (v5.10 - v5.12): refcount 1, compound setup with __GFP_COMP."""
    post_alloc_hook(page, order, gfp_flags)
    if order and gfp_flags & __GFP_COMP:
        prep_compound_page(k, page, order)


# ============================================================== allocation
@kfunc
def expand(k, zone, page, low, high, migratetype):
    """expand() (v5.7 - v5.12): split a block of order ``high`` down to ``low``; the upper
    halves go to the head of their free lists."""
    size = 1 << high
    pfn_to_page = k.pfn_to_page
    zone_fp_write(zone)
    while high > low:
        high -= 1
        size >>= 1
        p = pfn_to_page(page.pfn + size)
        add_to_free_list(p, zone, high, migratetype)
        set_buddy_order(p, high)


@kfunc
def __rmqueue_smallest(k, zone, order, migratetype):
    """__rmqueue_smallest() (v4.x - v5.12): the first block of the smallest sufficient order
    on ``migratetype``'s lists.  Caller holds zone->lock."""
    zone_fp_write(zone)
    for current_order in range(order, MAX_ORDER):
        area = zone.free_area[current_order]
        page = area.free_list[migratetype].first()
        if page is None:
            continue
        del_page_from_free_list(page, zone, current_order)
        k.fn.expand(zone, page, order, current_order, migratetype)
        page.index = migratetype            # set_pcppage_migratetype()
        return page
    return None


@kfunc
def __rmqueue_cma_fallback(k, zone, order):
    """__rmqueue_cma_fallback() (v4.1 - v5.x): __rmqueue_smallest() on the
    CMA lists.  Caller holds zone->lock."""
    return k.fn.__rmqueue_smallest(zone, order, MIGRATE_CMA)


def move_freepages(k, zone, start_pfn, end_pfn, migratetype, num_movable=None):
    """move_freepages() (v5.12): move every PageBuddy block whose head lies in
    [start_pfn, end_pfn] to the tail of ``migratetype``'s list.  Only free
    blocks move: a page out of the buddy (pcp, in flight) is invisible here.
    ``num_movable`` is an out-parameter (a one-element list), as the
    kernel's int pointer."""
    # peek(): only free heads and LRU pages matter here, and an untouched page
    # of a split block (refcount 1, no flags) is neither, like a pristine one;
    # looking it up would materialise every page of an allocated range.
    peek = k.mem_map.peek
    pfn = start_pfn
    moved = 0
    # Footprint: every pfn visited (a free block's tails are covered by its
    # head, which any change to the block writes), declared run by run
    # [lo, hi): a whole pageblock visited is one key (engine/footprint.py).
    lo = hi = start_pfn
    while pfn <= end_pfn:
        if pfn != hi:
            pfns_fp_read(k, lo, hi)
            lo = pfn
        hi = pfn + 1
        page = peek(pfn)
        if page is None or not page.page_type & 1:
            if num_movable is not None and page is not None and folio_test_lru(page_folio(page)):
                num_movable[0] += 1
            pfn += 1
            continue
        order = page.private
        pfns_fp_read(k, lo, hi)       # (before the list move, which may fail)
        lo = hi
        move_to_free_list(page, zone, order, migratetype)
        pfn += 1 << order
        moved += 1 << order
    pfns_fp_read(k, lo, hi)
    return moved


@kfunc
def move_freepages_block(k, zone, page, migratetype, num_movable=None):
    """move_freepages_block() (v5.x): move_freepages() over the pageblock of
    ``page``.  Returns the number of pages moved.  Caller holds zone->lock."""
    if num_movable is not None:
        num_movable[0] = 0
    nr = zone.pageblock_nr_pages
    start_pfn = page.pfn & ~(nr - 1)
    end_pfn = start_pfn + nr - 1
    if not zone.zone_spans_pfn(start_pfn):
        start_pfn = page.pfn
    if not zone.zone_spans_pfn(end_pfn):
        return 0
    return move_freepages(k, zone, start_pfn, end_pfn, migratetype, num_movable)


def change_pageblock_range(k, page, start_order, migratetype):
    nr_pageblocks = 1 << (start_order - k.zone.pageblock_order)
    pfn = page.pfn
    for _ in range(nr_pageblocks):
        set_pageblock_migratetype(k.pfn_to_page(pfn), migratetype)
        pfn += k.zone.pageblock_nr_pages


def can_steal_fallback(k, order, start_mt):
    pbo = k.zone.pageblock_order
    if order >= pbo:
        return True
    return (order >= pbo // 2 or start_mt == MIGRATE_RECLAIMABLE
            or start_mt == MIGRATE_UNMOVABLE)


@kfunc
def steal_suitable_fallback(k, zone, page, alloc_flags, start_type, whole_block):
    """steal_suitable_fallback() (v5.12 without watermark boosting): take the
    block for ``start_type``; claim the whole pageblock when it is at least
    half free or compatible.  Caller holds zone->lock."""
    current_order = page.private
    old_block_type = get_pageblock_migratetype(page)
    if old_block_type != MIGRATE_HIGHATOMIC:
        if current_order >= zone.pageblock_order:
            change_pageblock_range(k, page, current_order, start_type)
        elif whole_block:
            nm = [0]
            free_pages = k.fn.move_freepages_block(zone, page, start_type, nm)
            movable_pages = nm[0]
            if start_type == MIGRATE_MOVABLE:
                alike_pages = movable_pages
            elif old_block_type == MIGRATE_MOVABLE:
                alike_pages = zone.pageblock_nr_pages - (free_pages + movable_pages)
            else:
                alike_pages = 0
            if free_pages:
                if free_pages + alike_pages >= (1 << (zone.pageblock_order - 1)):
                    set_pageblock_migratetype(page, start_type)
                return
    move_to_free_list(page, zone, current_order, start_type)


def find_suitable_fallback(k, area, order, migratetype, only_stealable):
    """find_suitable_fallback() -> (fallback_mt or -1, can_steal)."""
    if area.nr_free == 0:
        return -1, False
    can_steal = False
    for fallback_mt in fallbacks[migratetype]:
        if not area.free_list[fallback_mt]:
            continue
        if can_steal_fallback(k, order, migratetype):
            can_steal = True
        if not only_stealable or can_steal:
            return fallback_mt, can_steal
    return -1, can_steal


@kfunc
def __rmqueue_fallback(k, zone, order, start_migratetype, alloc_flags):
    """__rmqueue_fallback() (v5.12): steal the largest block of a fallback
    type (or the smallest, for a movable request that cannot steal the
    pageblock) and move it to ``start_migratetype``'s list.  Returns True
    if __rmqueue_smallest() can now succeed.  CMA and ISOLATE are never
    fallbacks."""
    zone_fp_write(zone)
    min_order = zone.pageblock_order if alloc_flags & ALLOC_NOFRAGMENT else order
    found = None
    for current_order in range(MAX_ORDER - 1, min_order - 1, -1):
        area = zone.free_area[current_order]
        fallback_mt, can_steal = find_suitable_fallback(k, area, current_order,
                                                        start_migratetype, False)
        if fallback_mt == -1:
            continue
        if not can_steal and start_migratetype == MIGRATE_MOVABLE and current_order > order:
            for current_order in range(order, MAX_ORDER):
                area = zone.free_area[current_order]
                fallback_mt, can_steal = find_suitable_fallback(
                    k, area, current_order, start_migratetype, False)
                if fallback_mt != -1:
                    break
            else:
                raise KernelBug("kernel BUG: VM_BUG_ON(current_order == MAX_ORDER)")
        found = (area, current_order, fallback_mt, can_steal)
        break
    if found is None:
        return False
    area, current_order, fallback_mt, can_steal = found
    page = area.free_list[fallback_mt].first()
    k.fn.steal_suitable_fallback(zone, page, alloc_flags, start_migratetype, can_steal)
    if k.trace_events is not None:
        # zone->lock is held: the block's type is stable (change_ownership)
        k.trace("kmem:mm_page_alloc_extfrag", pfn=page.pfn, alloc_order=order,
                fallback_order=current_order, pageblock_order=zone.pageblock_order,
                alloc_migratetype=start_migratetype, fallback_migratetype=fallback_mt,
                fragmenting=int(current_order < zone.pageblock_order),
                change_ownership=int(get_pageblock_migratetype(page) == start_migratetype))
    return True


@kfunc
def __rmqueue(k, zone, order, migratetype, alloc_flags):
    """__rmqueue() (v5.9 - v5.x): with ALLOC_CMA, take from CMA first when
    more than half of the zone's free memory is CMA (the balancing of
    16867664936e); otherwise the requested type, then CMA, then stealing.
    Caller holds zone->lock."""
    zone_fp_write(zone)
    fn = k.fn
    vs = zone.vm_stat
    if alloc_flags & ALLOC_CMA and vs["NR_FREE_CMA_PAGES"] > vs["NR_FREE_PAGES"] // 2:
        page = fn.__rmqueue_cma_fallback(zone, order)
        if page is not None:
            return page
    while True:
        page = fn.__rmqueue_smallest(zone, order, migratetype)
        if page is None:
            if alloc_flags & ALLOC_CMA:
                page = fn.__rmqueue_cma_fallback(zone, order)
            if page is None and fn.__rmqueue_fallback(zone, order, migratetype, alloc_flags):
                continue
        return page


@kfunc
def rmqueue_bulk(k, zone, order, count, lst, migratetype, alloc_flags):
    """rmqueue_bulk() (v4.x - v5.12): refill a pcp list with ``count`` blocks under one
    zone->lock hold (tail insertion keeps physical order).  Pages moved to a
    pcp list leave NR_FREE_PAGES."""
    yield from spin_lock(zone.lock)
    zone_fp_write(zone)
    rmqueue = k.fn.__rmqueue
    vs = zone.vm_stat
    i = 0
    while i < count:
        page = rmqueue(zone, order, migratetype, alloc_flags)
        if page is None:
            break
        _list_add_tail(lst, page)
        i += 1
        if page.index == MIGRATE_CMA:
            vs["NR_FREE_CMA_PAGES"] -= 1 << order
    vs["NR_FREE_PAGES"] -= i << order
    yield from spin_unlock(zone.lock)
    return i


@kfunc
def rmqueue_pcplist(k, zone, gfp_flags, migratetype, alloc_flags):
    """rmqueue_pcplist() (v5.12: pcp protected by local_irq_save only)."""
    m = k.m
    local_irq_disable(m)
    pcp = zone.pageset[m.current.cpu]
    touch_write(m, pcp.fpk)
    lst = pcp.lists[migratetype]
    if not lst:
        pcp.count += yield from k.fn.rmqueue_bulk(zone, 0, pcp.batch, lst,
                                                  migratetype, alloc_flags)
        if not lst:
            yield from local_irq_enable(m)
            return None
    page = lst.first()
    touch_write(m, pcp.fpk)
    _list_del(lst, page)
    pcp.count -= 1
    check_new_page(page)                 # check_new_pcp() with CONFIG_DEBUG_VM
    k.count_vm_event("pgalloc_normal")
    yield from local_irq_enable(m, f"rmqueue_pcplist: pfn 0x{page.pfn:x} taken from "
                                   f"cpu{m.current.cpu}'s pcp "
                                   f"{MIGRATETYPE_NAMES[migratetype]} list (count "
                                   f"{pcp.count}); local_irq_enable")
    return page


@kfunc
def rmqueue(k, zone, order, gfp_flags, alloc_flags, migratetype):
    """rmqueue() (v5.12): order-0 from the pcp lists, except a movable
    request without ALLOC_CMA (the MOVABLE pcp list may hold CMA pages);
    everything else from the buddy lists under zone->lock."""
    if order == 0 and (alloc_flags & ALLOC_CMA or migratetype != MIGRATE_MOVABLE):
        return (yield from k.fn.rmqueue_pcplist(zone, gfp_flags, migratetype, alloc_flags))
    yield from spin_lock_irqsave(zone.lock)
    page = None
    if order > 0 and alloc_flags & ALLOC_HARDER:
        page = k.fn.__rmqueue_smallest(zone, order, MIGRATE_HIGHATOMIC)
    if page is None:
        page = k.fn.__rmqueue(zone, order, migratetype, alloc_flags)
    if page is not None:
        check_new_pages(k, page, order)
        __mod_zone_freepage_state(zone, -(1 << order), page.index)
        k.count_vm_event("pgalloc_normal", 1 << order)
    yield from spin_unlock_irqrestore(zone.lock)
    return page


# ------------------------------------------------------------- watermarks
def __zone_watermark_unusable_free(zone, order, alloc_flags):
    unusable = (1 << order) - 1
    if not alloc_flags & (ALLOC_HARDER | ALLOC_OOM):
        unusable += zone.nr_reserved_highatomic
    if not alloc_flags & ALLOC_CMA:
        unusable += zone.vm_stat["NR_FREE_CMA_PAGES"]
    return unusable


def __zone_watermark_ok(zone, order, mark, alloc_flags, free_pages):
    """__zone_watermark_ok() (v5.12): free CMA pages do not count for an
    allocation without ALLOC_CMA; a high-order request also needs a block of
    a usable type."""
    mn = mark
    harder = alloc_flags & (ALLOC_HARDER | ALLOC_OOM)
    free_pages -= __zone_watermark_unusable_free(zone, order, alloc_flags)
    if alloc_flags & ALLOC_HIGH:
        mn -= mn // 2
    if harder:
        mn -= mn // 2 if alloc_flags & ALLOC_OOM else mn // 4
    if free_pages <= mn + zone.lowmem_reserve:
        return False
    if not order:
        return True
    for o in range(order, MAX_ORDER):
        area = zone.free_area[o]
        if not area.nr_free:
            continue
        for mt in range(MIGRATE_PCPTYPES):
            if area.free_list[mt]:
                return True
        if alloc_flags & ALLOC_CMA and area.free_list[MIGRATE_CMA]:
            return True
        if harder and area.free_list[MIGRATE_HIGHATOMIC]:
            return True
    return False


@kfunc
def zone_watermark_ok(k, zone, order, mark, alloc_flags):
    """zone_watermark_ok() (v5.x): a racy read of NR_FREE_PAGES, as in the kernel."""
    zone_fp_read(zone)
    return __zone_watermark_ok(zone, order, mark, alloc_flags,
                               zone.vm_stat["NR_FREE_PAGES"])


def wmark_pages(zone, i):
    return zone._watermark[i] + zone.watermark_boost


def current_alloc_flags(k, gfp_mask, alloc_flags):
    """current_alloc_flags(): ALLOC_CMA for movable requests unless the task
    is in a memalloc_nocma_save() section (PF_MEMALLOC_NOCMA, v5.12; named
    PF_MEMALLOC_PIN since v5.13)."""
    if gfp_migratetype(gfp_mask) == MIGRATE_MOVABLE:
        t = k.m.current
        if t is None or not k.pf_memalloc_nocma.get(t.tid):
            alloc_flags |= ALLOC_CMA
    return alloc_flags


def gfp_to_alloc_flags(k, gfp_mask):
    """gfp_to_alloc_flags(): the slow path's flags (min watermark)."""
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & __GFP_HIGH            # ALLOC_HIGH
    alloc_flags |= gfp_mask & __GFP_KSWAPD_RECLAIM  # ALLOC_KSWAPD
    if gfp_mask & __GFP_ATOMIC:
        if not gfp_mask & __GFP_NOMEMALLOC:
            alloc_flags |= ALLOC_HARDER
        alloc_flags &= ~ALLOC_CPUSET
    return current_alloc_flags(k, gfp_mask, alloc_flags)


def memalloc_nocma_save(k):
    """memalloc_nocma_save() (include/linux/sched/mm.h, v5.12): the current
    task's movable allocations avoid CMA until the matching restore."""
    tid = k.m.current.tid
    old = k.pf_memalloc_nocma.get(tid, 0)
    k.pf_memalloc_nocma[tid] = 1
    return old


def memalloc_nocma_restore(k, flags):
    k.pf_memalloc_nocma[k.m.current.tid] = flags


@kfunc
def get_page_from_freelist(k, gfp_mask, order, alloc_flags, migratetype):
    """get_page_from_freelist() (v5.12, one zone): watermark check (a racy
    read), rmqueue(), prep_new_page()."""
    zone = k.zone
    if not alloc_flags & ALLOC_NO_WATERMARKS:
        mark = wmark_pages(zone, alloc_flags & ALLOC_WMARK_MASK)
        if not k.fn.zone_watermark_ok(zone, order, mark, alloc_flags):
            return None
    page = yield from k.fn.rmqueue(zone, order, gfp_mask, alloc_flags, migratetype)
    if page is not None:
        k.fn.prep_new_page(page, order, gfp_mask, alloc_flags)
    return page


@kfunc
def __alloc_pages(k, gfp_mask, order):
    """__alloc_pages() (__alloc_pages_nodemask up to v5.12): returns a page
    with refcount 1, or None.

    Fast path at the low watermark; the slow path is reduced to one retry at
    the min watermark with gfp_to_alloc_flags(): this model has no reclaim,
    no compaction, no OOM killer and never loops, so an allocation that the
    free lists cannot satisfy fails (and logs the warn_alloc line unless
    __GFP_NOWARN)."""
    if order >= MAX_ORDER:
        WARN_ON(not gfp_mask & __GFP_NOWARN, f"__alloc_pages: order {order} >= MAX_ORDER")
        return None
    migratetype = gfp_migratetype(gfp_mask)
    alloc_flags = current_alloc_flags(k, gfp_mask, ALLOC_WMARK_LOW)
    alloc_flags |= gfp_mask & __GFP_KSWAPD_RECLAIM     # alloc_flags_nofragment()
    page = yield from k.fn.get_page_from_freelist(gfp_mask, order, alloc_flags, migratetype)
    if page is None:
        alloc_flags = gfp_to_alloc_flags(k, gfp_mask)
        page = yield from k.fn.get_page_from_freelist(gfp_mask, order, alloc_flags, migratetype)
        if page is None and not gfp_mask & __GFP_NOWARN:
            t = k.m.current
            k.printk.append(f"{t.name if t else 'swapper'}: page allocation failure: "
                            f"order:{order}, mode:{gfp_mask:#x}")
    if page is not None and k.trace_events is not None:
        k.trace("kmem:mm_page_alloc", pfn=page.pfn, order=order, gfp_flags=gfp_mask,
                migratetype=migratetype)
    return page


@kfunc
def alloc_pages(k, gfp_mask, order=0):
    """alloc_pages() (v5.x; no mempolicy: one node)."""
    return (yield from k.fn.__alloc_pages(gfp_mask, order))


@kfunc
def folio_alloc(k, gfp, order=0):
    """folio_alloc() (v5.16+; alloc_pages(gfp | __GFP_COMP) before): a
    folio of ``order`` with refcount 1, or None."""
    return (yield from k.fn.__alloc_pages(gfp | __GFP_COMP, order))


class migration_target_control:
    """struct migration_target_control (mm/internal.h, v5.9+)."""

    __slots__ = ("nid", "nmask", "gfp_mask", "reason")

    def __init__(self, nid=0, nmask=None, gfp_mask=0, reason=None):
        self.nid = nid
        self.nmask = nmask
        self.gfp_mask = gfp_mask
        self.reason = reason


# ================================================================= freeing
@kfunc
def free_one_page(k, zone, page, pfn, order, migratetype, fpi_flags):
    """free_one_page() (v5.10 - v5.12): __free_one_page() under zone->lock (irqs already
    off).  The migratetype was read before the lock; when any pageblock is
    isolated (or the caller saw ISOLATE) it is re-read under the lock, so a
    page freed into a pageblock isolated meanwhile lands on the ISOLATE list."""
    # the step that ends at the lock's announcement read the pageblock's
    # migratetype (the caller's racy read): the label says what it read
    yield from relabel(spin_lock(zone.lock),
                       f"free_one_page: pfn 0x{pfn:x} read as "
                       f"{MIGRATETYPE_NAMES[migratetype]}; ")
    zone_fp_write(zone)
    migratetype = k.fn.free_one_page_migratetype(zone, page, pfn, migratetype)
    k.fn.__free_one_page(page, pfn, zone, order, migratetype, fpi_flags)
    yield from spin_unlock(zone.lock)


@kfunc
def free_one_page_migratetype(k, zone, page, pfn, migratetype):
    """The migratetype re-check of free_one_page() under zone->lock (v3.19 -
    v5.12): ad53f92eb416 ("mm/page_alloc: fix incorrect isolation behavior
    by rechecking migratetype", Joonsoo Kim, v3.19).  The type read before
    the lock may be stale when a pageblock was isolated meanwhile; when any
    pageblock of the zone is isolated it is read again.  Its own function
    so that the fix can be dropped (the patch revert-ad53f92eb416) rather
    than copied: in v5.12 it is open-coded in free_one_page()."""
    if zone.nr_isolate_pageblock or migratetype == MIGRATE_ISOLATE:
        return get_pfnblock_migratetype(page, pfn)
    return migratetype


@kfunc
def __free_pages_ok(k, page, order, fpi_flags=FPI_NONE):
    """__free_pages_ok() (v5.12): free a block straight to the buddy lists
    (orders > 0, and __free_pages_core at boot)."""
    if not k.fn.free_pages_prepare(page, order, True):
        return
    pfn = page.pfn
    migratetype = get_pfnblock_migratetype(page, pfn)
    m = k.m
    local_irq_disable(m)
    k.count_vm_event("pgfree", 1 << order)
    yield from k.fn.free_one_page(k.zone, page, pfn, order, migratetype, fpi_flags)
    # local_irq_restore(): the unlock above was the last step other CPUs can
    # observe, so re-enabling needs no step of its own.
    m.current.irqs_off -= 1


def free_unref_page_prepare(k, page, pfn):
    """free_unref_page_prepare(): checks, then remember the pageblock's
    migratetype in the page (set_pcppage_migratetype)."""
    if not k.fn.free_pages_prepare(page, 0, True):
        return False
    page_fp_write(page)
    page.index = get_pfnblock_migratetype(page, pfn)
    return True


@kfunc
def free_unref_page_commit(k, page, pfn):
    """free_unref_page_commit() (v5.x - v5.12): onto this CPU's pcp list (CMA and
    HIGHATOMIC pages go on the MOVABLE list; an ISOLATE page goes straight
    to the buddy allocator); a list over ``high`` frees ``batch`` pages.
    Caller has irqs off.  (void in the kernel; the model returns where the
    page went, for the label of the step that ends at the irq enable.)"""
    zone = k.zone
    page_fp_read(page)
    migratetype = page.index
    k.count_vm_event("pgfree")
    if migratetype >= MIGRATE_PCPTYPES:
        if migratetype == MIGRATE_ISOLATE:
            yield from k.fn.free_one_page(zone, page, pfn, 0, migratetype, FPI_NONE)
            return "freed to the buddy (Isolate)"
        migratetype = MIGRATE_MOVABLE
    cpu = k.m.current.cpu
    pcp = zone.pageset[cpu]
    touch_write(k.m, pcp.fpk)
    _list_add(pcp.lists[migratetype], page)
    pcp.count += 1
    where = (f"on cpu{cpu}'s pcp {MIGRATETYPE_NAMES[migratetype]} list "
             f"(count {pcp.count})")
    if pcp.count >= pcp.high:
        yield from k.fn.free_pcppages_bulk(zone, pcp.batch, pcp)
        where += f", then {pcp.batch} spilled to the buddy"
    return where


@kfunc
def free_unref_page(k, page):
    """free_unref_page() (v5.12): free an order-0 page to this CPU's pcp
    list.  The pageblock migratetype is read before interrupts are disabled:
    a pageblock isolated in that window gets the page on a MOVABLE pcp list,
    where drain_all_pages()' racy pcp->count check can miss it."""
    pfn = page.pfn
    if not free_unref_page_prepare(k, page, pfn):
        return
    yield f"free_unref_page: pfn 0x{pfn:x} is {MIGRATETYPE_NAMES[page.index]}"
    m = k.m
    local_irq_disable(m)
    where = yield from k.fn.free_unref_page_commit(page, pfn)
    yield from local_irq_enable(m, f"free_unref_page: pfn 0x{pfn:x} "
                                   f"{where or 'committed'}; local_irq_enable")


@kfunc
def free_pcppages_bulk(k, zone, count, pcp):
    """free_pcppages_bulk() (v5.12): take ``count`` pages off the pcp lists
    round-robin (oldest first), then free them under zone->lock.  Between
    the two the pages are in no list, with refcount 0 and !PageBuddy.  A
    pageblock isolated meanwhile is honoured by re-reading the migratetype."""
    touch_write(k.m, pcp.fpk)
    count = min(pcp.count, count)
    migratetype = 0
    batch_free = 0
    head = []
    while count:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            lst = pcp.lists[migratetype]
            if lst:
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = count
        while True:
            page = lst.last()
            _list_del(lst, page)
            pcp.count -= 1
            head.append(page)
            count -= 1
            if not count:
                break
            batch_free -= 1
            if not batch_free or not lst:
                break
    yield from spin_lock(zone.lock)
    zone_fp_write(zone)
    isolated = zone.nr_isolate_pageblock
    free = k.fn.__free_one_page
    tracing = k.trace_events is not None
    for page in head:
        page_fp_read(page)
        mt = page.index
        if mt == MIGRATE_ISOLATE:
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(is_migrate_isolate(mt)) "
                            f"pfn 0x{page.pfn:x}: an ISOLATE page on a pcp list")
        if isolated:
            mt = get_pageblock_migratetype(page)
        free(page, page.pfn, zone, 0, mt, FPI_NONE)
        if tracing:
            k.trace("kmem:mm_page_pcpu_drain", pfn=page.pfn, order=0, migratetype=mt)
    yield from spin_unlock(zone.lock)


@kfunc
def free_the_page(k, page, order):
    """free_the_page() (v5.2 - v5.12): order 0 through the pcp lists, else __free_pages_ok."""
    if order == 0:
        yield from k.fn.free_unref_page(page)
    else:
        yield from k.fn.__free_pages_ok(page, order, FPI_NONE)


@kfunc
def __free_pages(k, page, order):
    """__free_pages() (v5.10 - v5.12): drop a reference; the last one frees
    the block.  If a speculative reference keeps the first page of a
    non-compound block alive, the rest of the block is freed now."""
    if folio_put_testzero(page):
        yield f"__free_pages: pfn 0x{page.pfn:x} order {order}: last reference"
        yield from k.fn.free_the_page(page, order)
    elif not folio_test_head(page):
        page_fp_read(page)
        yield f"__free_pages: pfn 0x{page.pfn:x} order {order}: ref {page._refcount}"
        while order > 0:
            order -= 1
            yield from k.fn.free_the_page(k.pfn_to_page(page.pfn + (1 << order)), order)
    else:
        page_fp_read(page)
        yield f"__free_pages: pfn 0x{page.pfn:x} order {order}: ref {page._refcount}"


@kfunc
def free_compound_page(k, page):
    """free_compound_page() (the COMPOUND_PAGE_DTOR of v5.12)."""
    page_fp_read(page)
    yield from k.fn.__free_pages_ok(page, page.order, FPI_NONE)


@kfunc
def free_folio(k, folio):
    """The final free of a folio whose last reference is gone, as reached
    from __folio_put()/folios_put() (v5.12 __put_single_page ->
    free_unref_page, __put_compound_page -> free_compound_page ->
    __free_pages_ok).  mem_cgroup_uncharge() runs first when the memcg model
    provides it; a folio still charged when it reaches the allocator is a
    bad page."""
    if "mem_cgroup_uncharge" in k.fn:
        if inspect.isgeneratorfunction(k.fn.source("mem_cgroup_uncharge")):
            yield from k.fn.mem_cgroup_uncharge(folio)
        else:
            k.fn.mem_cgroup_uncharge(folio)
    page_fp_read(folio)
    if folio.order:
        yield from k.fn.free_compound_page(folio)
    else:
        yield from k.fn.free_unref_page(folio)


# ======================================================== isolated pages
@kfunc
def __isolate_free_page(k, page, order):
    """__isolate_free_page() (v5.7 - v5.12): take a free block out of the
    buddy allocator (refcount stays 0, !PageBuddy).  Outside an ISOLATE
    pageblock the min watermark must hold (ALLOC_CMA) and the pages leave
    the free counts.  A block of at least half a pageblock converts its
    pageblock(s) to MOVABLE unless ISOLATE, CMA or HIGHATOMIC.  Caller holds
    zone->lock.  Returns 1 << order, or 0."""
    if not PageBuddy(page):
        raise KernelBug(f"kernel BUG: BUG_ON(!PageBuddy(page)) pfn 0x{page.pfn:x}")
    zone = k.zone
    zone_fp_write(zone)
    mt = get_pageblock_migratetype(page)
    if mt != MIGRATE_ISOLATE:
        watermark = zone._watermark[WMARK_MIN] + (1 << order)
        if not k.fn.zone_watermark_ok(zone, 0, watermark, ALLOC_CMA):
            return 0
        __mod_zone_freepage_state(zone, -(1 << order), mt)
    del_page_from_free_list(page, zone, order)
    if order >= zone.pageblock_order - 1:
        pfn = page.pfn
        end = pfn + (1 << order) - 1
        while pfn < end:
            p = k.pfn_to_page(pfn)
            bmt = get_pageblock_migratetype(p)
            if bmt not in (MIGRATE_ISOLATE, MIGRATE_CMA, MIGRATE_HIGHATOMIC):
                set_pageblock_migratetype(p, MIGRATE_MOVABLE)
            pfn += zone.pageblock_nr_pages
    return 1 << order


@kfunc
def __putback_isolated_page(k, page, order, mt):
    """__putback_isolated_page() (v5.10+): return a block taken by
    __isolate_free_page() to the tail of its free list, without a reporting
    notification.  Caller holds zone->lock."""
    zone = k.zone
    lockdep_assert_held(zone.lock)
    k.fn.__free_one_page(page, page.pfn, zone, order, mt,
                         FPI_SKIP_REPORT_NOTIFY | FPI_TO_TAIL)


@kfunc
def has_unmovable_pages(k, zone, page, migratetype, flags):
    """has_unmovable_pages() (v5.10 - v5.12, in page_alloc.c): the first page
    of the pageblock that is surely not movable, or None.  A CMA pageblock is
    fine only for a CMA request.  Refcount 0 counts as free (buddy blocks
    skipped by order); PG_lru counts as movable (non-LRU movable pages are
    not modelled).  Racy by design: no reference is taken.  Caller holds
    zone->lock."""
    if is_migrate_cma_page(page):
        return None if migratetype == MIGRATE_CMA else page
    mem_map = k.mem_map
    peek, split = mem_map.peek, mem_map.split
    pfn = page.pfn
    end = (pfn & ~(zone.pageblock_nr_pages - 1)) + zone.pageblock_nr_pages
    # Footprint: every pfn visited, run by run [lo, hi) (a whole pageblock
    # is one key, engine/footprint.py), declared on the way out.
    lo = hi = pfn
    found = None
    while pfn < end:
        if pfn != hi:
            pfns_fp_read(k, lo, hi)
            lo = pfn
        hi = pfn + 1
        p = peek(pfn)
        if p is None and pfn >> SPLIT_SHIFT in split:
            p = mem_map.materialise_split(pfn)   # refcount 1, not on the LRU: unmovable
        if p is None:
            pfn += 1
            continue
        if _test(p, PG_reserved):
            found = p
            break
        head = p.compound_head
        if head is not None or folio_test_head(p):
            head = head or p
            if not folio_test_lru(head):
                found = p
                break
            pfn = head.pfn + (1 << head.order)
            continue
        if p._refcount == 0:
            pfn += (1 << p.private) if p.page_type & 1 else 1
            continue
        if folio_test_lru(p):
            pfn += 1
            continue
        found = p
        break
    pfns_fp_read(k, lo, hi)
    return found


# ============================================================ pcp draining
class per_cpu_pages:
    """struct per_cpu_pages (v5.12): order-0 lists per pcp migratetype."""

    __slots__ = ("cpu", "count", "high", "batch", "lists", "fpk")

    def __init__(self, cpu, high, batch, fpk):
        self.cpu = cpu
        self.count = 0
        self.high = high
        self.batch = batch
        self.fpk = fpk               # the lists and the count
        self.lists = [ListHead(f"pcp[{cpu}].{MIGRATETYPE_NAMES[mt]}", fpk)
                      for mt in range(MIGRATE_PCPTYPES)]

    def __repr__(self):
        return f"pcp[{self.cpu}](count={self.count})"


class pcpu_drain:
    """struct pcpu_drain: the per-CPU work item of drain_all_pages()."""

    __slots__ = ("zone", "work", "func")

    def __init__(self, k, cpu):
        self.zone = None
        self.work = work_struct(k.m, f"pcpu_drain/{cpu}")
        drain = self

        def drain_local_pages_wq(work):
            yield from _drain_local_pages_wq(k, drain)

        self.func = drain_local_pages_wq


def _drain_local_pages_wq(k, drain):
    """drain_local_pages_wq(): the work function, run by kworker/N."""
    preempt_disable(k.m)
    yield from k.fn.drain_local_pages(drain.zone)
    yield from preempt_enable(k.m)


@kfunc
def drain_pages_zone(k, cpu, zone):
    """drain_pages_zone() (v5.12): free every page of ``cpu``'s pcp lists (this CPU,
    irqs off)."""
    m = k.m
    local_irq_disable(m)
    pcp = zone.pageset[cpu]
    touch_read(m, pcp.fpk)
    count = pcp.count
    if count:
        yield from k.fn.free_pcppages_bulk(zone, count, pcp)
    yield from local_irq_enable(m, f"drain_pages_zone: cpu{cpu}'s pcp lists "
                                   + (f"freed ({count} pages)" if count else "empty")
                                   + "; local_irq_enable")


@kfunc
def drain_local_pages(k, zone):
    """drain_local_pages() (v5.12): drain this CPU (one zone here either way)."""
    yield from k.fn.drain_pages_zone(k.m.current.cpu, zone or k.zone)


@kfunc
def __drain_all_pages(k, zone, force_all_cpus):
    """__drain_all_pages() (v5.12): queue drain_local_pages_wq on
    mm_percpu_wq for every CPU whose pcp->count looks non-zero (a racy read;
    ``force_all_cpus`` queues on all), then flush_work() each.  This is the
    v5.12 workqueue drain, not the 6.x remote drain under pcp->lock: a CPU
    that never schedules its kworker (SCHED_FIFO loop) blocks the caller.
    Without a zone the call gives up if a drain is in progress."""
    mtx = k.pcpu_drain_mutex
    touch_read(k.m, mtx.fpk)
    if mtx.owner is not None and zone is None:
        yield "__drain_all_pages: pcpu_drain_mutex busy, give up"
        return
    yield from mutex_lock(mtx)
    cpus = []
    z = zone or k.zone
    seen = []
    for cpu in range(k.m.ncpus):
        touch_read(k.m, z.pageset[cpu].fpk)       # a racy read of pcp->count
        seen.append(f"cpu{cpu} {z.pageset[cpu].count}")
        if force_all_cpus or z.pageset[cpu].count:
            cpus.append(cpu)
    skipped = [f"cpu{c}" for c in range(k.m.ncpus) if c not in cpus]
    # the step that ends at the next yield read every pcp->count: say which
    # CPUs it skips (another CPU's pcp commit may still come)
    decided = (f"__drain_all_pages: pcp->count {', '.join(seen)}: "
               + (f"skips {', '.join(skipped)}; " if skipped else "drains every CPU; "))
    for i, cpu in enumerate(cpus):
        drain = k.pcpu_drain[cpu]
        drain.zone = zone
        INIT_WORK(drain.work, drain.func)
        q = queue_work_on(cpu, k.mm_percpu_wq, drain.work)
        yield from (relabel(q, decided) if i == 0 else q)
    for cpu in cpus:
        yield from flush_work(k.pcpu_drain[cpu].work)
    if cpus:
        yield from mutex_unlock(mtx)
    else:
        yield from relabel(mutex_unlock(mtx), decided)


@kfunc
def drain_all_pages(k, zone):
    """drain_all_pages() (v5.12): spill every CPU's pcp pages back to the buddy."""
    yield from k.fn.__drain_all_pages(zone, False)


@kfunc
def zone_pcp_disable(k, zone):
    """zone_pcp_disable() (v5.11+): high = 0, batch = 1 on every CPU, then a
    forced drain; pcp lists stay empty until zone_pcp_enable()."""
    yield from mutex_lock(k.pcp_batch_high_lock)
    for pcp in zone.pageset:
        touch_write(k.m, pcp.fpk)
        pcp.high = 0
        pcp.batch = 1
    yield from k.fn.__drain_all_pages(zone, True)


@kfunc
def zone_pcp_enable(k, zone):
    """zone_pcp_enable() (v5.11+): restore high/batch and release
    pcp_batch_high_lock taken by zone_pcp_disable()."""
    for pcp in zone.pageset:
        touch_write(k.m, pcp.fpk)
        pcp.high = zone.pageset_high
        pcp.batch = zone.pageset_batch
    yield from mutex_unlock(k.pcp_batch_high_lock)


# ========================================================== contiguous alloc
class ContigResult:
    """What alloc_contig_range() found, for scenario oracles (not kernel
    state): ``ret``, the ``stage`` that decided it ("isolate", "migrate",
    "test_pages_isolated", "isolate_freepages", "ok"), the migrate result,
    the tries used, and the busy pfns (heads of the pages that were not free
    when test_pages_isolated() ran; the first is the pfn the kernel's
    tracepoint reports)."""

    __slots__ = ("start", "end", "ret", "stage", "migrate_ret", "busy_pfns",
                 "outer_start", "tries")

    def __init__(self, start, end):
        self.start = start
        self.end = end
        self.ret = None
        self.stage = None
        self.migrate_ret = 0
        self.busy_pfns = []
        self.outer_start = start
        self.tries = 0

    def __repr__(self):
        return (f"ContigResult([{self.start:#x}, {self.end:#x}) ret={errname(self.ret)} "
                f"stage={self.stage} busy={[hex(p) for p in self.busy_pfns]})")


def _busy_pfns(k, start, end):
    """Omniscient diagnostic (not kernel code): heads of the pages in
    [start, end) that are not inside a free buddy block."""
    get = k.mem_map.get               # materialises the pages of split blocks
    out = []
    pfn = start
    lo = hi = start                   # the run of pfns visited (footprint)
    seen = set()                      # the heads _free_block_head declared
    while pfn < end:
        if pfn != hi:
            pfns_fp_read(k, lo, hi)
            lo = pfn
        hi = pfn + 1
        p = get(pfn)
        if p is None:
            # pristine: free only if inside a free block (found by its head)
            head = _free_block_head(k, pfn, seen)
            if head is not None:
                pfn = head.pfn + (1 << head.private)
                continue
            out.append(pfn)
            pfn += 1
            continue
        if p.page_type & 1:
            pfn += 1 << p.private
            continue
        head = p.compound_head or p
        out.append(head.pfn if head.pfn >= start else pfn)
        pfn = max(pfn + 1, head.pfn + (1 << head.order)) if head.order else pfn + 1
    pfns_fp_read(k, lo, hi)
    return out


def _free_block_head(k, pfn, seen=None):
    """The free block ``pfn`` lies in (by its head), or None.  ``seen``:
    head pfns already declared as read in this step (a scan asks for each
    pfn, and neighbours share their candidate heads)."""
    peek = k.mem_map.peek             # free heads are always materialised
    for order in range(1, MAX_ORDER):
        hp = pfn & ~((1 << order) - 1)
        if seen is None:
            pfn_fp_read(k, hp)
        elif hp not in seen:
            seen.add(hp)
            pfn_fp_read(k, hp)
        h = peek(hp)
        if h is not None and h.page_type & 1 and h.private >= order:
            return h
    return None


def alloc_contig_migrate_loop(k, cc, start, end, putback=True):
    """The isolate-and-migrate loop of __alloc_contig_migrate_range()
    (v5.12), without the bracket around it, for the variants that bracket it
    differently (migrate_prep/migrate_finish of the RFC, lru_cache_disable/
    enable of v5.13+).  Isolate a chunk (up to COMPACT_CLUSTER_MAX pages) and
    migrate it; the same non-empty list gets 5 migrate_pages() tries, then
    -EBUSY (or the last negative migrate_pages() result).  v5.12 retries
    -ENOMEM like any failure (the early -ENOMEM bail-out is v5.13).  Returns
    0 or -errno.  With ``putback`` the folios left on the list go back on
    error, as v5.12 does right after the loop; pass False when the caller
    must do something first (v5.13 calls lru_cache_enable() before
    putback_movable_pages()) and call putback_movable_pages(cc.migratepages)
    itself.  No fatal signals and no reclaim_clean_pages_from_list() in this
    model."""
    fn = k.fn
    from .compaction import migrate_const
    mtc = migration_target_control(nid=0, gfp_mask=GFP_USER | __GFP_MOVABLE | __GFP_RETRY_MAYFAIL)
    reason = migrate_const("MR_CONTIG_RANGE")
    pfn = start
    tries = 0
    ret = 0
    res = k.last_contig
    m = k.m
    while pfn < end or cc.migratepages:
        if not cc.migratepages:
            cc.nr_migratepages = 0
            pfn = yield from fn.isolate_migratepages_range(cc, pfn, end)
            if not pfn:
                ret = -EINTR
                break
            tries = 0
        else:
            tries += 1
            if res is not None:
                res.tries = max(res.tries, tries)
            if tries == 5:
                ret = ret if ret < 0 else -EBUSY
                break
            if ret > 0 and retry_unchanged(m, "alloc_contig_range"):
                # The last migrate_pages() call failed without touching
                # anything another CPU has changed since: tries up to the
                # fifth would repeat it (engine/retry.py).
                if res is not None:
                    res.tries = 5
                yield (f"alloc_contig_range: nothing migrate_pages() call {tries} touched "
                       f"has changed: calls {tries + 1}-5 would repeat it, skipped")
                ret = -EBUSY
                break
        retry_begin(m, "alloc_contig_range")
        ret = yield from fn.migrate_pages(cc.migratepages, fn.alloc_migration_target,
                                          None, mtc, cc.mode, reason)
    retry_end(m, "alloc_contig_range")
    if ret < 0:
        if putback:
            yield from fn.putback_movable_pages(cc.migratepages)
        return ret
    return 0


@kfunc
def __alloc_contig_migrate_range(k, cc, start, end):
    """__alloc_contig_migrate_range() (v5.12): migrate_prep() once, then
    alloc_contig_migrate_loop() (5 migrate_pages() tries per isolated chunk,
    putback on error)."""
    yield from k.fn.migrate_prep()
    return (yield from alloc_contig_migrate_loop(k, cc, start, end))


@kfunc
def alloc_contig_range(k, start, end, migratetype, gfp_mask):
    """alloc_contig_range() (v5.12): allocate [start, end).  Isolate the
    max-order aligned range, drain the pcp lists, migrate what is in use
    (an -EBUSY there falls through to the test), lru_add_drain_all(), find
    the buddy head containing ``start``, test_pages_isolated() (failure:
    "PFNs busy", -EBUSY), take the free pages with isolate_freepages_range(),
    give back the head and tail beyond [start, end), undo the isolation.
    Returns 0 (every page of the range then has refcount 1) or -errno.
    ``k.last_contig`` (a ContigResult) records what decided the outcome."""
    from .compaction import MIGRATE_SYNC, compact_control
    fn = k.fn
    zone = k.zone
    res = ContigResult(start, end)
    k.last_contig = res
    k.last_isolate_unmovable = None
    k.last_contig_busy_pfns = res.busy_pfns
    cc = compact_control(zone=zone, mode=MIGRATE_SYNC, order=-1, gfp_mask=gfp_mask,
                         ignore_skip_hint=True, no_set_skip_hint=True, alloc_contig=True)
    iso_start = pfn_max_align_down(k, start)
    iso_end = pfn_max_align_up(k, end)
    ret = yield from fn.start_isolate_page_range(iso_start, iso_end, migratetype, 0)
    if ret:
        res.ret = ret
        res.stage = "isolate"
        if k.last_isolate_unmovable is not None:
            res.busy_pfns.append(k.last_isolate_unmovable)
        return ret
    yield from fn.drain_all_pages(zone)
    ret = yield from fn.__alloc_contig_migrate_range(cc, start, end)
    res.migrate_ret = ret
    if ret and ret != -EBUSY:
        res.stage = "migrate"
    else:
        ret = 0
        yield from fn.lru_add_drain_all()
        # The buddy head containing start: plain reads, safe because the
        # range is isolated and nobody else frees or allocates in it.
        order = 0
        outer_start = start
        while not PageBuddy(k.pfn_to_page(outer_start)):
            order += 1
            if order >= MAX_ORDER:
                outer_start = start
                break
            outer_start &= ~0 << order
        if outer_start != start:
            order = buddy_order(k.pfn_to_page(outer_start))
            if outer_start + (1 << order) <= start:
                outer_start = start
        res.outer_start = outer_start
        busy = yield from fn.test_pages_isolated(outer_start, end, 0)
        if busy:
            k.printk.append(f"alloc_contig_range: [{outer_start:x}, {end:x}) PFNs busy")
            res.busy_pfns.extend(_busy_pfns(k, outer_start, end))
            res.stage = "test_pages_isolated"
            ret = -EBUSY
        else:
            outer_end = yield from fn.isolate_freepages_range(cc, outer_start, end)
            if not outer_end:
                res.stage = "isolate_freepages"
                ret = -EBUSY
            else:
                if start != outer_start:
                    yield from fn.free_contig_range(outer_start, start - outer_start)
                if end != outer_end:
                    yield from fn.free_contig_range(end, outer_end - end)
                res.stage = "ok"
    yield from fn.undo_isolate_page_range(iso_start, iso_end, migratetype)
    res.ret = ret
    return ret


@kfunc
def free_contig_range(k, pfn, nr_pages):
    """free_contig_range() (v5.x - v5.12): __free_page() on each page; WARN if any page was
    still in use by someone else (refcount != 1).  An untouched split page is
    materialised as its turn comes: it goes on a pcp list."""
    count = 0
    free = k.fn.__free_pages
    for p in range(pfn, pfn + nr_pages):
        page = k.pfn_to_page(p)
        page_fp_read(page)
        count += page._refcount != 1
        yield from free(page, 0)
    WARN_ON(count != 0, f"free_contig_range: {count} pages are still in use!")


# ==================================================================== boot
def page_alloc_init(k):
    """Boot: free_area_init() + memmap_init() (every pageblock MOVABLE) +
    memblock_free_all() -> __free_pages_core() of max-order blocks to the
    tail of the MOVABLE lists, + setup_per_cpu_pageset() and the watermarks.

    Settings: ``zone_pages`` (a multiple of MAX_ORDER_NR_PAGES),
    ``pageblock_order`` (<= MAX_ORDER - 1), ``zone_start_pfn`` (default 0,
    max-order aligned), ``min_free_pages`` (WMARK_MIN, default 0),
    ``pcp_high`` / ``pcp_batch`` (defaults 42 / 7; the v5.12 formula would
    give high 0 for a 16 MiB zone, leaving no pcp behaviour to study)."""
    s = k.settings
    m = k.m
    nr_pages = s["zone_pages"]
    pbo = s["pageblock_order"]
    start_pfn = s.get("zone_start_pfn", 0)
    if not 0 < pbo <= MAX_ORDER - 1:
        raise ValueError(f"pageblock_order must be in 1..{MAX_ORDER - 1}, not {pbo}")
    if nr_pages <= 0 or nr_pages % MAX_ORDER_NR_PAGES:
        raise ValueError(f"zone_pages must be a positive multiple of {MAX_ORDER_NR_PAGES}, "
                         f"not {nr_pages}")
    if start_pfn % MAX_ORDER_NR_PAGES:
        raise ValueError(f"zone_start_pfn must be aligned to {MAX_ORDER_NR_PAGES}")
    k.pgdat = pgdat = pglist_data(k)
    k.zone = zone = zone_t(k, "Normal", start_pfn, nr_pages, pbo)
    pgdat.node_zones.append(zone)
    zone.zone_pgdat = pgdat
    zone.pageblock_base = start_pfn & ~((1 << pbo) - 1)
    zone.managed_pages = nr_pages
    zone.nr_reserved_highatomic = 0
    zone.lowmem_reserve = 0
    zone.watermark_boost = 0
    wmin = s.get("min_free_pages", 0)
    delta = max(wmin >> 2, nr_pages * 10 // 10000)    # watermark_scale_factor 10
    zone._watermark = [wmin, wmin + delta, wmin + 2 * delta]
    high = s.get("pcp_high", DEFAULT_PCP_HIGH)
    batch = max(1, s.get("pcp_batch", DEFAULT_PCP_BATCH))
    zone.pageset_high = high
    zone.pageset_batch = batch
    zone.pageset = [per_cpu_pages(cpu, high, batch, m.new_key()) for cpu in range(m.ncpus)]
    k.printk = []
    k.last_contig = None
    k.last_contig_busy_pfns = []
    k.last_isolate_unmovable = None
    k.last_test_pages_isolated_pfn = None
    k.page_reporting_enabled = False
    k.pf_memalloc_nocma = {}
    k.pcpu_drain_mutex = mutex(m, "pcpu_drain_mutex")
    k.pcp_batch_high_lock = mutex(m, "pcp_batch_high_lock")
    k.pcpu_drain = [pcpu_drain(k, cpu) for cpu in range(m.ncpus)]
    if getattr(k, "mm_percpu_wq", None) is None:
        k.mm_percpu_wq = workqueue_struct("mm_percpu_wq")
    # __free_pages_core(page, MAX_ORDER - 1, FPI_TO_TAIL) for each block:
    # nothing can merge (max order), every block lands at the list tail.
    area = zone.free_area[MAX_ORDER - 1]
    lh = area.free_list[MIGRATE_MOVABLE]
    pfn_to_page = k.pfn_to_page
    for pfn in range(start_pfn, start_pfn + nr_pages, MAX_ORDER_NR_PAGES):
        page = pfn_to_page(pfn)
        lh[pfn] = page
        page.lru = lh
        page.private = MAX_ORDER - 1
        page.page_type |= 1
    area.nr_free = nr_pages >> (MAX_ORDER - 1)
    zone.vm_stat["NR_FREE_PAGES"] = nr_pages


# ---------------------------------------------------- scenario setup helpers
def _take_block_containing(k, pfn, order):
    """Boot-time take_page_off_buddy(): remove the aligned block of ``order``
    at ``pfn`` from the free lists, splitting the free block that holds it
    (break_down_buddy_pages: the other halves go to the head of the lists of
    the holder's pageblock type).  Free counts follow.  Returns the page."""
    zone = k.zone
    peek = k.mem_map.peek             # free heads are always materialised
    for o in range(order, MAX_ORDER):
        head = peek(pfn & ~((1 << o) - 1))
        if head is not None and head.page_type & 1 and head.private >= o:
            break
    else:
        raise ValueError(f"pfn 0x{pfn:x} (order {order}) is not free in the buddy allocator")
    horder = head.private
    mt = get_pageblock_migratetype(head)
    del_page_from_free_list(head, zone, horder)
    if mt != MIGRATE_ISOLATE:
        __mod_zone_freepage_state(zone, -(1 << order), mt)
    page_pfn = head.pfn
    high = horder
    while high > order:
        high -= 1
        size = 1 << high
        if pfn >= page_pfn + size:
            buddy_pfn = page_pfn
            page_pfn += size
        else:
            buddy_pfn = page_pfn + size
        b = k.pfn_to_page(buddy_pfn)
        add_to_free_list(b, zone, high, mt)
        set_buddy_order(b, high)
    return k.pfn_to_page(pfn)


def setup_alloc_page_at(k, pfn, order=0, gfp=GFP_HIGHUSER_MOVABLE, name=None):
    """Scenario setup (boot time, before the machine runs): allocate the
    block of ``order`` at ``pfn`` (aligned) out of the buddy allocator, as if
    the allocator had returned it: refcount 1, a compound folio when
    ``order`` > 0 and ``gfp`` has __GFP_COMP (GFP_TRANSHUGE has it).  Use it
    to place a folio at a chosen pfn, e.g. inside a CMA pageblock."""
    if pfn & ((1 << order) - 1):
        raise ValueError(f"pfn 0x{pfn:x} is not aligned to order {order}")
    if not k.zone.zone_spans_pfn(pfn):
        raise ValueError(f"pfn 0x{pfn:x} is outside the zone")
    page = _take_block_containing(k, pfn, order)
    check_new_pages(k, page, order)
    prep_new_page(k, page, order, gfp, 0)
    page.name = name
    return page


def setup_reserve_range(k, start, nr):
    """Scenario setup: memblock-reserved memory inside the zone (firmware,
    kernel image...): each page taken out of the buddy allocator with
    refcount 1 and PG_reserved, which has_unmovable_pages() reports."""
    out = []
    for pfn in range(start, start + nr):
        page = setup_alloc_page_at(k, pfn, 0, 0)
        _nonatomic_set(page, PG_reserved)
        out.append(page)
    return out


def setup_free_page(k, page, order=0):
    """Scenario setup: return a block to the buddy allocator at boot (the
    __free_pages_core() path: no pcp, tail placement, merging)."""
    if page._refcount != 1:
        raise ValueError(f"setup_free_page: pfn 0x{page.pfn:x} has refcount {page._refcount}")
    page._refcount = 0
    page.flags &= ~(1 << PG_reserved)
    free_pages_prepare(k, page, order, True)
    __free_one_page(k, page, page.pfn, k.zone, order,
                    get_pageblock_migratetype(page), FPI_TO_TAIL)


# ============================================================== invariants
def check_free_area_invariants(k, strict_isolate=False):
    """A cheap consistency check of the buddy allocator (an oracle, not
    kernel code).  Raises KernelBug naming the first violation:

    * every free-list entry is PageBuddy, of the list's order
      (page.private), aligned to it, inside the zone, linked to that list;
      nr_free per order matches the lists;
    * NR_FREE_PAGES = pages on non-ISOLATE lists; NR_FREE_CMA_PAGES = pages
      on CMA lists (pcp pages are not free pages);
    * PageBuddy is set exactly on list heads; free blocks do not overlap;
      no allocated page (refcount > 0) lies inside a free block;
    * no two free buddies of the same order are left unmerged, except at
      order >= pageblock_order when either pageblock is ISOLATE (the kernel
      refuses the merge across the boundary; v6.10 splits an isolated block
      at pageblock boundaries);
    * a block sits on the list of its head's pageblock migratetype, except
      (a) the pcp types (UNMOVABLE, MOVABLE, RECLAIMABLE, HIGHATOMIC) may
      mismatch each other: fallback stealing moves single blocks without
      converting the pageblock, and frees use a migratetype read before
      zone->lock; (b) a block in an ISOLATE pageblock may sit on another
      type's list: isolation moves only blocks whose head lies in the
      pageblock, so a larger block headed in a non-isolated pageblock keeps
      its list, and expand() puts its split halves on that list too (the
      max-order alignment of alloc_contig_range() narrows this to the window
      between the per-pageblock steps of start/undo_isolate_page_range()).
      ``strict_isolate=True`` forbids (b), for scenarios that want to catch a
      page returned to the wrong list inside an isolated pageblock.  A block
      on the CMA or ISOLATE list must be in a pageblock of that type, and a
      CMA pageblock's blocks must be on the CMA list;
    * pcp lists hold refcount-0, non-buddy pages and pcp->count matches
      (unless that CPU is inside its irqs-off pcp section, where the kernel
      too updates the count after the list).

    It holds at every step boundary of the baseline code (all list work of a
    zone->lock section is done in one step)."""
    zone = k.zone
    pbo = zone.pageblock_order
    pbflags = zone.pageblock_flags
    base = zone.pageblock_base
    free_pages = 0
    free_cma = 0
    heads = {}
    for order in range(MAX_ORDER):
        area = zone.free_area[order]
        n = 0
        for mt in range(MIGRATE_TYPES):
            lh = area.free_list[mt]
            for pfn, page in lh.items():
                where = f"free_area[{order}].{MIGRATETYPE_NAMES[mt]} pfn 0x{pfn:x}"
                if page.pfn != pfn:
                    raise KernelBug(f"free list corrupt: {where} holds pfn 0x{page.pfn:x}")
                if page.lru is not lh:
                    raise KernelBug(f"free list corrupt: {where} has page.lru = {page.lru!r}")
                if not PageBuddy(page):
                    raise KernelBug(f"free block without PageBuddy: {where}")
                if page.private != order:
                    raise KernelBug(f"free block order mismatch: {where} has buddy order "
                                    f"{page.private}")
                if pfn & ((1 << order) - 1):
                    raise KernelBug(f"misaligned free block: {where}")
                if not (zone.zone_spans_pfn(pfn) and zone.zone_spans_pfn(pfn + (1 << order) - 1)):
                    raise KernelBug(f"free block outside the zone: {where}")
                if page._refcount != 0:
                    raise KernelBug(f"free block with refcount {page._refcount}: {where}")
                pb_mt = pbflags[(pfn - base) >> pbo]
                if pb_mt != mt and not (
                        mt < MIGRATE_CMA and pb_mt < MIGRATE_CMA
                        or pb_mt == MIGRATE_ISOLATE and not strict_isolate):
                    raise KernelBug(f"free block on the wrong list: {where} but its pageblock "
                                    f"is {MIGRATETYPE_NAMES[pb_mt]}")
                heads[pfn] = (order, mt)
                n += 1
                if mt != MIGRATE_ISOLATE:
                    free_pages += 1 << order
                if mt == MIGRATE_CMA:
                    free_cma += 1 << order
        if n != area.nr_free:
            raise KernelBug(f"free_area[{order}].nr_free = {area.nr_free}, lists hold {n}")
    vs = zone.vm_stat
    if vs["NR_FREE_PAGES"] != free_pages:
        raise KernelBug(f"NR_FREE_PAGES = {vs['NR_FREE_PAGES']}, free lists hold "
                        f"{free_pages} non-isolated pages")
    if vs["NR_FREE_CMA_PAGES"] != free_cma:
        raise KernelBug(f"NR_FREE_CMA_PAGES = {vs['NR_FREE_CMA_PAGES']}, CMA free lists "
                        f"hold {free_cma} pages")
    # overlap and unmerged buddies
    prev_end = -1
    prev = None
    for pfn in sorted(heads):
        order, mt = heads[pfn]
        if pfn < prev_end:
            raise KernelBug(f"free blocks overlap: 0x{prev:x} (order {heads[prev][0]}) and "
                            f"0x{pfn:x} (order {order})")
        prev_end = pfn + (1 << order)
        prev = pfn
        if order < MAX_ORDER - 1:
            bpfn = pfn ^ (1 << order)
            b = heads.get(bpfn)
            if b is not None and b[0] == order and bpfn > pfn:
                ok = False
                if order >= pbo:
                    mt1 = pbflags[(pfn - base) >> pbo]
                    mt2 = pbflags[(bpfn - base) >> pbo]
                    # v5.12 refuses the merge across an ISOLATE boundary;
                    # v6.10 (hygiene) also leaves the split halves of a
                    # block whose pageblocks are both isolated unmerged
                    ok = MIGRATE_ISOLATE in (mt1, mt2)
                if not ok:
                    raise KernelBug(f"unmerged free buddies: 0x{pfn:x} and 0x{bpfn:x}, "
                                    f"order {order}")
    # PageBuddy only on list heads; nothing allocated inside a free block
    # (items(): every page, untouched split pages too, in creation order)
    for pfn, page in k.mem_map.items():
        if page.page_type & 1:
            if pfn not in heads:
                raise KernelBug(f"PageBuddy page 0x{pfn:x} (order {page.private}) is on "
                                f"no free list")
        elif page._refcount or page.lru is not None:
            h = _free_block_head(k, pfn)
            if h is not None and h.pfn in heads:
                raise KernelBug(f"page 0x{pfn:x} (refcount {page._refcount}, list "
                                f"{page.lru!r}) lies inside free block 0x{h.pfn:x} "
                                f"order {h.private}")
    # pcp lists
    for pcp in zone.pageset:
        n = 0
        for lh in pcp.lists:
            for pfn, page in lh.items():
                if page.lru is not lh or page._refcount or PageBuddy(page):
                    raise KernelBug(f"bad page on {lh.name}: pfn 0x{pfn:x} ref "
                                    f"{page._refcount} buddy {PageBuddy(page)}")
                n += 1
        cur = k.m.cpus[pcp.cpu].curr
        if n != pcp.count and not (cur is not None and cur.irqs_off):
            raise KernelBug(f"pcp[{pcp.cpu}].count = {pcp.count}, lists hold {n}")
