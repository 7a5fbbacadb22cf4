"""Johannes Weiner's migratetype hygiene series (v6.10), the two changes that
make pageblock (un)isolation keep the free counts right:

* fd919a85cd55 "mm: page_isolation: prepare for hygienic freelists": a
  free block larger than a pageblock is split at pageblock boundaries when
  one of its pageblocks changes type (move_freepages_block_isolate() +
  split_large_buddy()), so a free block never spans pageblocks of two
  types and never sits on a list other than its pageblock's;
* e0932b6c1f94 "mm: page_alloc: consolidate free page accounting": the
  free counts follow list membership (account_freepages() in the list
  add/del/move helpers, nothing counted on the ISOLATE lists), instead of
  each caller adjusting NR_FREE_PAGES by the type it believes the block has.

Neither went to stable.  In v5.12 undo_isolate_page_range() over a free
max-order block can count half of it twice (the undo-isolation-split
scenario); with both changes the counts follow the lists.

Modelled here as replacements of set_migratetype_isolate() and
unset_migratetype_isolate() (the v6.10 forms); the allocation and free paths
of the baseline already account by the list they take from or add to, which
is what the consolidation makes of them once lists are hygienic.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import spin_lock_irqsave, spin_unlock_irqrestore
from ..mm.errno import EBUSY
from ..mm.mmzone import MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_TYPES
from ..mm.page import PageBuddy, page_fp_read, pfn_fp_read
from ..mm.page_alloc import (
    FPI_NONE, __mod_zone_freepage_state, del_page_from_free_list, get_pageblock_migratetype,
    is_migrate_isolate_page, move_to_free_list, page_is_buddy, set_pageblock_migratetype,
    zone_fp_write,
)
from ..mm.page_isolation import report_unmovable

PATCH = Patch(
    "hygiene-6.10",
    title="mm: page_isolation: prepare for hygienic freelists + "
          "mm: page_alloc: consolidate free page accounting",
    commit="fd919a85cd55 e0932b6c1f94", date="2024-03-20", version="v6.10",
    summary="split free blocks at pageblock boundaries on (un)isolation; "
            "free counts follow list membership",
    requires=("merge-nonfallback-5.18",),
)


def account_freepages(zone, nr_pages, migratetype):
    """account_freepages() (v6.10): nothing is counted on ISOLATE lists."""
    if migratetype != MIGRATE_ISOLATE:
        __mod_zone_freepage_state(zone, nr_pages, migratetype)


def _list_mt(zone, page, order):
    lh = page.lru
    lists = zone.free_area[order].free_list
    for mt in range(MIGRATE_TYPES):
        if lists[mt] is lh:
            return mt
    raise AssertionError(f"pfn 0x{page.pfn:x} is on no free list of order {order}")


def _del_accounted(zone, page, order):
    mt = _list_mt(zone, page, order)
    del_page_from_free_list(page, zone, order)
    account_freepages(zone, -(1 << order), mt)


def split_large_buddy(k, zone, page, pfn, order):
    """split_large_buddy() (v6.10): free a block larger than a pageblock as
    pageblock-sized pieces, each onto the list of its own pageblock."""
    end_pfn = pfn + (1 << order)
    order = min(order, zone.pageblock_order)
    while pfn != end_pfn:
        piece = k.pfn_to_page(pfn)
        mt = get_pageblock_migratetype(piece)
        k.fn.__free_one_page(piece, pfn, zone, order, mt, FPI_NONE)
        pfn += 1 << order


def _find_large_buddy(k, zone, start_pfn):
    """find_large_buddy(): the head of a free block of more than a
    pageblock that covers ``start_pfn`` from below, or start_pfn."""
    peek = k.mem_map.peek
    for order in range(zone.pageblock_order + 1, MAX_ORDER):
        pfn = start_pfn & ~((1 << order) - 1)
        if pfn == start_pfn:
            continue
        pfn_fp_read(k, pfn)
        head = peek(pfn)
        if head is not None and PageBuddy(head) and head.private >= order:
            return pfn
    return start_pfn


def move_freepages_block_isolate(k, zone, page, migratetype):
    """move_freepages_block_isolate() (v6.10): change the pageblock's type
    and bring its free blocks along; a free block that spans more than this
    pageblock is taken apart first so every piece lands on its own
    pageblock's list.  Caller holds zone->lock."""
    nr = zone.pageblock_nr_pages
    start_pfn = page.pfn & ~(nr - 1)
    head_pfn = _find_large_buddy(k, zone, start_pfn)
    if head_pfn != start_pfn or (PageBuddy(page) and page.private > zone.pageblock_order):
        big = k.pfn_to_page(head_pfn)
        page_fp_read(big)
        order = big.private
        _del_accounted(zone, big, order)
        set_pageblock_migratetype(page, migratetype)
        split_large_buddy(k, zone, big, head_pfn, order)
        return True
    # __move_freepages_block(): every free block headed in the pageblock
    peek = k.mem_map.peek
    pfn = start_pfn
    while pfn < start_pfn + nr:
        pfn_fp_read(k, pfn)
        p = peek(pfn)
        if p is None or not p.page_type & 1:
            pfn += 1
            continue
        order = p.private
        old = _list_mt(zone, p, order)
        move_to_free_list(p, zone, order, migratetype)
        account_freepages(zone, -(1 << order), old)
        account_freepages(zone, 1 << order, migratetype)
        pfn += 1 << order
    set_pageblock_migratetype(page, migratetype)
    return True


@PATCH.replaces("set_migratetype_isolate")
def set_migratetype_isolate(k, page, migratetype, isol_flags):
    """set_migratetype_isolate() (v6.10)."""
    zone = k.zone
    yield from spin_lock_irqsave(zone.lock)
    zone_fp_write(zone)
    if is_migrate_isolate_page(page):
        yield from spin_unlock_irqrestore(zone.lock)
        return -EBUSY
    unmovable = k.fn.has_unmovable_pages(zone, page, migratetype, isol_flags)
    if unmovable is None:
        move_freepages_block_isolate(k, zone, page, MIGRATE_ISOLATE)
        zone.nr_isolate_pageblock += 1
        yield from spin_unlock_irqrestore(zone.lock)
        return 0
    yield from spin_unlock_irqrestore(zone.lock)
    return report_unmovable(k, unmovable, isol_flags)


@PATCH.replaces("unset_migratetype_isolate")
def unset_migratetype_isolate(k, page, migratetype):
    """unset_migratetype_isolate() (v6.10): a free block of at least a
    pageblock whose buddy is a free block outside isolation goes out and
    back in to merge; anything else moves with move_freepages_block_isolate
    (splitting a block that spans a still-isolated pageblock)."""
    zone = k.zone
    yield from spin_lock_irqsave(zone.lock)
    zone_fp_write(zone)
    if not is_migrate_isolate_page(page):
        yield from spin_unlock_irqrestore(zone.lock)
        return
    isolated_page = False
    order = 0
    if PageBuddy(page):
        order = page.private
        if zone.pageblock_order <= order < MAX_ORDER - 1:
            buddy_pfn = page.pfn ^ (1 << order)
            pfn_fp_read(k, buddy_pfn)
            buddy = k.mem_map.peek(buddy_pfn)      # find_buddy_page_pfn()
            if (buddy is not None and zone.zone_spans_pfn(buddy_pfn)
                    and page_is_buddy(zone, page, buddy, order)
                    and not is_migrate_isolate_page(buddy)):
                isolated_page = bool(k.fn.__isolate_free_page(page, order))
    if not isolated_page:
        move_freepages_block_isolate(k, zone, page, migratetype)
    else:
        set_pageblock_migratetype(page, migratetype)
        k.fn.__putback_isolated_page(page, order, migratetype)
    zone.nr_isolate_pageblock -= 1
    yield from spin_unlock_irqrestore(zone.lock)
