"""Page faults and unmapping: mm/memory.c (v5.12).

Reduced to order-0 pages of one mm with one VMA per kind of memory: the
caller names the address (and, for a file fault, the mapping and the page
index), so there is no VMA lookup, no page-table allocation, no mmap_lock
and no TLB flushing.  A PTE is ``mm.ptes[address]`` (mm/rmap.py); it is
installed and cleared under the mm's ``page_table_lock`` (the PTE lock), and
rechecked under it, as the kernel does.

PTE accessed/dirty bits are not modelled: every present PTE counts as
young.  Hence zap_pte_range() marks every file folio it unmaps accessed, and
reclaim treats every mapping as a recent reference (mm/vmscan.py).

Return values: 0, or the VM_FAULT_* bits of include/linux/mm_types.h.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.sync import spin_lock, spin_unlock
from .page import (
    PG_uptodate, _nonatomic_set, folio_mapcount, folio_test_anon, page_fp_read,
    page_fp_write,
)
from .page_alloc import GFP_HIGHUSER_MOVABLE, __GFP_ZERO

VM_FAULT_OOM = 0x0001
VM_FAULT_NOPAGE = 0x0100
VM_FAULT_LOCKED = 0x0200


def pte_offset_map_lock(k, mm):
    """pte_offset_map_lock(): take the PTE lock of the page table."""
    yield from spin_lock(mm.page_table_lock)


def pte_unmap_unlock(k, mm):
    yield from spin_unlock(mm.page_table_lock)


def pte_none(k, mm, address):
    touch_read(k.m, mm.fpk)
    return address not in mm.ptes


def set_pte_at(k, mm, address, folio):
    touch_write(k.m, mm.fpk)
    mm.ptes[address] = ("present", folio)


@kfunc
def alloc_zeroed_user_highpage_movable(k, mm, address):
    """alloc_zeroed_user_highpage_movable() (v5.12; alloc_page_vma without a
    mempolicy): GFP_HIGHUSER_MOVABLE | __GFP_ZERO, so ALLOC_CMA applies and
    the page may come from a CMA pageblock.  Zeroing is not modelled."""
    return (yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0))


@kfunc
def do_anonymous_page(k, mm, address):
    """do_anonymous_page() (v5.12) of a write fault on an anonymous VMA:
    allocate a zeroed movable folio, then under the PTE lock recheck that the
    PTE is still empty, make the folio anon (page_add_new_anon_rmap: mapcount
    1, mapping = the anon_vma), queue it on this CPU's lru_add batch and set
    the PTE.  The allocation's reference becomes the mapping's; the batch
    takes its own.  If another thread mapped the address first, the new
    folio is released.  No memcg charge, no userfaultfd, no zero page (the
    read-fault case)."""
    yield from _anon_vma_prepare(k, mm)
    folio = yield from k.fn.alloc_zeroed_user_highpage_movable(mm, address)
    if folio is None:
        yield f"do_anonymous_page: {mm.name} 0x{address:x}: no memory"
        return VM_FAULT_OOM
    _nonatomic_set(folio, PG_uptodate)        # __SetPageUptodate: the folio is ours alone
    yield from pte_offset_map_lock(k, mm)
    if not pte_none(k, mm, address):
        yield f"do_anonymous_page: {mm.name} 0x{address:x} mapped meanwhile, release {folio.label}"
        yield from k.fn.folio_put(folio)
        yield from pte_unmap_unlock(k, mm)
        return 0
    # nobody can reach the folio before it is queued: the rmap and the
    # batch's reference are one step
    k.fn.page_add_new_anon_rmap(folio, mm, address)
    yield from k.fn.lru_cache_add_inactive_or_unevictable(folio)
    set_pte_at(k, mm, address, folio)
    yield f"do_anonymous_page: set_pte_at {mm.name} 0x{address:x} -> {folio.label}"
    yield from pte_unmap_unlock(k, mm)
    return 0


def _anon_vma_prepare(k, mm):
    """The anon_vma_prepare() call of do_anonymous_page(): first fault of the
    mm installs the anon_vma under the page_table_lock."""
    from .rmap import anon_vma_prepare
    touch_read(k.m, mm.fpk)
    if mm.anon_vma is not None:
        return mm.anon_vma
    yield from spin_lock(mm.page_table_lock)
    av = anon_vma_prepare(k, mm)
    yield from spin_unlock(mm.page_table_lock)
    return av


@kfunc
def do_set_pte(k, mm, address, folio):
    """do_set_pte() (v5.12) of a read fault on a file page: add the file
    rmap and set the PTE (PTE lock held).  The fault's reference becomes the
    mapping's."""
    k.fn.page_add_file_rmap(folio, mm, address)
    set_pte_at(k, mm, address, folio)


@kfunc
def finish_fault(k, mm, address, folio):
    """finish_fault() (v5.12): under the PTE lock, map ``folio`` unless the
    PTE was filled meanwhile (then VM_FAULT_NOPAGE)."""
    yield from pte_offset_map_lock(k, mm)
    if pte_none(k, mm, address):
        k.fn.do_set_pte(mm, address, folio)
        ret = 0
        yield f"finish_fault: {folio.label} mapped at {mm.name} 0x{address:x}"
    else:
        ret = VM_FAULT_NOPAGE
        yield f"finish_fault: {mm.name} 0x{address:x} already mapped"
    yield from pte_unmap_unlock(k, mm)
    return ret


@kfunc
def do_read_fault(k, mm, address, mapping, index):
    """do_read_fault() (v5.12) without fault-around (filemap_map_pages is
    not modelled): __do_fault() -> filemap_fault() returns the folio locked
    with a reference, finish_fault() maps it, then unlock; the reference is
    dropped if the folio was not mapped.  Returns 0, VM_FAULT_NOPAGE (raced
    with another fault of the same address) or VM_FAULT_OOM."""
    folio = yield from k.fn.filemap_fault(mapping, index)
    if folio is None:
        return VM_FAULT_OOM
    ret = yield from k.fn.finish_fault(mm, address, folio)
    yield from k.fn.folio_unlock(folio)
    if ret:
        yield from k.fn.folio_put(folio)
    return ret


@kfunc
def zap_pte_range(k, mm, address):
    """zap_pte_range() (v5.12) of one PTE (munmap, exit, MADV_DONTNEED):
    under the PTE lock clear it, mark a file folio accessed (its PTE counts
    as young), drop the mapcount (page_remove_rmap); after the lock the
    mmu_gather frees the mapping's reference (tlb_finish_mmu ->
    release_pages -> folios_put).  A migration entry is just cleared: the
    migration already dropped the mapcount and the reference.  A file folio
    stays in the page cache, whose reference it still has.  Returns True if
    a present PTE was zapped."""
    yield from pte_offset_map_lock(k, mm)
    touch_write(k.m, mm.fpk)
    pte = mm.ptes.pop(address, None)
    if pte is None:
        yield f"zap_pte_range: {mm.name} 0x{address:x} none"
        yield from pte_unmap_unlock(k, mm)
        return False
    kind, folio = pte
    if kind != "present":
        page_fp_read(folio)
        if (mm, address) in folio.pvmw:
            page_fp_write(folio)
            folio.pvmw = [e for e in folio.pvmw if e != (mm, address)]
        yield f"zap_pte_range: {mm.name} 0x{address:x} {kind} entry of {folio.label} cleared"
        yield from pte_unmap_unlock(k, mm)
        return False
    if not folio_test_anon(folio):
        yield f"zap_pte_range: {mm.name} 0x{address:x} PTE of {folio.label} cleared"
        yield from k.fn.folio_mark_accessed(folio)
    k.fn.page_remove_rmap(folio, mm, address)
    yield (f"zap_pte_range: {mm.name} 0x{address:x} unmapped {folio.label} "
           f"(mapcount {folio_mapcount(folio)})")
    yield from pte_unmap_unlock(k, mm)
    yield from k.fn.folios_put([folio])
    return True


def setup_anon_folio(k, mm, address, folio):
    """Boot-time helper: ``folio`` (refcount 1 from its allocation) is an anon
    folio mapped at ``address`` in ``mm`` and owned by that mapping (put it on
    an LRU with mm_inline.setup_lru_folio)."""
    from .page import PG_swapbacked
    from .rmap import anon_vma_prepare, linear_page_index
    av = anon_vma_prepare(k, mm)
    folio.flags |= (1 << PG_swapbacked) | (1 << PG_uptodate)
    folio._mapcount = 0
    folio.mapping = av
    folio.index = linear_page_index(address)
    folio.pvmw = [(mm, address)]
    mm.ptes[address] = ("present", folio)
