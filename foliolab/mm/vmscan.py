"""LRU isolation and putback: mm/vmscan.c (v5.11 - v6.x rules).

Since v5.11 PG_lru is the ownership token: whoever test-and-clears it owns
the folio's LRU linkage.  A folio that is not PG_lru is in an lru_add batch,
isolated by somebody else, or being freed -- folio_isolate_lru() fails.
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from .page import folio_get, folio_nr_pages, folio_test_clear_lru, page_fp_read


@kfunc
def folio_isolate_lru(k, folio):
    """folio_isolate_lru() (v6.x; isolate_lru_page v5.x): the caller holds a
    reference; on success the folio is off its LRU and we hold the isolation
    reference.  Returns True on success (v5.x returned 0 / -EBUSY)."""
    page_fp_read(folio)
    if folio._refcount == 0:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(!folio_ref_count(folio)) in folio_isolate_lru: {folio.label}")
    if not folio_test_clear_lru(folio):
        yield f"folio_isolate_lru: {folio.label} PG_lru clear, not isolated"
        return False
    folio_get(folio)
    yield f"folio_isolate_lru: {folio.label} PG_lru cleared, get (ref {folio._refcount})"
    lruvec = yield from k.fn.folio_lruvec_lock_irqsave(folio)
    k.fn.lruvec_del_folio(lruvec, folio)
    yield from k.fn.unlock_page_lruvec_irqrestore(lruvec)
    return True


@kfunc
def folio_putback_lru(k, folio):
    """folio_putback_lru() (putback_lru_page): back through this CPU's lru_add
    batch (PG_lru stays clear until that batch is drained), then drop the
    isolation reference."""
    yield from k.fn.folio_add_lru(folio)
    yield from k.fn.folio_put(folio)


def node_stat_mod_isolated(k, folio, delta):
    """mod_node_page_state(NR_ISOLATED_ANON/FILE)."""
    item = "NR_ISOLATED_FILE" if k.fn.folio_is_file_lru(folio) else "NR_ISOLATED_ANON"
    touch_write(k.m, k.pgdat.fpk)
    k.pgdat.vm_stat[item] = k.pgdat.vm_stat.get(item, 0) + delta * folio_nr_pages(folio)
