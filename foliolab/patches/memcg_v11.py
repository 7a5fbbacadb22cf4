"""Alex Shi, "[PATCH v11 00/16] per memcg lru lock" (28 May 2020; seed 004).

v11 moved the lru_lock from the node into each (memcg, node) lruvec and
made isolation test-and-clear PG_lru, but left the LRU *move* paths as they
were under the node lock: ``pagevec_lru_move_fn()`` relocks by the page's
current memcg (relock_page_lruvec_irqsave: lookup without any lock, then
lock) and the move function checks PageLRU under that lock.  Nothing stops
mem_cgroup_move_account() from switching ``page->mem_cgroup`` between the
lookup and the lock: the drain then holds the lock of a memcg the page no
longer belongs to.  Hugh Dickins hit the VM_BUG_ON_PAGE of
lruvec_memcg_debug() after 6 and 8 hours of stress (10 Jun 2020); fixed for
5.11 by fc574c23558c (TestClearPageLRU in pagevec_lru_move_fn).

Three patches, so the variants can combine them:

* ``v11-relock``: pagevec_lru_move_fn() without ownership (the race M1);
* ``v11-compaction``: the early v11 isolate_migratepages_block() order:
  __isolate_lru_page_prepare() -- with its trylock_page() on a dirty page --
  *before* get_page_unless_zero(), and a put_page() of a rejected page
  while the lruvec lock is still held (Hugh's fixes 1 and 2 to v11, folded
  into 9df41314390b: races M2 and M3);
* ``v11-putback-order``: move_pages_to_lru() dropping the isolation
  reference before SetPageLRU() and the list add, the order the v5.11
  comment in move_pages_to_lru() warns against (race M4).  Which v11-era
  revision had this order is not recorded in the thread; the model takes
  the comment's diagram as the buggy form [inference].

The exact early-v11 compaction diff was not found either: the model keeps
what Hugh describes (the trylock before the reference; the put under the
lock on isolate_fail and isolate_abort) and tests PG_lru only under the
lock, after the skip-hint check, as the pre-series __isolate_lru_page() did
[inference].
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import Patch
from ..engine.oracles import KernelBug
from ..engine.sync import cond_resched, spin_lock_irqsave, spin_unlock_irqrestore
from ..mm.compaction import test_and_set_skip
from ..mm.page import (
    folio_put_testzero, folio_set_lru, folio_test_clear_lru, folio_test_lru,
    folio_try_get, pfn_fp_read,
)
from ..mm.swap import folio_batch_reinit

V11_RELOCK = Patch(
    "v11-relock",
    title="mm/lru: replace pgdat lru_lock with lruvec lock; introduce relock_page_lruvec (v11 14/16)",
    date="2020-05-28", version="v11 (5.7-rc based)",
    link="https://lore.kernel.org/linux-mm/1590663658-184131-1-git-send-email-alex.shi@linux.alibaba.com/",
    summary="pagevec_lru_move_fn relocks by the current memcg and checks PageLRU under "
            "that lock: no PG_lru ownership",
)

V11_COMPACTION = Patch(
    "v11-compaction",
    title="mm/compaction: do page isolation first in compaction (v11, before Hugh's fixes)",
    date="2020-05-28", version="v11",
    summary="__isolate_lru_page_prepare (trylock_page) before get_page_unless_zero; "
            "put_page of a rejected page under the lruvec lock",
)

V11_PUTBACK = Patch(
    "v11-putback-order",
    title="move_pages_to_lru: put the isolation reference before SetPageLRU (the order the "
          "v5.11 comment warns against)",
    date="2020-06", version="v11 era [inference]",
    summary="put_page_testzero, then the list add, then SetPageLRU",
)

PATCHES = (V11_RELOCK, V11_COMPACTION, V11_PUTBACK)


# ------------------------------------------------------------- swap.c
def pagevec_lru_move_fn_body(k, fbatch, move_fn, memcg_lock=False):
    """pagevec_lru_move_fn() as before fc574c23558c (v5.10 with the node
    lock, v11 with lruvec locks): for each page, relock by its memcg, then
    the move function, which does nothing to a page without PageLRU (it was
    isolated: the lock makes that test reliable only if it is the page's
    lock).  ``memcg_lock``: take lock_page_memcg() around each page first
    (variant e, the v17 technique).  The lru_add drain sets PG_lru itself
    and never tests it.  References go after the lock is released."""
    fn = getattr(k.fn, move_fn)
    lruvec = None
    touch_read(k.m, fbatch.fpk)
    for folio in fbatch.folios:
        memcg = (yield from k.fn.lock_page_memcg(folio)) if memcg_lock else None
        lruvec = yield from k.fn.folio_lruvec_relock_irqsave(folio, lruvec)
        if move_fn == "lru_add":
            fn(lruvec, folio)
            folio_set_lru(folio)
            yield f"{move_fn}: SetPageLRU({folio.label}), added to {lruvec.name}"
        elif folio_test_lru(folio):
            fn(lruvec, folio)
            yield f"{move_fn}: {folio.label} PageLRU, moved on {lruvec.name}"
        else:
            yield f"{move_fn}: {folio.label} !PageLRU under {lruvec.name}->lru_lock, skipped"
        if memcg is not None:
            yield from k.fn.__unlock_page_memcg(memcg)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    touch_read(k.m, fbatch.fpk)
    yield from k.fn.folios_put(list(fbatch.folios))
    folio_batch_reinit(k, fbatch)


@V11_RELOCK.replaces()
def folio_batch_move_lru(k, fbatch, move_fn):
    """pagevec_lru_move_fn() (v11): relock by memcg, PageLRU checked under
    the lock, no ownership of PG_lru."""
    return (yield from pagevec_lru_move_fn_body(k, fbatch, move_fn))


# ---------------------------------------------------------- compaction.c
@V11_COMPACTION.replaces()
def isolate_migratepages_block(k, cc, low_pfn, end_pfn, isolate_mode):
    """isolate_migratepages_block() (early v11 order), reduced to order-0
    LRU pages: racy PageLRU, __isolate_lru_page_prepare() (trylock_page on
    a dirty page in async mode) *without a reference*, then
    get_page_unless_zero(), lock the lruvec (kept across pages), the
    skip-hint check, TestClearPageLRU, delete.  A page rejected after the
    reference was taken is put *under the lruvec lock* (isolate_fail,
    isolate_abort): if that put is the last one, __page_cache_release()
    takes the lruvec lock again."""
    fn = k.fn
    locked = None
    skip_updated = False
    yield from cond_resched(k.m)
    while low_pfn < end_pfn:
        pfn_fp_read(k, low_pfn)
        page = k.mem_map.peek(low_pfn)
        if page is None or page.page_type & 1 or not folio_test_lru(page):
            low_pfn += 1
            continue
        folio = page
        # __isolate_lru_page_prepare() before any reference (Hugh's fix 2
        # moved it after get_page_unless_zero)
        if not (yield from fn.__isolate_lru_page_prepare(folio, isolate_mode)):
            low_pfn += 1
            continue
        if not folio_try_get(folio):
            yield f"isolate_migratepages_block: get_page_unless_zero({folio.label}) failed"
            low_pfn += 1
            continue
        yield f"isolate_migratepages_block: get_page_unless_zero({folio.label}) -> {folio._refcount}"
        lruvec = fn.folio_lruvec(folio)
        if lruvec is not locked:
            if locked is not None:
                yield from spin_unlock_irqrestore(locked.lru_lock)
            yield from spin_lock_irqsave(lruvec.lru_lock)
            locked = lruvec
            fn.lruvec_memcg_debug(lruvec, folio)
            if not skip_updated and not cc.ignore_skip_hint:
                skip_updated = True
                if test_and_set_skip(k, cc, low_pfn):
                    # isolate_abort: the put under the lock (fix 1 unlocks first)
                    yield f"isolate_migratepages_block: pageblock skip set, abort"
                    yield from fn.folio_put(folio)
                    break
        if not folio_test_clear_lru(folio):
            # isolate_fail: the put under the lock
            yield f"isolate_migratepages_block: TestClearPageLRU({folio.label}) lost"
            yield from fn.folio_put(folio)
            low_pfn += 1
            continue
        fn.lruvec_del_folio(lruvec, folio)
        cc.migratepages.append(folio)
        cc.nr_migratepages += 1
        yield f"isolate_migratepages_block: {folio.label} isolated"
        low_pfn += 1
    if locked is not None:
        yield from spin_unlock_irqrestore(locked.lru_lock)
    return min(low_pfn, end_pfn)


# -------------------------------------------------------------- vmscan.c
@V11_PUTBACK.replaces()
def move_pages_to_lru(k, lruvec, folio_list):
    """move_pages_to_lru() with the isolation reference dropped before
    SetPageLRU: between the put and SetPageLRU a release_pages() that drops
    the last reference sees !PageLRU, skips the lruvec lock and frees the
    page, while we add it to the LRU list."""
    to_free = []
    for folio in list(folio_list):
        if folio_test_lru(folio):
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageLRU(page)) in move_pages_to_lru: "
                            f"{folio.label}")
        if folio_put_testzero(folio):
            to_free.append(folio)
            yield f"move_pages_to_lru: put {folio.label}, last reference: freed after the unlock"
            continue
        yield f"move_pages_to_lru: put {folio.label} (ref {folio._refcount})"
        k.fn.lruvec_add_folio(lruvec, folio)
        yield f"move_pages_to_lru: {folio.label} added to {lruvec.name}"
        folio_set_lru(folio)
        yield f"move_pages_to_lru: SetPageLRU({folio.label})"
    folio_list[:] = to_free

