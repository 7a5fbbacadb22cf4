"""Free page reporting as merged for v5.7 (36e66c554b5c "mm: introduce
Reported pages", Alexander Duyck's v17 series, Feb 2020; v5.7 - v5.9).

The model's baseline is v5.10 - v5.12, where __putback_isolated_page()
passes FPI_TO_TAIL | FPI_SKIP_REPORT_NOTIFY.  In v5.7 the put-back called
__free_one_page() with report=false and no placement flag: the block goes
to the head of its list unless buddy_merge_likely() says its buddy's
buddy is free (the comment says "tail"; the placement did not follow it).
Timing only: a reported block at the head is the next one handed out.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import lockdep_assert_held
from ..mm.page_alloc import FPI_SKIP_REPORT_NOTIFY

PATCH = Patch(
    "page-reporting-putback-5.7",
    title="mm: introduce Reported pages (as merged: put back without FPI_TO_TAIL)",
    commit="36e66c554b5c", date="2020-04-07", version="v5.7",
    summary="__putback_isolated_page places the block by buddy_merge_likely, not at the tail",
)


@PATCH.replaces("__putback_isolated_page")
def __putback_isolated_page(k, page, order, mt):
    """__putback_isolated_page() (v5.7 - v5.9)."""
    zone = k.zone
    lockdep_assert_held(zone.lock)
    k.fn.__free_one_page(page, page.pfn, zone, order, mt, FPI_SKIP_REPORT_NOTIFY)
