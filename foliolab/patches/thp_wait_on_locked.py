"""mm/migrate.c: rework migration_entry_wait() to not take a pageref.

Commit ffa65753c431 (Alistair Popple), Linux 5.17.  migration_entry_wait()
no longer takes a reference: migration_entry_wait_on_locked() finds the
folio (the head) of the entry, sets PG_waiters and queues the task on the
folio's wait queue *while still holding the PTE lock*, then drops the lock
and sleeps.  The page stays valid meanwhile because whoever installed the
migration entry holds a reference and must take the PTE lock to remove
it.  No transient reference: a waiter can no longer defeat
page_ref_freeze(), and head and tail waits are the same by construction.
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from ..engine.kernel import Patch
from ..engine.sync import spin_unlock
from ..mm.filemap import folio_waitqueue
from ..mm.huge_memory import compound_head
from ..mm.migrate import migration_pte_lock
from ..mm.page import PG_waiters, _set

PATCH = Patch(
    "b4-wait-on-locked",
    title="mm/migrate.c: rework migration_entry_wait() to not take a pageref",
    commit="ffa65753c431", date="2022-01", version="v5.17",
    summary="migration_entry_wait_on_locked(): queue on the folio's PG_locked under the "
            "PTE lock, no reference",
)


@PATCH.replaces()
def __migration_entry_wait(k, mm, address):
    """__migration_entry_wait() of v5.17: recheck under the PTE lock, then
    migration_entry_wait_on_locked(), which drops the lock."""
    page = yield from migration_pte_lock(k, mm, address)
    if page is None:
        return False
    yield from k.fn.migration_entry_wait_on_locked(mm, page)
    return True


@PATCH.adds()
def migration_entry_wait_on_locked(k, mm, page):
    """migration_entry_wait_on_locked() (v5.17, mm/filemap.c), PTE lock
    held: the folio of the entry, PG_waiters, queue unless already
    unlocked, then unlock the PTE lock and sleep; no reference taken."""
    m = k.m
    t = m.current
    folio = compound_head(page)
    q = folio_waitqueue(folio)
    _set(folio, PG_waiters)
    q.waiters.append(t)
    yield (f"migration_entry_wait_on_locked: {page.label} -> folio {folio.label}: "
           f"PG_waiters, queued (no reference)")
    yield from spin_unlock(mm.page_table_lock)
    touch_write(m, q.fpk)
    if t in q.waiters:
        m.block(t, q)
        yield f"migration_entry_wait_on_locked: io_schedule(), sleeps on {folio.label}"
