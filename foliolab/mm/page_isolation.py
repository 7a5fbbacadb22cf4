"""Pageblock isolation: mm/page_isolation.c (v5.11 - v5.12).

Isolating a pageblock sets its migratetype to MIGRATE_ISOLATE and moves its
free blocks to the ISOLATE free lists, which the allocator never takes from
and which are not counted in NR_FREE_PAGES.  Pages freed into an isolated
pageblock afterwards go to the ISOLATE lists too (free_one_page re-reads the
migratetype under zone->lock), except pages that reach a pcp list through
the free_unref_page() window (drain_all_pages is the remedy).

Serialisation: each pageblock is isolated and un-isolated under zone->lock;
a pageblock already ISOLATE makes set_migratetype_isolate() fail, which is
how two isolators of overlapping ranges exclude each other.  There is no
other synchronisation with the allocator.
"""

from __future__ import annotations

from ..engine.kernel import kfunc
from ..engine.sync import spin_lock_irqsave, spin_unlock_irqrestore
from .errno import EBUSY
from .mmzone import MAX_ORDER, MIGRATE_ISOLATE
from .page import PageBuddy, page_fp_read, pfn_fp_read
from .page_alloc import (  # noqa: F401  (MEMORY_OFFLINE, REPORT_FAILURE: page-isolation.h)
    zone_fp_write,
    MEMORY_OFFLINE, REPORT_FAILURE, __mod_zone_freepage_state, get_pageblock_migratetype,
    is_migrate_isolate_page, set_pageblock_migratetype,
)


def _check_aligned(k, start_pfn, end_pfn):
    nr = k.zone.pageblock_nr_pages
    if start_pfn & (nr - 1) or end_pfn & (nr - 1):
        from ..engine.oracles import KernelBug
        raise KernelBug(f"kernel BUG: BUG_ON(!IS_ALIGNED(pfn, pageblock_nr_pages)): "
                        f"[0x{start_pfn:x}, 0x{end_pfn:x})")


@kfunc
def set_migratetype_isolate(k, page, migratetype, isol_flags):
    """set_migratetype_isolate() (v5.11 - v5.12; the drain_all_pages() that
    v5.7 did here moved to the callers in v5.11).  Under zone->lock: -EBUSY
    if already isolated or has_unmovable_pages() finds an unmovable page;
    else mark ISOLATE, nr_isolate_pageblock++, move the free blocks to the
    ISOLATE lists and take them out of the free counts."""
    zone = k.zone
    yield from spin_lock_irqsave(zone.lock)
    zone_fp_write(zone)
    if is_migrate_isolate_page(page):
        yield from spin_unlock_irqrestore(zone.lock)
        return -EBUSY
    unmovable = k.fn.has_unmovable_pages(zone, page, migratetype, isol_flags)
    if unmovable is None:
        mt = get_pageblock_migratetype(page)
        set_pageblock_migratetype(page, MIGRATE_ISOLATE)
        zone.nr_isolate_pageblock += 1
        nr_pages = k.fn.move_freepages_block(zone, page, MIGRATE_ISOLATE, None)
        __mod_zone_freepage_state(zone, -nr_pages, mt)
        yield from spin_unlock_irqrestore(zone.lock)
        return 0
    yield from spin_unlock_irqrestore(zone.lock)
    return report_unmovable(k, unmovable, isol_flags)


def report_unmovable(k, unmovable, isol_flags):
    """The failure path of set_migratetype_isolate() after the unlock:
    remember the unmovable page, dump it with REPORT_FAILURE; -EBUSY."""
    k.last_isolate_unmovable = unmovable.pfn
    page_fp_read(unmovable)
    if isol_flags & REPORT_FAILURE:
        k.printk.append(f"page:pfn 0x{unmovable.pfn:x} refcount:{unmovable._refcount} "
                        f"page dumped because: unmovable page")
    return -EBUSY


@kfunc
def unset_migratetype_isolate(k, page, migratetype):
    """unset_migratetype_isolate() (v5.7 - v5.12).  Under zone->lock: a free
    block of order >= pageblock_order at the pageblock start whose buddy is
    not isolated could not merge while isolated, so it is taken out
    (__isolate_free_page) and freed again to merge; otherwise the free
    blocks move back to ``migratetype``'s lists (tail) and are counted free
    again."""
    zone = k.zone
    yield from spin_lock_irqsave(zone.lock)
    zone_fp_write(zone)
    if not is_migrate_isolate_page(page):
        yield from spin_unlock_irqrestore(zone.lock)
        return
    isolated_page = False
    order = 0
    if PageBuddy(page):
        page_fp_read(page)
        order = page.private
        if zone.pageblock_order <= order < MAX_ORDER - 1:
            buddy_pfn = page.pfn ^ (1 << order)
            buddy = k.pfn_to_page(buddy_pfn)
            if zone.zone_spans_pfn(buddy_pfn) and not is_migrate_isolate_page(buddy):
                isolated_page = bool(k.fn.__isolate_free_page(page, order))
    if not isolated_page:
        nr_pages = k.fn.move_freepages_block(zone, page, migratetype, None)
        __mod_zone_freepage_state(zone, nr_pages, migratetype)
    set_pageblock_migratetype(page, migratetype)
    if isolated_page:
        k.fn.__putback_isolated_page(page, order, migratetype)
    zone.nr_isolate_pageblock -= 1
    yield from spin_unlock_irqrestore(zone.lock)


@kfunc
def start_isolate_page_range(k, start_pfn, end_pfn, migratetype, flags):
    """start_isolate_page_range() (v5.11 - v5.12): isolate every pageblock
    of the pageblock-aligned range, undoing the ones done so far on the
    first failure.  Returns 0 or -EBUSY."""
    _check_aligned(k, start_pfn, end_pfn)
    nr = k.zone.pageblock_nr_pages
    for pfn in range(start_pfn, end_pfn, nr):
        ret = yield from k.fn.set_migratetype_isolate(k.pfn_to_page(pfn), migratetype, flags)
        if ret:
            yield from k.fn.undo_isolate_page_range(start_pfn, pfn, migratetype)
            return -EBUSY
    return 0


@kfunc
def undo_isolate_page_range(k, start_pfn, end_pfn, migratetype):
    """undo_isolate_page_range() (v5.11 - v5.12): un-isolate every ISOLATE pageblock of the
    range back to ``migratetype``.  The ISOLATE test is a plain read: only
    the isolator changes these pageblocks."""
    _check_aligned(k, start_pfn, end_pfn)
    nr = k.zone.pageblock_nr_pages
    for pfn in range(start_pfn, end_pfn, nr):
        page = k.pfn_to_page(pfn)
        if not is_migrate_isolate_page(page):
            continue
        yield from k.fn.unset_migratetype_isolate(page, migratetype)


@kfunc
def __test_page_isolated_in_pageblock(k, pfn, end_pfn, flags):
    """__test_page_isolated_in_pageblock() (v4.x - v5.12): walk the range by
    buddy heads; every pfn must be inside a PageBuddy block.  Returns the
    first pfn that is not (end_pfn when all are free).  The old "refcount 0
    and on an ISOLATE pcp list" acceptance was removed long before v5.12
    (pcp lists never hold ISOLATE pages); HWPoison / PageOffline with
    MEMORY_OFFLINE are not modelled.  Caller holds zone->lock."""
    peek = k.mem_map.peek             # free heads are always materialised
    while pfn < end_pfn:
        pfn_fp_read(k, pfn)
        page = peek(pfn)
        if page is not None and page.page_type & 1:
            pfn += 1 << page.private
        else:
            break
    return pfn


@kfunc
def test_pages_isolated(k, start_pfn, end_pfn, isol_flags):
    """test_pages_isolated() (v5.12): every pageblock of the range must be
    ISOLATE (plain reads), then under zone->lock every page must be free in
    the buddy allocator.  Returns 0 or -EBUSY; the tracepoint reports the
    first pfn that was not free."""
    zone = k.zone
    nr = zone.pageblock_nr_pages
    pfn = start_pfn
    while pfn < end_pfn:
        if not is_migrate_isolate_page(k.pfn_to_page(pfn)):
            break
        pfn += nr
    if pfn < end_pfn:
        ret = -EBUSY
    else:
        yield from spin_lock_irqsave(zone.lock)
        pfn = k.fn.__test_page_isolated_in_pageblock(start_pfn, end_pfn, isol_flags)
        yield from spin_unlock_irqrestore(zone.lock)
        ret = -EBUSY if pfn < end_pfn else 0
    if k.trace_events is not None:
        k.trace("page_isolation:test_pages_isolated", start_pfn=start_pfn,
                end_pfn=end_pfn, fin_pfn=pfn)
    k.last_test_pages_isolated_pfn = pfn
    return ret
