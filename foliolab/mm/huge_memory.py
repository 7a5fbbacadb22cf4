"""Transparent huge pages: mm/huge_memory.c (v5.12, unchanged in this
respect through v5.17), with the compound-page helpers of
include/linux/mm.h and include/linux/page_ref.h.

A THP is a compound folio: the head page carries PG_head, the order, the
reference count and (while PMD-mapped) the compound mapcount; every tail
page points at the head (``compound_head``) and keeps ``_refcount`` 0 for
the life of the compound page.  get_page()/put_page() of a tail go to the
head; get_page_unless_zero() does not: it is an add-unless-zero on the
struct page it is given, so it always fails on a tail.

**Size.**  A real x86-64 THP has 512 subpages (HPAGE_PMD_NR).  The model's
THP has ``1 << thp_order`` subpages (a setting, 4 by default): one head and
a few tails.  Nothing in the split depends on the number beyond "one head,
at least one tail": every tail behaves alike, the split's per-tail loop and
remap walk only get longer (more steps in the frozen, irq-disabled window,
where no other CPU can observe an intermediate state that matters).

**Page table.**  ``mm.pmds[haddr]`` is ``("pmd", head)`` while the THP is
PMD-mapped; split_huge_pmd_address() replaces it with one PTE per subpage
in ``mm.ptes`` (mm/rmap.py's table): ``("migration", subpage)`` with freeze,
``("present", subpage)`` after remap.  The PMD lock and the PTE lock of the
page table are the mm's ``page_table_lock`` (split PMD/PTE locks would be
one lock each here anyway: one PMD, one page table).  The THP's anon_vma
lock is ``thp.anon_vma_rwsem``, taken for write by the splitter only (no
reader in the model), so a sleeping mutex models it.

**Reverse map.**  ``thp.vmas``: the (mm, haddr) pairs mapping the THP, one
per VMA on the anon_vma's interval tree.  rmap_walk_anon() calls
cond_resched() before each.

Not modelled: the LRU (the THP and its tails are on no LRU list, so
lru_add_page_tail() has nothing to do; the lruvec lock is still taken),
memcg, the swap cache, file THPs, the deferred split queue's list (its lock
is taken), mlocked THPs, PTE-mapped THPs at the start.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug, VM_BUG_ON
from ..engine.sync import (
    cond_resched, local_irq_disable, local_irq_enable, mutex, mutex_lock, mutex_unlock,
    spin_lock, spin_unlock, spinlock_t,
)
from .errno import EBUSY
from .page import (
    PG_active, PG_dirty, PG_head, PG_locked, PG_referenced, PG_swapbacked, PG_uptodate,
    _nonatomic_clear, _nonatomic_set, _rmw, folio_test_locked, page_fp_read, page_fp_write,
)
from .rmap import PAGE_SHIFT

PAGE_SIZE = 1 << PAGE_SHIFT
# the flags __split_huge_page_tail() copies from the head (those the model has)
TAIL_FLAGS = ((1 << PG_referenced) | (1 << PG_swapbacked) | (1 << PG_locked)
              | (1 << PG_uptodate) | (1 << PG_active) | (1 << PG_dirty))


class thp_t:
    """One THP and what the split needs to find it (boot-time state)."""

    def __init__(self, k, head, nr, vmas):
        self.head = head
        self.nr = nr
        self.vmas = list(vmas)                  # [(mm, haddr)]: the anon_vma's VMAs
        m = k.m
        self.anon_vma_rwsem = mutex(m, "anon_vma->rwsem")
        self.split_queue_lock = spinlock_t(m, "ds_queue->split_queue_lock",
                                           "&ds_queue->split_queue_lock")
        self.lru_lock = spinlock_t(m, "lruvec->lru_lock", "&lruvec->lru_lock")
        self.compound_mapcount = 0              # PMD mappings of the head
        self.fpk = m.new_key()                  # compound_mapcount

    def subpage(self, i):
        return self.head.k.pfn_to_page(self.head.pfn + i)

    def subpages(self):
        return [self.subpage(i) for i in range(self.nr)]


def setup_thp_pmd_mapped(k, pfn, order, vmas, *, name="H"):
    """Boot-time helper: an anonymous THP of ``1 << order`` subpages at
    ``pfn``, PMD-mapped at each (mm, haddr) of ``vmas``: refcount 1 per
    mapping, compound mapcount 1 per mapping, tails at refcount 0."""
    from .page_alloc import GFP_TRANSHUGE, setup_alloc_page_at
    head = setup_alloc_page_at(k, pfn, order, GFP_TRANSHUGE, name=name)
    _nonatomic_set(head, PG_swapbacked)
    _nonatomic_set(head, PG_uptodate)
    nr = 1 << order
    thp = thp_t(k, head, nr, vmas)
    for i in range(1, nr):
        tail = thp.subpage(i)
        tail.name = f"{name}+{i}"
    head._refcount = 0
    for mm, haddr in vmas:
        if not hasattr(mm, "pmds"):
            mm.pmds = {}
        mm.pmds[haddr] = ("pmd", head)
        head._refcount += 1
        thp.compound_mapcount += 1
        head.mapping = mm.anon_vma or mm
    return thp


# ----------------------------------------------------------- compound pages
def compound_head(page):
    """compound_head(): the head page of a tail, the page itself otherwise."""
    page_fp_read(page)
    return page.compound_head or page


def PageTail(page):
    page_fp_read(page)
    return page.compound_head is not None


def PageTransHuge(page):
    """PageTransHuge() of a head page: still compound."""
    page_fp_read(page)
    return bool(page.flags >> PG_head & 1)


def get_page_unless_zero(page):
    """get_page_unless_zero() (page_ref_add_unless(page, 1, 0)): an atomic
    add on *this* struct page's _refcount unless it is 0.  No compound_head():
    on a tail it always fails."""
    _rmw(page)
    if page._refcount == 0:
        return False
    page._refcount += 1
    return True


def get_page(page):
    """get_page(): a reference on the compound head (caller holds one)."""
    head = compound_head(page)
    _rmw(head)
    if head._refcount <= 0:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(page_ref_zero_or_close_to_overflow) "
                        f"on {head.label}")
    head._refcount += 1


def put_page_ref(page):
    """put_page() of a reference that is never the last (the callers here
    know someone else holds the page): the decrement on the head."""
    head = compound_head(page)
    _rmw(head)
    if head._refcount <= 1:
        raise KernelBug(f"kernel BUG: put_page of {head.label} would free it "
                        f"(refcount {head._refcount}) in a path that holds no last reference")
    head._refcount -= 1


def total_mapcount(k, thp):
    """total_mapcount(head): PMD mappings plus the subpages' PTE mappings."""
    touch_read(k.m, thp.fpk)
    n = thp.compound_mapcount
    for p in thp.subpages():
        page_fp_read(p)
        n += p._mapcount + 1
    return n


# --------------------------------------------------------------- PMD split
@kfunc
def __split_huge_pmd_locked(k, thp, mm, haddr, freeze):
    """__split_huge_pmd_locked() (v5.12), PMD lock held: replace the PMD by
    a page table of one PTE per subpage.  With ``freeze`` each PTE is a
    migration entry for head + i, and the PMD mapping's reference and
    mapcount are dropped (the mapcount moved to the subpages and was
    removed again by page_remove_rmap(); the nr - 1 extra references taken
    for them were put again).  Without ``freeze`` each PTE maps its
    subpage."""
    head = thp.head
    touch_write(k.m, mm.fpk)
    touch_write(k.m, thp.fpk)
    del mm.pmds[haddr]
    thp.compound_mapcount -= 1
    for i in range(thp.nr):
        sub = thp.subpage(i)
        page_fp_write(sub)
        addr = haddr + i * PAGE_SIZE
        if freeze:
            mm.ptes[addr] = ("migration", sub)
        else:
            mm.ptes[addr] = ("present", sub)
            sub._mapcount += 1
    page_fp_write(head)
    if freeze:
        head._refcount -= 1            # the PMD mapping's reference
    else:
        head._refcount += thp.nr - 1   # one per PTE mapping
    what = "migration entries" if freeze else "PTEs"
    return f"__split_huge_pmd_locked: PMD of {head.label} -> {thp.nr} {what} (ref {head._refcount})"


@kfunc
def split_huge_pmd_address(k, thp, mm, haddr, freeze):
    """split_huge_pmd_address() -> __split_huge_pmd() (v5.12): under the PMD
    lock, split the PMD mapping ``haddr`` if it still maps the THP."""
    ptl = mm.page_table_lock
    yield from spin_lock(ptl)
    touch_read(k.m, mm.fpk)
    pmd = getattr(mm, "pmds", {}).get(haddr)
    if pmd is not None and pmd[1] is thp.head:
        yield k.fn.__split_huge_pmd_locked(thp, mm, haddr, freeze)
    yield from spin_unlock(ptl)


# ------------------------------------------------------------------- split
@kfunc
def can_split_huge_page(k, thp, extra_pins):
    """can_split_huge_page() (v5.12): the racy precheck, total_mapcount ==
    page_count - extra_pins - 1 (the caller's pin)."""
    head = thp.head
    page_fp_read(head)
    return total_mapcount(k, thp) == head._refcount - extra_pins - 1


@kfunc
def unmap_page(k, thp):
    """unmap_page() (v5.12): try_to_unmap(TTU_SPLIT_HUGE_PMD | TTU_SPLIT_FREEZE
    | TTU_RMAP_LOCKED ...) -> rmap_walk_anon(): for each VMA on the
    anon_vma, cond_resched(), then split its PMD with freeze=true (every
    subpage of it becomes a migration entry).  The splitter can give up its
    CPU at each cond_resched() even under PREEMPT_NONE."""
    for mm, haddr in thp.vmas:
        yield from cond_resched(k.m)
        yield from k.fn.split_huge_pmd_address(thp, mm, haddr, True)
    if total_mapcount(k, thp):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(!unmap_success) {thp.head.label}")


def _remove_migration_ptes_walk(k, thp, page, mm, haddr):
    """remove_migration_pte() of one VMA, PTE lock held: map every migration
    entry for ``page`` (the whole compound page while it is one) back.  A
    PTE of a compound page is a get_page() on the head and a mapcount on
    the subpage."""
    touch_write(k.m, mm.fpk)
    n = 0
    for i in range(thp.nr):
        addr = haddr + i * PAGE_SIZE
        pte = mm.ptes.get(addr)
        if pte is None or pte[0] != "migration":
            continue
        sub = pte[1]
        if sub is not page and compound_head(sub) is not page:
            continue
        mm.ptes[addr] = ("present", sub)
        get_page(sub)
        page_fp_write(sub)
        sub._mapcount += 1
        n += 1
    return n


@kfunc
def remove_migration_ptes_locked(k, thp, page):
    """remove_migration_ptes(page, page, true) (v5.12): an rmap walk (the
    anon_vma lock is held: rmap_walk_locked) that restores the migration
    entries for ``page``; cond_resched() before each VMA."""
    for mm, haddr in thp.vmas:
        yield from cond_resched(k.m)
        yield from spin_lock(mm.page_table_lock)
        n = _remove_migration_ptes_walk(k, thp, page, mm, haddr)
        yield f"remove_migration_ptes: {n} migration entries of {page.label} -> PTEs"
        yield from spin_unlock(mm.page_table_lock)


@kfunc
def remap_page(k, thp, nr):
    """remap_page() (v5.12): a still-compound page (the split failed) is
    remapped by one walk; after a split, each subpage by its own."""
    head = thp.head
    if PageTransHuge(head):
        yield from k.fn.remove_migration_ptes_locked(thp, head)
    else:
        for i in range(nr):
            yield from k.fn.remove_migration_ptes_locked(thp, thp.subpage(i))


@kfunc
def __split_huge_page_tail(k, thp, i):
    """__split_huge_page_tail() (v5.12): copy the head's flags (PG_locked
    included: every tail comes out locked), clear the tail's compound_head,
    then unfreeze its refcount to 1 (anon, not in the swap cache)."""
    head = thp.head
    tail = thp.subpage(i)
    page_fp_read(head)
    page_fp_write(tail)
    VM_BUG_ON(tail._mapcount != -1, f"VM_BUG_ON_PAGE(mapcount != -1) {tail.label}")
    tail.flags = (tail.flags & ~TAIL_FLAGS) | (head.flags & TAIL_FLAGS)
    tail.mapping = head.mapping
    tail.index = head.index + i
    tail.compound_head = None
    tail._refcount = 1
    return f"__split_huge_page_tail: {tail.label} split off (ref 1, locked)"


@kfunc
def __split_huge_page(k, thp, page):
    """__split_huge_page() (v5.12), irqs disabled, refcount frozen: under
    the lruvec lock split the tails off from the last to the first, clear
    PG_head, give the head the caller's reference back; then irqs on,
    remap_page() and unlock and put every subpage except ``page``."""
    head = thp.head
    yield from spin_lock(thp.lru_lock)
    for i in range(thp.nr - 1, 0, -1):
        yield k.fn.__split_huge_page_tail(thp, i)
    page_fp_write(head)
    _nonatomic_clear(head, PG_head)
    head.order = 0
    head._refcount += 1            # page_ref_inc(head): the caller's pin
    yield f"__split_huge_page: ClearPageCompound({head.label}), page_ref_inc (ref {head._refcount})"
    yield from spin_unlock(thp.lru_lock)
    yield from local_irq_enable(k.m)
    yield from k.fn.remap_page(thp, thp.nr)
    for i in range(thp.nr):
        sub = thp.subpage(i)
        if sub is page:
            continue
        yield from k.fn.folio_unlock(sub)
        yield from k.fn.folio_put(sub)


@kfunc
def split_huge_page_to_list(k, page, list_=None):
    """split_huge_page_to_list() (v5.12) of an anonymous THP.  The caller
    holds a reference and the page lock of the head.

    1. anon_vma_lock_write(), held to the end;
    2. the racy can_split_huge_page() (extra_pins 0: not in the swap cache);
    3. unmap_page(): every mapping becomes migration entries (cond_resched
       per VMA);
    4. irqs off, split_queue_lock, page_ref_freeze(head, 1): fails if
       anyone holds a reference besides the caller;
    5. success: __split_huge_page();
    6. failure: unlock, irqs on, remap_page() (cond_resched per VMA), -EBUSY.
    """
    m = k.m
    thp = k.thp
    head = compound_head(page)
    if not folio_test_locked(head):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(!PageLocked(head)) {head.label}")
    yield from mutex_lock(thp.anon_vma_rwsem)          # anon_vma_lock_write()
    extra_pins = 0
    ok = k.fn.can_split_huge_page(thp, extra_pins)
    yield (f"can_split_huge_page({head.label}): {'yes' if ok else 'no'} "
           f"(refcount {head._refcount})")
    if not ok:
        ret = -EBUSY
    else:
        yield from k.fn.unmap_page(thp)
        local_irq_disable(m)
        yield from spin_lock(thp.split_queue_lock)
        mapcount = total_mapcount(k, thp)
        _rmw(head)
        frozen = not mapcount and head._refcount == 1 + extra_pins
        if frozen:
            head._refcount = 0
            yield f"page_ref_freeze({head.label}, {1 + extra_pins}): frozen"
            yield from spin_unlock(thp.split_queue_lock)
            yield from k.fn.__split_huge_page(thp, page)
            ret = 0
        else:
            yield (f"page_ref_freeze({head.label}, {1 + extra_pins}) fails: "
                   f"refcount {head._refcount}")
            yield from spin_unlock(thp.split_queue_lock)
            yield from local_irq_enable(m)
            yield from k.fn.remap_page(thp, thp.nr)
            ret = -EBUSY
    yield from mutex_unlock(thp.anon_vma_rwsem)        # anon_vma_unlock_write()
    k.count_vm_event("thp_split_page" if ret == 0 else "thp_split_page_failed")
    return ret
