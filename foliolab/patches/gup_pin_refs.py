"""mm/gup: fix always draining LRU caches in collect_longterm_unpinnable_folios().

2026 mm tree (title only in the logs; with "mm/gup: factor out LRU cache
draining for folio into lru_cache_drain_for_folio()").  v6.17 compares the
refcount with folio_expected_ref_count() + 1, but the caller holds a
FOLL_PIN on every folio: GUP_PIN_COUNTING_BIAS (1024) on a small folio, 1
on a large one (plus _pincount).  So every small folio mismatched and every
pin paid a local drain and a drain_all.  The fix passes the pin's
references (``pin_refs``).  The model's reading of the title; the commit
message was not retrieved.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.page import GUP_PIN_COUNTING_BIAS, folio_test_large
from .hugh_gup_local_drain import collect_with_drains

PATCH = Patch(
    "g4-pin-refs",
    title="mm/gup: fix always draining LRU caches in collect_longterm_unpinnable_folios()",
    commit=None, date="2026", version="mm tree (2026)", requires=("g3-gup-local-drain",),
    summary="expected + pin_refs (1024 for a small folio, 1 for a large one) instead of + 1",
)


def pin_refs(folio):
    return 1 if folio_test_large(folio) else GUP_PIN_COUNTING_BIAS


@PATCH.replaces()
def collect_longterm_unpinnable_folios(k, movable_list, pages):
    """collect_longterm_unpinnable_folios() with the pin's references."""
    return (yield from collect_with_drains(k, movable_list, pages, pin_refs))
