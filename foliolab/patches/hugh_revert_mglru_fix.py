"""Revert "mm: vmscan.c: fix OOM on swap stress test".

Commit 8d79ed36bfc8 (Hugh Dickins, v6.17-rc7; patch 4/5 of "mm: better GUP
pin lru_add_drain_all()" v2): 0885ef470560 fixed a consequence of
33dfe9204f29, which patch 3/5 reverts; sort_folio() goes back to its
v6.10 form.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm import vmscan

PATCH = Patch(
    "g3-revert-mglru-fix",
    title='Revert "mm: vmscan.c: fix OOM on swap stress test"',
    commit="8d79ed36bfc8", date="2025-09-08", version="v6.17", requires=("mglru-fix",),
    summary="sort_folio() without the !PG_lru condition again",
)

PATCH.replaces("sort_folio")(vmscan.sort_folio)
