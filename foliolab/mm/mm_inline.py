"""LRU list helpers of include/linux/mm_inline.h (v5.11 - v6.x).

All of them run with ``lruvec->lru_lock`` held (lockdep checks it) and are
plain functions: no interleaving point inside the locked section.
"""

from __future__ import annotations

from ..engine.kernel import kfunc
from ..engine.oracles import ListCorruption
from ..engine.sync import lockdep_assert_held
from .mmzone import (
    LRU_ACTIVE_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE,
    list_add, list_add_tail, list_del,
)
from .page import (
    PG_active, PG_lru, PG_referenced, _nonatomic_set, folio_nr_pages, folio_test_active,
    folio_test_swapbacked, folio_test_unevictable,
)


@kfunc
def folio_is_file_lru(k, folio):
    """folio_is_file_lru(): page cache that is not swap-backed."""
    return not folio_test_swapbacked(folio)


@kfunc
def folio_lru_list(k, folio):
    """folio_lru_list(): which LRU list the folio belongs on."""
    if folio_test_unevictable(folio):
        return LRU_UNEVICTABLE
    lru = LRU_INACTIVE_FILE if k.fn.folio_is_file_lru(folio) else LRU_INACTIVE_ANON
    if folio_test_active(folio):
        lru += LRU_ACTIVE_FILE - LRU_INACTIVE_FILE
    return lru


def _lru_add(k, lruvec, folio, tail):
    lockdep_assert_held(lruvec.lru_lock)
    lru = k.fn.folio_lru_list(folio)
    # list_add declares the lruvec's key, which covers nr_pages too
    (list_add_tail if tail else list_add)(lruvec.lists[lru], folio)
    lruvec.nr_pages[lru] += folio_nr_pages(folio)


@kfunc
def lruvec_add_folio(k, lruvec, folio):
    """lruvec_add_folio(): add at the head (most recently used end)."""
    _lru_add(k, lruvec, folio, False)


@kfunc
def lruvec_add_folio_tail(k, lruvec, folio):
    _lru_add(k, lruvec, folio, True)


@kfunc
def lruvec_del_folio(k, lruvec, folio):
    """lruvec_del_folio(): list_del under the lruvec lock (CONFIG_DEBUG_LIST)."""
    lockdep_assert_held(lruvec.lru_lock)
    lru = k.fn.folio_lru_list(folio)
    list_del(lruvec.lists[lru], folio)
    lruvec.nr_pages[lru] -= folio_nr_pages(folio)
    if lruvec.nr_pages[lru] < 0:
        # mem_cgroup_update_lru_size()'s WARN_ONCE (v5.11 wording), then VM_BUG_ON
        raise ListCorruption(
            f"WARNING: mem_cgroup_update_lru_size({lruvec.name}, {lru}, "
            f"-{folio_nr_pages(folio)}): lru_size {lruvec.nr_pages[lru]} "
            f"(lru_size underflow on {lruvec.lists[lru].name})")


def __folio_clear_lru_flags(folio):
    """__folio_clear_lru_flags() (__clear_page_lru_flags v5.11 - v5.12): a
    folio whose last reference is gone leaves its LRU without PG_lru,
    PG_active and PG_unevictable (both of the latter set is a bug left for
    bad_page() to report).  The caller holds the lruvec lock.  PG_lru is
    cleared with the model's atomic bitop (a locked instruction under TSO),
    as the callers always did; the other two with plain stores."""
    from .page import (
        PG_active, PG_unevictable, _nonatomic_clear, folio_clear_lru,
    )
    folio_clear_lru(folio)
    if folio_test_active(folio) and folio_test_unevictable(folio):
        return
    _nonatomic_clear(folio, PG_active)
    _nonatomic_clear(folio, PG_unevictable)


def setup_lru_folio(k, folio, *, active=False, referenced=False):
    """Boot-time helper: put ``folio`` on its LRU list with PG_lru set, as if
    it had been added and drained long ago (no lock: nothing runs yet)."""
    if active:
        _nonatomic_set(folio, PG_active)
    if referenced:
        _nonatomic_set(folio, PG_referenced)
    lv = k.fn.folio_lruvec(folio)
    lru = k.fn.folio_lru_list(folio)
    lst = lv.lists[lru]
    lst[folio.pfn] = folio
    lst.move_to_end(folio.pfn, last=False)
    folio.lru = lst
    lv.nr_pages[lru] += 1 << folio.order
    _nonatomic_set(folio, PG_lru)
