"""The parts of mm/compaction.c that alloc_contig_range() uses (v5.11 -
v5.12): struct compact_control, the strict free-page scanner
(isolate_freepages_block/_range) and the migration scanner
(isolate_migratepages_block/_range).

The migration scanner follows the v5.11 rule that PG_lru is the ownership
token: take a reference first (get_page_unless_zero), re-check PG_lru, then
TestClearPageLRU; only the winner of that bit may take the folio off its
LRU list, under the lruvec lock.  Non-LRU movable pages (__PageMovable,
zsmalloc, balloon) are out of scope: a page without PG_lru is skipped.

Not modelled: too_many_isolated() throttling (with the model's tiny LRU
populations it would misfire on the first isolated folio), fatal signals,
the pageblock skip hints (alloc_contig ignores them anyway), the periodic
cond_resched() inside the scan loops (one cond_resched() per pageblock is
kept), direct compaction itself.
"""

from __future__ import annotations

from ..engine.kernel import kfunc
from ..engine.sync import (
    cond_resched, spin_lock_irqsave, spin_unlock_irqrestore,
)
from .kernel import SPLIT_SHIFT
from .mmzone import MAX_ORDER
from .page import (
    PageBuddy, folio_mapcount, folio_nr_pages, folio_set_lru,
    folio_test_anon, folio_test_clear_lru, folio_test_head, folio_test_lru,
    folio_test_unevictable, folio_try_get, page_folio, page_fp_read,
    page_fp_write, pfn_fp_read, pfns_fp_read, pfns_fp_write,
)
from ..engine.footprint import touch_read, touch_write
from .page_alloc import (
    SWAP_CLUSTER_MAX, __GFP_FS, __GFP_MOVABLE, pageblock_end_pfn,
    pageblock_start_pfn, post_alloc_hook,
)

COMPACT_CLUSTER_MAX = SWAP_CLUSTER_MAX

# enum migrate_mode (include/linux/migrate_mode.h)
MIGRATE_ASYNC = 0
MIGRATE_SYNC_LIGHT = 1
MIGRATE_SYNC = 2
MIGRATE_SYNC_NO_COPY = 3

# enum migrate_reason (v5.12 order)
MR_COMPACTION = 0
MR_MEMORY_FAILURE = 1
MR_MEMORY_HOTPLUG = 2
MR_SYSCALL = 3
MR_MEMPOLICY_MBIND = 4
MR_NUMA_MISPLACED = 5
MR_CONTIG_RANGE = 6

# isolate_mode_t
ISOLATE_ASYNC_MIGRATE = 0x4
ISOLATE_UNEVICTABLE = 0x8


def migrate_const(name):
    """A migrate_mode / migrate_reason constant as foliolab.mm.migrate
    defines it (so both sides agree), else this module's kernel value."""
    import sys
    mod = sys.modules.get("foliolab.mm.migrate")
    if mod is not None and hasattr(mod, name):
        return getattr(mod, name)
    return globals()[name]


class compact_control:
    """struct compact_control (mm/internal.h, v5.12): the fields the
    contiguous allocator uses.  ``migratepages`` is a Python list of
    isolated folios (each holding its isolation reference);
    ``freepages`` the free pages taken by the free scanner."""

    __slots__ = (
        "freepages", "migratepages", "nr_freepages", "nr_migratepages",
        "free_pfn", "migrate_pfn", "zone", "mode", "gfp_mask", "order",
        "migratetype", "alloc_flags", "ignore_skip_hint", "no_set_skip_hint",
        "alloc_contig", "rescan", "contended", "direct_compaction",
        "total_migrate_scanned", "total_free_scanned",
    )

    def __init__(self, zone, mode=MIGRATE_SYNC, order=-1, gfp_mask=0,
                 ignore_skip_hint=False, no_set_skip_hint=False,
                 alloc_contig=False):
        self.freepages = []
        self.migratepages = []
        self.nr_freepages = 0
        self.nr_migratepages = 0
        self.free_pfn = 0
        self.migrate_pfn = 0
        self.zone = zone
        self.mode = mode
        self.gfp_mask = gfp_mask
        self.order = order
        self.migratetype = 0
        self.alloc_flags = 0
        self.ignore_skip_hint = ignore_skip_hint
        self.no_set_skip_hint = no_set_skip_hint
        self.alloc_contig = alloc_contig
        self.rescan = False
        self.contended = False
        self.direct_compaction = False
        self.total_migrate_scanned = 0
        self.total_free_scanned = 0

    def __repr__(self):
        return (f"compact_control(nr_migratepages={self.nr_migratepages}, "
                f"migratepages={[f.label for f in self.migratepages]})")


# ====================================================== free page scanner
@kfunc
def isolate_freepages_block(k, cc, start_pfn, end_pfn, freelist, stride, strict):
    """isolate_freepages_block() (v5.10 - v5.12): take the free blocks of
    [start_pfn, end_pfn) out of the buddy allocator (__isolate_free_page)
    onto ``freelist``, under zone->lock taken at the first free page and
    dropped at every SWAP_CLUSTER_MAX-aligned pfn.  In strict mode
    (alloc_contig_range) any non-free page stops the scan and the block
    counts as a failure.  Returns (pages isolated, pfn reached)."""
    zone = cc.zone
    lock = zone.lock
    # peek(): only free heads are taken; an untouched page of a split block
    # (refcount 1, no flags) fails the scan exactly as a pristine page does.
    peek = k.mem_map.peek
    isolate = k.fn.__isolate_free_page
    if strict:
        stride = 1
    locked = False
    total_isolated = 0
    nr_scanned = 0
    blockpfn = start_pfn
    while blockpfn < end_pfn:
        if not blockpfn % SWAP_CLUSTER_MAX and locked:
            yield from spin_unlock_irqrestore(lock)
            locked = False
        nr_scanned += 1
        pfn_fp_read(k, blockpfn)
        page = peek(blockpfn)
        failed = False
        if page is not None and (folio_test_head(page) or page.compound_head is not None):
            if folio_test_head(page) and page.order < MAX_ORDER:
                blockpfn += (1 << page.order) - 1
            failed = True
        elif page is None or not PageBuddy(page):
            failed = True
        else:
            if not locked:
                yield from spin_lock_irqsave(lock)
                locked = True
                if not PageBuddy(page):          # recheck under the lock
                    failed = True
            if not failed:
                order = page.private
                isolated = isolate(page, order)
                if not isolated:
                    break
                page_fp_write(page)
                page.private = order             # set_page_private(page, order)
                total_isolated += isolated
                cc.nr_freepages += isolated
                freelist.append(page)
                if not strict and cc.nr_migratepages <= cc.nr_freepages:
                    blockpfn += isolated
                    break
                blockpfn += isolated
                continue
        if failed and strict:
            break
        blockpfn += stride
    if locked:
        yield from spin_unlock_irqrestore(lock)
    if blockpfn > end_pfn:
        blockpfn = end_pfn
    if k.trace_events is not None:
        k.trace("compaction:mm_compaction_isolate_freepages", start_pfn=start_pfn,
                end_pfn=blockpfn, nr_scanned=nr_scanned, nr_taken=total_isolated)
    if strict and blockpfn < end_pfn:
        total_isolated = 0
    cc.total_free_scanned += nr_scanned
    if total_isolated:
        k.count_vm_event("compact_isolated", total_isolated)
    return total_isolated, blockpfn


class split_pages:
    """The list split_map_pages() leaves: every order-0 page of the split
    blocks, block by block, each block's pages in pfn order.  Walking it
    (release_freepages) materialises the tail pages one at a time; a
    successful alloc_contig_range() never walks it."""

    __slots__ = ("k", "blocks")

    def __init__(self, k):
        self.k = k
        self.blocks = []              # (head page, order)

    def __iter__(self):
        pfn_to_page = self.k.pfn_to_page
        for page, order in self.blocks:
            yield page
            for pfn in range(page.pfn + 1, page.pfn + (1 << order)):
                yield pfn_to_page(pfn)

    def __len__(self):
        return sum(1 << order for _, order in self.blocks)

    def clear(self):
        self.blocks.clear()


def split_map_pages(k, freelist):
    """split_map_pages() (v5.12): each isolated block becomes order-0
    pages with refcount 1 (post_alloc_hook + split_page).  Returns them as a
    ``split_pages`` list: the tail pages are recorded as a split range of
    mem_map (MemMap.add_split_range), not created, so a successful
    alloc_contig_range() of a whole CMA area costs no struct page."""
    out = split_pages(k)
    add_split_range = k.mem_map.add_split_range
    for page in freelist:
        page_fp_read(page)
        order = page.private
        post_alloc_hook(page, order, __GFP_MOVABLE)
        if order:
            # the whole block, head included (post_alloc_hook wrote it): a
            # range of whole pageblocks declares a few keys, not 1 << order
            # (engine/footprint.py)
            pfns_fp_write(k, page.pfn, page.pfn + (1 << order))
            add_split_range(page.pfn + 1, page.pfn + (1 << order))   # split_page()
        out.blocks.append((page, order))
    return out


@kfunc
def release_freepages(k, freelist):
    """release_freepages() (v5.x): __free_page() every page of the list."""
    for page in freelist:
        yield from k.fn.__free_pages(page, 0)
    freelist.clear()


@kfunc
def isolate_freepages_range(k, cc, start_pfn, end_pfn):
    """isolate_freepages_range() (v5.10 - v5.12): strict isolation of every
    free page of [start_pfn, end_pfn), pageblock by pageblock.  Returns the
    pfn after the last isolated page (beyond end_pfn if the last block
    extends past it), or 0 after giving everything back if any page was not
    free."""
    freelist = []
    nr = cc.zone.pageblock_nr_pages
    pfn = start_pfn
    block_start_pfn = max(pageblock_start_pfn(k, pfn), cc.zone.zone_start_pfn)
    block_end_pfn = pageblock_end_pfn(k, pfn)
    while pfn < end_pfn:
        block_end_pfn = min(block_end_pfn, end_pfn)
        if pfn >= block_end_pfn:
            block_start_pfn = pageblock_start_pfn(k, pfn)
            block_end_pfn = min(pageblock_end_pfn(k, pfn), end_pfn)
        if not (cc.zone.zone_spans_pfn(block_start_pfn)
                and cc.zone.zone_spans_pfn(block_end_pfn - 1)):
            break
        isolated, _ = yield from k.fn.isolate_freepages_block(
            cc, pfn, block_end_pfn, freelist, 0, True)
        if not isolated:
            break
        pfn += isolated
        block_start_pfn = block_end_pfn
        block_end_pfn += nr
    freelist = split_map_pages(k, freelist)
    if pfn < end_pfn:
        yield from k.fn.release_freepages(freelist)
        return 0
    return pfn


# ================================================= migration page scanner
def page_mapping(folio):
    """page_mapping(): None for anon folios (swap cache is not modelled)."""
    if folio_test_anon(folio):
        return None
    return folio.mapping


def test_and_set_skip(k, cc, pfn):
    """test_and_set_skip() (v5.11): at a pageblock-aligned pfn, report the
    pageblock's skip hint (PB_migrate_skip) and set it if it was clear.
    The hints are zone->lock-free pageblock bits: the zone's key."""
    if cc.ignore_skip_hint or pfn & (k.zone.pageblock_nr_pages - 1):
        return False
    touch_read(k.m, k.zone.fpk)
    block = pfn >> k.zone.pageblock_order
    skip = block in k.zone.pageblock_skip
    if not skip and not cc.no_set_skip_hint:
        touch_write(k.m, k.zone.fpk)
        k.zone.pageblock_skip.add(block)
    return skip


@kfunc
def __isolate_lru_page_prepare(k, folio, isolate_mode):
    """__isolate_lru_page_prepare() (v5.11): may the scanner take this page?
    PG_lru set, not unevictable unless ISOLATE_UNEVICTABLE, and for an async
    migration not under writeback and, if dirty, migratable without
    blocking: trylock_page() stabilises the mapping against truncation.
    The v5.11 caller holds a reference here, so the trylock cannot land on
    a page that is being freed or reallocated (Hugh Dickins' fix 2 to v11)."""
    from .filemap import folio_trylock
    from .page import folio_test_dirty, folio_test_writeback
    if not folio_test_lru(folio):
        return False
    if folio_test_unevictable(folio) and not isolate_mode & ISOLATE_UNEVICTABLE:
        return False
    if isolate_mode & ISOLATE_ASYNC_MIGRATE:
        if folio_test_writeback(folio):
            return False
        if folio_test_dirty(folio):
            if not folio_trylock(folio):
                yield f"__isolate_lru_page_prepare: trylock_page({folio.label}) failed"
                return False
            yield f"__isolate_lru_page_prepare: trylock_page({folio.label})"
            mapping = page_mapping(folio)
            migrate_dirty = mapping is None or getattr(mapping, "migratepage", True)
            yield from k.fn.folio_unlock(folio)
            if not migrate_dirty:
                return False
    return True


@kfunc
def isolate_migratepages_block(k, cc, low_pfn, end_pfn, isolate_mode):
    """isolate_migratepages_block() (v5.11 - v5.12, PG_lru as the ownership
    token): scan [low_pfn, end_pfn) of one pageblock and isolate LRU folios
    onto cc.migratepages, at most COMPACT_CLUSTER_MAX pages at a time.

    Per page: skip free blocks by their (racy) buddy order; skip a page
    without PG_lru (racy read); skip an anon page whose refcount exceeds its
    mapcount (the v5.12 "pinned" heuristic, before any reference is taken:
    an anon folio sitting in a per-CPU LRU batch is skipped here); then
    get_page_unless_zero, re-check PG_lru, TestClearPageLRU (a loser drops
    its reference with folio_put, after releasing the lruvec lock), lock the
    lruvec (kept across consecutive pages, dropped every SWAP_CLUSTER_MAX
    pfns), del from the LRU, count NR_ISOLATED_*.  Returns the first pfn not
    scanned (0 would mean a fatal signal, which the model never has)."""
    fn = k.fn
    mem_map = k.mem_map
    peek, split = mem_map.peek, mem_map.split
    pgdat = k.pgdat
    locked = None
    nr_isolated = 0
    nr_scanned = 0
    start_pfn = low_pfn
    skip_updated = False
    yield from cond_resched(k.m)
    while low_pfn < end_pfn:
        if not low_pfn % SWAP_CLUSTER_MAX and locked is not None:
            yield from spin_unlock_irqrestore(locked.lru_lock)
            locked = None
        nr_scanned += 1
        pfn_fp_read(k, low_pfn)
        page = peek(low_pfn)
        if page is None and low_pfn >> SPLIT_SHIFT in split:
            page = mem_map.materialise_split(low_pfn)   # refcount 1, !PageLRU: skipped
        if page is None:
            low_pfn += 1
            continue
        if page.page_type & 1:
            order = page.private               # buddy_order_unsafe()
            if 0 < order < MAX_ORDER:
                low_pfn += (1 << order) - 1
            low_pfn += 1
            continue
        folio = page_folio(page)
        if folio is not page:
            # A tail page: the kernel would try get_page_unless_zero() on
            # each tail and fail (tails have refcount 0).  Skip them all at
            # once: those failed attempts change nothing.
            # (from the head when the scan is at the first tail: the step
            # read the head above, and a whole pageblock is one key)
            pfns_fp_read(k, folio.pfn if low_pfn == folio.pfn + 1 else low_pfn,
                         folio.pfn + folio_nr_pages(folio))
            low_pfn = folio.pfn + folio_nr_pages(folio)
            continue
        if folio.order and not cc.alloc_contig:
            low_pfn += 1 << folio.order
            continue
        if not folio_test_lru(folio):
            yield f"isolate_migratepages_block: pfn 0x{low_pfn:x} ({folio.label}) !PageLRU, skipped"
            low_pfn += 1
            continue
        mapping = page_mapping(folio)
        if mapping is None and folio._refcount > folio_mapcount(folio):
            yield (f"isolate_migratepages_block: {folio.label} page_count "
                   f"{folio._refcount} > mapcount {folio_mapcount(folio)}, skipped")
            low_pfn += 1
            continue
        if not cc.gfp_mask & __GFP_FS and mapping is not None:
            yield f"isolate_migratepages_block: {folio.label} needs __GFP_FS, skipped"
            low_pfn += 1
            continue
        if not folio_try_get(folio):
            yield f"isolate_migratepages_block: get_page_unless_zero({folio.label}) failed"
            low_pfn += 1
            continue
        yield f"isolate_migratepages_block: get_page_unless_zero({folio.label}) -> {folio._refcount}"
        # __isolate_lru_page_prepare(): re-check now that we hold a reference
        ok = yield from fn.__isolate_lru_page_prepare(folio, isolate_mode)
        if ok:
            ok = folio_test_clear_lru(folio)
            yield (f"isolate_migratepages_block: TestClearPageLRU({folio.label}) "
                   f"{'won' if ok else 'lost'}")
        if ok:
            lruvec = fn.folio_lruvec(folio)
            if lruvec is not locked:
                if locked is not None:
                    yield from spin_unlock_irqrestore(locked.lru_lock)
                yield from spin_lock_irqsave(lruvec.lru_lock)
                locked = lruvec
                fn.lruvec_memcg_debug(lruvec, folio)
                if not skip_updated and not cc.ignore_skip_hint:
                    # try to get exclusive access to the pageblock: a scan
                    # marked for skip meanwhile is aborted (v5.11
                    # test_and_set_skip; alloc_contig ignores the hints)
                    skip_updated = True
                    if test_and_set_skip(k, cc, low_pfn):
                        yield from spin_unlock_irqrestore(locked.lru_lock)
                        locked = None
                        folio_set_lru(folio)
                        yield f"isolate_migratepages_block: pageblock skip set, abort, {folio.label} PG_lru restored"
                        yield from fn.folio_put(folio)
                        break
                if folio.order and not cc.alloc_contig:
                    low_pfn += folio_nr_pages(folio) - 1
                    folio_set_lru(folio)
                    ok = False
        if not ok:
            # isolate_fail_put: never drop a reference under the lru_lock
            if locked is not None:
                yield from spin_unlock_irqrestore(locked.lru_lock)
                locked = None
            yield from fn.folio_put(page)
            low_pfn += 1
            continue
        nr = folio_nr_pages(folio)
        if folio.order:
            low_pfn += nr - 1
        fn.lruvec_del_folio(lruvec, folio)
        key = "NR_ISOLATED_FILE" if fn.folio_is_file_lru(folio) else "NR_ISOLATED_ANON"
        touch_write(k.m, pgdat.fpk)
        vm_stat = pgdat.vm_stat
        vm_stat[key] = vm_stat.get(key, 0) + nr
        cc.migratepages.append(folio)
        cc.nr_migratepages += nr
        nr_isolated += nr
        low_pfn += 1
        if cc.nr_migratepages >= COMPACT_CLUSTER_MAX and not cc.rescan and not cc.contended:
            break
    if low_pfn > end_pfn:
        low_pfn = end_pfn
    if locked is not None:
        yield from spin_unlock_irqrestore(locked.lru_lock)
    if k.trace_events is not None:
        k.trace("compaction:mm_compaction_isolate_migratepages", start_pfn=start_pfn,
                end_pfn=low_pfn, nr_scanned=nr_scanned, nr_taken=nr_isolated)
    cc.total_migrate_scanned += nr_scanned
    if nr_scanned:
        k.count_vm_event("compact_migrate_scanned", nr_scanned)
    if nr_isolated:
        k.count_vm_event("compact_isolated", nr_isolated)
    return low_pfn


@kfunc
def isolate_migratepages_range(k, cc, start_pfn, end_pfn):
    """isolate_migratepages_range() (v5.12): scan pageblock by pageblock
    (ISOLATE_UNEVICTABLE: alloc_contig migrates unevictable pages too),
    stopping once COMPACT_CLUSTER_MAX pages are isolated.  Returns the pfn to
    resume from, 0 on a fatal signal."""
    zone = cc.zone
    nr = zone.pageblock_nr_pages
    pfn = start_pfn
    block_start_pfn = max(pageblock_start_pfn(k, pfn), zone.zone_start_pfn)
    block_end_pfn = pageblock_end_pfn(k, pfn)
    while pfn < end_pfn:
        block_end_pfn = min(block_end_pfn, end_pfn)
        if zone.zone_spans_pfn(block_start_pfn) and zone.zone_spans_pfn(block_end_pfn - 1):
            pfn = yield from k.fn.isolate_migratepages_block(cc, pfn, block_end_pfn,
                                                             ISOLATE_UNEVICTABLE)
            if not pfn:
                break
            if cc.nr_migratepages >= COMPACT_CLUSTER_MAX:
                break
        pfn = block_end_pfn
        block_start_pfn = block_end_pfn
        block_end_pfn += nr
    return pfn
