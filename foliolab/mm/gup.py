"""Long-term GUP pins: mm/gup.c as in v6.10 (the gup_longterm family's era).

Era: v6.2 - v6.10 structure of __gup_longterm_locked() (Alistair Popple's
67e139b02d99 refactor; a migration failure is fatal since Pavel Tatashin's
v5.13 series).  The v5.12 era never calls these functions.

A FOLL_LONGTERM pin of a range (VFIO's vaddr_get_pfns, pKVM, iommufd ...)
must not leave a folio in a CMA pageblock or ZONE_MOVABLE pinned: such a
folio is migrated away first, with PF_MEMALLOC_PIN set so that the new
copies do not land in CMA again:

    __gup_longterm_locked():
        memalloc_pin_save()
        do:
            pin every page (FOLL_PIN: +GUP_PIN_COUNTING_BIAS on a small folio;
                           FOLL_TOUCH: folio_mark_accessed on each)
            check_and_migrate_movable_pages():
                collect_longterm_unpinnable_folios()   <- pins still held
                nothing collected: done, keep the pins
                migrate_longterm_unpinnable_folios():
                    unpin everything; migrate_pages(MR_LONGTERM_PIN);
                    failure -> -ENOMEM (fatal); success -> -EAGAIN
        while -EAGAIN                                   (re-pin, re-check)
        memalloc_pin_restore()

collect_longterm_unpinnable_folios() is where the per-CPU batches come in
(G0, since 9a4e9f3b2d73, v5.1): a folio without PG_lru may sit in an
lru_add batch, so the first such folio triggers one lru_add_drain_all().  A
folio that waits in an activate, deactivate, lazyfree, move_tail or mlock
batch has PG_lru *set*: no drain, and migrate_pages() fails on the batch's
reference all 10 passes -> the pin fails with -ENOMEM ("VM fails to start").

Model names follow v6.11 (collect_/migrate_longterm_unpinnable_folios); the
v6.10 era's name table shows the v6.10 names (..._pages).  Not modelled:
hugetlb and device-coherent folios, FOLL_FAST_ONLY, the fast path
(gup_fast), VMAs other than one anonymous mapping per address.
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from .errno import EAGAIN, ENOMEM
from .page import (
    GUP_PIN_COUNTING_BIAS, _rmw, folio_mapcount, folio_nr_pages,
    folio_put_testzero, folio_test_large, page_fp_read, page_fp_write,
)

FOLL_WRITE = 0x01
FOLL_TOUCH = 0x02
FOLL_GET = 0x04
FOLL_PIN = 0x40000
FOLL_LONGTERM = 0x100


def gup_init(k):
    # PF_MEMALLOC_PIN of the tasks inside memalloc_pin_save(): tid -> depth
    k.pf_memalloc_pin = {}


def memalloc_pin_save(k):
    """memalloc_pin_save(): PF_MEMALLOC_PIN on the current task; its
    allocations drop __GFP_MOVABLE (current_gfp_context), so migration
    targets never come from CMA or ZONE_MOVABLE."""
    tid = k.m.current.tid
    k.pf_memalloc_pin[tid] = k.pf_memalloc_pin.get(tid, 0) + 1


def memalloc_pin_restore(k):
    tid = k.m.current.tid
    k.pf_memalloc_pin[tid] -= 1


def current_memalloc_pin(k):
    t = k.m.current
    return t is not None and k.pf_memalloc_pin.get(t.tid, 0) > 0


# ------------------------------------------------------------- references
@kfunc
def try_grab_folio(k, folio, refs, flags):
    """try_grab_folio() (v6.10): FOLL_GET takes ``refs`` references;
    FOLL_PIN on a small folio adds refs * GUP_PIN_COUNTING_BIAS (1024) to
    the refcount, on a large folio refs to the refcount and refs to
    _pincount.  One atomic add: visible to every CPU at once."""
    _rmw(folio)
    if folio._refcount <= 0:
        raise KernelBug(f"kernel BUG: try_grab_folio of a free folio {folio.label}")
    if flags & FOLL_PIN:
        if folio_test_large(folio):
            folio._refcount += refs
            folio._pincount += refs
        else:
            folio._refcount += refs * GUP_PIN_COUNTING_BIAS
        k.count_vm_event("nr_foll_pin_acquired", refs)
    else:
        folio._refcount += refs
    return True


@kfunc
def gup_put_folio(k, folio, refs, flags):
    """gup_put_folio() (v6.10): undo try_grab_folio()."""
    if flags & FOLL_PIN:
        k.count_vm_event("nr_foll_pin_released", refs)
        if folio_test_large(folio):
            page_fp_write(folio)
            folio._pincount -= refs
        else:
            refs *= GUP_PIN_COUNTING_BIAS
    _rmw(folio)
    if folio._refcount < refs:
        raise KernelBug(f"kernel BUG: gup_put_folio underflow on {folio.label}")
    folio._refcount -= refs - 1
    # the last of the references through the normal put (it may free)
    if folio_put_testzero(folio):
        yield f"unpin_user_page: {folio.label} last reference"
        yield from k.fn.__folio_put(folio)
    else:
        yield f"unpin_user_page: {folio.label} unpinned (ref {folio._refcount})"


@kfunc
def unpin_user_page(k, folio):
    """unpin_user_page() (v6.10)."""
    yield from k.fn.gup_put_folio(folio, 1, FOLL_PIN)


def folio_maybe_dma_pinned(folio):
    """folio_maybe_dma_pinned() (v6.10): a small folio counts pins through
    the bias, so it is a heuristic (1024 plain references look like a pin)."""
    page_fp_read(folio)
    if folio.order:
        return folio._pincount > 0
    return folio._refcount >= GUP_PIN_COUNTING_BIAS


# ------------------------------------------------------------ pinnability
@kfunc
def folio_is_longterm_pinnable(k, folio):
    """folio_is_longterm_pinnable() (include/linux/mm.h, v6.10): not in a
    CMA pageblock (is_migrate_cma_page) and not in ZONE_MOVABLE (the model
    has one zone, ZONE_NORMAL).  Device-coherent, secretmem and hugetlb
    cases are not modelled."""
    from .mmzone import MIGRATE_CMA
    from .page_alloc import get_pageblock_migratetype
    return get_pageblock_migratetype(folio) != MIGRATE_CMA


@kfunc
def folio_expected_ref_count(k, folio):
    """folio_expected_ref_count() (86ebd50224c0, v6.16; GUP uses it from
    98c6d259319e): the references a folio has from its page-cache or
    swap-cache slots, PG_private and its mappings -- never a batch's, an
    isolation's or a pin's.  Anon folios here are not in the swap cache."""
    from .page import folio_test_anon, folio_test_private
    page_fp_read(folio)
    if folio_test_anon(folio):
        ref = 0
    else:
        ref = folio_nr_pages(folio) if folio.mapping is not None else 0
        ref += 1 if folio_test_private(folio) else 0
    return ref + folio_mapcount(folio)


# ------------------------------------------------------------ page walk
@kfunc
def follow_page_pte(k, mm, address, flags):
    """follow_page_pte() (v6.10) under the PTE lock: a present PTE gives its
    folio, grabbed with try_grab_folio(); FOLL_TOUCH marks it accessed
    (mark_page_accessed: the second access of an inactive folio queues it
    on this CPU's activate batch).  Returns (folio, None), (None,
    "migration", src) for a migration entry, or (None, "none") for an empty
    PTE."""
    from .memory import pte_offset_map_lock, pte_unmap_unlock
    yield from pte_offset_map_lock(k, mm)
    touch_read(k.m, mm.fpk)
    pte = mm.ptes.get(address)
    if pte is None:
        yield from pte_unmap_unlock(k, mm)
        return None, "none", None
    if pte[0] == "migration":
        yield from pte_unmap_unlock(k, mm)
        return None, "migration", pte[1]
    folio = pte[1]
    k.fn.try_grab_folio(folio, 1, flags)
    yield (f"follow_page_pte: {mm.name} 0x{address:x} -> {folio.label}, "
           f"{'pinned' if flags & FOLL_PIN else 'got'} (ref {folio._refcount})")
    if flags & FOLL_TOUCH:
        yield from k.fn.folio_mark_accessed(folio)
    yield from pte_unmap_unlock(k, mm)
    return folio, "present", None


@kfunc
def __get_user_pages_locked(k, mm, addresses, flags):
    """__get_user_pages() as __get_user_pages_locked() (v6.10) runs it: for
    every address, follow the PTE; an empty one is faulted in
    (handle_mm_fault -> do_anonymous_page), a migration entry is waited on
    (migration_entry_wait_on_locked: sleep until the source folio is
    unlocked), then the walk retries the address.  Returns the folios, one
    per address, each grabbed per ``flags``."""
    from .filemap import folio_wait_locked
    pages = []
    for addr in addresses:
        while True:
            folio, what, src = yield from k.fn.follow_page_pte(mm, addr, flags)
            if folio is not None:
                pages.append(folio)
                break
            if what == "migration":
                # folio_wait_locked(): PG_waiters, queue, sleep until unlocked
                yield from folio_wait_locked(k, src,
                                             f"migration_entry_wait_on_locked({src.label})")
                yield f"__get_user_pages: {mm.name} 0x{addr:x} migration done, retry"
                continue
            ret = yield from k.fn.do_anonymous_page(mm, addr)
            if ret:
                return -ENOMEM
    return pages


# ---------------------------------------------------- long-term pinning
def collect_longterm_unpinnable_folios_body(k, movable_list, pages, drain_step):
    """The loop of collect_longterm_unpinnable_folios(), shared by the
    variants that change only its drain: ``drain_step(k, folio, drained)``
    (a generator) drains if its rule says so and returns the new drain
    state (0 = nothing drained yet)."""
    from .vmscan import node_stat_mod_isolated
    collected = 0
    drained = 0
    prev = None
    for folio in pages:
        if folio is prev:
            continue
        prev = folio
        if k.fn.folio_is_longterm_pinnable(folio):
            continue
        collected += 1
        drained = yield from drain_step(k, folio, drained)
        if not (yield from k.fn.folio_isolate_lru(folio)):
            continue
        movable_list.append(folio)
        node_stat_mod_isolated(k, folio, 1)
    return collected


def do_collect_longterm_unpinnable_folios(k, folio, drained):
    """G0's drain rule (9a4e9f3b2d73, v5.1 - v6.16): the first folio without
    PG_lru may be in an lru_add batch: drain all CPUs, once."""
    from .page import folio_test_lru
    if not drained and not folio_test_lru(folio):
        yield f"collect_longterm_unpinnable_folios: {folio.label} PG_lru clear, drain all"
        yield from k.fn.lru_add_drain_all()
        return 2
    return drained


@kfunc
def collect_longterm_unpinnable_folios(k, movable_list, pages):
    """collect_longterm_unpinnable_folios() (v6.11 name;
    collect_longterm_unpinnable_pages in v6.2 - v6.10), pins still held.
    Every distinct folio that may not be pinned long-term is counted; the
    first one found without PG_lru triggers one lru_add_drain_all() (G0:
    "it may be in an lru_add batch"); then it is isolated onto
    ``movable_list`` if PG_lru can be taken, and skipped otherwise (still
    counted: the caller then unpins everything and retries).  Returns the
    number collected."""
    return (yield from collect_longterm_unpinnable_folios_body(
        k, movable_list, pages, do_collect_longterm_unpinnable_folios))


@kfunc
def migrate_longterm_unpinnable_folios(k, movable_list, pages):
    """migrate_longterm_unpinnable_folios() (v6.11 name;
    migrate_longterm_unpinnable_pages v6.2 - v6.10): drop every pin, then
    migrate the collected folios with PF_MEMALLOC_PIN targets (GFP_USER, no
    __GFP_MOVABLE).  A migration failure puts them back and fails the pin
    with -ENOMEM (since v5.13); success returns -EAGAIN: the caller pins the
    range again and re-checks."""
    from .migrate import MIGRATE_SYNC, MR_LONGTERM_PIN, migration_target_control
    from .page_alloc import GFP_USER, __GFP_NOWARN
    for folio in pages:
        yield from k.fn.unpin_user_page(folio)
    if movable_list:
        mtc = migration_target_control(GFP_USER | __GFP_NOWARN)
        ret = yield from k.fn.migrate_pages(movable_list, k.fn.alloc_migration_target, None,
                                            mtc, MIGRATE_SYNC, MR_LONGTERM_PIN)
        if ret:
            k.gup_results.append(("migrate_pages failed", ret))
            yield from k.fn.putback_movable_pages(movable_list)
            yield f"migrate_longterm_unpinnable_folios: migrate_pages failed ({ret}) -> -ENOMEM"
            return -ENOMEM
    yield from k.fn.putback_movable_pages(movable_list)
    return -EAGAIN


@kfunc
def check_and_migrate_movable_pages(k, pages):
    """check_and_migrate_movable_pages() (v6.2 - v6.10): 0 when every folio
    may stay pinned (the pins are kept), -EAGAIN after a successful
    migration (pins dropped: retry), another -errno on failure (pins
    dropped)."""
    movable_list = []
    collected = yield from k.fn.collect_longterm_unpinnable_folios(movable_list, pages)
    if not collected:
        return 0
    return (yield from k.fn.migrate_longterm_unpinnable_folios(movable_list, pages))


@kfunc
def __gup_longterm_locked(k, mm, addresses, flags):
    """__gup_longterm_locked() (v6.2 - v6.10): pin, check, and pin again
    after every successful migration, with PF_MEMALLOC_PIN set throughout.
    Returns the pinned folios or -errno."""
    # No try/finally: the kernel has no exceptions, and a run the search
    # abandons half-way is closed by the garbage collector later, when a
    # finally clause would run against a dead kernel (another task current).
    memalloc_pin_save(k)
    rounds = 0
    while True:
        rounds += 1
        pages = yield from k.fn.__get_user_pages_locked(mm, addresses, flags)
        if isinstance(pages, int):
            rc = pages
            break
        rc = yield from k.fn.check_and_migrate_movable_pages(pages)
        if rc != -EAGAIN:
            break
        yield f"__gup_longterm_locked: -EAGAIN, pin again (round {rounds + 1})"
    memalloc_pin_restore(k)
    k.gup_rounds.append(rounds)
    return rc if rc else pages


@kfunc
def pin_user_pages_remote(k, mm, addresses, flags):
    """pin_user_pages_remote() (v6.10): FOLL_PIN | FOLL_TOUCH |
    FOLL_LONGTERM (as VFIO's vaddr_get_pfns asks for it) through
    __gup_longterm_locked().  Returns the pinned folios or -errno."""
    return (yield from k.fn.__gup_longterm_locked(mm, addresses, flags | FOLL_PIN | FOLL_TOUCH))


def gup_results_init(k):
    k.gup_results = []
    k.gup_rounds = []


def folio_pinned_in_cma(k, folio):
    """The oracle's view: a pin held on a folio in a CMA pageblock."""
    from .mmzone import MIGRATE_CMA
    from .page_alloc import get_pageblock_migratetype
    return (folio_maybe_dma_pinned(folio)
            and get_pageblock_migratetype(folio) == MIGRATE_CMA)


__all__ = ["FOLL_WRITE", "FOLL_TOUCH", "FOLL_GET", "FOLL_PIN", "FOLL_LONGTERM",
           "memalloc_pin_save", "memalloc_pin_restore", "current_memalloc_pin",
           "folio_maybe_dma_pinned"]


# ------------------------------------- the v5.12 walk of a THP's range
# (the thp_split family, v5.12 era: get_user_pages() and follow_page() of
# an address of a PMD-mapped or splitting THP)
FOLL_MIGRATION = 0x400    # wait for the page that replaces a migration entry


@kfunc
def follow_page_mask(k, mm, address, flags):
    """follow_page_mask() -> follow_pmd_mask() -> follow_trans_huge_pmd() /
    follow_page_pte() (v5.12) of an address in a THP's range, FOLL_GET,
    under the PMD/PTE lock: a PMD mapping or a present PTE gives the page
    with a reference (get_page: on the head while compound); a migration
    entry gives nothing -- unless FOLL_MIGRATION (KSM's break_ksm()), which
    unlocks, migration_entry_wait()s and retries *inside*
    follow_page_pte(): no scheduling point on that loop."""
    from ..engine.livelock import spin_loop_enter, spin_loop_head
    from ..engine.sync import spin_lock, spin_unlock
    from .huge_memory import PAGE_SIZE, get_page
    from .x86_fault import translate
    m = k.m
    token = spin_loop_enter(m)
    ptl = mm.page_table_lock
    while True:
        spin_loop_head(m, "follow_page_pte(FOLL_MIGRATION) retry", (token, address))
        yield from spin_lock(ptl)
        pte = translate(k, mm, address)
        if pte is not None and pte[0] in ("pmd", "present"):
            page = pte[1]
            if pte[0] == "pmd":
                page = k.pfn_to_page(page.pfn + (address & ((1 << 21) - 1)) // PAGE_SIZE)
            get_page(page)
            yield f"follow_page_pte: 0x{address:x} -> {page.label}, get_page"
            yield from spin_unlock(ptl)
            return page
        yield from spin_unlock(ptl)
        if pte is None or pte[0] != "migration" or not flags & FOLL_MIGRATION:
            return None
        yield from k.fn.migration_entry_wait(mm, address)


@kfunc
def __get_user_pages(k, mm, address, flags):
    """__get_user_pages() (v5.12) of one page: retry: cond_resched(),
    follow_page_mask(); no page: faultin_page() -> handle_mm_fault(); it
    returned 0: retry.  GUP's retry has its scheduling point (Hugh: "I see
    there is already a cond_resched() there")."""
    from ..engine.livelock import spin_loop_enter, spin_loop_head
    from ..engine.sync import cond_resched
    m = k.m
    token = spin_loop_enter(m)
    while True:
        spin_loop_head(m, "__get_user_pages retry", (token, address))
        yield from cond_resched(m)
        page = yield from k.fn.follow_page_mask(mm, address, flags)
        if page is not None:
            return page
        yield f"__get_user_pages: faultin_page(0x{address:x})"
        yield from k.fn.handle_mm_fault(mm, address)
