"""mm/gup: drain the LRU caches for an mlocked folio too (Will Deacon's proposal).

Will Deacon, "[PATCH] mm/gup: Drain batched mlock folio processing before
attempting migration" (15 Aug 2025, against v6.16/pKVM on a Pixel 6;
not merged: Hugh Dickins' v6.17 series replaced it).  crosvm's
mlock(MLOCK_ONFAULT) puts a faulted folio in the mlock batch with PG_lru
set; G0's ``!folio_test_lru`` heuristic does not drain and the pin fails.
The proposal: also drain when ``folio_test_mlocked(folio)``.  It relies on
33dfe9204f29 for the LRU batches (the variant carries it).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.gup import collect_longterm_unpinnable_folios_body
from ..mm.page import folio_test_lru, folio_test_mlocked

PATCH = Patch(
    "g2-drain-if-mlocked",
    title="mm/gup: Drain batched mlock folio processing before attempting migration",
    commit=None, date="2025-08-15", version="proposal (v6.17-rc)",
    link="https://lore.kernel.org/linux-mm/20250815101858.24352-1-will@kernel.org/",
    summary="drain_allow && (!folio_test_lru || folio_test_mlocked) -> lru_add_drain_all()",
)


def do_collect_longterm_unpinnable_folios(k, folio, drained):
    """Will's rule: drain all, once, for a folio without PG_lru or mlocked."""
    if not drained and (not folio_test_lru(folio) or folio_test_mlocked(folio)):
        yield (f"collect_longterm_unpinnable_folios: {folio.label} PG_lru "
               f"{'set' if folio_test_lru(folio) else 'clear'}, mlocked: drain all")
        yield from k.fn.lru_add_drain_all()
        return 2
    return drained


@PATCH.replaces()
def collect_longterm_unpinnable_folios(k, movable_list, pages):
    """collect_longterm_unpinnable_folios() with Will's condition."""
    return (yield from collect_longterm_unpinnable_folios_body(
        k, movable_list, pages, do_collect_longterm_unpinnable_folios))
