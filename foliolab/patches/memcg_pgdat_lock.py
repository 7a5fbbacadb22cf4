"""Variant a-pgdat-lock: one ``pgdat->lru_lock`` per node (Linux <= v5.10).

Before the per-memcg lru_lock series (merged for v5.11) every memcg's LRU
lists on a node were guarded by the node's ``pgdat->lru_lock``.  The lruvec
is looked up *under* that lock, isolation clears PG_lru under it, and the
move paths check PageLRU under it: a page's memcg changes only while the
page is isolated (!PG_lru), and no list operation touches an isolated page,
so a stale memcg can never lead to the wrong list.  The cost was contention
on one lock for every container of the node: the motivation of the series
(readtwice +80% with 208 dd in 104 containers, v11 cover letter).

Modelled by making every lruvec's ``lru_lock`` the node's one lock
(k.pgdat_lru_lock, lockdep class &pgdat->lru_lock) and by the v5.10 forms
of the lookup-and-lock helpers (lookup after the lock, no
lruvec_memcg_debug: v5.10 has none), of pagevec_lru_move_fn (PageLRU
checked under the lock, no TestClearPageLRU) and of isolate_lru_page.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import spin_lock_irq, spin_lock_irqsave, spinlock_t
from ..mm.page import folio_clear_lru, folio_get, folio_test_lru, page_fp_read
from .memcg_v11 import pagevec_lru_move_fn_body

PATCH = Patch(
    "pgdat-lru-lock",
    title="pgdat->lru_lock: one LRU lock per node (<= v5.10)",
    version="v5.10",
    summary="every lruvec of a node shares pgdat->lru_lock; lookup under the lock; "
            "PageLRU checked under it",
)


@PATCH.init
def pgdat_lru_lock_init(k):
    k.lru_lock_per_node = True
    k.pgdat_lru_lock = spinlock_t(k.m, "node0->lru_lock", "&pgdat->lru_lock")
    for memcg in k.memcgs:
        for lv in memcg.nodeinfo:
            lv.lru_lock = k.pgdat_lru_lock


@PATCH.replaces()
def folio_lruvec_lock_irqsave(k, folio):
    """spin_lock_irqsave(&pgdat->lru_lock), then mem_cgroup_page_lruvec()."""
    yield from spin_lock_irqsave(k.pgdat_lru_lock)
    return k.fn.folio_lruvec(folio)


@PATCH.replaces()
def folio_lruvec_relock_irqsave(k, folio, locked):
    """v5.10 pagevec_lru_move_fn(): relock only when the *node* changes (one
    node here); the lruvec is looked up under the lock."""
    if locked is None:
        yield from spin_lock_irqsave(k.pgdat_lru_lock)
    return k.fn.folio_lruvec(folio)


@PATCH.replaces()
def folio_lruvec_relock_irq(k, folio, locked):
    if locked is None:
        yield from spin_lock_irq(k.pgdat_lru_lock)
    return k.fn.folio_lruvec(folio)


@PATCH.replaces()
def folio_batch_move_lru(k, fbatch, move_fn):
    """pagevec_lru_move_fn() / __pagevec_lru_add() (v5.10)."""
    return (yield from pagevec_lru_move_fn_body(k, fbatch, move_fn))


@PATCH.replaces()
def folio_isolate_lru(k, folio):
    """isolate_lru_page() (v5.10): under pgdat->lru_lock, if PageLRU: take
    a reference, ClearPageLRU, delete from the page's lruvec."""
    page_fp_read(folio)
    lruvec = yield from k.fn.folio_lruvec_lock_irqsave(folio)
    ok = folio_test_lru(folio)
    if ok:
        folio_get(folio)
        folio_clear_lru(folio)
        k.fn.lruvec_del_folio(lruvec, folio)
        yield f"isolate_lru_page: {folio.label} off {lruvec.name}, PG_lru cleared (ref {folio._refcount})"
    else:
        yield f"isolate_lru_page: {folio.label} !PageLRU"
    yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    return ok
