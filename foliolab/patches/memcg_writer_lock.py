"""Hugh Dickins' fix 4 to v11 alone: "Adds lruvec lock protection in
mem_cgroup_move_account()" (10 Jun 2020, seed 004; never posted as such).

The memcg writer holds the *old* lruvec's lock while it stores the new
memcg, so a reader that already holds that lock cannot see the store
happen under it.  Hugh dropped it as incomplete: it needs "the appropriate
locking (or TestClearPageLRU magic) at the other end".  A reader that looked
the lruvec up before the store and only *then* waits for the old lock gets
it after the writer released it and still holds the wrong lock: variant
b4-writer-lock (v11 plus this) keeps the bug; variant d (plus a recheck
under the lock) closes it.  The diff was not found; the model follows the
description (lock order move_lock -> lru_lock, as in v5.11).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import spin_lock_irqsave, spin_unlock_irqrestore
from ..mm.page import page_fp_write

PATCH = Patch(
    "writer-lruvec-lock",
    title="memcg: hold the old lruvec lock around the memcg store in mem_cgroup_move_account",
    date="2020-06-10", version="proposal (Hugh Dickins, fix 4 to v11)",
    summary="mem_cgroup_move_account stores page->mem_cgroup under from's lruvec lock",
)


@PATCH.replaces()
def mem_cgroup_move_account_store(k, folio, from_, to):
    """The memcg store with ``from``'s lruvec lock held (inside move_lock)."""
    lv = from_.nodeinfo[0]
    yield from spin_lock_irqsave(lv.lru_lock)
    page_fp_write(folio)
    folio.memcg_data = to
    yield (f"mem_cgroup_move_account: {folio.label}->mem_cgroup = {to.name} "
           f"under {lv.name}->lru_lock")
    yield from spin_unlock_irqrestore(lv.lru_lock)
