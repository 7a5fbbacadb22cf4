"""Family memcg_lru_lock: the per-memcg lru_lock (seed 004).

Hugh Dickins on Alex Shi's "[PATCH v11 00/16] per memcg lru lock" (10 Jun
2020): a VM_BUG_ON_PAGE(lruvec_memcg(lruvec) != page->mem_cgroup) from
lock_page_lruvec_irqsave < relock_page_lruvec < pagevec_lru_move_fn <
pagevec_move_tail < lru_add_drain_cpu after 6 hours of stress on one
machine, via rotate_reclaimable_page after 8 hours on another; 1.5 hours
once his "cg m" charge-moving test moved every second instead of every
minute.  v11 split the node's lru_lock into one per (memcg, node) lruvec,
but left the LRU move paths relocking by a memcg that
mem_cgroup_move_account() may change between the lookup and the lock.

The family runs the **v5.11 era** (patches/eras.py, patches/era_v5_11.py):
the series as merged, where PG_lru is the ownership token (variant
c-test-clear-lru is the era itself).  The other variants apply on top:
a-pgdat-lock goes back to one node lock (<= v5.10), b-v11 to v11's move
paths, compaction order and putback order, b4 adds the writer-side lock
alone, d the lock-recheck-retry design, e lock_page_memcg() first (v17),
c2 the v6.x folio form.

Layout: memcgs A and B (a charge move A -> B is under way:
``A.moving_account`` = 1, as mem_cgroup_move_charge() sets it before it
walks the page tables); anon pages charged to A, mapped in the mm "cg-m",
on A's lruvec (node 0).  Two CPUs in every scenario: the catalogue's CPU2
(working on B's lists while CPU0 corrupts them) is not needed, because the
model's list primitives check membership -- a list_del of a page through
the wrong lruvec is reported at once ("list_del corruption"), where the
kernel's DEBUG_LIST reports it only when a neighbour's pointers disagree,
which takes a CPU working on B's list at the same time.

Properties: no kernel failure (VM_BUG_ON, DEBUG_LIST, bad page, lockdep),
and at the end the lruvecs are consistent: every page on an lruvec's list
is charged to that lruvec's memcg, has PG_lru and a reference, and every
list's lru_size is its length.
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from ..engine.oracles import PropertyViolation
from ..mm.compaction import ISOLATE_ASYNC_MIGRATE, compact_control
from ..mm.memcontrol import commit_charge, mem_cgroup_create
from ..mm.memory import setup_anon_folio
from ..mm.mm_inline import setup_lru_folio
from ..mm.mmzone import LRU_NAMES
from ..mm.page import (
    PG_dirty, PG_mlocked, PG_reclaim, PG_unevictable, _nonatomic_set, dump_flags,
)
from ..mm.page_alloc import setup_alloc_page_at
from ..mm.rmap import mm_struct
from .base import BUG, SAFE, Expect, Family, Scenario, Variant

B = ("v11-relock", "v11-compaction", "v11-putback-order")
VARIANTS = {
    "a-pgdat-lock": Variant("a-pgdat-lock", ("pgdat-lru-lock",),
                            "<= v5.10: one pgdat->lru_lock per node for every memcg's lists"),
    "b-v11": Variant("b-v11", B, "v11 (May 2020): per-lruvec locks, relock by the current "
                                 "memcg, no PG_lru ownership in the move paths"),
    "b4-writer-lock": Variant("b4-writer-lock", B + ("writer-lruvec-lock",),
                              "v11 + Hugh's fix 4 alone: the writer holds the old lruvec lock"),
    "c-test-clear-lru": Variant("c-test-clear-lru", (),
                                "v5.11 as merged: PG_lru is the ownership token "
                                "(fc574c23558c, 9df41314390b)"),
    "c2-folio": Variant("c2-folio", ("era-folio-get-before-lock", "era-pagevec-31",
                                     "folios-put-refs"),
                        "the 5.11 design in its v6.x folio form"),
    "d-lock-recheck": Variant("d-lock-recheck", ("writer-lruvec-lock", "lock-recheck"),
                              "lock, recheck the memcg, retry (Hugh 2020, Muchun Song "
                              "2021-22); the writer stores under the old lruvec lock"),
    "e-memcg-lock-first": Variant("e-memcg-lock-first", ("memcg-lock-first",),
                                  "v17: lock_page_memcg before the lru_lock "
                                  "(pagevec_lru_move_fn, __munlock_pagevec)"),
}

CGM = 0x7F00_0000_0000            # the cg-m task's anon mapping
P_PFN = 0x200                     # pageblock-aligned (pageblock_order 9)


# ------------------------------------------------------------------ layout
def boot_memcgs(k):
    """Memcgs A and B, A's charges moving to B; the cg-m task's mm."""
    k.memcg_a = mem_cgroup_create(k, "A")
    k.memcg_b = mem_cgroup_create(k, "B")
    k.memcg_a.moving_account = 1
    k.cgm_mm = mm_struct(k, "cg-m")
    k.results = {}


def charged_anon_page(k, name, pfn, memcg, *, index=0, lru=True, dirty=False,
                      mlocked=False):
    """An order-0 anon page charged to ``memcg``, mapped once in cg-m's mm
    (refcount 1, mapcount 1), on the memcg's lruvec unless ``lru`` is
    False."""
    P = setup_alloc_page_at(k, pfn, name=name)
    setup_anon_folio(k, k.cgm_mm, CGM + index * 4096, P)
    commit_charge(k, P, memcg)
    if dirty:
        _nonatomic_set(P, PG_dirty)
    if mlocked:
        _nonatomic_set(P, PG_mlocked)
        _nonatomic_set(P, PG_unevictable)
    if lru:
        setup_lru_folio(k, P)
    return P


def queue_in_batch(k, folio, cpu, batch):
    """Boot-time: ``folio`` waits in ``cpu``'s ``batch`` with the batch's
    reference (rotate_reclaimable_page ran there earlier)."""
    fb = getattr(k.cpu_fbatches.slots[cpu], batch)
    fb.folios.append(folio)
    fb.nr.v = len(fb.folios)
    folio._refcount += 1


def check_lruvecs(k):
    """Every page on an lruvec list is charged to the lruvec's memcg, has
    PG_lru and a reference; every lru_size is its list's length."""
    for memcg in k.memcgs:
        for lv in memcg.nodeinfo:
            for lru, lst in enumerate(lv.lists):
                if lv.nr_pages[lru] != len(lst):
                    raise PropertyViolation(
                        "lruvec consistent",
                        f"{lv.name} lru_size[{LRU_NAMES[lru]}] = {lv.nr_pages[lru]} but "
                        f"{len(lst)} page(s) on the list")
                for page in lst.values():
                    owner = page.memcg_data or k.root_mem_cgroup
                    if owner is not memcg:
                        raise PropertyViolation(
                            "lruvec consistent",
                            f"{page.label} is on {lst.name} but charged to {owner.name}: "
                            f"its list is guarded by the wrong lru_lock")
                    if page._refcount == 0 or not page.flags >> 4 & 1:
                        raise PropertyViolation(
                            "lruvec consistent",
                            f"{page.label} is on {lst.name} with refcount {page._refcount}, "
                            f"flags {dump_flags(page)}: a freed or unowned page on an LRU "
                            f"list (use-after-free)")


def page_state(k, page):
    if page is None:
        return {}
    memcg = page.memcg_data.name if page.memcg_data is not None else "-"
    where = page.lru.name if page.lru is not None else "-"
    return {f"{page.label}": f"{memcg} ref={page._refcount} {dump_flags(page)} on {where}"}


class MemcgScenario(Scenario):
    family = "memcg_lru_lock"
    footprints = True
    defaults = {"ncpus": 2, "debug_vm": True}

    def check(self, k):
        check_lruvecs(k)

    def watch(self, k):
        out = {}
        for p in getattr(k, "watched", ()):
            out.update(page_state(k, p))
        return out


# ------------------------------------------------------------ scenarios
def drain_rotate(k):
    """CPU0: lru_add_drain() finds P in this CPU's lru_rotate pagevec (put
    there by rotate_reclaimable_page() at the end of P's writeback) and runs
    pagevec_move_tail -> pagevec_lru_move_fn: Hugh's first stack."""
    yield from k.fn.lru_add_drain()
    yield "lru_add_drain: done"


def move_charge(k, folios):
    """CPU1: the cg-m task migrates to B with move_charge_at_immigrate:
    mem_cgroup_move_charge_pte_range() over its PTEs, then its own
    lru_add pagevec is drained (the putback's pagevec fills up)."""
    moved = yield from k.fn.mem_cgroup_move_charge_pte_range(folios, k.memcg_a, k.memcg_b)
    k.results["moved"] = moved
    yield from k.fn.lru_add_drain()
    yield f"cg m: {moved} page(s) moved to B"


EXPECT_MOVE = {
    "a-pgdat-lock": Expect(SAFE, preemptions=2),
    "b-v11": Expect(BUG, ("BUG",)),
    "b4-writer-lock": Expect(BUG, ("BUG",)),
    "c-test-clear-lru": Expect(SAFE, preemptions=2),
    "c2-folio": Expect(SAFE, preemptions=2),
    "d-lock-recheck": Expect(SAFE, preemptions=2),
    "e-memcg-lock-first": Expect(SAFE, preemptions=2),
}


class MoveChargeVsRotate(MemcgScenario):
    """Race M1 as Hugh hit it (with CONFIG_DEBUG_VM).  P is on A's inactive
    anon list and waits in CPU0's lru_rotate pagevec (holding a reference);
    CPU1 moves P's charge A -> B (isolate, move_account, putback) while
    CPU0's drain relocks by P's memcg.

    Found by the model: under b-v11 CPU0 looks up A's lruvec, CPU1
    isolates P, takes the page lock and move_lock and stores B, and CPU0's
    lock of A's lruvec is followed by lruvec_memcg_debug(): the VM_BUG_ON
    one preemption deep.  b4 (the writer holding A's lruvec lock around the
    store) still fails: CPU0 looked A up before the store and takes A's lock
    after the writer dropped it.  a (one node lock, lookup under it), c/c2
    (whoever wins TestClearPageLRU owns P: the loser skips it), d (recheck
    under the lock, retry on B's lruvec) and e (lock_page_memcg excludes the
    store) are certified."""

    slug = "move-charge-vs-rotate"
    title = "memcg charge move vs LRU rotation (VM_BUG_ON, CONFIG_DEBUG_VM)"
    actors = "CPU0 drains lru_rotate holding P; CPU1 moves P's charge A -> B"
    prop = "no VM_BUG_ON; lruvecs consistent"
    expected = EXPECT_MOVE

    def setup(self, k):
        boot_memcgs(k)
        P = charged_anon_page(k, "P", P_PFN, k.memcg_a)
        _nonatomic_set(P, PG_reclaim)
        queue_in_batch(k, P, 0, "lru_move_tail")
        k.P = P
        k.watched = (P,)
        k.m.spawn("wb", 0, drain_rotate(k))
        k.m.spawn("cg-m", 1, move_charge(k, [P]))


class MoveChargeVsRotateNoDebug(MoveChargeVsRotate):
    """The same race without CONFIG_DEBUG_VM: the harmful order.  The order
    Hugh's VM_BUG_ON caught is harmless by itself (CPU0 holds A's lock, sees
    !PageLRU and skips P); the harm needs CPU1 to finish the putback too:
    P is back on B's list with PG_lru set when CPU0, holding A's lock, moves
    it to A's tail.  Found by the model: under b-v11 (and b4) the
    list_del through A's lruvec fails the list check (DEBUG_LIST: the page
    is on B's list), one preemption deep; with the list check passed, A's
    lru_size would go to -1 (mem_cgroup_update_lru_size's WARN) and P would
    end on A's list charged to B."""

    slug = "move-charge-vs-rotate-nodebug"
    title = "memcg charge move vs LRU rotation, harmful order (no DEBUG_VM)"
    prop = "no list corruption or lru_size underflow; lruvecs consistent"
    defaults = {"ncpus": 2, "debug_vm": False}
    # The safe cells are certified at k<=1: a run without DEBUG_VM is the
    # run with it unless lruvec_memcg_debug() fires, so the k<=2
    # certificates of move-charge-vs-rotate already cover these schedules
    # at k<=2; the harmful order itself is one preemption deep.
    expected = {**{v: (Expect(SAFE, preemptions=1) if e.outcome == SAFE else e)
                   for v, e in EXPECT_MOVE.items()},
                "b-v11": Expect(BUG, ("list-corruption", "property")),
                "b4-writer-lock": Expect(BUG, ("list-corruption", "property"))}


# ---------------------------------------------------------- compaction
def compactor(k):
    """CPU0: async compaction's migration scanner over P's pageblock
    (ISOLATE_ASYNC_MIGRATE: a dirty page is trylocked to check that it
    can migrate without blocking), then the isolated pages go back."""
    cc = compact_control(k.zone, mode=0)
    cc.direct_compaction = True
    yield from k.fn.isolate_migratepages_block(cc, P_PFN, P_PFN + 4, ISOLATE_ASYNC_MIGRATE)
    k.results["isolated"] = [f.label for f in cc.migratepages]
    for folio in cc.migratepages:
        yield from k.fn.folio_putback_lru(folio)
    yield "compaction: done"


def zap(k, folio):
    """CPU1: the owner unmaps P (MADV_DONTNEED / exit): the PTE goes, then
    its reference (tlb_flush_mmu -> release_pages)."""
    k.fn.page_remove_rmap(folio, k.cgm_mm, CGM)
    k.cgm_mm.ptes.pop(CGM, None)
    touch_write(k.m, k.cgm_mm.fpk)
    yield f"zap_pte_range: {folio.label} unmapped"
    yield from k.fn.folios_put([folio])
    yield "zap: done"


class CompactionTrylockBeforeRef(MemcgScenario):
    """Race M2 (Hugh's fix 2 to v11).  P is a dirty anon page on A's list,
    its only reference the mapping; compaction C scans P in async mode while
    the owner F unmaps P and drops that reference.

    Found by the model: with the early v11 order C's trylock_page() lands
    on P after F's put_page_testzero() and before the free: "Bad page
    state" (PG_locked on a page being freed), one preemption deep.  In the
    5.11 order the reference comes first: get_page_unless_zero() fails on
    a freed page, and a page C holds is nobody's to free."""

    slug = "compaction-trylock-before-ref"
    title = "compaction's trylock_page before its reference"
    actors = "CPU0 compaction (async) over P; CPU1 unmaps P and frees it"
    prop = "no bad page; lruvecs consistent"
    expected = {
        "b-v11": Expect(BUG, ("bad-page",)),
        "b4-writer-lock": Expect(BUG, ("bad-page",)),
        "c-test-clear-lru": Expect(SAFE, preemptions=2),
        "c2-folio": Expect(SAFE, preemptions=2),
    }

    def setup(self, k):
        boot_memcgs(k)
        P = charged_anon_page(k, "P", P_PFN, k.memcg_a, dirty=True)
        k.P = P
        k.watched = (P,)
        k.m.spawn("C", 0, compactor(k))
        k.m.spawn("F", 1, zap(k, P))


class FinalPutUnderLruvecLock(MemcgScenario):
    """Race M3 (Hugh's fix 1 to v11).  Another compactor has marked P's
    pageblock for skipping; compaction C takes a reference on P, locks A's
    lruvec and aborts the scan there (test_and_set_skip); meanwhile the
    owner R unmaps P and drops its reference.

    Found by the model: in the early v11 order C's put_page() under A's
    lock is the last one when R's came first; __page_cache_release() then
    takes A's lock again: recursive locking (a self-deadlock), zero
    preemptions deep on the schedule where R runs first.  The 5.11 abort
    unlocks, restores PG_lru, then puts."""

    slug = "final-put-under-lruvec-lock"
    title = "compaction's final put_page under the lruvec lock"
    actors = "CPU0 compaction aborting over P; CPU1 unmaps P"
    prop = "no self-deadlock; lruvecs consistent"
    expected = {
        "b-v11": Expect(BUG, ("lockdep", "deadlock")),
        "b4-writer-lock": Expect(BUG, ("lockdep", "deadlock")),
        "c-test-clear-lru": Expect(SAFE, preemptions=2),
        "c2-folio": Expect(SAFE, preemptions=2),
    }

    def setup(self, k):
        boot_memcgs(k)
        P = charged_anon_page(k, "P", P_PFN, k.memcg_a)
        k.zone.pageblock_skip.add(P_PFN >> k.zone.pageblock_order)
        k.P = P
        k.watched = (P,)
        k.m.spawn("C", 0, compactor(k))
        k.m.spawn("R", 1, zap(k, P))


# ------------------------------------------------------------- putback
def reclaim_putback(k, folio):
    """CPU0: shrink_inactive_list() on A's inactive anon list:
    isolate_lru_pages() under A's lock (get_page_unless_zero,
    TestClearPageLRU, delete), shrink_page_list() keeps the page (it is
    still referenced), then the putback: move_pages_to_lru() under A's
    lock; the pages whose last reference it dropped are freed after the
    unlock."""
    from ..engine.sync import spin_lock_irq, spin_unlock_irq
    from ..mm.mmzone import LRU_INACTIVE_ANON
    lruvec = k.memcg_a.nodeinfo[0]
    folio_list = []
    yield from spin_lock_irq(lruvec.lru_lock)
    nr_taken, _ = k.fn.isolate_lru_folios(32, lruvec, folio_list, LRU_INACTIVE_ANON)
    yield f"isolate_lru_pages: {nr_taken} taken from {lruvec.name}"
    yield from spin_unlock_irq(lruvec.lru_lock)
    if not folio_list:
        return
    yield "shrink_page_list: still referenced, keep"
    yield from spin_lock_irq(lruvec.lru_lock)
    yield from k.fn.move_pages_to_lru(lruvec, folio_list)
    yield from spin_unlock_irq(lruvec.lru_lock)
    for f in folio_list:
        yield from k.fn.free_folio(f)
    yield "shrink_inactive_list: putback done"


class PutbackVsRelease(MemcgScenario):
    """Race M4.  P, unmapped, is on A's inactive list with one reference,
    held by #1 (a pagevec); reclaim (#0) isolates it (taking the isolation
    reference), keeps it and puts it back while #1's release_pages() drops
    the other reference.

    Found by the model: with the reference dropped before SetPageLRU (the
    order the v5.11 comment warns against) #1's put is the last, it sees
    !PageLRU, skips the lruvec lock and frees P while #0 adds it to A's
    list: the free finds P still on A's list (list corruption), or P ends
    freed on A's list (use-after-free), or with PG_lru (bad page); the
    portfolio's schedule 42.  SetPageLRU first (v5.11, and <= v5.10 under
    the node lock): #1 sees PageLRU and waits for the lock, or #0 drops
    the last reference itself."""

    slug = "putback-vs-release"
    title = "reclaim putback vs release_pages"
    actors = "CPU0 reclaim isolates P and puts it back (move_pages_to_lru); CPU1 release_pages drops P's other reference"
    prop = "no page freed while on an LRU list; lruvecs consistent"
    expected = {
        "a-pgdat-lock": Expect(SAFE, preemptions=2),
        "b-v11": Expect(BUG, ("list-corruption", "bad-page", "property")),
        "b4-writer-lock": Expect(BUG, ("list-corruption", "bad-page", "property")),
        "c-test-clear-lru": Expect(SAFE, preemptions=2),
        "c2-folio": Expect(SAFE, preemptions=2),
    }

    def setup(self, k):
        boot_memcgs(k)
        P = charged_anon_page(k, "P", P_PFN, k.memcg_a)
        # unmapped meanwhile: no PTE; its one reference is now #1's
        P._mapcount = -1
        P.mapping = None
        P.pvmw = []
        k.cgm_mm.ptes.pop(CGM, None)
        k.P = P
        k.watched = (P,)
        k.m.spawn("reclaim", 0, reclaim_putback(k, P))
        k.m.spawn("release", 1, release(k, P))


def release(k, folio):
    yield from k.fn.folios_put([folio])
    yield "release_pages: done"


# --------------------------------------------------------------- munlock
def munlock(k, folios):
    """CPU0: munlock() of the range: __munlock_pagevec() over P1 and P2,
    each with the pagevec's reference (taken by __munlock_pagevec_fill, at
    setup)."""
    yield from k.fn.__munlock_pagevec(folios)
    yield "munlock: done"


def zap_mlocked(k, folio, index):
    """CPU1: another thread of the process unmaps P2 (MADV_DONTNEED):
    page_remove_rmap() -> clear_page_mlock() under lock_page_memcg()."""
    yield from k.fn.page_remove_rmap_mlocked(folio, k.cgm_mm, CGM + index * 4096)
    yield "zap: done"


class MunlockLockOrder(MemcgScenario):
    """Hugh's v18 review: v17's __munlock_pagevec() takes lock_page_memcg()
    for the second page while still holding the lruvec lock of the first,
    the reverse of page_remove_rmap()'s move_lock -> lru_lock.  P1 and P2
    are mlocked pages of A on A's unevictable list; CPU0 munlocks both while
    CPU1 unmaps P2.

    Found by the model: under e lockdep reports the cycle on every
    schedule -- CPU0 establishes move_lock -> lru_lock itself on P1 (lock
    held over the relock) and the reverse on P2 -- but only while a charge
    move is under way (``moving_account`` > 0): otherwise
    lock_page_memcg() takes no lock, which is why it needed systemd's
    munlock at reboot under memcg moving to show.  5.11 (TestClearPageLRU,
    no memcg lock in munlock) and <= 5.10 (the node lock): no cycle."""

    slug = "munlock-lock-order"
    title = "v17 munlock: lock_page_memcg inside the lru_lock"
    actors = "CPU0 munlocks P1, P2; CPU1 unmaps P2 (page_remove_rmap -> clear_page_mlock)"
    prop = "no lockdep splat, no deadlock; lruvecs consistent"
    expected = {
        "a-pgdat-lock": Expect(SAFE, preemptions=2),
        "c-test-clear-lru": Expect(SAFE, preemptions=2),
        "e-memcg-lock-first": Expect(BUG, ("lockdep", "deadlock")),
    }

    def setup(self, k):
        boot_memcgs(k)
        P1 = charged_anon_page(k, "P1", P_PFN, k.memcg_a, mlocked=True)
        P2 = charged_anon_page(k, "P2", P_PFN + 1, k.memcg_a, index=1, mlocked=True)
        k.watched = (P1, P2)
        for f in (P1, P2):
            f._refcount += 1        # the munlock pagevec's (__munlock_pagevec_fill)
        k.m.spawn("munlock", 0, munlock(k, [P1, P2]))
        k.m.spawn("zap", 1, zap_mlocked(k, P2, 1))


FAMILY = Family(
    name="memcg_lru_lock",
    title="per-memcg lru_lock: lruvec locking vs memcg charge moves",
    seed="004_af3e61d481365817.txt",
    variants=VARIANTS,
    era="v5.11",
    scenarios=[MoveChargeVsRotate(), MoveChargeVsRotateNoDebug(),
               CompactionTrylockBeforeRef(), FinalPutUnderLruvecLock(),
               PutbackVsRelease(), MunlockLockOrder()],
)
