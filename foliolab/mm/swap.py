"""Per-CPU LRU batches and their drains: mm/swap.c.

Baseline: Linux v5.10 - v5.12 semantics (the "v0" of seed 000) written with
the v6.x names (cpu_fbatches, folio_batch, folio_batch_add_and_move,
folio_batch_move_lru): the 5.12 ``lru_pvecs``/``lru_rotate`` pagevecs are the
same six batches.  PAGEVEC_SIZE is the ``pagevec_size`` setting (15 for
v4.15 - v6.8, 31 since 9cecde80aae0, v6.9).

Reference rules (v5.11+, PG_lru is the ownership token):

* every batch entry holds one folio reference (taken by the adder, dropped
  by the drain's folios_put after the lruvec lock is released);
* lru_add entries have PG_lru clear; activate/deactivate/lazyfree/move_tail
  entries have PG_lru set while queued, and the drain test-and-clears PG_lru
  first and skips folios somebody else has isolated meanwhile;
* a batch is flushed immediately when the add fills it or the folio is large;
  otherwise it stays resident until some drain runs on that CPU.

Locking: ``cpu_fbatches.lock`` is a local_lock (preempt_disable on !RT);
``lock_irq`` (irqsave) guards the move_tail batch fed from writeback
completion.  The batch counters are :class:`Shared` words: other CPUs read
them racily in ``cpu_needs_drain()``; their stores go through the memory
model (TSO store buffers), which is what the barriers of
``lru_add_drain_all()`` are about.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.memory import READ_ONCE, WRITE_ONCE, Shared, smp_load_acquire, smp_mb
from ..engine.oracles import KernelBug
from ..engine.percpu import DEFINE_PER_CPU, per_cpu
from ..engine.sync import (
    local_lock, local_lock_irqsave, local_lock_t, local_unlock,
    local_unlock_irqrestore, mutex, mutex_lock, mutex_unlock,
)
from ..engine.workqueue import INIT_WORK, flush_work, queue_work_on, work_struct, workqueue_struct
from .mm_inline import __folio_clear_lru_flags
from .page import (
    folio_clear_active, folio_clear_referenced, folio_get, folio_nr_pages,
    folio_put_testzero, folio_set_active, folio_set_lru,
    folio_set_referenced, folio_test_active, folio_test_clear_lru,
    folio_mapped, folio_test_anon, folio_test_large, folio_test_lru, folio_test_referenced,
    folio_test_swapbacked, folio_test_unevictable, PG_reclaim, _clear,
)

BATCHES = ("lru_add", "lru_deactivate_file", "lru_deactivate", "lru_lazyfree",
           "lru_activate", "lru_move_tail")


class folio_batch:
    """struct folio_batch (struct pagevec up to v6.0)."""

    __slots__ = ("name", "cpu", "folios", "nr", "fpk")

    def __init__(self, m, name, cpu):
        self.name = name
        self.cpu = cpu
        self.folios = []
        self.nr = Shared(m, f"cpu{cpu}.{name}.nr", 0)
        self.fpk = m.new_key()       # the folios array (nr is its own Shared word)

    def __repr__(self):
        return f"{self.name}@{self.cpu}[{', '.join(f.label for f in self.folios)}]"


def folio_batch_count(fbatch):
    """folio_batch_count(): a racy read when done from another CPU."""
    return READ_ONCE(fbatch.nr)


def folio_batch_add(k, fbatch, folio):
    """folio_batch_add(): returns the space left (0 = now full)."""
    touch_write(k.m, fbatch.fpk)
    fbatch.folios.append(folio)
    WRITE_ONCE(fbatch.nr, len(fbatch.folios))
    return k.PAGEVEC_SIZE - len(fbatch.folios)


def folio_batch_reinit(k, fbatch):
    touch_write(k.m, fbatch.fpk)
    fbatch.folios.clear()
    WRITE_ONCE(fbatch.nr, 0)


class cpu_fbatches:
    """struct cpu_fbatches of one CPU (lru_pvecs + lru_rotate in v5.12)."""

    __slots__ = ("lock", "lock_irq") + BATCHES

    def __init__(self, k, cpu):
        self.lock = k.cpu_fbatches_lock
        self.lock_irq = k.cpu_fbatches_lock_irq
        for name in BATCHES:
            setattr(self, name, folio_batch(k.m, name, cpu))


def swap_init(k):
    m = k.m
    k.PAGEVEC_SIZE = k.settings["pagevec_size"]
    k.cpu_fbatches_lock = local_lock_t(m, "cpu_fbatches.lock")
    k.cpu_fbatches_lock_irq = local_lock_t(m, "cpu_fbatches.lock_irq")
    k.cpu_fbatches = DEFINE_PER_CPU(m, "cpu_fbatches", lambda cpu: cpu_fbatches(k, cpu))
    k.lru_drain_gen = Shared(m, "lru_drain_gen", 0)
    k.lru_add_drain_all_lock = mutex(m, "lru_add_drain_all.lock")
    k.lru_add_drain_work = DEFINE_PER_CPU(
        m, "lru_add_drain_work", lambda cpu: work_struct(m, f"lru_add_drain_work/{cpu}"))
    k.mm_percpu_wq = workqueue_struct("mm_percpu_wq")


def this_fbatches(k):
    return k.cpu_fbatches.slots[k.m.current.cpu]


# ----------------------------------------------------------- move functions
@kfunc
def lru_add(k, lruvec, folio):
    """lru_add() (v6.x; __pagevec_lru_add_fn v5.x): put a new folio on its LRU."""
    if folio_test_lru(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(folio_test_lru(folio)) in lru_add: {folio.label}")
    k.fn.lruvec_add_folio(lruvec, folio)
    if k.trace_events is not None:
        k.trace("pagemap:mm_lru_insertion", pfn=folio.pfn, lru=k.fn.folio_lru_list(folio),
                mapped=folio_mapped(folio), anon=folio_test_anon(folio),
                swapbacked=folio_test_swapbacked(folio))


@kfunc
def lru_activate(k, lruvec, folio):
    """lru_activate() (v6.x; __activate_page v5.x)."""
    if folio_test_active(folio) or folio_test_unevictable(folio):
        return
    k.fn.lruvec_del_folio(lruvec, folio)
    folio_set_active(folio)
    k.fn.lruvec_add_folio(lruvec, folio)
    k.count_vm_event("pgactivate", folio_nr_pages(folio))
    k.trace("pagemap:mm_lru_activate", pfn=folio.pfn)


@kfunc
def lru_deactivate(k, lruvec, folio):
    """lru_deactivate() (lru_deactivate_fn): active -> inactive head."""
    if folio_test_unevictable(folio) or not folio_test_active(folio):
        return
    k.fn.lruvec_del_folio(lruvec, folio)
    folio_clear_active(folio)
    folio_clear_referenced(folio)
    k.fn.lruvec_add_folio(lruvec, folio)
    k.count_vm_event("pgdeactivate", folio_nr_pages(folio))


@kfunc
def lru_deactivate_file(k, lruvec, folio):
    """lru_deactivate_file() (lru_deactivate_file_fn): invalidated page cache
    goes to the inactive tail for quick reclaim."""
    if folio_test_unevictable(folio):
        return
    k.fn.lruvec_del_folio(lruvec, folio)
    folio_clear_active(folio)
    folio_clear_referenced(folio)
    k.fn.lruvec_add_folio_tail(lruvec, folio)
    k.count_vm_event("pgdeactivate", folio_nr_pages(folio))


@kfunc
def lru_lazyfree(k, lruvec, folio):
    """lru_lazyfree() (lru_lazyfree_fn): MADV_FREE anon -> inactive file."""
    if folio_test_unevictable(folio):
        return
    k.fn.lruvec_del_folio(lruvec, folio)
    folio_clear_active(folio)
    folio_clear_referenced(folio)
    from .page import PG_swapbacked, _nonatomic_clear
    _nonatomic_clear(folio, PG_swapbacked)
    k.fn.lruvec_add_folio(lruvec, folio)
    k.count_vm_event("pglazyfree", folio_nr_pages(folio))


@kfunc
def lru_move_tail(k, lruvec, folio):
    """lru_move_tail() (pagevec_move_tail_fn): rotate after writeback."""
    if folio_test_unevictable(folio):
        return
    k.fn.lruvec_del_folio(lruvec, folio)
    folio_clear_active(folio)
    k.fn.lruvec_add_folio_tail(lruvec, folio)
    k.count_vm_event("pgrotated", folio_nr_pages(folio))


# ------------------------------------------------------------- batch engine
@kfunc
def folio_batch_move_lru(k, fbatch, move_fn):
    """folio_batch_move_lru() (v6.x; pagevec_lru_move_fn / __pagevec_lru_add
    v5.x).  Called with the CPU's batch lock held.

    For every op but lru_add, PG_lru is test-and-cleared first: a folio that
    somebody isolated meanwhile is skipped (its batch reference is still
    dropped below).  The references are dropped only after the lruvec lock
    is released, so a folio already back on the LRU with PG_lru set is still
    referenced by the batch for a while (the transient of Race C).
    """
    return (yield from folio_batch_move_lru_body(k, fbatch, move_fn, move_fn != "lru_add"))


def folio_batch_move_lru_body(k, fbatch, move_fn, test_clear):
    """The body of folio_batch_move_lru(); ``test_clear``: take PG_lru from
    each folio first and skip the ones somebody else holds (every op but
    lru_add, except under 33dfe9204f29, which took it at add time)."""
    fn = getattr(k.fn, move_fn)
    lruvec = None
    touch_read(k.m, fbatch.fpk)      # the array is ours: no other CPU writes it
    for folio in fbatch.folios:
        if test_clear and not folio_test_clear_lru(folio):
            yield f"{move_fn}: {folio.label} no longer on an LRU, skipped"
            continue
        lruvec = yield from k.fn.folio_lruvec_relock_irqsave(folio, lruvec)
        fn(lruvec, folio)
        folio_set_lru(folio)
        yield f"{move_fn}: {folio.label} moved, PG_lru set"
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    touch_read(k.m, fbatch.fpk)
    yield from k.fn.folios_put(list(fbatch.folios))
    folio_batch_reinit(k, fbatch)


@kfunc
def folio_batch_add_and_need_flush(k, fbatch, folio):
    """The flush condition of every batch add (v5.12: ``!pagevec_add(pvec,
    page) || PageCompound(page)``; d479960e44f2 names it
    pagevec_add_and_need_flush() and adds lru_cache_disabled())."""
    return folio_batch_add(k, fbatch, folio) == 0 or folio_test_large(folio)


@kfunc
def folio_batch_add_and_move(k, folio, batch, move_fn, irq=False, get=False):
    """The locked section every adder open-codes in v5.12 (a helper of this
    name exists since v6.0; it takes the lock itself since v6.11): take
    this CPU's batch lock, queue the folio on ``cpu_fbatches.<batch>`` and
    flush the batch when the add says so.  ``get``: take the batch's
    reference here, inside the locked section (v5.12 activate_page,
    deactivate_page, mark_page_lazyfree); otherwise the caller took it
    before the lock (lru_cache_add, rotate_reclaimable_page,
    deactivate_file_page; every adder in the v6.x eras)."""
    fb_all = this_fbatches(k)
    if irq:
        local_lock_irqsave(fb_all.lock_irq)
    else:
        local_lock(fb_all.lock)
    if get:
        # no other task runs on this CPU until the unlock; other CPUs see
        # the raised refcount at once
        folio_get(folio)
    fbatch = getattr(fb_all, batch)
    got = f"get {folio.label} (ref {folio._refcount}), " if get else ""
    if k.fn.folio_batch_add_and_need_flush(fbatch, folio):
        yield f"{got}{folio.label} queued on cpu_fbatches.{batch}, batch flushed now"
        yield from k.fn.folio_batch_move_lru(fbatch, move_fn)
    else:
        touch_read(k.m, fbatch.fpk)
        yield (f"{got}{folio.label} queued on cpu_fbatches.{batch} "
               f"({len(fbatch.folios)}/{k.PAGEVEC_SIZE})")
    if irq:
        yield from local_unlock_irqrestore(fb_all.lock_irq)
    else:
        yield from local_unlock(fb_all.lock)


# ------------------------------------------------------------------ adders
@kfunc
def folio_add_lru(k, folio):
    """folio_add_lru() (v5.16+; lru_cache_add v5.8-v5.15): a new folio enters
    this CPU's lru_add batch with PG_lru clear."""
    if folio_test_active(folio) and folio_test_unevictable(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(active && unevictable): {folio.label}")
    if folio_test_lru(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(folio_test_lru(folio)) in folio_add_lru: {folio.label}")
    folio_get(folio)
    yield f"folio_add_lru: get {folio.label} (ref {folio._refcount})"
    yield from k.fn.folio_batch_add_and_move(folio, "lru_add", "lru_add")


@kfunc
def lru_cache_add_inactive_or_unevictable(k, folio, vma=None):
    """lru_cache_add_inactive_or_unevictable() (v5.12): a new anon folio of
    a fault goes to this CPU's lru_add batch.  No VM_LOCKED VMAs in the model,
    so never the mlock branch."""
    yield from k.fn.folio_add_lru(folio)


@kfunc
def folio_activate(k, folio):
    """folio_activate() (v5.12 activate_page, SMP): queue an inactive LRU
    folio for activation.  PG_lru stays set while it waits in the batch.
    v5.12 takes the batch's reference inside the local_lock section (the
    v6.x eras take it just before: era patch folio-get-before-lock)."""
    if folio_test_lru(folio) and not folio_test_active(folio) and not folio_test_unevictable(folio):
        yield from k.fn.folio_batch_add_and_move(folio, "lru_activate", "lru_activate", get=True)
    else:
        yield f"folio_activate: {folio.label} not an inactive LRU folio"


@kfunc
def __lru_cache_activate_folio(k, folio):
    """__lru_cache_activate_folio(): the folio is not on an LRU; if it waits in
    this CPU's lru_add batch, mark it active so the drain activates it."""
    fb_all = this_fbatches(k)
    local_lock(fb_all.lock)
    touch_read(k.m, fb_all.lru_add.fpk)
    for f in reversed(fb_all.lru_add.folios):
        if f is folio:
            folio_set_active(folio)
            break
    yield from local_unlock(fb_all.lock)


@kfunc
def folio_mark_accessed(k, folio):
    """folio_mark_accessed() (v5.16+; mark_page_accessed v5.x): the second
    access of an inactive folio queues it for activation."""
    if not folio_test_referenced(folio):
        folio_set_referenced(folio)
        yield f"folio_mark_accessed: {folio.label} PG_referenced set"
    elif folio_test_unevictable(folio):
        yield f"folio_mark_accessed: {folio.label} unevictable"
    elif not folio_test_active(folio):
        # On an LRU: queue for activation.  Otherwise assume it waits in a
        # batch: mark it active so the drain puts it on the active list.
        yield f"folio_mark_accessed: {folio.label} referenced twice, PG_lru={int(folio_test_lru(folio))}"
        if folio_test_lru(folio):
            yield from k.fn.folio_activate(folio)
        else:
            yield from k.fn.__lru_cache_activate_folio(folio)
        folio_clear_referenced(folio)
    else:
        yield f"folio_mark_accessed: {folio.label} already active"


@kfunc
def folio_deactivate(k, folio):
    """folio_deactivate() (v5.12 deactivate_page): MADV_COLD.  The
    reference is taken inside the local_lock section, as in activate_page."""
    if folio_test_lru(folio) and folio_test_active(folio) and not folio_test_unevictable(folio):
        yield from k.fn.folio_batch_add_and_move(folio, "lru_deactivate", "lru_deactivate",
                                                 get=True)


@kfunc
def deactivate_file_folio(k, folio):
    """deactivate_file_folio() (v5.12 deactivate_file_page): invalidation.
    No PG_lru test: v5.12 only skips unevictable folios, and takes its
    reference with get_page_unless_zero() before the local_lock (the folio
    may be on its way to be freed); the drain's TestClearPageLRU skips a
    folio that is not on an LRU."""
    from .page import folio_try_get
    if folio_test_unevictable(folio):
        yield f"deactivate_file_folio: {folio.label} unevictable"
        return
    if not folio_try_get(folio):
        yield f"deactivate_file_folio: get_page_unless_zero({folio.label}) failed"
        return
    yield f"deactivate_file_folio: get_page_unless_zero({folio.label}) -> {folio._refcount}"
    yield from k.fn.folio_batch_add_and_move(folio, "lru_deactivate_file", "lru_deactivate_file")


@kfunc
def folio_mark_lazyfree(k, folio):
    """folio_mark_lazyfree() (v5.12 mark_page_lazyfree): MADV_FREE.  The
    reference is taken inside the local_lock section."""
    from .page import folio_test_anon, folio_test_swapbacked
    if (folio_test_lru(folio) and folio_test_anon(folio) and folio_test_swapbacked(folio)
            and not folio_test_unevictable(folio)):
        yield from k.fn.folio_batch_add_and_move(folio, "lru_lazyfree", "lru_lazyfree", get=True)


@kfunc
def folio_rotate_reclaimable(k, folio):
    """folio_rotate_reclaimable() (rotate_reclaimable_page): end of writeback
    of a folio marked for reclaim: move it to the inactive tail."""
    from .page import folio_test_dirty, folio_test_locked
    if (not folio_test_locked(folio) and not folio_test_dirty(folio)
            and not folio_test_unevictable(folio) and folio_test_lru(folio)):
        folio_get(folio)
        yield f"folio_rotate_reclaimable: get {folio.label}"
        yield from k.fn.folio_batch_add_and_move(folio, "lru_move_tail", "lru_move_tail", irq=True)
    else:
        _clear(folio, PG_reclaim)


# ------------------------------------------------------------------ drains
@kfunc
def lru_add_drain_cpu(k, cpu):
    """lru_add_drain_cpu(): flush every batch of ``cpu`` (this CPU, with its
    batch lock held, or a dead CPU)."""
    fbs = per_cpu(k.cpu_fbatches, cpu)
    m = k.m
    touch_read(m, fbs.lru_add.fpk)
    if fbs.lru_add.folios:
        yield from k.fn.folio_batch_move_lru(fbs.lru_add, "lru_add")
    touch_read(m, fbs.lru_move_tail.fpk)
    if fbs.lru_move_tail.folios:
        local_lock_irqsave(fbs.lock_irq)
        yield from k.fn.folio_batch_move_lru(fbs.lru_move_tail, "lru_move_tail")
        yield from local_unlock_irqrestore(fbs.lock_irq)
    for name in ("lru_deactivate_file", "lru_deactivate", "lru_lazyfree", "lru_activate"):
        fb = getattr(fbs, name)
        touch_read(m, fb.fpk)
        if fb.folios:
            yield from k.fn.folio_batch_move_lru(fb, name)


@kfunc
def lru_add_drain(k):
    """lru_add_drain(): drain this CPU's batches."""
    fbs = this_fbatches(k)
    local_lock(fbs.lock)
    yield from k.fn.lru_add_drain_cpu(k.m.current.cpu)
    yield from local_unlock(fbs.lock)


@kfunc
def lru_add_drain_per_cpu(k, work):
    """lru_add_drain_per_cpu(): the work item of lru_add_drain_all() (v5.13+
    also invalidates the bh LRU: not modelled)."""
    yield from k.fn.lru_add_drain()


@kfunc
def cpu_needs_drain(k, cpu):
    """cpu_needs_drain() (v5.18 name; open-coded before): racy reads of
    another CPU's batch counters."""
    fbs = per_cpu(k.cpu_fbatches, cpu)
    return any(folio_batch_count(getattr(fbs, name)) for name in BATCHES)


def do_lru_add_drain_all(k, *, force_all_cpus=False, queue_on_all_cpus=False,
                         mb_before_gen_load=True, mb_after_gen_bump=True, acquire_gen_load=True,
                         local_first=False):
    """The body of lru_add_drain_all() / __lru_add_drain_all(force) (v5.10+,
    generation shortcut of 6446a5131e24, v5.10), shared by the baseline and the
    patches that change it:

    * ``force_all_cpus``: skip the generation shortcut (__lru_add_drain_all(true));
    * ``queue_on_all_cpus``: queue the work on every online CPU, empty or not
      (the v5.13 - v5.17 forced mode; ff042f4a9b05 dropped it);
    * ``mb_before_gen_load`` / ``mb_after_gen_bump``: the smp_mb() at (A) and
      (D) of the swap.c comment; the mutant patches remove one;
    * ``acquire_gen_load``: the smp_load_acquire() at (B); the mutant
      without it loads with READ_ONCE();
    * ``local_first``: drain this CPU's batches (lru_add_drain) after
      loading the generation and before taking the mutex (Hugh Dickins,
      "mm: lru_add_drain_all() do local lru_add_drain() first", v6.18).

    Ordering argument: a CPU x that added folios and then calls this either
    sees a newer generation at (C) -- then the drainer that bumped it loads
    x's batch counters after (D) and therefore sees x's adds -- or it does
    the drain itself.
    """
    m = k.m
    if mb_before_gen_load:
        smp_mb(m)                                          # (A)
    if acquire_gen_load:
        this_gen = smp_load_acquire(k.lru_drain_gen)       # (B)
    else:
        this_gen = READ_ONCE(k.lru_drain_gen)
    yield f"lru_add_drain_all: this_gen = {this_gen}"
    if local_first:
        yield from k.fn.lru_add_drain()
    yield from mutex_lock(k.lru_add_drain_all_lock)
    if this_gen != READ_ONCE(k.lru_drain_gen) and not force_all_cpus:
        yield f"lru_add_drain_all: generation {READ_ONCE(k.lru_drain_gen)} already scheduled, done"
    else:
        WRITE_ONCE(k.lru_drain_gen, READ_ONCE(k.lru_drain_gen) + 1)
        if mb_after_gen_bump:
            smp_mb(m)                                      # (D)
        yield f"lru_add_drain_all: lru_drain_gen = {READ_ONCE(k.lru_drain_gen)}"
        has_work = []
        for cpu in range(m.ncpus):
            if queue_on_all_cpus or k.fn.cpu_needs_drain(cpu):
                work = per_cpu(k.lru_add_drain_work, cpu)
                INIT_WORK(work, k.fn.lru_add_drain_per_cpu)
                yield from queue_work_on(cpu, k.mm_percpu_wq, work)
                has_work.append(cpu)
            else:
                yield f"lru_add_drain_all: cpu{cpu} nothing to drain"
        for cpu in has_work:
            yield from flush_work(per_cpu(k.lru_add_drain_work, cpu))
    yield from mutex_unlock(k.lru_add_drain_all_lock)


@kfunc
def lru_add_drain_all(k):
    """lru_add_drain_all() (v5.10 - v5.12): drain every CPU whose batches
    look non-empty, unless a drain that started after our adds already did."""
    yield from do_lru_add_drain_all(k)


# ------------------------------------------------------------ references
@kfunc
def folios_put(k, folios):
    """folios_put() (v6.x; release_pages v5.x): drop one reference of each;
    a folio whose last reference goes is taken off its LRU and freed."""
    lruvec = None
    for folio in folios:
        if not folio_put_testzero(folio):
            yield f"folios_put: put {folio.label} (ref {folio._refcount})"
            continue
        yield f"folios_put: put {folio.label}, last reference"
        if folio_test_lru(folio):
            lruvec = yield from k.fn.folio_lruvec_relock_irqsave(folio, lruvec)
            k.fn.lruvec_del_folio(lruvec, folio)
            __folio_clear_lru_flags(folio)
        if lruvec is not None:
            yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
            lruvec = None
        yield from k.fn.free_folio(folio)


@kfunc
def __folio_put(k, folio):
    """__folio_put() (__put_page v5.x): the last reference is gone:
    __page_cache_release() takes it off its LRU, then it is freed."""
    if folio_test_lru(folio):
        lruvec = yield from k.fn.folio_lruvec_lock_irqsave(folio)
        k.fn.lruvec_del_folio(lruvec, folio)
        __folio_clear_lru_flags(folio)
        yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    yield from k.fn.free_folio(folio)


@kfunc
def folio_put(k, folio):
    """folio_put() (put_page)."""
    if folio_put_testzero(folio):
        yield f"folio_put: {folio.label} last reference"
        yield from k.fn.__folio_put(folio)
    else:
        yield f"folio_put: {folio.label} (ref {folio._refcount})"


# ---------------------------------------------------------------- oracles
def folio_in_cpu_batches(k, folio):
    """Where the folio waits in per-CPU batches: [(cpu, batch name)].  An
    omniscient view for oracles and tables, not kernel code; an oracle that
    runs inside a step reads every batch (its footprint says so)."""
    out = []
    m = k.m
    for cpu, fbs in enumerate(k.cpu_fbatches.slots):
        for name in BATCHES:
            fb = getattr(fbs, name)
            touch_read(m, fb.fpk)
            n = sum(1 for f in fb.folios if f is folio)
            out.extend([(cpu, name)] * n)
    return out


def folio_stranded_in_batches(k, folio):
    """Batches holding ``folio`` whose CPU is not inside its batch critical
    section: references that stay until some drain runs there."""
    ll = k.cpu_fbatches_lock
    lli = k.cpu_fbatches_lock_irq
    out = []
    for cpu, name in folio_in_cpu_batches(k, folio):
        touch_read(k.m, ll.cpu_key(cpu))
        touch_read(k.m, lli.cpu_key(cpu))
        if ll.owner[cpu] is None and lli.owner[cpu] is None:
            out.append((cpu, name))
    return out
