"""Variant e: lock_page_memcg() before the lru_lock (v17 of the series,
25 Jul 2020; Hugh Dickins' alternative of 11 Jun 2020).

The reader stabilises the page's memcg with lock_page_memcg() -- which
takes ``memcg->move_lock`` while a charge move is under way, excluding
mem_cgroup_move_account()'s store -- and only then relocks the lruvec by
that memcg.  v17's ``__munlock_pagevec()`` did this per page inside its
relock loop: on the second page lock_page_memcg() is taken *while the
lruvec lock of the first is still held*, the reverse of the order
move_lock -> lru_lock that page_remove_rmap() (clear_page_mlock) and the
narrowed THP split establish.  Hugh (v18 review, 8 Sep 2020): it "looks
good but it isn't"; lockdep caught it at reboot, via systemd's munlock.
The same technique is applied to pagevec_lru_move_fn here.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.page import folio_test_clear_lru
from .era_v5_11 import TestClearPageMlocked
from .memcg_v11 import pagevec_lru_move_fn_body

PATCH = Patch(
    "memcg-lock-first",
    title="mm/mlock: lock_page_memcg in __munlock_pagevec; lock_page_memcg before relock "
          "(v17 of the per-memcg lru_lock series)",
    date="2020-07-25", version="v17",
    link="https://lore.kernel.org/linux-mm/1595681998-19193-1-git-send-email-alex.shi@linux.alibaba.com/",
    summary="readers take lock_page_memcg, then relock the lruvec; v17 __munlock_pagevec",
)


@PATCH.replaces()
def folio_batch_move_lru(k, fbatch, move_fn):
    return (yield from pagevec_lru_move_fn_body(k, fbatch, move_fn, memcg_lock=True))


@PATCH.replaces()
def __munlock_pagevec(k, folios):
    """__munlock_pagevec() phase 1 (v17): per page, lock_page_memcg(), relock
    the lruvec by the now-stable memcg, TestClearPageMlocked and
    TestClearPageLRU, delete, unlock_page_memcg() -- with the lruvec lock
    still held for the next page."""
    lruvec = None
    isolated = []
    others = []
    for folio in folios:
        memcg = yield from k.fn.lock_page_memcg(folio)
        lruvec = yield from k.fn.folio_lruvec_relock_irq(folio, lruvec)
        if TestClearPageMlocked(folio) and folio_test_clear_lru(folio):
            k.fn.lruvec_del_folio(lruvec, folio)
            isolated.append(folio)
            yield f"__munlock_pagevec: {folio.label} munlocked, off {lruvec.name}"
        else:
            others.append(folio)
            yield f"__munlock_pagevec: {folio.label} not isolated"
        yield from k.fn.__unlock_page_memcg(memcg)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irq(lruvec)
    yield from k.fn.__munlock_phase2(isolated, others)
