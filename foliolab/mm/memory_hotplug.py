"""Memory offlining: offline_pages() of mm/memory_hotplug.c (v5.12 era).

offline_pages() disables the zone's pcplists (zone_pcp_disable, v5.11),
isolates the range, then loops: drain the per-CPU LRU
batches, find the next LRU folio (scan_movable_pages), isolate and migrate
what it finds (do_migrate_range), until the range holds only free pages; then
test_pages_isolated() and take the pages out of the buddy allocator; a
pending signal ends the loop with -EINTR after undoing the isolation
("signal backoff").  v5.13
(d479960e44f2) replaced the per-iteration lru_add_drain_all() with an
lru_cache_disable()/lru_cache_enable() bracket -- and its error paths forgot
the enable until Miaohe Lin's fix (Aug 2021): that variant lives in the
lru-cache-disable patch.

Not modelled: memory notifiers, hugetlb dissolving, zone/node state changes
and the final removal from the zone's managed pages.
"""

from __future__ import annotations

from ..engine.kernel import kfunc
from ..engine.sync import cond_resched
from .errno import EINTR, ENOENT
from .kernel import SPLIT_SHIFT
from .page import PageBuddy, buddy_order, folio_test_lru, folio_try_get, page_folio, pfn_fp_read


def signal_pending(k):
    """signal_pending(current): a signal queued for the running task (a
    scenario queues one in ``k.signal_pending_tids``, e.g. the timeout of
    the shell that wrote "offline")."""
    pending = getattr(k, "signal_pending_tids", None)
    return bool(pending) and k.m.current.tid in pending


@kfunc
def scan_movable_pages(k, start, end):
    """scan_movable_pages(): the first pfn of an LRU folio in [start, end),
    or -ENOENT.  Returns (ret, pfn)."""
    # peek(): only LRU folios stop the scan; an untouched page of a split
    # block (refcount 1, no flags) is skipped exactly as a pristine one.
    peek = k.mem_map.peek
    pfn = start
    while pfn < end:
        pfn_fp_read(k, pfn)
        page = peek(pfn)
        if page is None:
            pfn += 1
            continue
        if PageBuddy(page):
            pfn += 1 << buddy_order(page)
            continue
        if folio_test_lru(page_folio(page)):
            yield f"scan_movable_pages: LRU folio at 0x{pfn:x}"
            return 0, pfn
        pfn += 1
    yield "scan_movable_pages: no movable page left"
    return -ENOENT, end


@kfunc
def do_migrate_range(k, start, end):
    """do_migrate_range(): isolate every LRU folio of the range and migrate
    it away (MIGRATE_SYNC, MR_MEMORY_HOTPLUG)."""
    from .migrate import MIGRATE_SYNC, MR_MEMORY_HOTPLUG, migration_target_control
    from .page_alloc import GFP_USER, __GFP_MOVABLE
    from .vmscan import node_stat_mod_isolated
    source = []
    mem_map = k.mem_map
    peek, split = mem_map.peek, mem_map.split
    for pfn in range(start, end):
        pfn_fp_read(k, pfn)
        page = peek(pfn)
        if page is None and pfn >> SPLIT_SHIFT in split:
            page = mem_map.materialise_split(pfn)    # in use (refcount 1): tried below
        if page is None or PageBuddy(page):
            continue
        folio = page_folio(page)
        if not folio_try_get(folio):
            continue
        yield f"do_migrate_range: get {folio.label}"
        if (yield from k.fn.folio_isolate_lru(folio)):
            source.append(folio)
            node_stat_mod_isolated(k, folio, 1)
        yield from k.fn.folio_put(folio)
    if source:
        mtc = migration_target_control(GFP_USER | __GFP_MOVABLE)
        ret = yield from k.fn.migrate_pages(source, k.fn.alloc_migration_target, None,
                                            mtc, MIGRATE_SYNC, MR_MEMORY_HOTPLUG)
        if ret:
            yield from k.fn.putback_movable_pages(source)


def offline_pages_body(k, start_pfn, nr_pages, *, lru_cache_bracket=False):
    """The body of offline_pages(); ``lru_cache_bracket`` selects the v5.13
    form (lru_cache_disable() first, enable on success only -- the leak)."""
    from .mmzone import MIGRATE_MOVABLE
    from .page_isolation import MEMORY_OFFLINE, REPORT_FAILURE
    end_pfn = start_pfn + nr_pages
    zone = k.zone
    # ec6e8c7e0314 (v5.11): pcplists off (high 0, batch 1) and drained on
    # every CPU before the isolation, so no page of the range can be left
    # on a pcplist; they stay off until zone_pcp_enable(), which replaced
    # the drain_all_pages() calls this function had.  Note the forced
    # drain queues work on every online CPU.
    yield from k.fn.zone_pcp_disable(zone)
    if lru_cache_bracket:
        yield from k.fn.lru_cache_disable()
    ret = yield from k.fn.start_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE,
                                                   MEMORY_OFFLINE | REPORT_FAILURE)
    if ret:
        k.printk.append(f"memory offlining [mem {start_pfn << 12:#010x}-{(end_pfn << 12) - 1:#010x}] "
                        f"failed due to failure to isolate range")
        # failed_removal_pcplists_disabled: v5.13 forgot lru_cache_enable() here
        yield from k.fn.zone_pcp_enable(zone)
        return ret
    while True:
        pfn = start_pfn
        while True:
            if signal_pending(k):
                # "signal backoff": undo the isolation and give up
                k.printk.append(f"memory offlining [mem {start_pfn << 12:#010x}-"
                                f"{(end_pfn << 12) - 1:#010x}] failed due to signal backoff")
                yield from k.fn.undo_isolate_page_range(start_pfn, end_pfn, MIGRATE_MOVABLE)
                return -EINTR
            yield from cond_resched(k.m)
            if not lru_cache_bracket:
                yield from k.fn.lru_add_drain_all()
            ret, pfn = yield from k.fn.scan_movable_pages(pfn, end_pfn)
            if ret:
                break
            yield from k.fn.do_migrate_range(pfn, end_pfn)
        ret = yield from k.fn.test_pages_isolated(start_pfn, end_pfn, MEMORY_OFFLINE)
        if not ret:
            break
    if lru_cache_bracket:
        yield from k.fn.lru_cache_enable()
    yield from k.fn.zone_pcp_enable(zone)
    return 0


@kfunc
def offline_pages(k, start_pfn, nr_pages):
    """offline_pages() (v5.12): drain per iteration, no bracket."""
    return (yield from offline_pages_body(k, start_pfn, nr_pages))

