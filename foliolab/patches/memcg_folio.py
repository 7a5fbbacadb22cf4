"""Variant c2-folio: the v5.11 design in its v6.x folio form.

``folio_batch_move_lru()`` test-and-clears PG_lru for every op but lru_add
(folio_test_clear_lru), relocks with folio_lruvec_relock_irqsave() and sets
PG_lru again after the move; folio_lruvec_lock() documents the conditions
under which a folio's memcg is stable (v6.6 mm/memcontrol.c); the model's
baseline functions are written in that form.  What the variant adds over
c-test-clear-lru is the v6.x shape of the batches (the reference taken
before the batch lock, 31 entries: the era-folio-get-before-lock and
era-pagevec-31 patches of the v6.10 era) and of folios_put_refs() (v6.9):
the lruvec lock kept across the whole batch by __page_cache_release(), the
folios uncharged and freed after the loop.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.mm_inline import __folio_clear_lru_flags
from ..mm.page import folio_put_testzero, folio_test_lru

PATCH = Patch(
    "folios-put-refs",
    title="mm: convert free_unref_page_list to use a folio_batch; folios_put_refs",
    version="v6.9", date="2024-02",
    summary="folios_put_refs: lruvec lock kept across the batch, frees after the loop",
)


@PATCH.replaces()
def folios_put(k, folios):
    """folios_put() / folios_put_refs() (v6.9)."""
    lruvec = None
    to_free = []
    for folio in folios:
        if not folio_put_testzero(folio):
            yield f"folios_put: put {folio.label} (ref {folio._refcount})"
            continue
        yield f"folios_put: put {folio.label}, last reference"
        # __page_cache_release()
        if folio_test_lru(folio):
            lruvec = yield from k.fn.folio_lruvec_relock_irqsave(folio, lruvec)
            k.fn.lruvec_del_folio(lruvec, folio)
            __folio_clear_lru_flags(folio)
        to_free.append(folio)
    if lruvec is not None:
        yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    for folio in to_free:
        yield from k.fn.free_folio(folio)
