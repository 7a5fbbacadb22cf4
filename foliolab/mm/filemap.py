"""The page cache and the folio lock: mm/filemap.c (v5.12 semantics, folio
names of v5.16+).

``address_space.i_pages`` maps an index to a folio under ``xa_lock``.  Lookups
are lockless (RCU) and take a speculative reference with folio_try_get(),
which fails while migration has the refcount frozen; the lookup then
retries and finds the new folio.  The folio lock (PG_locked) is a sleeping
bit lock with a wait queue and the PG_waiters protocol of v5.12: a waiter,
under the wait queue's lock, sets PG_waiters, tries the bit once more and
queues itself; folio_unlock() clears PG_locked and reads PG_waiters in one
locked instruction (clear_bit_unlock_is_negative_byte) and wakes the queue
only when PG_waiters was set; the wake clears PG_waiters when no waiter is
left.  A waiter that set PG_waiters after the unlock read it, and found
the bit still set, would sleep forever: a patch that splits either side
can lose a wake-up, and the hung-task oracle reports it.

A read or a fault that misses the cache reads the page in itself
(filemap_create_folio, filemap_fault): allocate a folio with the mapping's
gfp mask (GFP_HIGHUSER_MOVABLE: it may come from a CMA pageblock), insert it
locked, "read" it (the I/O completes at once: PG_uptodate, then unlock).
Readahead is reduced to that one page.  Reclaim removes clean unmapped
folios with __filemap_remove_folio() under xa_lock (mm/vmscan.c).
"""

from __future__ import annotations

from ..engine.footprint import page_key, touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from ..engine.rcu import rcu_read_lock, rcu_read_unlock
from ..engine.sync import (
    lockdep_assert_held, might_sleep_point, spin_lock_irq, spin_unlock_irq, spinlock_t,
    wait_queue_head_t, wake_up,
)
from .errno import EEXIST, ENOMEM
from .page import (
    PG_locked, PG_uptodate, PG_waiters, _clear, _rmw, _set, folio_get, folio_nr_pages,
    folio_test_locked, folio_test_set_locked, folio_try_get, page_fp_read, page_fp_write,
)
from .page_alloc import GFP_HIGHUSER_MOVABLE

# include/linux/fs.h: "the page was truncated or replaced under us, look it
# up again" (v5.12 filemap_create_page() returns it for -EEXIST)
AOP_TRUNCATED_PAGE = 0x80001


class address_space:
    def __init__(self, k, name, *, swap_backed=False):
        self.host = name
        self.i_pages = {}
        self.xa_lock = spinlock_t(k.m, f"{name}.i_pages.xa_lock", "&mapping->i_pages")
        self.nrpages = 0
        self.anon = False
        self.swap_backed = swap_backed
        self.migratepage = "migrate_page"     # a_ops->migratepage
        self.i_mmap = []                      # VMAs mapping this file
        self.gfp_mask = GFP_HIGHUSER_MOVABLE   # mapping_gfp_mask(): inode_init_always()'s default
        self.fpk = k.m.new_key()              # i_pages, nrpages

    def __repr__(self):
        return f"mapping({self.host})"


def folio_waitqueue(folio):
    """folio_waitqueue(): the hashed wait queue of the page (created on first
    use; its footprint key is the page's, which exists from boot)."""
    page_fp_write(folio)
    if folio.waitq is None:
        folio.waitq = wait_queue_head_t(folio.k.m, f"page_waitqueue({folio.label})",
                                        fpk=page_key(folio.pfn))
    return folio.waitq


# ---------------------------------------------------------------- lock bit
def folio_trylock(folio):
    """folio_trylock() (trylock_page): a locked test-and-set; no wait."""
    return not folio_test_set_locked(folio)


def folio_wait_bit_prepare(k, folio, lock):
    """The start of wait_on_page_bit_common() (v5.12), under the wait
    queue's lock (one step, as the waker takes that lock too): SetPageWaiters,
    then one more test of PG_locked (with ``lock``: trylock_page(), which
    takes it); queue the task unless that succeeded.  Returns True when the
    caller must sleep (the task is queued and blocked)."""
    m = k.m
    q = folio_waitqueue(folio)
    _set(folio, PG_waiters)
    free = folio_trylock(folio) if lock else not folio_test_locked(folio)
    if free:
        return False
    t = m.current
    touch_write(m, q.fpk)
    q.waiters.append(t)
    m.block(t, q)
    return True


def folio_wait_locked(k, folio, label):
    """folio_wait_locked() / wait_on_page_locked() (v5.12): sleep until
    PG_locked is clear, with the PG_waiters protocol; does not take the
    lock."""
    while folio_wait_bit_prepare(k, folio, lock=False):
        yield f"{label}: sleeps on {folio.waitq.name}"


@kfunc
def folio_lock(k, folio):
    """folio_lock() (lock_page; __lock_page -> wait_on_page_bit_common):
    trylock; else set PG_waiters, queue and sleep on the page wait queue,
    and try again when woken.  (Every waiter is woken and retries: the
    pre-v5.9 wake-all; since v5.9 the unlock hands the bit to the first
    exclusive waiter.  The same interleavings of the lock bit are reached.)"""
    yield from might_sleep_point(k.m, f"folio_lock({folio.label})")
    while not folio_trylock(folio):
        if folio_wait_bit_prepare(k, folio, lock=True):
            yield f"folio_lock({folio.label}): PG_waiters set, sleeps on {folio.waitq.name}"
        else:
            break                   # the trylock under the queue's lock took it
    yield f"folio_lock: {folio.label} locked"


def clear_bit_unlock_is_negative_byte(folio):
    """clear_bit_unlock_is_negative_byte(PG_locked, &page->flags) (x86,
    v4.10 - v5.15): one locked instruction clears PG_locked and tells
    whether PG_waiters (bit 7, the byte's sign) was set."""
    _rmw(folio)
    waiters = folio.flags >> PG_waiters & 1 == 1
    folio.flags &= ~(1 << PG_locked)
    return waiters


def folio_wake_bit(k, folio):
    """wake_up_page_bit(page, PG_locked) (v5.12): under the wait queue's
    lock, wake the page's waiters; ClearPageWaiters when none is left."""
    q = folio_waitqueue(folio)
    wake_up(q)
    _clear(folio, PG_waiters)         # wake-all: no waiter is left


@kfunc
def folio_unlock(k, folio):
    """folio_unlock() (unlock_page, v5.12): clear PG_locked and learn
    whether PG_waiters was set in one locked instruction; only then wake
    the queue (the wake runs in the same step: the waiters' side works
    under the queue's lock, so no interleaving is lost)."""
    if not folio_test_locked(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_test_locked(folio)): {folio.label}")
    if clear_bit_unlock_is_negative_byte(folio):
        folio_wake_bit(k, folio)
    yield f"folio_unlock: {folio.label}"


def folio_mark_uptodate(folio):
    _set(folio, PG_uptodate)


# ------------------------------------------------------------------ lookup
@kfunc
def filemap_get_folio(k, mapping, index):
    """filemap_get_folio() / find_get_page(): lockless lookup with a
    speculative reference, re-checked against the cache slot."""
    while True:
        rcu_read_lock(k.m)
        touch_read(k.m, mapping.fpk)
        folio = mapping.i_pages.get(index)
        if folio is None:
            yield from rcu_read_unlock(k.m)
            return None
        if not folio_try_get(folio):
            # frozen by migration (or being freed): look again
            yield from rcu_read_unlock(k.m)
            continue
        yield f"filemap_get_folio: {folio.label} speculative get (ref {folio._refcount})"
        touch_read(k.m, mapping.fpk)
        if mapping.i_pages.get(index) is not folio:
            yield from rcu_read_unlock(k.m)
            yield from k.fn.folio_put(folio)
            continue
        yield from rcu_read_unlock(k.m)
        return folio


@kfunc
def filemap_alloc_folio(k, gfp, order=0):
    """filemap_alloc_folio() (v5.16+; __page_cache_alloc v5.12, no cpuset
    spreading: one node)."""
    return (yield from k.fn.folio_alloc(gfp, order))


@kfunc
def filemap_create_folio(k, mapping, index, fbatch):
    """filemap_create_folio() (filemap_create_page v5.12, which the read path
    reaches when page_cache_sync_readahead() left the index uncached; the
    model has no readahead, so every miss comes here): allocate, insert
    locked and queue on this CPU's lru_add batch, read the page in, append
    it to ``fbatch`` with the allocation's reference.

    Returns 0, -ENOMEM, or AOP_TRUNCATED_PAGE when another task cached the
    index first (-EEXIST: our folio is dropped, the caller looks again).
    The read (a_ops->readpage) completes at once: PG_uptodate is set and the
    folio unlocked, which wakes readers that found it locked meanwhile."""
    folio = yield from k.fn.filemap_alloc_folio(mapping.gfp_mask, 0)
    if folio is None:
        yield f"filemap_create_folio: {mapping.host} index {index}: no memory"
        return -ENOMEM
    err = yield from k.fn.filemap_add_folio(mapping, folio, index)
    if err == -EEXIST:
        err = AOP_TRUNCATED_PAGE
    if err:
        yield from k.fn.folio_put(folio)
        return err
    # filemap_read_page(): ->readpage(), its end_io marks the folio uptodate
    # and unlocks it
    folio_mark_uptodate(folio)
    yield f"filemap_create_folio: {folio.label} read in, PG_uptodate set"
    yield from k.fn.folio_unlock(folio)
    fbatch.append(folio)
    return 0


@kfunc
def filemap_read(k, mapping, index):
    """filemap_read() (generic_file_buffered_read v5.x) of one page: find the
    cached folio or read it in (filemap_get_pages: the lookup, then
    filemap_create_folio() on a miss), mark it accessed, copy it to user
    space, drop the reference.  Returns 0 (one page read) or -ENOMEM.

    The kernel marks the folio accessed only when the read position moved to
    another page since the last read of the file; every call here is a read
    of a new position.

    Not modelled: filemap_update_page(), the wait for a folio found before
    PG_uptodate (a read or a migration in flight holds its lock).  Such a
    folio is copied as is.  Modelling the wait is a behaviour change for the
    lru_cache family: its reader meets the migration target locked and not
    yet uptodate between the cache-slot switch and migrate_page_states()."""
    while True:
        folio = yield from k.fn.filemap_get_folio(mapping, index)
        if folio is None:
            fbatch = []
            err = yield from k.fn.filemap_create_folio(mapping, index, fbatch)
            if err == AOP_TRUNCATED_PAGE:
                continue
            if err:
                return err
            folio = fbatch[0]
        break
    yield from k.fn.folio_mark_accessed(folio)
    yield f"filemap_read: copy_page_to_iter from {folio.label}"
    yield from k.fn.folio_put(folio)
    return 0


@kfunc
def filemap_fault(k, mapping, index):
    """filemap_fault() (v5.12) of a read fault: find the folio or read it
    in, and return it locked with a reference (VM_FAULT_LOCKED), or None
    for VM_FAULT_OOM.

    A cached folio is locked (lock_page_maybe_drop_mmap: the model never
    drops mmap_lock) and checked against truncation.  On a miss (no
    readahead: do_sync_mmap_readahead is not modelled) the folio is
    allocated and inserted like pagecache_get_page(FGP_CREAT) does, and
    read; the kernel unlocks it after the insertion (FGP_FOR_MMAP) and
    relocks it, the model keeps the lock from insertion to return."""
    while True:
        folio = yield from k.fn.filemap_get_folio(mapping, index)
        if folio is None:
            folio = yield from k.fn.filemap_alloc_folio(mapping.gfp_mask, 0)
            if folio is None:
                yield f"filemap_fault: {mapping.host} index {index}: no memory"
                return None
            err = yield from k.fn.filemap_add_folio(mapping, folio, index)
            if err:
                yield from k.fn.folio_put(folio)
                if err == -EEXIST:
                    continue
                return None
            folio_mark_uptodate(folio)
            yield f"filemap_fault: {folio.label} read in, PG_uptodate set"
            return folio
        yield from k.fn.folio_lock(folio)
        page_fp_read(folio)
        if folio.mapping is not mapping:
            # truncated (or reclaimed) between the lookup and the lock
            yield from k.fn.folio_unlock(folio)
            yield from k.fn.folio_put(folio)
            continue
        return folio


# ---------------------------------------------------------------- insertion
@kfunc
def __filemap_add_folio(k, mapping, folio, index):
    """__filemap_add_folio() (__add_to_page_cache_locked v5.12): insert a
    locked folio, taking the cache's references (one per page).  Returns 0,
    or -EEXIST when the index is already cached: the references are dropped
    and the mapping cleared again (the index stays, as in the kernel)."""
    if not folio_test_locked(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_test_locked(folio)): {folio.label}")
    nr = folio_nr_pages(folio)
    for _ in range(nr):
        folio_get(folio)
    folio.mapping = mapping
    folio.index = index
    yield from spin_lock_irq(mapping.xa_lock)
    touch_write(k.m, mapping.fpk)
    if index in mapping.i_pages:
        yield f"__filemap_add_folio: {mapping.host} index {index} already cached: -EEXIST"
        yield from spin_unlock_irq(mapping.xa_lock)
        page_fp_write(folio)
        folio.mapping = None
        for _ in range(nr):
            yield from k.fn.folio_put(folio)
        return -EEXIST
    mapping.i_pages[index] = folio
    mapping.nrpages += nr
    yield from spin_unlock_irq(mapping.xa_lock)
    return 0


@kfunc
def filemap_add_folio(k, mapping, folio, index):
    """filemap_add_folio() (add_to_page_cache_lru): lock, insert, then queue
    the folio on this CPU's lru_add batch.  Returns 0 or -EEXIST (the folio
    is unlocked again and not queued)."""
    from .page import __folio_clear_locked, __folio_set_locked
    __folio_set_locked(folio)
    err = yield from k.fn.__filemap_add_folio(mapping, folio, index)
    if err:
        __folio_clear_locked(folio)
        return err
    yield from k.fn.folio_add_lru(folio)
    return 0


@kfunc
def __filemap_remove_folio(k, folio, shadow=None):
    """__filemap_remove_folio() (__delete_from_page_cache v5.12): take the
    folio out of its mapping's cache slot.  Called with xa_lock held and the
    folio locked; the cache's references are the caller's to drop (reclaim
    froze them with the rest).  No shadow entries: workingset refault
    detection is not modelled."""
    page_fp_write(folio)
    mapping = folio.mapping
    lockdep_assert_held(mapping.xa_lock)
    touch_write(k.m, mapping.fpk)
    if mapping.i_pages.get(folio.index) is not folio:
        raise KernelBug(f"kernel BUG: page_cache_delete: {folio.label} not in its slot")
    del mapping.i_pages[folio.index]
    mapping.nrpages -= folio_nr_pages(folio)
    folio.mapping = None          # the index stays: truncation relies on it


def setup_page_cache_folio(k, mapping, folio, index):
    """Boot-time helper: ``folio`` (refcount 1 from its allocation, which
    becomes the page cache's reference) is cached at ``index``, uptodate."""
    folio.mapping = mapping
    folio.index = index
    mapping.i_pages[index] = folio
    mapping.nrpages += folio_nr_pages(folio)
    folio_mark_uptodate(folio)


@kfunc
def put_and_wait_on_page_locked(k, page):
    """put_and_wait_on_page_locked(page, TASK_UNINTERRUPTIBLE) (v5.12):
    wait_on_page_bit_common(..., DROP) on the compound head.  Under the wait
    queue's lock set PG_waiters and queue the task (unless PG_locked is
    already clear); then drop the caller's reference *before* sleeping, so
    the waiter holds no reference while it sleeps.  Returns when woken by
    the unlock (it does not take the lock)."""
    from .page import PG_waiters
    m = k.m
    t = m.current
    head = page.compound_head or page
    page_fp_read(page)
    q = folio_waitqueue(head)
    _set(head, PG_waiters)
    queued = folio_test_locked(head)
    if queued:
        q.waiters.append(t)
    yield (f"put_and_wait_on_page_locked: PG_waiters on {head.label}, "
           f"{'queued' if queued else 'already unlocked'}")
    from .huge_memory import put_page_ref
    put_page_ref(page)
    touch_write(m, q.fpk)
    if t in q.waiters:
        m.block(t, q)
        yield f"put_and_wait_on_page_locked: put_page (ref {head._refcount}), sleeps on {head.label}"
    else:
        yield f"put_and_wait_on_page_locked: put_page (ref {head._refcount}), woken already"
