"""Zi Yan, "mm: page_alloc: avoid merging non-fallbackable pageblocks with
others" (v5.18, 2022): from pageblock_order up, __free_one_page() compares
the two pageblocks' types on every merge, not only while some pageblock of
the zone is isolated (has_isolate_pageblock() in v5.12), and refuses to merge
a block of a non-mergeable type (ISOLATE, CMA, HIGHATOMIC) with one of
another type.  The v6.10 hygiene series relies on it: split_large_buddy()
frees the pieces of a block while the pageblock just marked ISOLATE is not
yet counted in nr_isolate_pageblock.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.oracles import KernelBug
from ..mm.mmzone import MAX_ORDER, MIGRATE_CMA, MIGRATE_HIGHATOMIC, MIGRATE_ISOLATE
from ..mm.page import pfn_fp_read
from ..mm.page_alloc import (
    __free_one_page_done, __mod_zone_freepage_state, del_page_from_free_list, page_is_buddy,
)

PATCH = Patch(
    "merge-nonfallback-5.18",
    title="mm: page_alloc: avoid merging non-fallbackable pageblocks with others",
    commit=None, date="2022", version="v5.18",      # commit id not checked
    summary="__free_one_page checks both pageblock types on every merge >= pageblock_order",
)


def migratetype_is_mergeable(mt):
    return mt not in (MIGRATE_ISOLATE, MIGRATE_CMA, MIGRATE_HIGHATOMIC)


@PATCH.replaces("__free_one_page")
def __free_one_page(k, page, pfn, zone, order, migratetype, fpi_flags):
    """__free_one_page() (v5.18+ merge rule, v5.12 otherwise)."""
    peek = k.mem_map.peek
    pbo = zone.pageblock_order
    if migratetype != MIGRATE_ISOLATE:
        __mod_zone_freepage_state(zone, 1 << order, migratetype)
    if pfn & ((1 << order) - 1):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(pfn & ((1 << order) - 1)) "
                        f"pfn 0x{pfn:x} order {order}")
    while order < MAX_ORDER - 1:
        buddy_pfn = pfn ^ (1 << order)
        pfn_fp_read(k, buddy_pfn)
        buddy = peek(buddy_pfn)
        if buddy is None or not page_is_buddy(zone, page, buddy, order):
            break
        if order >= pbo:
            buddy_mt = zone.pageblock_flags[(buddy_pfn - zone.pageblock_base) >> pbo]
            if migratetype != buddy_mt and not (migratetype_is_mergeable(migratetype)
                                                and migratetype_is_mergeable(buddy_mt)):
                break
        del_page_from_free_list(buddy, zone, order)
        if buddy_pfn < pfn:
            page = buddy
            pfn = buddy_pfn
        order += 1
    __free_one_page_done(k, zone, page, pfn, order, migratetype, fpi_flags)
