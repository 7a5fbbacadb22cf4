"""Variant d: lock, recheck the memcg, retry (Hugh Dickins' own approach,
11 Jun 2020; Muchun Song, "[RFC PATCH v4 12/12] mm: lru: use lruvec lock to
serialize memcg changes", 27 May 2021, "a partial revert of the commit
fc574c23558c").

``lock_page_lruvec*()`` look the lruvec up, take its lock and, if the page's
memcg is no longer the lruvec's, drop it and try again.  Together with the
writer storing the new memcg under the old lruvec's lock
(writer-lruvec-lock), the memcg a lock holder sees cannot change under it,
so pagevec_lru_move_fn() can go back to checking PageLRU under the lock
without TestClearPageLRU (one atomic less per page).  Muchun's diff (read in
the list archive) is what the model does: lock_page_lruvec*() retry while
lruvec_memcg() != page_memcg(), mem_cgroup_move_account() stores
page->memcg_data under from_vec->lru_lock, pagevec_lru_move_fn() drops its
TestClearPageLRU()/SetPageLRU() and each move function tests PageLRU.
Whether it was merged after v6.6 is not recorded here [unverified].
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import (
    spin_lock_irq, spin_lock_irqsave, spin_unlock_irq, spin_unlock_irqrestore,
)
from .memcg_v11 import pagevec_lru_move_fn_body

PATCH = Patch(
    "lock-recheck",
    title="mm: memcontrol: lock the lruvec, recheck the memcg, retry",
    date="2021-05-27", version="RFC (Muchun Song; Hugh Dickins' idea of June 2020)",
    link="https://lore.kernel.org/linux-mm/20210527093336.14895-13-songmuchun@bytedance.com/",
    summary="lock_page_lruvec* retry until the locked lruvec is the page's memcg's; "
            "pagevec_lru_move_fn checks PageLRU under the lock",
)


def _lock_recheck(k, folio, lock, unlock):
    while True:
        lv = k.fn.folio_lruvec(folio)
        yield from lock(lv.lru_lock)
        if k.fn.lruvec_memcg(lv) is k.fn.folio_memcg(folio):
            k.fn.lruvec_memcg_debug(lv, folio)
            return lv
        yield from unlock(lv.lru_lock)


@PATCH.replaces()
def folio_lruvec_lock_irqsave(k, folio):
    return (yield from _lock_recheck(k, folio, spin_lock_irqsave, spin_unlock_irqrestore))


@PATCH.replaces()
def folio_lruvec_relock_irqsave(k, folio, locked):
    """Keep ``locked`` if the page's memcg is its memcg: with the lock held
    the memcg cannot move away (the writer needs this lock)."""
    if locked is not None:
        if k.fn.folio_lruvec(folio) is locked:
            return locked
        yield from spin_unlock_irqrestore(locked.lru_lock)
    return (yield from _lock_recheck(k, folio, spin_lock_irqsave, spin_unlock_irqrestore))


@PATCH.replaces()
def folio_lruvec_relock_irq(k, folio, locked):
    if locked is not None:
        if k.fn.folio_lruvec(folio) is locked:
            return locked
        yield from spin_unlock_irq(locked.lru_lock)
    return (yield from _lock_recheck(k, folio, spin_lock_irq, spin_unlock_irq))


@PATCH.replaces()
def folio_batch_move_lru(k, fbatch, move_fn):
    """pagevec_lru_move_fn() without TestClearPageLRU: PageLRU under the
    (rechecked) lock."""
    return (yield from pagevec_lru_move_fn_body(k, fbatch, move_fn))
