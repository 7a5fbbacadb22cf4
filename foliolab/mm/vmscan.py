"""LRU isolation, putback and reclaim: mm/vmscan.c (v5.11 - v6.x rules;
reclaim as in v5.12).

Since v5.11 PG_lru is the ownership token: whoever test-and-clears it owns
the folio's LRU linkage.  A folio that is not PG_lru is in an lru_add batch,
isolated by somebody else, or being freed -- folio_isolate_lru() fails.

Reclaim (shrink_inactive_list and below) is reduced: see the comment above
it.  kswapd itself is not modelled; a task that calls set_current_kswapd()
counts as kswapd in the vmstat counters.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug, KernelFailure
from ..engine.sync import lockdep_assert_held, spin_lock_irq, spin_unlock_irq
from .mmzone import LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, ListHead
from .page import (
    folio_get, folio_nr_pages, folio_test_active, folio_test_clear_lru,
    folio_test_lru, page_fp_read,
)


@kfunc
def folio_isolate_lru(k, folio):
    """folio_isolate_lru() (v6.x; isolate_lru_page v5.x): the caller holds a
    reference; on success the folio is off its LRU and we hold the isolation
    reference.  Returns True on success (v5.x returned 0 / -EBUSY)."""
    page_fp_read(folio)
    if folio._refcount == 0:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_ref_count(folio)) in folio_isolate_lru: {folio.label}")
    if not folio_test_clear_lru(folio):
        yield f"folio_isolate_lru: {folio.label} PG_lru clear, not isolated"
        return False
    folio_get(folio)
    yield f"folio_isolate_lru: {folio.label} PG_lru cleared, get (ref {folio._refcount})"
    lruvec = yield from k.fn.folio_lruvec_lock_irqsave(folio)
    k.fn.lruvec_del_folio(lruvec, folio)
    yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    return True


@kfunc
def folio_putback_lru(k, folio):
    """folio_putback_lru() (putback_lru_page): back through this CPU's lru_add
    batch (PG_lru stays clear until that batch is drained), then drop the
    isolation reference."""
    yield from k.fn.folio_add_lru(folio)
    yield from k.fn.folio_put(folio)


def node_stat_mod_isolated(k, folio, delta):
    """mod_node_page_state(NR_ISOLATED_ANON/FILE)."""
    item = "NR_ISOLATED_FILE" if k.fn.folio_is_file_lru(folio) else "NR_ISOLATED_ANON"
    touch_write(k.m, k.pgdat.fpk)
    k.pgdat.vm_stat[item] = k.pgdat.vm_stat.get(item, 0) + delta * folio_nr_pages(folio)


# ================================================================ reclaim
# Reclaim of the inactive lists (v5.12 shrink_inactive_list and
# shrink_page_list), reduced: no swap (anon folios that still need it are
# activated), no writeback (dirty or writeback folios are put back), no
# try_to_unmap (every mapped folio counts as referenced, below), no memcg
# or cgroup reclaim, no workingset shadow entries, no throttling
# (congestion_wait, too_many_isolated), order-0 folios only.

PAGEREF_RECLAIM, PAGEREF_RECLAIM_CLEAN, PAGEREF_KEEP, PAGEREF_ACTIVATE = range(4)


def vmscan_init(k):
    # PF_KSWAPD of the tasks that are kswapd (current_is_kswapd): tid -> 1
    k.pf_kswapd = {}


def set_current_kswapd(k):
    """kswapd()'s ``tsk->flags |= PF_KSWAPD``: the current task reclaims as
    kswapd from now on (vmstat counts its scans as pgscan_kswapd)."""
    k.pf_kswapd[k.m.current.tid] = 1


def current_is_kswapd(k):
    return bool(k.pf_kswapd.get(k.m.current.tid))


@kfunc
def isolate_lru_folios(k, nr_to_scan, lruvec, dst, lru):
    """isolate_lru_folios() (isolate_lru_pages v5.12), with the lruvec's
    lru_lock held: take folios from the tail of list ``lru`` onto ``dst``
    until ``nr_to_scan`` have been scanned.  A folio is taken only with a
    reference (get_page_unless_zero: it is not being freed) and by the
    caller who wins TestClearPageLRU; a folio without PG_lru (a batch drain
    or another isolator owns it) or on its way to be freed is rotated to the
    head of the list.  Returns (nr_taken, nr_scanned); NR_ISOLATED is the
    caller's."""
    from .mmzone import list_add, list_del
    from .page import folio_put_testzero, folio_try_get
    lockdep_assert_held(lruvec.lru_lock)
    src = lruvec.lists[lru]
    nr_taken = nr_scanned = 0
    touch_read(k.m, lruvec.fpk)
    while nr_scanned < nr_to_scan and src:
        folio = src.last()
        nr = folio_nr_pages(folio)
        nr_scanned += nr
        # __isolate_lru_page_prepare(): only LRU folios (reclaim isolates
        # unevictable ones never: they are not on this list)
        if folio_test_lru(folio) and folio_try_get(folio):
            if folio_test_clear_lru(folio):
                k.fn.lruvec_del_folio(lruvec, folio)
                dst.append(folio)
                nr_taken += nr
                continue
            # somebody else is isolating it: never our reference that was the last
            if folio_put_testzero(folio):
                raise KernelBug(f"kernel BUG: isolate_lru_folios dropped the last "
                                f"reference of {folio.label}")
        list_del(src, folio)            # busy: list_move() to the head
        list_add(src, folio)
    return nr_taken, nr_scanned


def _isolated_stat(k, is_file, delta):
    item = "NR_ISOLATED_FILE" if is_file else "NR_ISOLATED_ANON"
    touch_write(k.m, k.pgdat.fpk)
    k.pgdat.vm_stat[item] = k.pgdat.vm_stat.get(item, 0) + delta


@kfunc
def folio_check_references(k, folio):
    """folio_check_references() (page_check_references v5.12).  PTE young
    bits are not modelled: page_referenced() counts every mapping as a
    recent reference.  So a mapped folio is kept with PG_referenced set, and
    activated if it was referenced before or is mapped more than once; an
    unmapped one is reclaimed (clean only, if PG_referenced was set).  No
    VM_LOCKED or VM_EXEC mappings."""
    from .page import folio_mapcount, folio_set_referenced, folio_test_swapbacked
    referenced_ptes = folio_mapcount(folio)
    referenced_folio = _test_clear_referenced(folio)
    if referenced_ptes:
        folio_set_referenced(folio)
        if referenced_folio or referenced_ptes > 1:
            return PAGEREF_ACTIVATE
        return PAGEREF_KEEP
    if referenced_folio and not folio_test_swapbacked(folio):
        return PAGEREF_RECLAIM_CLEAN
    return PAGEREF_RECLAIM


def _test_clear_referenced(folio):
    from .page import PG_referenced, _test_and_clear
    return _test_and_clear(folio, PG_referenced)


@kfunc
def __remove_mapping(k, mapping, folio, reclaimed):
    """__remove_mapping() (v5.12): under xa_lock, freeze the refcount at
    what an isolated, unmapped cache folio has -- the isolation reference
    plus the cache's, one per page -- and take the folio out of the cache.
    Any other reference (a per-CPU LRU batch, a lookup in progress, a
    mapping) makes the freeze fail: the folio stays.  A dirty folio is
    unfrozen and stays.  Returns True when the folio left the cache with
    refcount 0 (the caller frees it)."""
    from .filemap import folio_test_locked
    from .page import folio_ref_freeze, folio_ref_unfreeze, folio_test_dirty
    if not folio_test_locked(folio):
        raise KernelBug(f"kernel BUG: BUG_ON(!PageLocked(page)) in __remove_mapping: {folio.label}")
    yield from spin_lock_irq(mapping.xa_lock)
    refcount = 1 + folio_nr_pages(folio)
    if not folio_ref_freeze(folio, refcount):
        yield (f"__remove_mapping: {folio.label} refcount {folio._refcount} != {refcount}, "
               f"cannot free")
        yield from spin_unlock_irq(mapping.xa_lock)
        return False
    if folio_test_dirty(folio):
        folio_ref_unfreeze(folio, refcount)
        yield f"__remove_mapping: {folio.label} dirty, cannot free"
        yield from spin_unlock_irq(mapping.xa_lock)
        return False
    k.fn.__filemap_remove_folio(folio)
    yield f"__remove_mapping: {folio.label} frozen and removed from {mapping.host}"
    yield from spin_unlock_irq(mapping.xa_lock)
    return True


@kfunc
def shrink_folio_list(k, folio_list, pgdat):
    """shrink_folio_list() (shrink_page_list v5.12) of isolated folios.
    Each is trylocked (busy: put back), then judged by
    folio_check_references(); a folio to reclaim must be clean, not under
    writeback, unmapped and not swap-backed: a cache folio leaves its
    mapping with __remove_mapping(), a lazily freed anon folio needs its
    refcount frozen at 1.  Reclaimed folios are freed at the end; the rest
    are left in ``folio_list`` (activated ones with PG_active set) for the
    caller to put back.  Returns the number of pages reclaimed."""
    from .filemap import folio_trylock
    from .page import (
        PG_locked, _nonatomic_clear, folio_mapped, folio_ref_freeze,
        folio_ref_unfreeze, folio_set_active, folio_test_anon, folio_test_dirty,
        folio_test_mlocked, folio_test_swapbacked, folio_test_writeback,
    )
    ret_folios = []
    free_folios = []
    nr_reclaimed = 0
    pgactivate = 0
    for folio in folio_list:
        nr = folio_nr_pages(folio)
        if not folio_trylock(folio):
            yield f"shrink_folio_list: {folio.label} locked, kept"
            ret_folios.append(folio)
            continue
        yield f"shrink_folio_list: trylock {folio.label}"
        if folio_test_active(folio):
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageActive(page)) in shrink_page_list: "
                            f"{folio.label}")
        activate = keep = False
        if folio_test_writeback(folio) or folio_test_dirty(folio):
            keep = True                       # no writeback in the model
        else:
            references = k.fn.folio_check_references(folio)
            if references == PAGEREF_ACTIVATE:
                activate = True
            elif references == PAGEREF_KEEP:
                keep = True
            elif folio_test_anon(folio) and folio_test_swapbacked(folio):
                activate = True               # add_to_swap() fails: no swap
            elif folio_mapped(folio):
                activate = True               # try_to_unmap() is not modelled
        if not activate and not keep:
            page_fp_read(folio)
            if folio_test_anon(folio):
                # MADV_FREE'd and clean: ours is the only reference left
                if folio_ref_freeze(folio, 1):
                    if folio_test_dirty(folio):
                        folio_ref_unfreeze(folio, 1)
                        keep = True
                    else:
                        k.count_vm_event("pglazyfreed", nr)
                        yield f"shrink_folio_list: lazyfree {folio.label} frozen"
                else:
                    keep = True
                    yield f"shrink_folio_list: lazyfree {folio.label} busy (ref {folio._refcount})"
            elif folio.mapping is None or not (
                    yield from k.fn.__remove_mapping(folio.mapping, folio, True)):
                keep = True
            if not keep:
                # refcount frozen at 0: nobody can look, plain bitops do
                _nonatomic_clear(folio, PG_locked)
                nr_reclaimed += nr
                free_folios.append(folio)
                continue
        if activate and not folio_test_mlocked(folio):
            folio_set_active(folio)
            pgactivate += nr
        yield from k.fn.folio_unlock(folio)
        ret_folios.append(folio)
    for folio in free_folios:
        yield from k.fn.free_folio(folio)
    folio_list[:] = ret_folios
    k.count_vm_event("pgactivate", pgactivate)
    return nr_reclaimed


@kfunc
def move_folios_to_lru(k, lruvec, folio_list):
    """move_folios_to_lru() (move_pages_to_lru v5.12), lru_lock held: put
    every folio back on its LRU with PG_lru set and drop the isolation
    reference; a folio whose last reference that was leaves without its LRU
    flags and is returned for freeing after the unlock.  (No unevictable
    folios: they would go through folio_putback_lru.)"""
    from .page import PG_active, PG_lru, _nonatomic_clear, folio_put_testzero, folio_set_lru
    lockdep_assert_held(lruvec.lru_lock)
    to_free = []
    nr_moved = 0
    for folio in folio_list:
        if folio_test_lru(folio):
            raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageLRU(page)) in move_pages_to_lru: "
                            f"{folio.label}")
        folio_set_lru(folio)
        if folio_put_testzero(folio):
            _nonatomic_clear(folio, PG_lru)
            _nonatomic_clear(folio, PG_active)
            to_free.append(folio)
            continue
        k.fn.lruvec_add_folio(lruvec, folio)
        nr_moved += folio_nr_pages(folio)
    folio_list[:] = to_free
    return nr_moved


@kfunc
def shrink_inactive_list(k, lruvec, nr_to_scan, is_file):
    """shrink_inactive_list() (v5.12) of one lruvec's inactive file (or
    anon) list: drain this CPU's LRU batches, isolate up to ``nr_to_scan``
    folios from the tail under the lru_lock, reclaim what can be reclaimed
    (shrink_folio_list), put the rest back under the lock and free the
    folios whose last reference went meanwhile.  vmstat: pgscan_kswapd or
    pgscan_direct (current_is_kswapd) and pgscan_file/anon for the scanned
    pages, pgsteal_* for the reclaimed ones.  Returns the number of pages
    reclaimed.  No swap and no writeback: see the comment above."""
    lru = LRU_INACTIVE_FILE if is_file else LRU_INACTIVE_ANON
    kind = "file" if is_file else "anon"
    yield from k.fn.lru_add_drain()
    folio_list = []
    yield from spin_lock_irq(lruvec.lru_lock)
    nr_taken, nr_scanned = k.fn.isolate_lru_folios(nr_to_scan, lruvec, folio_list, lru)
    _isolated_stat(k, is_file, nr_taken)
    kswapd = current_is_kswapd(k)
    k.count_vm_event("pgscan_kswapd" if kswapd else "pgscan_direct", nr_scanned)
    k.count_vm_event(f"pgscan_{kind}", nr_scanned)
    yield (f"shrink_inactive_list: isolated {nr_taken} of {nr_scanned} scanned from "
           f"{lruvec.lists[lru].name}")
    yield from spin_unlock_irq(lruvec.lru_lock)
    if not nr_taken:
        return 0
    nr_reclaimed = yield from k.fn.shrink_folio_list(folio_list, lruvec.pgdat)
    yield from spin_lock_irq(lruvec.lru_lock)
    k.fn.move_folios_to_lru(lruvec, folio_list)
    _isolated_stat(k, is_file, -nr_taken)
    k.count_vm_event("pgsteal_kswapd" if kswapd else "pgsteal_direct", nr_reclaimed)
    k.count_vm_event(f"pgsteal_{kind}", nr_reclaimed)
    yield f"shrink_inactive_list: {nr_reclaimed} reclaimed, the rest put back"
    yield from spin_unlock_irq(lruvec.lru_lock)
    for folio in folio_list:           # free_unref_page_list() of the last puts
        yield from k.fn.free_folio(folio)
    return nr_reclaimed


# ============================================================ MGLRU (v6.1+)
# The multi-gen LRU's eviction side as in v6.10 (Yu Zhao's series,
# ac35a4902374 "mm: multi-gen LRU: minimal implementation", v6.1), reduced
# to what the gup_longterm family needs: one lruvec, one type (the model
# keeps a single min_seq), no tiers/refs, no aging (max_seq is fixed by the
# scenario), no page-table walks.  Only the v6.10 era reaches it, through
# the era-mglru patch, and only when the scenario sets k.lru_gen_enabled.
#
# Generations are lists of folios; a folio's generation is ``folio.lru_gen``
# (the LRU_GEN_MASK bits of folio->flags, minus one; -1 when on no
# generation list).  lru_lock protects the lists, min_seq and max_seq.

MAX_NR_GENS = 4
MIN_NR_GENS = 2
MIN_LRU_BATCH = 64                  # BITS_PER_LONG
MAX_LRU_BATCH = MIN_LRU_BATCH * 64


class NoReclaimProgress(KernelFailure):
    """Reclaim scanned but could neither isolate nor age anything: the
    kernel would go on to OOM (Chris Li's "OOM on swap stress", Sep 2024)."""

    kind = "no-reclaim-progress"


class lru_gen_folio:
    """struct lru_gen_folio of the root lruvec (reduced: one type, one zone)."""

    def __init__(self, lv, min_seq=0, max_seq=3):
        self.lruvec = lv
        self.fpk = lv.fpk                   # protected by the same lru_lock
        self.min_seq = min_seq
        self.max_seq = max_seq
        self.folios = [ListHead(f"{lv.name}.gen{g}", lv.fpk) for g in range(MAX_NR_GENS)]

    def __repr__(self):
        return f"lrugen(min_seq={self.min_seq}, max_seq={self.max_seq})"


def lru_gen_from_seq(seq):
    return seq % MAX_NR_GENS


def lru_gen_init(k, lv, min_seq=0, max_seq=3):
    """Boot-time: give ``lv`` generation lists (lru_gen_init_lruvec)."""
    lv.lrugen = lru_gen_folio(lv, min_seq, max_seq)
    k.lru_gen_enabled = True
    return lv.lrugen


def _lrugen(lv):
    return getattr(lv, "lrugen", None)


def folio_lru_gen(folio):
    page_fp_read(folio)
    return getattr(folio, "lru_gen", -1)


def _set_lru_gen(folio, gen):
    from .page import page_fp_write
    page_fp_write(folio)
    folio.lru_gen = gen


@kfunc
def lru_gen_add_folio(k, lruvec, folio, reclaiming):
    """lru_gen_add_folio() (v6.10, mm_inline.h), lru_lock held: an active
    folio joins the youngest generation, any other the oldest -- at the
    tail when ``reclaiming`` (folio_rotate_reclaimable), else the head.
    Returns False when the folio belongs on the classic lists."""
    from .mmzone import list_add
    lrugen = _lrugen(lruvec)
    if lrugen is None or not getattr(k, "lru_gen_enabled", False) or folio_test_unevictable_(folio):
        return False
    touch_read(k.m, lrugen.fpk)
    seq = lrugen.max_seq if folio_test_active(folio) else lrugen.min_seq
    gen = lru_gen_from_seq(seq)
    from .page import folio_clear_active
    folio_clear_active(folio)
    _set_lru_gen(folio, gen)
    lst = lrugen.folios[gen]
    if reclaiming:
        from .mmzone import list_add_tail
        list_add_tail(lst, folio)
    else:
        list_add(lst, folio)
    return True


def folio_test_unevictable_(folio):
    from .page import folio_test_unevictable
    return folio_test_unevictable(folio)


@kfunc
def lru_gen_del_folio(k, lruvec, folio, reclaiming):
    """lru_gen_del_folio() (v6.10), lru_lock held: off its generation list.
    Returns False when the folio is on no generation list."""
    from .mmzone import list_del
    gen = folio_lru_gen(folio)
    lrugen = _lrugen(lruvec)
    if gen < 0 or lrugen is None:
        return False
    list_del(lrugen.folios[gen], folio)
    _set_lru_gen(folio, -1)
    return True


def folio_inc_gen(k, lruvec, folio):
    """folio_inc_gen() (v6.10): one generation younger (bounded by
    max_seq), moved to the tail of that generation's list."""
    from .mmzone import list_add_tail, list_del
    lrugen = _lrugen(lruvec)
    old = folio_lru_gen(folio)
    new_seq = min(lrugen.min_seq + 1, lrugen.max_seq)
    gen = lru_gen_from_seq(new_seq)
    list_del(lrugen.folios[old], folio)
    _set_lru_gen(folio, gen)
    list_add_tail(lrugen.folios[gen], folio)
    return gen


@kfunc
def sort_folio(k, lruvec, folio):
    """sort_folio() (v6.1 - v6.10, reduced): handle a folio that needs no
    isolation -- promoted (its generation is not the oldest any more) or
    ineligible/waiting for writeback (moved one generation up).  A folio
    without PG_lru is not looked at here: isolate_folio() then fails on it
    and scan_folios() puts it back into the *same* generation."""
    from .mmzone import list_add
    lrugen = _lrugen(lruvec)
    gen = folio_lru_gen(folio)
    if gen != lru_gen_from_seq(lrugen.min_seq):
        return True                                   # promoted
    from .page import folio_test_dirty, folio_test_locked, folio_test_writeback
    if folio_test_locked(folio) or folio_test_writeback(folio):
        folio_inc_gen(k, lruvec, folio)
        return True
    return False


@kfunc
def isolate_folio(k, lruvec, folio):
    """isolate_folio() (v6.10): a reference (folio_try_get) and PG_lru
    (folio_test_clear_lru); off the generation list."""
    from .page import folio_put_testzero, folio_try_get
    if not folio_try_get(folio):
        return False
    if not folio_test_clear_lru(folio):
        if folio_put_testzero(folio):
            raise KernelBug(f"kernel BUG: isolate_folio dropped the last reference of {folio.label}")
        return False
    k.fn.lru_gen_del_folio(lruvec, folio, True)
    return True


@kfunc
def scan_folios(k, lruvec, isolated_list, nr_to_scan):
    """scan_folios() (v6.1 - v6.10, one type and zone), lru_lock held:
    walk the oldest generation from its tail.  Each folio is sorted
    (sort_folio), isolated (isolate_folio) or skipped -- moved aside and
    spliced back into the same generation at the end.  Stops when the list
    is empty, ``nr_to_scan`` folios were seen, or max(isolated, skipped)
    reaches MIN_LRU_BATCH.  Returns (scanned, sorted, skipped folios)."""
    from .mmzone import list_add, list_del
    lockdep_assert_held(lruvec.lru_lock)
    lrugen = _lrugen(lruvec)
    touch_read(k.m, lrugen.fpk)
    head = lrugen.folios[lru_gen_from_seq(lrugen.min_seq)]
    moved = []
    scanned = sorted_ = isolated = 0
    remaining = nr_to_scan
    while head:
        folio = head.last()
        delta = folio_nr_pages(folio)
        scanned += delta
        if k.fn.sort_folio(lruvec, folio):
            sorted_ += delta
            yield f"scan_folios: {folio.label} sorted (moved to a younger generation)"
        elif k.fn.isolate_folio(lruvec, folio):
            isolated_list.append(folio)
            isolated += delta
            yield f"scan_folios: {folio.label} isolated"
        else:
            list_del(head, folio)
            moved.append(folio)
            yield f"scan_folios: {folio.label} skipped (PG_lru clear)"
        remaining -= 1
        if not remaining or max(isolated, len(moved)) >= MIN_LRU_BATCH:
            break
    for folio in reversed(moved):         # list_splice(&moved, head)
        from .mmzone import list_add_tail
        list_add_tail(head, folio)
    if moved:
        k.count_vm_event("pgscan_skip", len(moved))
    return scanned, sorted_, moved


@kfunc
def try_to_inc_min_seq(k, lruvec):
    """try_to_inc_min_seq() (v6.10, reduced): the oldest generation is
    empty and MIN_NR_GENS would remain: age it out."""
    lrugen = _lrugen(lruvec)
    touch_read(k.m, lrugen.fpk)
    if lrugen.folios[lru_gen_from_seq(lrugen.min_seq)]:
        return False
    if lrugen.min_seq + MIN_NR_GENS > lrugen.max_seq:
        return False
    touch_write(k.m, lrugen.fpk)
    lrugen.min_seq += 1
    return True


@kfunc
def evict_folios(k, lruvec, nr_to_scan):
    """evict_folios() (v6.10, reduced): scan the oldest generation under
    lru_lock, try to age it out, then hand the isolated folios to reclaim.
    shrink_folio_list() is not run: the folios go straight back to their
    lists (the scenario asks only whether reclaim made progress: took a
    folio or retired a generation).  Returns (isolated, aged, skipped)."""
    isolated = []
    yield from spin_lock_irq(lruvec.lru_lock)
    scanned, sorted_, skipped = yield from k.fn.scan_folios(lruvec, isolated, nr_to_scan)
    aged = k.fn.try_to_inc_min_seq(lruvec)
    yield (f"evict_folios: scanned {scanned}, isolated {len(isolated)}, sorted {sorted_}, "
           f"skipped {len(skipped)}{', min_seq +1' if aged else ''}")
    if isolated:
        from .page import folio_put_testzero, folio_set_lru
        for folio in isolated:
            k.fn.lruvec_add_folio(lruvec, folio)
            folio_set_lru(folio)
            if folio_put_testzero(folio):
                raise KernelBug(f"kernel BUG: evict_folios put the last reference of {folio.label}")
    yield from spin_unlock_irq(lruvec.lru_lock)
    return len(isolated), aged, skipped


@kfunc
def lru_gen_shrink_lruvec(k, lruvec, rounds=2):
    """try_to_shrink_lruvec() for MGLRU (v6.10, reduced to ``rounds``
    evict_folios() passes).  No progress in any pass -- nothing isolated,
    no generation retired -- is the OOM path: NoReclaimProgress names the
    scan and the folios it could not take."""
    stuck = []
    for _ in range(rounds):
        isolated, aged, skipped = yield from k.fn.evict_folios(lruvec, MAX_LRU_BATCH)
        if isolated or aged:
            return True
        stuck = skipped
    from .swap import folio_in_cpu_batches
    why = []
    for folio in stuck:
        where = folio_in_cpu_batches(k, folio)
        w = ", ".join(f"queued on cpu{c}'s cpu_fbatches.{b}" for c, b in where) or "off its LRU"
        why.append(f"{folio.label} (PG_lru clear, {w})")
    raise NoReclaimProgress(
        f"no reclaim progress: {rounds} x evict_folios -> scan_folios of the oldest generation "
        f"isolated nothing and it cannot age out; could not take: {'; '.join(why) or 'nothing to scan'}")
