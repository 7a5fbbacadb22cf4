"""Memory cgroups: folio -> lruvec, the lruvec lock helpers, charge moving.

Models the lruvec lookup and locking of mm/memcontrol.c (v5.11+, where the
lru_lock moved from the node into each (memcg, node) lruvec).  Families
other than memcg_lru_lock have the root memcg only, so every folio maps to
node 0's root lruvec; the memcg_lru_lock family (seed 004) creates child
memcgs (``mem_cgroup_create``) and moves charges between them
(``mem_cgroup_move_charge_pte_range``, cgroup v1 move_charge_at_immigrate).

Locking rules (v5.11, restated for folios in v6.x): a folio's memcg -- and
so which ``lruvec->lru_lock`` guards its LRU linkage -- may be used to pick
the lock only while it is stable: PG_lru is clear or was cleared by this
thread, the refcount is zero or frozen, the folio is locked, or
lock_page_memcg() is held.  ``page->mem_cgroup`` changes only on an isolated
folio (!PG_lru), under the page lock and ``memcg->move_lock``.

With ``debug_vm`` set (a scenario setting, CONFIG_DEBUG_VM) every lruvec
lock helper checks, once the lock is held, that the lruvec belongs to the
folio's memcg: ``lruvec_memcg_debug()``, the VM_BUG_ON_PAGE Hugh Dickins hit
on v11 of the per-memcg lru_lock series.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from .page import dump_flags, page_fp_read, page_fp_write
from ..engine.sync import (
    spin_lock_irq, spin_lock_irqsave, spin_unlock_irq, spin_unlock_irqrestore, spinlock_t,
)
from .mmzone import lruvec


class mem_cgroup:
    """struct mem_cgroup: its per-node lruvecs (``nodeinfo``), the
    ``move_lock`` that lock_page_memcg() takes while a charge move is under
    way (``moving_account`` > 0), and the page counts it is charged for."""

    def __init__(self, name, m=None):
        self.name = name
        self.nodeinfo = []
        self.moving_account = 0
        self.move_lock_task = None
        self.nr_pages = 0               # the page_counter: pages charged
        self.fpk = m.new_key() if m is not None else 0   # the fields above
        self.move_lock = (spinlock_t(m, f"memcg({name})->move_lock", "&memcg->move_lock")
                          if m is not None else None)

    def __repr__(self):
        return f"memcg({self.name})"


def mem_cgroup_init(k):
    k.root_mem_cgroup = mem_cgroup("/", k.m)
    k.root_mem_cgroup.nodeinfo.append(lruvec(k, k.pgdat, k.root_mem_cgroup, "lruvec(/,node0)"))
    k.memcgs = [k.root_mem_cgroup]


def mem_cgroup_create(k, name):
    """mem_cgroup_css_alloc() of a child of the root: a memcg with one lruvec
    on node 0.  Boot-time helper for scenarios (nothing runs yet)."""
    memcg = mem_cgroup(name, k.m)
    lv = lruvec(k, k.pgdat, memcg, f"lruvec({name},node0)")
    if getattr(k, "lru_lock_per_node", False):
        # <= v5.10: every lruvec of the node is guarded by pgdat->lru_lock
        lv.lru_lock = k.pgdat_lru_lock
    memcg.nodeinfo.append(lv)
    k.memcgs.append(memcg)
    return memcg


def commit_charge(k, folio, memcg):
    """commit_charge() of a freshly allocated folio, before it is on any
    LRU (boot-time helper: ``page->mem_cgroup = memcg``)."""
    folio.memcg_data = memcg
    memcg.nr_pages += 1 << folio.order


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
def lruvec_memcg(k, lv):
    """lruvec_memcg(): the memcg an lruvec belongs to (never changes)."""
    return lv.memcg


@kfunc
def lruvec_memcg_debug(k, lv, folio):
    """lruvec_memcg_debug() (v5.11+, CONFIG_DEBUG_VM): the caller holds
    ``lv``'s lock, taken for ``folio``; the folio must still belong to the
    lruvec's memcg.  VM_BUG_ON_PAGE: dump_page(), then BUG()."""
    if not k.settings.get("debug_vm"):
        return
    memcg = k.fn.folio_memcg(folio)
    if k.fn.lruvec_memcg(lv) is not memcg:
        raise KernelBug(
            f"page:{folio.label} pfn:0x{folio.pfn:x} refcount:{folio._refcount} "
            f"memcg:{memcg.name} flags: {dump_flags(folio)}; "
            f"page dumped because: VM_BUG_ON_PAGE(lruvec_memcg(lruvec) != memcg) "
            f"[lruvec {lv.name} belongs to {lv.memcg.name}]; "
            f"kernel BUG at mm/memcontrol.c (lruvec_memcg_debug)")


@kfunc
def folio_lruvec_lock_irqsave(k, folio):
    """folio_lruvec_lock_irqsave() (v5.16+; lock_page_lruvec_irqsave v5.11+):
    look the lruvec up from the folio's memcg (no lock held: the caller must
    have made the memcg stable), take its lock, then the debug check."""
    lv = k.fn.folio_lruvec(folio)
    yield from spin_lock_irqsave(lv.lru_lock)
    k.fn.lruvec_memcg_debug(lv, folio)
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
    k.fn.lruvec_memcg_debug(lv, folio)
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
    k.fn.lruvec_memcg_debug(lv, folio)
    return lv


@kfunc
def unlock_page_lruvec_irq(k, lv):
    yield from spin_unlock_irq(lv.lru_lock)


# ------------------------------------------------------------ uncharge
@kfunc
def mem_cgroup_uncharge(k, folio):
    """mem_cgroup_uncharge() (v5.11): the last reference is gone; the folio
    leaves its memcg before it reaches the allocator.  Nothing to do for an
    uncharged folio (the families without memcgs)."""
    page_fp_read(folio)
    memcg = folio.memcg_data
    if memcg is None:
        return
    page_fp_write(folio)
    touch_write(k.m, memcg.fpk)
    memcg.nr_pages -= 1 << folio.order
    folio.memcg_data = None


# ------------------------------------------------------- lock_page_memcg
@kfunc
def lock_page_memcg(k, folio):
    """lock_page_memcg() (v5.11; folio_memcg_lock v5.16+): make the folio's
    memcg stable against mem_cgroup_move_account().  Only while a charge
    move is under way (``moving_account`` > 0, raised by
    mem_cgroup_move_charge() before it walks the page tables) does it take
    ``memcg->move_lock``; otherwise rcu_read_lock() is enough.  After taking
    the lock it rechecks the memcg and retries if it moved meanwhile.
    Returns the memcg (whose move_lock this task may hold)."""
    while True:
        memcg = k.fn.folio_memcg(folio)
        touch_read(k.m, memcg.fpk)
        if memcg.moving_account <= 0:
            return memcg
        yield from spin_lock_irqsave(memcg.move_lock)
        if memcg is not k.fn.folio_memcg(folio):
            yield from spin_unlock_irqrestore(memcg.move_lock)
            continue
        touch_write(k.m, memcg.fpk)
        memcg.move_lock_task = k.m.current
        return memcg


@kfunc
def __unlock_page_memcg(k, memcg):
    """__unlock_page_memcg(): drop move_lock if lock_page_memcg() took it."""
    touch_read(k.m, memcg.fpk)
    if memcg is not None and memcg.move_lock_task is k.m.current:
        touch_write(k.m, memcg.fpk)
        memcg.move_lock_task = None
        yield from spin_unlock_irqrestore(memcg.move_lock)


@kfunc
def unlock_page_memcg(k, folio):
    """unlock_page_memcg(): the caller's folio's memcg is stable (it holds
    the lock on it), so reading it again finds the same one."""
    yield from k.fn.__unlock_page_memcg(k.fn.folio_memcg(folio))


# ------------------------------------------------------ charge moving
@kfunc
def mem_cgroup_move_account_store(k, folio, from_, to):
    """The memcg switch inside mem_cgroup_move_account(), with from's
    move_lock held: ``page->mem_cgroup = to`` (after an smp_mb() that orders
    the stat moves before it).  v5.11 takes no LRU lock here; the folio is
    isolated, so no LRU list operation may look at its memcg.  Patches
    that make the writer hold the old lruvec lock replace this."""
    page_fp_write(folio)
    folio.memcg_data = to
    yield f"mem_cgroup_move_account: {folio.label}->mem_cgroup = {to.name} (was {from_.name})"


@kfunc
def mem_cgroup_move_account(k, folio, from_, to):
    """mem_cgroup_move_account() (v5.11, order-0 folios): move one isolated
    folio's charge and statistics from ``from_`` to ``to``.  trylock_page()
    (the page lock keeps the memcg stable for its holders; the caller holds
    the PTE lock, so it may not sleep), then lock_page_memcg(), the stat
    moves, the memcg store, __unlock_page_memcg(), the charge statistics,
    unlock_page().  Returns 0, -EBUSY (page locked) or -EINVAL (not charged
    to ``from_``)."""
    from .errno import EBUSY, EINVAL
    from .filemap import folio_trylock
    from .page import folio_test_lru
    if folio_test_lru(folio):
        raise KernelBug(f"kernel BUG: VM_BUG_ON_PAGE(PageLRU(page)) in mem_cgroup_move_account: "
                        f"{folio.label}")
    if not folio_trylock(folio):
        yield f"mem_cgroup_move_account: trylock_page({folio.label}) failed"
        return -EBUSY
    yield f"mem_cgroup_move_account: trylock_page({folio.label})"
    ret = -EINVAL
    if k.fn.folio_memcg(folio) is from_:
        yield from k.fn.lock_page_memcg(folio)
        yield from k.fn.mem_cgroup_move_account_store(folio, from_, to)
        yield from k.fn.__unlock_page_memcg(from_)
        # mem_cgroup_charge_statistics() of both memcgs, irqs off
        touch_write(k.m, from_.fpk)
        touch_write(k.m, to.fpk)
        from_.nr_pages -= 1
        to.nr_pages += 1
        ret = 0
    yield from k.fn.folio_unlock(folio)
    return ret


@kfunc
def mem_cgroup_move_charge_pte_range(k, folios, from_, to):
    """mem_cgroup_move_charge_pte_range() (v5.11), reduced to the present
    PTEs of order-0 anon folios (``folios``, in PTE order): for each target
    folio (get_mctgt_type() took a reference with get_page_unless_zero()),
    isolate it from its LRU, move its account, put it back, drop the
    reference.  A folio that cannot be isolated (somebody else owns PG_lru)
    keeps its old memcg.  The PTE lock is held throughout in the kernel
    (nobody else here takes it).  Returns the number of folios moved."""
    from .page import folio_try_get
    moved = 0
    for folio in folios:
        if not folio_try_get(folio):
            yield f"mc_handle_present_pte: get_page_unless_zero({folio.label}) failed"
            continue
        yield f"mc_handle_present_pte: get {folio.label} (ref {folio._refcount})"
        if (yield from k.fn.folio_isolate_lru(folio)):
            if (yield from k.fn.mem_cgroup_move_account(folio, from_, to)) == 0:
                moved += 1
            yield from k.fn.folio_putback_lru(folio)
        yield from k.fn.folio_put(folio)
    return moved
