"""mm: folio_may_be_lru_cached() unless folio_test_large().

Commit 2da6de30e60d (Hugh Dickins, v6.17-rc7; patch 5/5 of "mm: better GUP
pin lru_add_drain_all()" v2).  One helper, true iff the folio is small,
replaces the folio_test_large() flush conditions of swap.c and mlock.c and
guards both GUP drains: a large folio is never left in a per-CPU cache, so
draining for it is wasted.  No behaviour change for the small folios of the
gup_longterm scenarios (the model checks that the guard is consulted).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.page import folio_test_large
from ..mm.swap import folio_batch_add

PATCH = Patch(
    "g3-may-be-lru-cached",
    title="mm: folio_may_be_lru_cached() unless folio_test_large()",
    commit="2da6de30e60d", date="2025-09-08", version="v6.17",
    summary="folio_may_be_lru_cached() = !large: the batch flush condition and a guard "
            "on both GUP drains",
)


@PATCH.adds()
def folio_may_be_lru_cached(k, folio):
    """folio_may_be_lru_cached() (include/linux/swap.h, v6.17)."""
    return not folio_test_large(folio)


@PATCH.replaces()
def folio_batch_add_and_need_flush(k, fbatch, folio):
    """The v6.17 flush condition: full, !folio_may_be_lru_cached(), or
    lru_cache_disabled()."""
    disabled = "lru_cache_disabled" in k.fn and k.fn.lru_cache_disabled()
    return (folio_batch_add(k, fbatch, folio) == 0
            or not k.fn.folio_may_be_lru_cached(folio) or disabled)


@PATCH.replaces()
def mlock_flush_now(k, folio):
    disabled = "lru_cache_disabled" in k.fn and k.fn.lru_cache_disabled()
    return not k.fn.folio_may_be_lru_cached(folio) or disabled
