"""The v5.11 era: the per-memcg lru_lock as merged (seed 004).

Linux 5.11-rc1 merged Alex Shi's per-memcg lru_lock series (the "Merge
branch 'akpm'" 5b200f578960 of 15 Dec 2020): one ``lruvec->lru_lock`` per
(memcg, node) (6168d0da2b47), TestClearPageLRU() (d25b5bd8a8f4) as the
ownership token that keeps a page's memcg stable, relock_page_lruvec()
(2a5e4e340b0f), compaction that takes its reference before anything else
(9df41314390b) and pagevec_lru_move_fn() serialised against memcg changes
(fc574c23558c).  The model's v5.12 baseline already follows those rules
(mm/swap.py, mm/vmscan.py, mm/compaction.py, mm/memcontrol.py); this era
patch adds the v5.11 code that the memcg_lru_lock family needs on top:

* ``release_pages()`` as in v5.11: one lruvec lock kept across consecutive
  pages, dropped every SWAP_CLUSTER_MAX pages to bound the irqs-off time;
  the pages are freed after the loop (free_unref_page_list);
* ``move_pages_to_lru()`` (reclaim's putback under the lruvec lock) with an
  interleaving point at each atomic another CPU can observe: SetPageLRU()
  *before* put_page_testzero() and the list add, "for list integrity"
  (the comment 5.11 carries against release_pages);
* ``__munlock_pagevec()`` phase 1 (TestClearPageMlocked, TestClearPageLRU,
  relock, delete) and phase 2 (put back), ``clear_page_mlock()``, and the
  v5.11 ``page_remove_rmap()`` of an anon page, which holds
  lock_page_memcg() around clear_page_mlock(): the documented order
  move_lock -> lru_lock (Documentation/admin-guide/cgroup-v1/memory.rst,
  the mm/rmap.c header: lock_page_memcg -> i_pages -> lruvec->lru_lock).

The v5.11 ``lock_page_lruvec*()`` hold rcu_read_lock() between the lookup
and the lock (5.12 dropped it); it only keeps a memcg from being freed, and
no memcg is freed here, so the model does not show it.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.oracles import KernelBug
from ..mm.mm_inline import __folio_clear_lru_flags
from ..mm.page import (
    PG_mlocked, _test_and_clear, folio_clear_unevictable, folio_put_testzero,
    folio_set_lru, folio_test_clear_lru, folio_test_lru,
)
from ..mm.page_alloc import SWAP_CLUSTER_MAX

PATCH = Patch(
    "era-v5.11",
    title="the per-memcg lru_lock as merged in v5.11 (release_pages, move_pages_to_lru, munlock)",
    commit="5b200f578960", date="2020-12-15", version="v5.11",
    link="https://lore.kernel.org/linux-mm/1604566549-62481-1-git-send-email-alex.shi@linux.alibaba.com/",
    summary="v5.11 release_pages (relock every SWAP_CLUSTER_MAX), move_pages_to_lru with "
            "SetPageLRU first, __munlock_pagevec and page_remove_rmap's clear_page_mlock",
)


def TestClearPageMlocked(folio):
    return _test_and_clear(folio, PG_mlocked)


# ------------------------------------------------------- memcontrol.c
@PATCH.replaces()
def folio_lruvec_relock_irqsave(k, folio, locked):
    """relock_page_lruvec_irqsave() (v5.11; the same code in v11 14/16):
    keep ``locked`` if it is the page's lruvec (lruvec_holds_page_lru_lock:
    a lookup), otherwise unlock it and lock_page_lruvec_irqsave(), which
    looks the lruvec up *again* and locks it.  Only the caller's ownership
    of the page's memcg makes either lookup meaningful."""
    if locked is not None:
        if k.fn.folio_lruvec(folio) is locked:
            return locked
        yield from k.fn.unlock_page_lruvec_irqrestore(locked)
    return (yield from k.fn.folio_lruvec_lock_irqsave(folio))


@PATCH.replaces()
def folio_lruvec_relock_irq(k, folio, locked):
    """relock_page_lruvec_irq() (v5.11): as above, irqs simply disabled."""
    if locked is not None:
        if k.fn.folio_lruvec(folio) is locked:
            return locked
        yield from k.fn.unlock_page_lruvec_irq(locked)
    return (yield from k.fn.folio_lruvec_lock_irq(folio))


@PATCH.adds()
def folio_lruvec_lock_irq(k, folio):
    """lock_page_lruvec_irq() (v5.11): look up, lock, debug check."""
    from ..engine.sync import spin_lock_irq
    lv = k.fn.folio_lruvec(folio)
    yield from spin_lock_irq(lv.lru_lock)
    k.fn.lruvec_memcg_debug(lv, folio)
    return lv


# ------------------------------------------------------------- swap.c
@PATCH.replaces()
def folios_put(k, folios):
    """release_pages() (v5.11): drop one reference of each page; a page whose
    last reference this was comes off its LRU under the lruvec lock (its
    memcg is stable: the refcount is zero) and is freed after the loop.  The
    lock is kept across pages of one lruvec and dropped every
    SWAP_CLUSTER_MAX pages."""
    lruvec = None
    lock_batch = 0
    pages_to_free = []
    for folio in folios:
        if lruvec is not None:
            lock_batch += 1
            if lock_batch == SWAP_CLUSTER_MAX:
                yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
                lruvec = None
        if not folio_put_testzero(folio):
            yield f"release_pages: put {folio.label} (ref {folio._refcount})"
            continue
        yield f"release_pages: put {folio.label}, last reference, PageLRU={int(folio_test_lru(folio))}"
        if folio_test_lru(folio):
            prev = lruvec
            lruvec = yield from k.fn.folio_lruvec_relock_irqsave(folio, lruvec)
            if prev is not lruvec:
                lock_batch = 0
            k.fn.lruvec_del_folio(lruvec, folio)
            __folio_clear_lru_flags(folio)
        pages_to_free.append(folio)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    for folio in pages_to_free:          # mem_cgroup_uncharge_list + free_unref_page_list
        yield from k.fn.free_folio(folio)


# ------------------------------------------------------------ vmscan.c
@PATCH.adds()
def move_pages_to_lru(k, lruvec, folio_list):
    """move_pages_to_lru() (v5.11), ``lruvec->lru_lock`` held: put every
    isolated page back on its LRU and drop the isolation reference.
    SetPageLRU() comes first: a concurrent release_pages() that drops the
    last reference then sees PageLRU and takes this lruvec's lock (it waits
    for us) instead of freeing the page under our feet.  A page whose last
    reference we dropped loses its LRU flags and is freed after the unlock.
    The pages were isolated from this lruvec and isolation inhibits memcg
    migration, so the held lock is the page's (VM_BUG_ON_PAGE).  Returns
    the pages to free in ``folio_list``."""
    to_free = []
    for folio in list(folio_list):
        if folio_test_lru(folio):
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageLRU(page)) in move_pages_to_lru: "
                            f"{folio.label}")
        folio_set_lru(folio)
        yield f"move_pages_to_lru: SetPageLRU({folio.label})"
        if folio_put_testzero(folio):
            __folio_clear_lru_flags(folio)
            to_free.append(folio)
            yield f"move_pages_to_lru: put {folio.label}, last reference: freed after the unlock"
            continue
        yield f"move_pages_to_lru: put {folio.label} (ref {folio._refcount})"
        k.fn.lruvec_holds_page_lru_lock_check(lruvec, folio)
        k.fn.lruvec_add_folio(lruvec, folio)
    folio_list[:] = to_free


@PATCH.adds()
def lruvec_holds_page_lru_lock_check(k, lruvec, folio):
    """VM_BUG_ON_PAGE(!lruvec_holds_page_lru_lock(page, lruvec), page)
    (v5.11, under CONFIG_DEBUG_VM)."""
    if k.settings.get("debug_vm") and k.fn.folio_lruvec(folio) is not lruvec:
        raise KernelBug(f"page:{folio.label} page dumped because: "
                        f"VM_BUG_ON_PAGE(!lruvec_holds_page_lru_lock(page, lruvec)) "
                        f"[{lruvec.name}]; kernel BUG at mm/vmscan.c (move_pages_to_lru)")


# ------------------------------------------------------------- mlock.c
@PATCH.adds()
def __munlock_pagevec(k, folios):
    """__munlock_pagevec() (v5.11): munlock a pagevec of mlocked pages, each
    holding the pagevec's reference.  Phase 1, under the lruvec lock(s):
    TestClearPageMlocked, then TestClearPageLRU (ownership: the memcg is now
    stable) and relock by that memcg, delete from the (unevictable) LRU; a
    page somebody else holds stays where it is.  Phase 2, unlocked: put the
    isolated pages back (their reference goes with them) and drop the
    references of the others."""
    lruvec = None
    isolated = []
    others = []
    for folio in folios:
        if TestClearPageMlocked(folio):
            yield f"__munlock_pagevec: TestClearPageMlocked({folio.label})"
            if folio_test_clear_lru(folio):
                yield f"__munlock_pagevec: TestClearPageLRU({folio.label}) won"
                lruvec = yield from k.fn.folio_lruvec_relock_irq(folio, lruvec)
                k.fn.lruvec_del_folio(lruvec, folio)
                isolated.append(folio)
                continue
            yield f"__munlock_pagevec: {folio.label} not on an LRU (isolation failed)"
        else:
            yield f"__munlock_pagevec: {folio.label} already munlocked"
        others.append(folio)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irq(lruvec)
    yield from k.fn.__munlock_phase2(isolated, others)


@PATCH.adds()
def __munlock_phase2(k, isolated, others):
    """Phase 2 of __munlock_pagevec(): each isolated page goes back through
    putback_lru_page() (the lru_add drain would find it evictable now: its
    PG_unevictable is cleared here, as the model's lru_add does not
    re-evaluate evictability), the others' pagevec references are put."""
    for folio in isolated:
        folio_clear_unevictable(folio)
        yield from k.fn.folio_putback_lru(folio)
    for folio in others:
        yield from k.fn.folio_put(folio)


@PATCH.adds()
def clear_page_mlock(k, folio):
    """clear_page_mlock() (v5.11): an mlocked page lost its last mapping;
    take it off the unevictable list (isolate_lru_page takes the lruvec
    lock) and put it back where it now belongs."""
    if not TestClearPageMlocked(folio):
        return
    yield f"clear_page_mlock: TestClearPageMlocked({folio.label})"
    if (yield from k.fn.folio_isolate_lru(folio)):
        folio_clear_unevictable(folio)
        yield from k.fn.folio_putback_lru(folio)


@PATCH.adds()
def page_remove_rmap_mlocked(k, folio, mm, address):
    """page_remove_rmap() (v5.11) of an order-0 anon page, as zap_pte_range()
    calls it: lock_page_memcg() around the mapcount drop, the NR_ANON_MAPPED
    stat and, for the last mapping of an mlocked page, clear_page_mlock().
    So memcg->move_lock (taken while a charge move is under way) is held
    while clear_page_mlock() takes the lruvec lock: move_lock -> lru_lock."""
    from ..mm.page import folio_test_mlocked
    memcg = yield from k.fn.lock_page_memcg(folio)
    k.fn.page_remove_rmap(folio, mm, address)
    yield f"page_remove_rmap: {folio.label} mapcount {folio._mapcount + 1}"
    if folio._mapcount < 0 and folio_test_mlocked(folio):
        yield from k.fn.clear_page_mlock(folio)
    yield from k.fn.__unlock_page_memcg(memcg)
