"""Fixes the v5.12 baseline contains, made removable: a user who wants the
kernel before a fix applies its revert (``--patch revert-ad53f92eb416``)
instead of copying function bodies.  ``foliolab list`` shows, per family
era, the fixes the baseline contains and which revert drops each
(patches/eras.py, ``Era.contains``)."""

from __future__ import annotations

from ..engine.kernel import Patch

REVERT_AD53F92EB416 = Patch(
    "revert-ad53f92eb416",
    title='Revert "mm/page_alloc: fix incorrect isolation behavior by rechecking migratetype"',
    summary="free_one_page() trusts the migratetype read before zone->lock (the kernel "
            "before v3.19): a page freed into a pageblock isolated meanwhile lands on a "
            "non-ISOLATE free list",
    commit="ad53f92eb416", author="Joonsoo Kim")
REVERT_AD53F92EB416.revert_of = "ad53f92eb416"


@REVERT_AD53F92EB416.replaces("free_one_page_migratetype")
def free_one_page_migratetype(k, zone, page, pfn, migratetype):
    return migratetype


PATCHES = (REVERT_AD53F92EB416,)
