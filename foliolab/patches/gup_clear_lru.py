"""mm/gup: clear the LRU flag of a page before adding to LRU batch.

Commit 33dfe9204f29 (yangge, v6.11, merged Jul 2024; V4 of 4 Jul 2024,
reviewed by Hugh Dickins on 12 Jul 2024: seed 002).  Every adder but
lru_add test-and-clears PG_lru before it queues the folio (and gives up,
dropping its reference, when somebody else holds PG_lru: the folio is
isolated or already in a batch); the drain no longer test-and-clears, it
moves the folio and sets PG_lru.  The invariant it buys: PG_lru set <=> on
an LRU list and in no LRU batch, so collect_longterm_unpinnable_folios()'s
``!folio_test_lru()`` drain heuristic sees every LRU batch.  The mlock
batch is not covered.  Reverted in v6.17 by afb99e9f5004.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.page import (
    folio_get, folio_test_active, folio_test_clear_lru, folio_test_unevictable,
)
from ..mm.swap import folio_batch_move_lru_body

PATCH = Patch(
    "g1-clear-lru",
    title="mm/gup: clear the LRU flag of a page before adding to LRU batch",
    commit="33dfe9204f29", date="2024-07-04", version="v6.11",
    link="https://lore.kernel.org/linux-mm/1720075944-27201-1-git-send-email-yangge1116@126.com/",
    summary="adders test-and-clear PG_lru before queueing; the drain just moves and sets it",
)


def _queue_cleared(k, folio, batch, move_fn, who, irq=False):
    """V4's shape: folio_get(), then folio_test_clear_lru(); a failure drops
    the reference again and the request is lost (best effort)."""
    folio_get(folio)
    if not folio_test_clear_lru(folio):
        yield f"{who}: {folio.label} PG_lru already clear, not queued"
        yield from k.fn.folio_put(folio)
        return
    yield f"{who}: get {folio.label} (ref {folio._refcount}), PG_lru cleared"
    yield from k.fn.folio_batch_add_and_move(folio, batch, move_fn, irq=irq)


@PATCH.replaces()
def folio_activate(k, folio):
    """folio_activate() (v6.11 - v6.16)."""
    if not folio_test_active(folio) and not folio_test_unevictable(folio):
        yield from _queue_cleared(k, folio, "lru_activate", "lru_activate", "folio_activate")
    else:
        yield f"folio_activate: {folio.label} active or unevictable"


@PATCH.replaces()
def folio_deactivate(k, folio):
    """folio_deactivate() (v6.11 - v6.16)."""
    lru_gen = getattr(k, "lru_gen_enabled", False)
    if not folio_test_unevictable(folio) and (folio_test_active(folio) or lru_gen):
        yield from _queue_cleared(k, folio, "lru_deactivate", "lru_deactivate",
                                  "folio_deactivate")


@PATCH.replaces()
def deactivate_file_folio(k, folio):
    """deactivate_file_folio() (v6.11 - v6.16)."""
    if folio_test_unevictable(folio):
        yield f"deactivate_file_folio: {folio.label} unevictable"
        return
    yield from _queue_cleared(k, folio, "lru_deactivate_file", "lru_deactivate_file",
                              "deactivate_file_folio")


@PATCH.replaces()
def folio_mark_lazyfree(k, folio):
    """folio_mark_lazyfree() (v6.11 - v6.16)."""
    from ..mm.page import folio_test_anon, folio_test_swapbacked
    if (folio_test_anon(folio) and folio_test_swapbacked(folio)
            and not folio_test_unevictable(folio)):
        yield from _queue_cleared(k, folio, "lru_lazyfree", "lru_lazyfree",
                                  "folio_mark_lazyfree")


@PATCH.replaces()
def folio_rotate_reclaimable(k, folio):
    """folio_rotate_reclaimable() (v6.11 - v6.16): into the IRQ-safe
    move_tail batch, PG_lru cleared first."""
    from ..mm.page import PG_reclaim, _clear, folio_test_dirty, folio_test_locked
    if folio_test_locked(folio) or folio_test_dirty(folio) or folio_test_unevictable(folio):
        _clear(folio, PG_reclaim)
        yield f"folio_rotate_reclaimable: {folio.label} not rotated"
        return
    yield from _queue_cleared(k, folio, "lru_move_tail", "lru_move_tail",
                              "folio_rotate_reclaimable", irq=True)


@PATCH.replaces()
def folio_batch_move_lru(k, fbatch, move_fn):
    """folio_batch_move_lru() (v6.11 - v6.16): every queued folio is ours
    (its PG_lru was cleared at add time): move it and set PG_lru."""
    return (yield from folio_batch_move_lru_body(k, fbatch, move_fn, False))
