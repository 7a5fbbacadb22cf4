"""[RFC 1/2] mm: disable LRU pagevec during the migration temporarily.

Minchan Kim, 16 Feb 2021 (seed 000); not merged in this form.

State: ``migrate_pending_lock`` (spinlock), ``migrate_pending_count`` (an
unsigned long read with plain loads) and a per-CPU dummy work
``migrate_pending_work``.  migrate_prep() increments the count under the
lock, queues the dummy work on every online CPU and flushes all of them
(the "IPI barrier": every CPU has passed a context switch after the
increment), then drains with lru_add_drain_all().  migrate_finish() -- new,
every migrate_prep() caller must pair it -- decrements the count and queues
the dummy work again without flushing it.  Every batch add flushes at once
while migrate_pending().

Michal Hocko's review: the barrier round is not an IPI, the plain load
could be an atomic_read, and draining right after disabling is enough.
Hazards the model can show: the flush of the barrier work hangs behind a
SCHED_FIFO busy loop (like d479960e44f2), and a migrate_prep() that runs
while the previous migrate_finish()'s dummy work is still pending calls
INIT_WORK on an active work item (CONFIG_DEBUG_OBJECTS_WORK).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.memory import READ_ONCE, WRITE_ONCE, Shared
from ..engine.oracles import StateLeak
from ..engine.percpu import DEFINE_PER_CPU, per_cpu
from ..engine.sync import spin_lock, spin_unlock, spinlock_t
from ..engine.workqueue import INIT_WORK, flush_work, queue_work_on, work_struct
from ..mm.page import folio_test_large
from ..mm.swap import folio_batch_add

PATCH = Patch(
    "minchan-rfc", author='Minchan Kim',
    title="[RFC 1/2] mm: disable LRU pagevec during the migration temporarily",
    date="2021-02-16",
    link="https://lore.kernel.org/linux-mm/20210216170348.1513483-1-minchan@kernel.org/",
    summary="spinlock + plain counter, dummy work flushed on every CPU, then drain; "
            "migrate_finish() queues the work again without flushing",
)


@PATCH.init
def migrate_pending_init(k):
    m = k.m
    k.migrate_pending_lock = spinlock_t(m, "migrate_pending_lock")
    k.migrate_pending_count = Shared(m, "migrate_pending_count", 0)
    k.migrate_pending_work = DEFINE_PER_CPU(
        m, "migrate_pending_work", lambda cpu: work_struct(m, f"migrate_pending_work/{cpu}"))

    def check_balanced():
        n = k.migrate_pending_count.v
        if n != 0:
            raise StateLeak(f"migrate_pending_count = {n} after every task finished: "
                            f"migrate_prep() without migrate_finish(); batching stays off")
    m.quiesce_checks.append(check_balanced)


def read_migrate_pending(k, work):
    """The dummy work ("TODO: not sure it's needed")."""
    READ_ONCE(k.migrate_pending_count)
    yield "read_migrate_pending"


@PATCH.adds()
def migrate_pending(k):
    return READ_ONCE(k.migrate_pending_count) != 0


@PATCH.replaces()
def migrate_prep(k):
    yield from spin_lock(k.migrate_pending_lock)
    WRITE_ONCE(k.migrate_pending_count, READ_ONCE(k.migrate_pending_count) + 1)
    yield f"migrate_prep: migrate_pending_count = {READ_ONCE(k.migrate_pending_count)}"
    yield from spin_unlock(k.migrate_pending_lock)
    for cpu in range(k.m.ncpus):
        work = per_cpu(k.migrate_pending_work, cpu)
        INIT_WORK(work, lambda w: read_migrate_pending(k, w))
        yield from queue_work_on(cpu, k.mm_percpu_wq, work)
    for cpu in range(k.m.ncpus):
        yield from flush_work(per_cpu(k.migrate_pending_work, cpu))
    yield from k.fn.lru_add_drain_all()


@PATCH.adds()
def migrate_finish(k):
    yield from spin_lock(k.migrate_pending_lock)
    WRITE_ONCE(k.migrate_pending_count, READ_ONCE(k.migrate_pending_count) - 1)
    yield f"migrate_finish: migrate_pending_count = {READ_ONCE(k.migrate_pending_count)}"
    yield from spin_unlock(k.migrate_pending_lock)
    for cpu in range(k.m.ncpus):
        work = per_cpu(k.migrate_pending_work, cpu)
        INIT_WORK(work, lambda w: read_migrate_pending(k, w))
        yield from queue_work_on(cpu, k.mm_percpu_wq, work)


@PATCH.replaces()
def folio_batch_add_and_need_flush(k, fbatch, folio):
    return (folio_batch_add(k, fbatch, folio) == 0 or folio_test_large(folio)
            or k.fn.migrate_pending())


@PATCH.replaces()
def __alloc_contig_migrate_range(k, cc, start, end):
    from ..mm.page_alloc import alloc_contig_migrate_loop
    yield from k.fn.migrate_prep()
    ret = yield from alloc_contig_migrate_loop(k, cc, start, end, putback=False)
    yield from k.fn.migrate_finish()
    if ret < 0:
        yield from k.fn.putback_movable_pages(cc.migratepages)
    return ret
