"""The page cache and the folio lock: mm/filemap.c (v5.12 semantics, folio
names of v5.16+).

``address_space.i_pages`` maps an index to a folio under ``xa_lock``.  Lookups
are lockless (RCU) and take a speculative reference with folio_try_get(),
which fails while migration has the refcount frozen; the lookup then
retries and finds the new folio.  The folio lock (PG_locked) is a sleeping
bit lock with a wait queue.
"""

from __future__ import annotations

from ..engine.footprint import page_key, touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from ..engine.rcu import rcu_read_lock, rcu_read_unlock
from ..engine.sync import (
    might_sleep_point, spin_lock_irq, spin_unlock_irq, wait_event,
    wait_queue_head_t, wake_up,
)
from .page import (
    PG_locked, PG_uptodate, _clear, _set, folio_get, folio_nr_pages,
    folio_test_locked, folio_test_set_locked, folio_try_get, page_fp_read,
    page_fp_write,
)


class address_space:
    def __init__(self, k, name, *, swap_backed=False):
        from ..engine.sync import spinlock_t
        self.host = name
        self.i_pages = {}
        self.xa_lock = spinlock_t(k.m, f"{name}.i_pages.xa_lock", "&mapping->i_pages")
        self.nrpages = 0
        self.anon = False
        self.swap_backed = swap_backed
        self.migratepage = "migrate_page"     # a_ops->migratepage
        self.i_mmap = []                      # VMAs mapping this file
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


@kfunc
def folio_lock(k, folio):
    """folio_lock() (lock_page): sleep on the page wait queue until PG_locked
    can be taken."""
    yield from might_sleep_point(k.m, f"folio_lock({folio.label})")
    while not folio_trylock(folio):
        yield from wait_event(folio_waitqueue(folio), lambda: not folio_test_locked(folio),
                              f"folio_lock({folio.label})")
    yield f"folio_lock: {folio.label} locked"


@kfunc
def folio_unlock(k, folio):
    """folio_unlock() (unlock_page): clear PG_locked and wake the waiters."""
    if not folio_test_locked(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_test_locked(folio)): {folio.label}")
    _clear(folio, PG_locked)
    if folio.waitq is not None:             # the page's key: written by _clear
        wake_up(folio.waitq)
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
def filemap_read(k, mapping, index):
    """filemap_read() (generic_file_buffered_read v5.x) of one page: find the
    cached folio, mark it accessed, copy it to user space, drop the ref."""
    folio = yield from k.fn.filemap_get_folio(mapping, index)
    if folio is None:
        yield f"filemap_read: index {index} not cached"
        return -1
    yield from k.fn.folio_mark_accessed(folio)
    yield f"filemap_read: copy_page_to_iter from {folio.label}"
    yield from k.fn.folio_put(folio)
    return 0


# ---------------------------------------------------------------- insertion
@kfunc
def __filemap_add_folio(k, mapping, folio, index):
    """__filemap_add_folio(): insert a locked folio, taking the cache's
    references (one per page)."""
    if not folio_test_locked(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_test_locked(folio)): {folio.label}")
    folio_get(folio)
    for _ in range(folio_nr_pages(folio) - 1):
        folio_get(folio)
    folio.mapping = mapping
    folio.index = index
    yield from spin_lock_irq(mapping.xa_lock)
    touch_write(k.m, mapping.fpk)
    if index in mapping.i_pages:
        raise KernelBug(f"__filemap_add_folio: index {index} of {mapping.host} already cached")
    mapping.i_pages[index] = folio
    mapping.nrpages += folio_nr_pages(folio)
    yield from spin_unlock_irq(mapping.xa_lock)


@kfunc
def filemap_add_folio(k, mapping, folio, index):
    """filemap_add_folio() (add_to_page_cache_lru): lock, insert, then queue
    the folio on this CPU's lru_add batch."""
    from .page import __folio_set_locked
    __folio_set_locked(folio)
    yield from k.fn.__filemap_add_folio(mapping, folio, index)
    yield from k.fn.folio_add_lru(folio)
    return 0


def setup_page_cache_folio(k, mapping, folio, index):
    """Boot-time helper: ``folio`` (refcount 1 from its allocation, which
    becomes the page cache's reference) is cached at ``index``, uptodate."""
    folio.mapping = mapping
    folio.index = index
    mapping.i_pages[index] = folio
    mapping.nrpages += folio_nr_pages(folio)
    folio_mark_uptodate(folio)
