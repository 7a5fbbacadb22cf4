"""MADV_COLD and MADV_FREE: mm/madvise.c (v5.12).

Reduced to a list of page addresses of one mm (the caller has found the
VMA; no mmap_lock, no THP splitting, no TLB gather).  Both walk the PTEs
under the mm's PTE lock, as the kernel's page walk does per page table, and
feed the per-CPU LRU batches of mm/swap.py, whose drains do the list moves
later: right after madvise() returns, the folios still wait in this CPU's
lru_deactivate or lru_lazyfree batch, each holding a reference.

Both start with lru_add_drain(): folios this CPU faulted in recently sit in
its lru_add batch with PG_lru clear and would be skipped.
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import kfunc
from .errno import EINVAL
from .filemap import folio_trylock
from .memory import pte_offset_map_lock, pte_unmap_unlock
from .page import (
    PG_dirty, _clear, folio_clear_referenced, folio_mapcount, folio_test_anon,
    folio_test_dirty, folio_test_lru,
)

# include/uapi/asm-generic/mman-common.h
MADV_FREE = 8
MADV_COLD = 20


def _present_folio(k, mm, address):
    """vm_normal_page() of the PTE at ``address``: the folio a present PTE
    maps, else None (empty, or a migration entry)."""
    touch_read(k.m, mm.fpk)
    pte = mm.ptes.get(address)
    if pte is None or pte[0] != "present":
        return None
    return pte[1]


@kfunc
def madvise_cold_or_pageout_pte_range(k, mm, addresses):
    """madvise_cold_or_pageout_pte_range() (v5.12) for MADV_COLD (pageout is
    not modelled): under the PTE lock, every folio mapped only here and on
    an LRU loses PG_referenced and is queued for deactivation
    (folio_deactivate: only an active folio is queued).  Shared or
    batch-resident folios are left alone, as in the kernel.  Clearing the
    PTE's young bit is not modelled (mm/memory.py)."""
    yield from pte_offset_map_lock(k, mm)
    for address in addresses:
        folio = _present_folio(k, mm, address)
        if folio is None:
            continue
        if not folio_test_lru(folio) or folio_mapcount(folio) != 1:
            yield f"madvise_cold: {folio.label} not an LRU folio mapped once, skipped"
            continue
        folio_clear_referenced(folio)
        yield from k.fn.folio_deactivate(folio)
    yield from pte_unmap_unlock(k, mm)


@kfunc
def madvise_cold(k, mm, addresses):
    """madvise_cold() (v5.12): drain this CPU's batches, then walk."""
    yield from k.fn.lru_add_drain()
    yield from k.fn.madvise_cold_or_pageout_pte_range(mm, addresses)
    return 0


@kfunc
def madvise_free_pte_range(k, mm, addresses):
    """madvise_free_pte_range() (v5.12): under the PTE lock, every anon
    folio mapped here is queued for lazy freeing (folio_mark_lazyfree: an
    LRU, swap-backed anon folio goes to the lru_lazyfree batch; the drain
    clears PG_swapbacked and moves it to the inactive file list).  A dirty
    folio mapped only here is cleaned under its lock first; a shared dirty
    one is skipped.  No swap entries, no swap cache; making the PTE old and
    clean is not modelled (mm/memory.py)."""
    yield from pte_offset_map_lock(k, mm)
    for address in addresses:
        folio = _present_folio(k, mm, address)
        if folio is None:
            continue
        if not folio_test_anon(folio):
            continue        # not in an anonymous VMA: the caller's mistake
        if folio_test_dirty(folio):
            if not folio_trylock(folio):
                yield f"madvise_free: {folio.label} dirty and locked, skipped"
                continue
            if folio_mapcount(folio) != 1:
                yield from k.fn.folio_unlock(folio)
                continue
            _clear(folio, PG_dirty)
            yield from k.fn.folio_unlock(folio)
        yield from k.fn.folio_mark_lazyfree(folio)
    yield from pte_unmap_unlock(k, mm)


@kfunc
def madvise_free_single_vma(k, mm, addresses):
    """madvise_free_single_vma() (v5.12): drain this CPU's batches, then
    walk.  The addresses must belong to an anonymous VMA (the kernel returns
    -EINVAL for any other before walking); file folios are skipped."""
    yield from k.fn.lru_add_drain()
    yield from k.fn.madvise_free_pte_range(mm, addresses)
    return 0


@kfunc
def do_madvise(k, mm, addresses, behavior):
    """do_madvise() (v5.12) reduced to MADV_COLD and MADV_FREE over the
    given page addresses of one VMA.  Returns 0 or -EINVAL."""
    if behavior == MADV_COLD:
        return (yield from k.fn.madvise_cold(mm, addresses))
    if behavior == MADV_FREE:
        return (yield from k.fn.madvise_free_single_vma(mm, addresses))
    return -EINVAL
