"""The per-CPU mlock batch: mm/mlock.c (v5.18+, as in v6.10).

Era: v5.18 - v6.17 (Hugh Dickins' 2fbb0c10d1e8, "mm/munlock: mlock_page()
munlock_page() batch by pagevec"; folio names as in v6.10).  The v5.12
baseline never calls these functions: the era patch ``mlock-batch`` hooks
the batch into lru_add_drain() and cpu_needs_drain().

Every CPU has one batch, ``mlock_fbatch``, with its own local_lock.  It
queues three kinds of request, told apart by tag bits in the pointer in the
kernel (LRU_FOLIO, NEW_FOLIO; the model keeps a (folio, tag) pair):

* ``mlock_folio``: a folio already on an LRU became mlocked (PG_lru set
  while it waits);
* ``mlock_new_folio``: a new folio of a VM_LOCKED VMA that is on no LRU
  yet (PG_lru clear while it waits);
* ``munlock_folio``: one VM_LOCKED mapping of the folio went away.

Each entry holds one folio reference, taken inside the local_lock section.
The drain (mlock_folio_batch) needs PG_lru ownership to touch the LRU
linkage and ``mlock_count``: __mlock_folio and __munlock_folio
test-and-clear PG_lru and give up the LRU side when that fails -- which is
why a folio whose PG_lru is held by somebody else (an LRU batch under
33dfe9204f29, an isolation) misses an mlock_count update (Hugh, 28 Aug
2025: "munlocking too soon or too late").

``mlock_count`` (folio->mlock_count, overlaid on lru.prev while the folio
is on the unevictable list) counts the VM_LOCKED mappings; it is only
maintained while PG_unevictable is set, and may undercount.
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from ..engine.percpu import DEFINE_PER_CPU, per_cpu
from ..engine.sync import local_lock, local_lock_t, local_unlock
from .page import (
    PG_mlocked, _test_and_clear, _test_and_set, folio_clear_active,
    folio_clear_unevictable, folio_get, folio_nr_pages, folio_set_lru,
    folio_set_unevictable, folio_test_clear_lru, folio_test_large,
    folio_test_lru, folio_test_mlocked, folio_test_unevictable, page_fp_read,
    page_fp_write,
)
from .swap import folio_batch, folio_batch_add, folio_batch_count, folio_batch_reinit

LRU_FOLIO, NEW_FOLIO, MUNLOCK = 1, 2, 0
TAG_NAMES = {LRU_FOLIO: "mlock", NEW_FOLIO: "mlock_new", MUNLOCK: "munlock"}


class mlock_fbatch:
    """struct mlock_fbatch of one CPU: the lock and the batch.  The batch's
    ``folios`` hold the folios; ``tags`` the request kind of each entry."""

    __slots__ = ("lock", "fbatch", "tags", "fpk")

    def __init__(self, k, cpu):
        self.lock = k.mlock_fbatch_lock
        self.fbatch = folio_batch(k.m, "mlock_fbatch", cpu)
        self.fpk = self.fbatch.fpk       # the tags go with the folios array
        self.tags = []


def mlock_init(k):
    """The per-CPU mlock batches (created for every era; only the v5.18+
    eras use them)."""
    k.mlock_fbatch_lock = local_lock_t(k.m, "mlock_fbatch.lock")
    k.mlock_fbatch = DEFINE_PER_CPU(k.m, "mlock_fbatch", lambda cpu: mlock_fbatch(k, cpu))


def folio_evictable(k, folio):
    """folio_evictable() (mm/internal.h): not mlocked (and no unevictable
    mapping: not modelled)."""
    return not folio_test_mlocked(folio)


def _set_mlock_count(folio, n):
    page_fp_write(folio)
    folio.mlock_count = n


@kfunc
def __mlock_folio(k, folio, lruvec):
    """__mlock_folio() (v6.10): with PG_lru ownership, move the folio to the
    unevictable list and count this mlock; without it, nothing can be done
    (the folio is off its LRU, somebody else holds it)."""
    if not folio_test_clear_lru(folio):
        yield f"__mlock_folio: {folio.label} PG_lru clear, mlock_count not updated"
        return lruvec
    lruvec = yield from k.fn.folio_lruvec_relock_irq(folio, lruvec)
    if folio_evictable(k, folio):
        # PG_mlocked already cleared by a munlock on another CPU
        if folio_test_unevictable(folio):
            k.fn.lruvec_del_folio(lruvec, folio)
            folio_clear_unevictable(folio)
            k.fn.lruvec_add_folio(lruvec, folio)
            k.count_vm_event("unevictable_pgs_rescued", folio_nr_pages(folio))
    elif folio_test_unevictable(folio):
        if folio_test_mlocked(folio):
            _set_mlock_count(folio, folio.mlock_count + 1)
    else:
        k.fn.lruvec_del_folio(lruvec, folio)
        folio_clear_active(folio)
        folio_set_unevictable(folio)
        _set_mlock_count(folio, 1 if folio_test_mlocked(folio) else 0)
        k.fn.lruvec_add_folio(lruvec, folio)
        k.count_vm_event("unevictable_pgs_culled", folio_nr_pages(folio))
    folio_set_lru(folio)
    yield f"__mlock_folio: {folio.label} mlock_count {folio.mlock_count}, PG_lru set"
    return lruvec


@kfunc
def __mlock_new_folio(k, folio, lruvec):
    """__mlock_new_folio() (v6.10): a new folio goes straight onto the
    unevictable list (it is on no LRU: PG_lru must be clear)."""
    if folio_test_lru(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(folio_test_lru(folio)) in "
                        f"__mlock_new_folio: {folio.label}")
    lruvec = yield from k.fn.folio_lruvec_relock_irq(folio, lruvec)
    if not folio_evictable(k, folio):
        folio_set_unevictable(folio)
        _set_mlock_count(folio, 1 if folio_test_mlocked(folio) else 0)
        k.count_vm_event("unevictable_pgs_culled", folio_nr_pages(folio))
    k.fn.lruvec_add_folio(lruvec, folio)
    folio_set_lru(folio)
    yield f"__mlock_new_folio: {folio.label} on its LRU, mlock_count {folio.mlock_count}"
    return lruvec


@kfunc
def __munlock_folio(k, folio, lruvec):
    """__munlock_folio() (v6.10): one VM_LOCKED mapping less.  With PG_lru
    ownership, mlock_count drops and the folio stays mlocked while it is
    non-zero; without it (off LRU, or held by somebody else), "assume that
    was the last mlock": PG_mlocked is cleared all the same."""
    nr = folio_nr_pages(folio)
    isolated = folio_test_clear_lru(folio)
    if isolated:
        lruvec = yield from k.fn.folio_lruvec_relock_irq(folio, lruvec)
        if folio_test_unevictable(folio):
            if folio.mlock_count:
                _set_mlock_count(folio, folio.mlock_count - 1)
            if folio.mlock_count:
                folio_set_lru(folio)
                yield f"__munlock_folio: {folio.label} still mlocked (mlock_count {folio.mlock_count})"
                return lruvec
    if _test_and_clear(folio, PG_mlocked):
        k.count_vm_event("unevictable_pgs_munlocked" if isolated or not folio_test_unevictable(folio)
                         else "unevictable_pgs_stranded", nr)
    if isolated and folio_test_unevictable(folio) and folio_evictable(k, folio):
        k.fn.lruvec_del_folio(lruvec, folio)
        folio_clear_unevictable(folio)
        k.fn.lruvec_add_folio(lruvec, folio)
        k.count_vm_event("unevictable_pgs_rescued", nr)
    if isolated:
        folio_set_lru(folio)
        yield f"__munlock_folio: {folio.label} munlocked, evictable, PG_lru set"
    else:
        yield f"__munlock_folio: {folio.label} PG_lru clear: PG_mlocked cleared, LRU untouched"
    return lruvec


@kfunc
def mlock_folio_batch(k, mb):
    """mlock_folio_batch() (v6.10): apply every queued request under the
    lruvec lock, then drop the batch's references (folios_put)."""
    lruvec = None
    touch_read(k.m, mb.fbatch.fpk)
    for folio, tag in zip(list(mb.fbatch.folios), list(mb.tags)):
        if tag == LRU_FOLIO:
            lruvec = yield from k.fn.__mlock_folio(folio, lruvec)
        elif tag == NEW_FOLIO:
            lruvec = yield from k.fn.__mlock_new_folio(folio, lruvec)
        else:
            lruvec = yield from k.fn.__munlock_folio(folio, lruvec)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irq(lruvec)
    touch_read(k.m, mb.fbatch.fpk)
    folios = list(mb.fbatch.folios)
    folio_batch_reinit(k, mb.fbatch)
    mb.tags.clear()
    yield from k.fn.folios_put(folios)


def this_mlock_fbatch(k):
    return k.mlock_fbatch.slots[k.m.current.cpu]


def _mlock_add(k, folio, tag):
    """The common tail of mlock_folio/mlock_new_folio/munlock_folio, inside
    the local_lock section: the batch's reference, the add, and the flush
    when the batch is full, the folio large or batching disabled."""
    mb = this_mlock_fbatch(k)
    folio_get(folio)
    mb.tags.append(tag)
    full = folio_batch_add(k, mb.fbatch, folio) == 0
    flush = full or k.fn.mlock_flush_now(folio)
    if flush:
        yield f"get {folio.label}, queued on mlock_fbatch, batch flushed now"
        yield from k.fn.mlock_folio_batch(mb)
    else:
        yield (f"get {folio.label} (ref {folio._refcount}), queued on mlock_fbatch "
               f"({folio_batch_count(mb.fbatch)}/{k.PAGEVEC_SIZE})")


@kfunc
def mlock_flush_now(k, folio):
    """The extra flush condition of the mlock adders (v6.10:
    folio_test_large(folio) || lru_cache_disabled(); v6.17 spells the first
    !folio_may_be_lru_cached())."""
    disabled = "lru_cache_disabled" in k.fn and k.fn.lru_cache_disabled()
    return folio_test_large(folio) or disabled


@kfunc
def mlock_folio(k, folio):
    """mlock_folio() (v6.10): a folio on an LRU is mapped by a VM_LOCKED VMA:
    set PG_mlocked and queue the request (PG_lru stays set while queued)."""
    mb = this_mlock_fbatch(k)
    local_lock(mb.lock)
    if not _test_and_set(folio, PG_mlocked):
        k.count_vm_event("unevictable_pgs_mlocked", folio_nr_pages(folio))
    yield from _mlock_add(k, folio, LRU_FOLIO)
    yield from local_unlock(mb.lock)


@kfunc
def mlock_new_folio(k, folio):
    """mlock_new_folio() (v6.10): a new folio of a VM_LOCKED VMA, on no LRU
    yet (folio_add_lru_vma): PG_mlocked, then the batch puts it on the
    unevictable list."""
    mb = this_mlock_fbatch(k)
    local_lock(mb.lock)
    _test_and_set(folio, PG_mlocked)
    k.count_vm_event("unevictable_pgs_mlocked", folio_nr_pages(folio))
    yield from _mlock_add(k, folio, NEW_FOLIO)
    yield from local_unlock(mb.lock)


@kfunc
def munlock_folio(k, folio):
    """munlock_folio() (v6.10): one VM_LOCKED mapping of the folio went
    away; whether PG_mlocked goes is decided by __munlock_folio()."""
    mb = this_mlock_fbatch(k)
    local_lock(mb.lock)
    yield from _mlock_add(k, folio, MUNLOCK)
    yield from local_unlock(mb.lock)


@kfunc
def mlock_drain_local(k):
    """mlock_drain_local() (v6.10): flush this CPU's mlock batch (called by
    lru_add_drain() after its own unlock)."""
    mb = this_mlock_fbatch(k)
    local_lock(mb.lock)
    touch_read(k.m, mb.fbatch.fpk)
    if mb.fbatch.folios:
        yield from k.fn.mlock_folio_batch(mb)
    yield from local_unlock(mb.lock)


@kfunc
def need_mlock_drain(k, cpu):
    """need_mlock_drain() (v6.10): a racy read of another CPU's count."""
    return folio_batch_count(per_cpu(k.mlock_fbatch, cpu).fbatch) != 0


def folio_in_mlock_batches(k, folio):
    """[(cpu, request kind)] of every mlock batch entry of ``folio``: an
    omniscient view for oracles and tables."""
    out = []
    for cpu, mb in enumerate(k.mlock_fbatch.slots):
        touch_read(k.m, mb.fbatch.fpk)
        for f, tag in zip(mb.fbatch.folios, mb.tags):
            if f is folio:
                out.append((cpu, TAG_NAMES[tag]))
    return out


def mlock_count_of(folio):
    page_fp_read(folio)
    return folio.mlock_count
