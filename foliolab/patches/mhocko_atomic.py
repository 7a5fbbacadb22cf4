"""Re: [RFC 1/2] mm: disable LRU pagevec during the migration temporarily.

Michal Hocko's review of Minchan's RFC, 17 Feb 2021 (seed 000): "Have you
tried to play with a simple atomic counter approach? atomic_read when adding
to the cache and atomic_inc inside migrate_prep followed by lru_add_drain."
A reviewer's sketch, never posted as a patch nor merged; the model writes it
exactly as sketched, before the forced drain of d479960e44f2 was added.

Against the RFC it drops the spinlock and the per-CPU dummy-work round:

* ``atomic_t migrate_pending_count``; migrate_pending() is atomic_read(), a
  plain READ_ONCE on x86, done by every batch add after it queued the folio
  (the RFC's flush condition, unchanged);
* migrate_prep(): atomic_inc(), then the v5.12 migrate_prep() -- a plain
  lru_add_drain_all() with the generation shortcut, which queues the drain
  only on the CPUs whose batch counters look non-empty;
* migrate_finish(): atomic_dec(); the RFC's call sites pair it with
  migrate_prep() (here __alloc_contig_migrate_range()).

Under sequential consistency this closes Race A and B: an adder that read
the count as 0 stored its batch counter before, so the drain, which reads
the counters after the increment, sees it and drains that CPU.  Under x86-TSO
it does not: the adder's store to ``fbatch.nr`` can still sit in its store
buffer when it reads the count as 0, while the migrator's atomic_inc is
visible at once and its drain reads that CPU's counter from memory as 0 and
skips the CPU -- store buffering (the SB litmus shape), which a locked
increment on one side alone does not forbid.  Nothing runs on the adder's
CPU to drain the folio afterwards.  This is exactly the reordering that
Minchan's "IPI barrier" (dummy work flushed on every CPU before the drain)
and the forced drain of every CPU in d479960e44f2 exist to close: either way
the adder's CPU passes a context switch, a full barrier, after the increment.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.oracles import StateLeak
from ..engine.sync import atomic_dec, atomic_inc, atomic_read, atomic_t
from .minchan_rfc import __alloc_contig_migrate_range as rfc_alloc_contig_migrate_range
from .minchan_rfc import folio_batch_add_and_need_flush as rfc_folio_batch_add_and_need_flush

PATCH = Patch(
    "mhocko-atomic", author='Michal Hocko',
    title="Re: [RFC 1/2] mm: disable LRU pagevec during the migration temporarily "
          "(review: a simple atomic counter)",
    date="2021-02-17",
    link="https://lore.kernel.org/linux-mm/20210216170348.1513483-1-minchan@kernel.org/",
    summary="atomic_read after the batch add; migrate_prep = atomic_inc + plain "
            "lru_add_drain_all (no forced drain); migrate_finish = atomic_dec",
)


@PATCH.init
def migrate_pending_init(k):
    k.migrate_pending_count = atomic_t(k.m, "migrate_pending_count")

    def check_balanced():
        n = atomic_read(k.migrate_pending_count)
        if n != 0:
            raise StateLeak(f"migrate_pending_count = {n} after every task finished: "
                            f"migrate_prep() without migrate_finish(); batching stays off")
    k.m.quiesce_checks.append(check_balanced)


@PATCH.adds()
def migrate_pending(k):
    """migrate_pending(): atomic_read (a plain load, no barrier)."""
    return atomic_read(k.migrate_pending_count) != 0


@PATCH.wraps()
def migrate_prep(k, orig):
    """migrate_prep(): the increment, then the v5.12 body (a plain
    lru_add_drain_all(), not forced)."""
    yield from atomic_inc(k.migrate_pending_count)
    yield from orig()


@PATCH.adds()
def migrate_finish(k):
    """migrate_finish(): a bare atomic_dec, no barrier, no work."""
    yield from atomic_dec(k.migrate_pending_count)


# The add path and the migrate_prep()/migrate_finish() bracket are the RFC's:
# "if (!pagevec_add(pvec, page) || PageCompound(page) || migrate_pending())"
# and __alloc_contig_migrate_range() calling the pair around its loop.
PATCH.replaces("folio_batch_add_and_need_flush")(rfc_folio_batch_add_and_need_flush)
PATCH.replaces("__alloc_contig_migrate_range")(rfc_alloc_contig_migrate_range)
