"""Revert "mm/gup: clear the LRU flag of a page before adding to LRU batch".

Commit afb99e9f5004 (Hugh Dickins, v6.17-rc7; patch 3/5 of "mm: better GUP
pin lru_add_drain_all()" v2).  With GUP checking the refcount (98c6d259319e)
the PG_lru trick of 33dfe9204f29 is no longer needed, it never covered the
mlock batch, and it widened the window in which mlock/munlock miss an
mlock_count update.  The adders and the drain go back to their v6.10 form:
PG_lru stays set while an activate, deactivate, lazyfree or move_tail
request waits, and the drain test-and-clears it.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm import swap
from . import era_v6

PATCH = Patch(
    "g3-revert-clear-lru",
    title='Revert "mm/gup: clear the LRU flag of a page before adding to LRU batch"',
    commit="afb99e9f5004", date="2025-09-08", version="v6.17", requires=("g1-clear-lru",),
    summary="PG_lru set while queued again; the drain test-and-clears it",
)

for _f in (era_v6.folio_activate, era_v6.folio_deactivate, era_v6.deactivate_file_folio,
           era_v6.folio_mark_lazyfree, swap.folio_rotate_reclaimable, swap.folio_batch_move_lru):
    PATCH.replaces(_f.__name__)(_f)
