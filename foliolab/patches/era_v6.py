"""Era patches: what moved the v5.12 baseline to the v6.10 kernel of the
gup_longterm family (with lru-cache-disable, sync-rcu and
sync-rcu-expedited, the v5.13 - v5.19 patches of the lru_cache family).

Each patch names the commits it stands for.  Only what the gup_longterm
scenarios reach is moved; docs/architecture.md ("Kernel eras") lists what
the v6.10 era still runs with v5.12 code.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import local_lock, local_unlock
from ..mm.page import (
    folio_get, folio_test_active, folio_test_lru, folio_test_unevictable,
)

# ----------------------------------------------------------- folio batches
FOLIO_GET_BEFORE_LOCK = Patch(
    "era-folio-get-before-lock",
    title="mm/swap: folio adders take the batch reference before the local_lock",
    commit="the v5.16 - v6.0 folio conversion of mm/swap.c (Matthew Wilcox)",
    date="2021-2022", version="v6.0",
    summary="folio_activate, folio_deactivate, folio_mark_lazyfree: folio_get() "
            "just before local_lock() (v5.12: get_page() inside it); "
            "deactivate_file_folio: folio_get(), no get_page_unless_zero()",
)


@FOLIO_GET_BEFORE_LOCK.replaces()
def folio_activate(k, folio):
    """folio_activate() (v6.0 - v6.10, SMP): the reference is taken before
    the local_lock, so another task may run on this CPU between the two
    (checked against the v6.10 context of 33dfe9204f29)."""
    if folio_test_lru(folio) and not folio_test_active(folio) and not folio_test_unevictable(folio):
        folio_get(folio)
        yield f"folio_activate: get {folio.label} (ref {folio._refcount})"
        yield from k.fn.folio_batch_add_and_move(folio, "lru_activate", "lru_activate")
    else:
        yield f"folio_activate: {folio.label} not an inactive LRU folio"


@FOLIO_GET_BEFORE_LOCK.replaces()
def folio_deactivate(k, folio):
    """folio_deactivate() (v6.0 - v6.10): MADV_COLD (with MGLRU: any LRU
    folio; lru_gen_enabled() is the scenario's)."""
    lru_gen = getattr(k, "lru_gen_enabled", False)
    if (folio_test_lru(folio) and not folio_test_unevictable(folio)
            and (folio_test_active(folio) or lru_gen)):
        folio_get(folio)
        yield f"folio_deactivate: get {folio.label} (ref {folio._refcount})"
        yield from k.fn.folio_batch_add_and_move(folio, "lru_deactivate", "lru_deactivate")


@FOLIO_GET_BEFORE_LOCK.replaces()
def deactivate_file_folio(k, folio):
    """deactivate_file_folio() (v6.0 - v6.10): the caller holds a
    reference (the folio lock), so a plain folio_get()."""
    if folio_test_unevictable(folio):
        yield f"deactivate_file_folio: {folio.label} unevictable"
        return
    folio_get(folio)
    yield f"deactivate_file_folio: get {folio.label} (ref {folio._refcount})"
    yield from k.fn.folio_batch_add_and_move(folio, "lru_deactivate_file", "lru_deactivate_file")


@FOLIO_GET_BEFORE_LOCK.replaces()
def folio_mark_lazyfree(k, folio):
    """folio_mark_lazyfree() (v6.0 - v6.10): MADV_FREE."""
    from ..mm.page import folio_test_anon, folio_test_swapbacked
    if (folio_test_lru(folio) and folio_test_anon(folio) and folio_test_swapbacked(folio)
            and not folio_test_unevictable(folio)):
        folio_get(folio)
        yield f"folio_mark_lazyfree: get {folio.label} (ref {folio._refcount})"
        yield from k.fn.folio_batch_add_and_move(folio, "lru_lazyfree", "lru_lazyfree")


# ------------------------------------------------------------- mlock batch
MLOCK_BATCH = Patch(
    "era-mlock-batch",
    title="mm/munlock: mlock_page() munlock_page() batch by pagevec",
    commit="2fbb0c10d1e8", date="2022-02-14", version="v5.18",
    summary="a per-CPU mlock batch with its own local_lock (mm/mlock.py); "
            "lru_add_drain() also drains it, lru_add_drain_all() also looks at it",
)


@MLOCK_BATCH.init
def mlock_batch_init(k):
    from ..mm.mlock import mlock_init
    mlock_init(k)


@MLOCK_BATCH.replaces()
def lru_add_drain(k):
    """lru_add_drain() (v5.18+): this CPU's LRU batches under their lock,
    then the mlock batch (mlock_drain_local) after the unlock."""
    from ..mm.swap import this_fbatches
    fbs = this_fbatches(k)
    local_lock(fbs.lock)
    yield from k.fn.lru_add_drain_cpu(k.m.current.cpu)
    yield from local_unlock(fbs.lock)
    yield from k.fn.mlock_drain_local()


@MLOCK_BATCH.replaces()
def cpu_needs_drain(k, cpu):
    """cpu_needs_drain() (v5.18+): any LRU batch or the mlock batch."""
    from ..mm.swap import BATCHES, folio_batch_count
    from ..engine.percpu import per_cpu
    fbs = per_cpu(k.cpu_fbatches, cpu)
    return (any(folio_batch_count(getattr(fbs, name)) for name in BATCHES)
            or k.fn.need_mlock_drain(cpu))


# ---------------------------------------------------------- PAGEVEC_SIZE 31
PAGEVEC_31 = Patch(
    "era-pagevec-31",
    title="mm: increase folio batch size",
    commit="9cecde80aae0", date="2024-02", version="v6.9",
    summary="PAGEVEC_SIZE 15 -> 31 (unless the run sets pagevec_size to something "
            "other than the v5.12 default)",
)


@PAGEVEC_31.init
def pagevec_31_init(k):
    from ..mm.kernel import MM_DEFAULTS
    if k.settings.get("pagevec_size") == MM_DEFAULTS["pagevec_size"]:
        k.PAGEVEC_SIZE = 31


# -------------------------------------------------------- long-term pins
GUP_LONGTERM = Patch(
    "era-gup-longterm",
    title="mm/gup: migrate pinned pages out of movable zone; return an error on "
          "migration failure; longterm pin migration cleanup",
    commit="Pavel Tatashin's v10 series (v5.13); 67e139b02d99 (v6.2)",
    date="2021-05", version="v5.13",
    summary="PF_MEMALLOC_PIN (memalloc_pin_save): migration targets of a long-term "
            "pin never come from CMA/ZONE_MOVABLE; a migration failure fails the pin "
            "(-ENOMEM); mm/gup.py's __gup_longterm_locked() as in v6.2 - v6.10",
)


@GUP_LONGTERM.init
def gup_longterm_init(k):
    from ..mm.gup import gup_init, gup_results_init
    gup_init(k)
    gup_results_init(k)


@GUP_LONGTERM.replaces()
def alloc_migration_target(k, folio, mtc):
    """alloc_migration_target() (v6.x): the caller's gfp mask as given (no
    forced __GFP_MOVABLE), filtered by current_gfp_context(): under
    PF_MEMALLOC_PIN __GFP_MOVABLE is dropped, so no CMA pageblock."""
    from ..mm.gup import current_memalloc_pin
    from ..mm.page import page_fp_read
    from ..mm.page_alloc import __GFP_MOVABLE
    gfp = mtc.gfp_mask
    if current_memalloc_pin(k):
        gfp &= ~__GFP_MOVABLE
    page_fp_read(folio)
    page = yield from k.fn.alloc_pages(gfp, folio.order)
    if page is not None:
        page.name = f"{folio.label}'"
    return page


# ------------------------------------------------------------------- MGLRU
MGLRU = Patch(
    "era-mglru",
    title="mm: multi-gen LRU: minimal implementation",
    commit="ac35a4902374", date="2022-09", version="v6.1",
    summary="with lru_gen_enabled, LRU folios live on generation lists "
            "(lru_gen_add_folio/lru_gen_del_folio) and reclaim scans the oldest "
            "(scan_folios, mm/vmscan.py)",
)


@MGLRU.wraps()
def lruvec_add_folio(k, orig, lruvec, folio):
    """lruvec_add_folio() (v6.1+): a generation list when MGLRU has it."""
    if k.fn.lru_gen_add_folio(lruvec, folio, False):
        return
    orig(lruvec, folio)


@MGLRU.wraps()
def lruvec_add_folio_tail(k, orig, lruvec, folio):
    """lruvec_add_folio_tail() (v6.1+): the oldest generation's tail."""
    if k.fn.lru_gen_add_folio(lruvec, folio, True):
        return
    orig(lruvec, folio)


@MGLRU.wraps()
def lruvec_del_folio(k, orig, lruvec, folio):
    """lruvec_del_folio() (v6.1+)."""
    if k.fn.lru_gen_del_folio(lruvec, folio, False):
        return
    orig(lruvec, folio)


PATCHES = (FOLIO_GET_BEFORE_LOCK, MLOCK_BATCH, PAGEVEC_31, GUP_LONGTERM, MGLRU)
