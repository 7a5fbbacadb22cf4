"""mm: vmscan.c: fix OOM on swap stress test.

Commit 0885ef470560 (Chris Li, suggested by Yu Zhao and Hugh Dickins; v6.12
merge window, backported to 6.11.y; Sep 2024).  Under 33dfe9204f29 many
folios of MGLRU's oldest generation sit in per-CPU batches with PG_lru
clear: scan_folios() can neither sort nor isolate them, splices them back
into the same generation, and reclaim makes no progress (OOM within
minutes of a tmpfs kernel build in a 470M memcg).  The fix makes
``!folio_test_lru`` one of sort_folio()'s "ineligible" conditions: the folio
moves one generation up and the oldest generation can empty.  Reverted in
v6.17 (8d79ed36bfc8) with the commit it fixed.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.page import folio_test_locked, folio_test_lru, folio_test_writeback
from ..mm.vmscan import _lrugen, folio_inc_gen, folio_lru_gen, lru_gen_from_seq

PATCH = Patch(
    "mglru-fix",
    title="mm: vmscan.c: fix OOM on swap stress test",
    commit="0885ef470560", date="2024-09", version="v6.12 (6.11.y)",
    requires=("g1-clear-lru",),
    summary="sort_folio(): a folio without PG_lru is ineligible: one generation up",
)


@PATCH.replaces()
def sort_folio(k, lruvec, folio):
    """sort_folio() with 0885ef470560."""
    lrugen = _lrugen(lruvec)
    if folio_lru_gen(folio) != lru_gen_from_seq(lrugen.min_seq):
        return True
    if not folio_test_lru(folio):
        folio_inc_gen(k, lruvec, folio)
        return True
    if folio_test_locked(folio) or folio_test_writeback(folio):
        folio_inc_gen(k, lruvec, folio)
        return True
    return False
