"""mm: gup: fix infinite loop within __get_longterm_locked.

Commit 1aaf8c122918 (Zhaoyang Huang, early 2025; reverted in June 2025
after Hyesoo Yu showed CMA pages ending up long-term pinned).  When
unpinnable folios were found but none could be isolated onto the list
(they were momentarily off the LRU: in an lru_add batch, or isolated by a
concurrent pinner), check_and_migrate_movable_pages() returned success:
the pins stay, on folios that may not be pinned long-term.
"""

from __future__ import annotations

from ..engine.kernel import Patch

PATCH = Patch(
    "h-empty-list-success",
    title="mm: gup: fix infinite loop within __get_longterm_locked",
    commit="1aaf8c122918", date="2025-01-21", version="v6.14 (reverted 2025-06)",
    link="https://lkml.kernel.org/r/20250121020159.3636477-1-zhaoyang.huang@unisoc.com",
    summary="nothing isolated onto the list -> return 0 (pins kept)",
)


@PATCH.replaces()
def check_and_migrate_movable_pages(k, pages):
    """check_and_migrate_movable_pages() of 1aaf8c122918: an empty list is
    success, whatever was collected."""
    movable_list = []
    yield from k.fn.collect_longterm_unpinnable_folios(movable_list, pages)
    if not movable_list:
        yield "check_and_migrate_movable_pages: nothing isolated, success (pins kept)"
        return 0
    return (yield from k.fn.migrate_longterm_unpinnable_folios(movable_list, pages))
