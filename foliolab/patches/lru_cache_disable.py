"""mm: disable LRU pagevec during the migration temporarily.

Commit d479960e44f2 (Minchan Kim, v5.13, merged May 2021; v2 of 9 Mar 2021
after Michal Hocko's review of the RFC), with 361a2a229fa3 ("mm: replace
migrate_[prep|finish] with lru_cache_[disable|enable]").

A global ``atomic_t lru_disable_count``.  lru_cache_disable() increments it
and then drains every online CPU in the forced mode of the new
__lru_add_drain_all(true): the generation shortcut is skipped and the drain
work is queued on every CPU, empty batches or not.  That per-CPU work is
also the ordering barrier: an adder that read the count as 0 is inside its
local_lock (preempt-off) section, so the work cannot run on its CPU until it
left it -- and then drains what it added; an adder that starts after the
work ran sees the new count, because the context switch to and from the
kworker is a full barrier.  Every batch add flushes at once while
lru_cache_disabled().  lru_cache_enable() is a bare atomic_dec.
__alloc_contig_migrate_range() brackets its migration loop with the pair.

Leaves open: the transient reference of a CPU in the middle of its own
flush (Race C), absorbed by the 10 passes; a SCHED_FIFO task that never
lets the kworker run makes lru_cache_disable() hang (fixed by ff042f4a9b05).
A caller that forgets lru_cache_enable() leaves batching off for good
(Miaohe Lin's fix to offline_pages, Aug 2021): the model checks that the
count is back to 0 once every task has finished.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.oracles import StateLeak
from ..engine.sync import atomic_dec, atomic_inc, atomic_read, atomic_t
from ..mm.page import folio_test_large
from ..mm.swap import do_lru_add_drain_all, folio_batch_add

PATCH = Patch(
    "lru-cache-disable", author='Minchan Kim',
    title="mm: disable LRU pagevec during the migration temporarily",
    commit="d479960e44f2", date="2021-05-05", version="v5.13",
    link="https://lore.kernel.org/linux-mm/20210310161429.399432-2-minchan@kernel.org/",
    summary="atomic lru_disable_count + forced drain of every online CPU; "
            "batch adds flush at once while disabled",
)


@PATCH.init
def lru_disable_count_init(k):
    k.lru_disable_count = atomic_t(k.m, "lru_disable_count")

    def check_balanced():
        n = atomic_read(k.lru_disable_count)
        if n != 0:
            raise StateLeak(
                f"lru_disable_count = {n} after every task finished: lru_cache_disable() "
                f"without lru_cache_enable(); per-CPU LRU batching stays off for good "
                f"(every batch add flushes at once)")
    k.m.quiesce_checks.append(check_balanced)


@PATCH.adds()
def lru_cache_disabled(k):
    """lru_cache_disabled(): atomic_read (a plain load) of the count."""
    return atomic_read(k.lru_disable_count) != 0


@PATCH.adds()
def __lru_add_drain_all(k, force_all_cpus):
    """__lru_add_drain_all() (v5.13 - v5.17): ``force_all_cpus`` skips the
    generation shortcut and queues the drain on every online CPU."""
    yield from do_lru_add_drain_all(k, force_all_cpus=force_all_cpus,
                                    queue_on_all_cpus=force_all_cpus)


@PATCH.replaces()
def lru_add_drain_all(k):
    yield from k.fn.__lru_add_drain_all(False)


@PATCH.adds()
def lru_cache_disable(k):
    """lru_cache_disable() (v5.13 - v5.17)."""
    yield from atomic_inc(k.lru_disable_count)
    yield from k.fn.__lru_add_drain_all(True)


@PATCH.adds()
def lru_cache_enable(k):
    """lru_cache_enable(): no barrier, no drain."""
    yield from atomic_dec(k.lru_disable_count)


@PATCH.replaces()
def folio_batch_add_and_need_flush(k, fbatch, folio):
    """pagevec_add_and_need_flush() of d479960e44f2."""
    return (folio_batch_add(k, fbatch, folio) == 0 or folio_test_large(folio)
            or k.fn.lru_cache_disabled())


@PATCH.replaces()
def __alloc_contig_migrate_range(k, cc, start, end):
    """__alloc_contig_migrate_range() (v5.13+): lru_cache_disable() instead
    of migrate_prep(), lru_cache_enable() after the loop."""
    from ..mm.page_alloc import alloc_contig_migrate_loop
    yield from k.fn.lru_cache_disable()
    ret = yield from alloc_contig_migrate_loop(k, cc, start, end, putback=False)
    yield from k.fn.lru_cache_enable()
    if ret < 0:
        yield from k.fn.putback_movable_pages(cc.migratepages)
    return ret


@PATCH.replaces()
def offline_pages(k, start_pfn, nr_pages):
    """offline_pages() (v5.13 - v5.14): lru_cache_disable() before the
    isolation, lru_cache_enable() on success only; an error path leaks the
    disable (fixed by Miaohe Lin, "mm/memory_hotplug: fix potential
    permanent lru cache disable", Aug 2021)."""
    from ..mm.memory_hotplug import offline_pages_body
    return (yield from offline_pages_body(k, start_pfn, nr_pages, lru_cache_bracket=True))
