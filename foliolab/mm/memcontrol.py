"""Memory cgroups: folio -> lruvec and the lruvec lock helpers.

Models the lruvec lookup and locking of mm/memcontrol.c (v5.11+, where the
lru_lock moved from the node into each (memcg, node) lruvec).  This model
has the root memcg only, so every folio maps to node 0's root lruvec; the
per-memcg family (seed 004) adds child memcgs and charge moving.
"""

from __future__ import annotations

from ..engine.kernel import kfunc
from .page import page_fp_read
from ..engine.sync import spin_lock_irq, spin_lock_irqsave, spin_unlock_irq, spin_unlock_irqrestore
from .mmzone import lruvec


class mem_cgroup:
    def __init__(self, name):
        self.name = name
        self.nodeinfo = []

    def __repr__(self):
        return f"memcg({self.name})"


def mem_cgroup_init(k):
    k.root_mem_cgroup = mem_cgroup("/")
    k.root_mem_cgroup.nodeinfo.append(lruvec(k, k.pgdat, k.root_mem_cgroup, "lruvec(/,node0)"))


@kfunc
def folio_memcg(k, folio):
    page_fp_read(folio)
    return folio.memcg_data or k.root_mem_cgroup


@kfunc
def folio_lruvec(k, folio):
    """folio_lruvec(): the lruvec of the folio's memcg on its node.  Stable
    only while the caller holds PG_lru ownership, the lruvec lock or a memcg
    lock (v5.11+ rules)."""
    return k.fn.folio_memcg(folio).nodeinfo[0]


@kfunc
def folio_lruvec_lock_irqsave(k, folio):
    """folio_lruvec_lock_irqsave() (v5.16+; lock_page_lruvec_irqsave v5.11+)."""
    lv = k.fn.folio_lruvec(folio)
    yield from spin_lock_irqsave(lv.lru_lock)
    return lv


@kfunc
def folio_lruvec_relock_irqsave(k, folio, locked):
    """folio_lruvec_relock_irqsave(): keep the held lock if the folio belongs
    to the same lruvec, otherwise switch locks (v5.11+)."""
    lv = k.fn.folio_lruvec(folio)
    if locked is lv:
        return lv
    if locked is not None:
        yield from spin_unlock_irqrestore(locked.lru_lock)
    yield from spin_lock_irqsave(lv.lru_lock)
    return lv


@kfunc
def unlock_page_lruvec_irqrestore(k, lv):
    yield from spin_unlock_irqrestore(lv.lru_lock)


@kfunc
def folio_lruvec_relock_irq(k, folio, locked):
    """folio_lruvec_relock_irq() (v5.16+; relock_page_lruvec_irq v5.11+):
    as folio_lruvec_relock_irqsave(), irqs simply disabled (mlock's drain)."""
    lv = k.fn.folio_lruvec(folio)
    if locked is lv:
        return lv
    if locked is not None:
        yield from spin_unlock_irq(locked.lru_lock)
    yield from spin_lock_irq(lv.lru_lock)
    return lv


@kfunc
def unlock_page_lruvec_irq(k, lv):
    yield from spin_unlock_irq(lv.lru_lock)
