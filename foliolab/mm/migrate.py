"""Page migration: mm/migrate.c, pre-v6.3 structure (v5.12 era; v5.11 - v6.2).

migrate_pages() makes up to 10 passes over the list; each pass calls
unmap_and_move() on every folio still on it: allocate a destination, lock
the source (waiting for the lock only from the third pass: ``force = pass >
2``), replace its PTEs with migration entries, check the reference count
under the mapping's xa_lock and freeze it, move the cache slot, then map the
destination (or the source again on failure).  A reference the migrator does
not expect -- a per-CPU LRU batch, a racing lookup -- makes the refcount
check fail with -EAGAIN; the folio stays on the list for the next pass.
After the last pass the remaining folios count as failures and the caller
puts them back.

Expected references (expected_page_refs, v5.x): 1 (the isolation reference)
+ for page cache: the cache's references (one per page) + PG_private.  The
mappings' references are gone by then (try_to_migrate dropped them).
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.retry import retry_begin, retry_end, retry_unchanged
from ..engine.sync import cond_resched, spin_lock, spin_lock_irq, spin_unlock, spin_unlock_irq
from .errno import EAGAIN, ENOMEM
from .page import (
    PG_active, PG_mappedtodisk, PG_mlocked, PG_referenced, PG_unevictable, PG_uptodate,
    PG_workingset, _nonatomic_clear, _nonatomic_set, _test,
    folio_mapped, folio_nr_pages, folio_ref_add, folio_ref_freeze,
    folio_ref_unfreeze, folio_test_anon, folio_test_private, page_fp_read,
    page_fp_write,
)
from .vmscan import node_stat_mod_isolated

MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC, MIGRATE_SYNC_NO_COPY = range(4)
MIGRATE_MODE_NAMES = ("MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC", "MIGRATE_SYNC_NO_COPY")
(MR_COMPACTION, MR_MEMORY_FAILURE, MR_MEMORY_HOTPLUG, MR_SYSCALL,
 MR_MEMPOLICY_MBIND, MR_NUMA_MISPLACED, MR_CONTIG_RANGE, MR_LONGTERM_PIN) = range(8)
MR_NAMES = ("compaction", "memory_failure", "memory_hotplug", "syscall_or_cpuset",
            "mempolicy_mbind", "numa_misplaced", "contig_range", "longterm_pin")
MIGRATEPAGE_SUCCESS = 0
NR_MAX_MIGRATE_PAGES_RETRY = 10


class migration_target_control:
    """struct migration_target_control."""

    __slots__ = ("nid", "nmask", "gfp_mask")

    def __init__(self, gfp_mask, nid=0, nmask=None):
        self.nid = nid
        self.nmask = nmask
        self.gfp_mask = gfp_mask


def migrate_init(k):
    # Per-folio -EAGAIN log: [(folio label, pass, refcount, expected)].  Not a
    # kernel structure: the retry accounting that tables and witnesses read.
    k.migrate_eagain = []
    k._migrate_pass = 0


@kfunc
def migrate_prep(k):
    """migrate_prep() (v2.6.16 - v5.12): drain the per-CPU LRU batches so
    the folios about to be isolated are on an LRU.  Folios that enter a batch
    after the drain "will fail to migrate like other pages that may be
    busy" (the comment this seed thread is about)."""
    yield from k.fn.lru_add_drain_all()


@kfunc
def expected_page_refs(k, mapping, folio):
    """expected_page_refs() (v5.x; folio_expected_refs v6.x)."""
    expected = 1
    if mapping is not None:
        expected += folio_nr_pages(folio) + (1 if folio_test_private(folio) else 0)
    return expected


@kfunc
def migrate_page_move_mapping(k, mapping, newfolio, folio, extra_count):
    """migrate_page_move_mapping() (folio_migrate_mapping v5.16+): the
    reference count check and the cache slot switch."""
    expected = k.fn.expected_page_refs(mapping, folio) + extra_count
    nr = folio_nr_pages(folio)
    if mapping is None:
        page_fp_read(folio)
        page_fp_write(newfolio)
        if folio._refcount != expected:
            k.migrate_eagain.append((folio.label, k._migrate_pass, folio._refcount, expected))
            yield (f"migrate_page_move_mapping: {folio.label} refcount {folio._refcount} "
                   f"!= expected {expected} -> -EAGAIN")
            return -EAGAIN
        newfolio.index = folio.index
        newfolio.mapping = folio.mapping
        yield f"migrate_page_move_mapping: {folio.label} refcount {expected} as expected"
        return MIGRATEPAGE_SUCCESS
    yield from spin_lock_irq(mapping.xa_lock)
    page_fp_read(folio)
    touch_read(k.m, mapping.fpk)
    if folio._refcount != expected or mapping.i_pages.get(folio.index) is not folio:
        k.migrate_eagain.append((folio.label, k._migrate_pass, folio._refcount, expected))
        msg = (f"migrate_page_move_mapping: {folio.label} refcount {folio._refcount} "
               f"!= expected {expected} -> -EAGAIN")
        yield msg
        yield from spin_unlock_irq(mapping.xa_lock)
        return -EAGAIN
    if not folio_ref_freeze(folio, expected):
        yield f"migrate_page_move_mapping: {folio.label} freeze failed -> -EAGAIN"
        yield from spin_unlock_irq(mapping.xa_lock)
        return -EAGAIN
    # No turning back: nobody else holds a reference.
    page_fp_write(newfolio)
    touch_write(k.m, mapping.fpk)
    newfolio.index = folio.index
    newfolio.mapping = mapping
    folio_ref_add(newfolio, nr)               # the cache's reference
    mapping.i_pages[folio.index] = newfolio
    folio_ref_unfreeze(folio, expected - nr)  # drop the cache's reference
    yield (f"migrate_page_move_mapping: {folio.label} refcount {expected} frozen, "
           f"cache slot -> {newfolio.label}")
    yield from spin_unlock_irq(mapping.xa_lock)
    return MIGRATEPAGE_SUCCESS


@kfunc
def migrate_page_states(k, newfolio, folio):
    """migrate_page_states() (folio_migrate_flags): hand the LRU state over;
    active/unevictable/workingset are test-and-cleared on the source so the
    old folio is freed clean."""
    for bit in (PG_referenced, PG_uptodate, PG_mappedtodisk):
        if _test(folio, bit):
            _nonatomic_set(newfolio, bit)
    # PG_mlocked moves too (v5.12 mlock_migrate_page(); v6.x folio_migrate_flags)
    for bit in (PG_active, PG_unevictable, PG_workingset, PG_mlocked):
        if _test(folio, bit):
            _nonatomic_clear(folio, bit)
            _nonatomic_set(newfolio, bit)
    page_fp_read(folio)
    if folio_test_anon(folio) or folio.mapping is not None and folio.mapping.swap_backed:
        from .page import PG_swapbacked
        _nonatomic_set(newfolio, PG_swapbacked)


@kfunc
def migrate_page(k, mapping, newfolio, folio, mode):
    """migrate_page(): the generic a_ops->migratepage (no buffers)."""
    rc = yield from k.fn.migrate_page_move_mapping(mapping, newfolio, folio, 0)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    k.fn.migrate_page_states(newfolio, folio)
    return MIGRATEPAGE_SUCCESS


@kfunc
def move_to_new_page(k, newfolio, folio, mode):
    """move_to_new_page(): call the mapping's migratepage; on success the
    old page cache folio loses its mapping before it is freed."""
    page_fp_read(folio)
    mapping = folio.mapping
    if mapping is None or getattr(mapping, "anon", False):
        rc = yield from k.fn.migrate_page(None, newfolio, folio, mode)
    else:
        rc = yield from getattr(k.fn, mapping.migratepage)(mapping, newfolio, folio, mode)
    if rc == MIGRATEPAGE_SUCCESS and not folio_test_anon(folio):
        page_fp_write(folio)
        folio.mapping = None
    return rc


@kfunc
def __unmap_and_move(k, folio, newfolio, force, mode):
    """__unmap_and_move() (v5.x): lock, unmap, move, remap."""
    from .filemap import folio_trylock
    rc = -EAGAIN
    if not folio_trylock(folio):
        if not force or mode == MIGRATE_ASYNC:
            yield f"__unmap_and_move: {folio.label} locked by someone else -> -EAGAIN"
            return rc
        yield f"__unmap_and_move: {folio.label} locked, waiting (pass > 2)"
        yield from k.fn.folio_lock(folio)
    else:
        yield f"__unmap_and_move: trylock {folio.label}"
    folio_trylock(newfolio)
    page_was_mapped = False
    page_fp_read(folio)
    if folio.mapping is not None and folio_mapped(folio):
        yield from k.fn.try_to_migrate(folio)
        page_was_mapped = True
    if not folio_mapped(folio):
        rc = yield from k.fn.move_to_new_page(newfolio, folio, mode)
    if page_was_mapped:
        yield from k.fn.remove_migration_ptes(folio, newfolio if rc == MIGRATEPAGE_SUCCESS else folio)
    yield from k.fn.folio_unlock(newfolio)
    yield from k.fn.folio_unlock(folio)
    if rc == MIGRATEPAGE_SUCCESS:
        yield from k.fn.folio_putback_lru(newfolio)
    return rc


@kfunc
def unmap_and_move(k, get_new_page, put_new_page, private, folio, force, mode, reason, from_list,
                   ret):
    """unmap_and_move() (v5.11 - v6.2): one attempt on one folio.  -EAGAIN
    keeps it on ``from_list`` for the next pass; anything else takes it off:
    a migrated folio loses its isolation reference and is freed, a folio
    that failed for good moves to ``ret`` (migrate_pages' ret_pages) still
    isolated -- since dd4ae78a21fc (v5.11) it is not put back here but
    spliced back onto the caller's list when migrate_pages() returns, and
    the caller puts it back."""
    from .page import folio_clear_active, folio_clear_unevictable
    rc = MIGRATEPAGE_SUCCESS
    newfolio = None
    page_fp_read(folio)
    if folio._refcount == 1:
        # Freed under us: only the isolation reference is left.
        folio_clear_active(folio)
        folio_clear_unevictable(folio)
        yield f"unmap_and_move: {folio.label} was freed under us"
    else:
        newfolio = yield from get_new_page(folio, private)
        if newfolio is None:
            return -ENOMEM
        rc = yield from k.fn.__unmap_and_move(folio, newfolio, force, mode)
    if rc != -EAGAIN:
        from_list.remove(folio)
    if rc == MIGRATEPAGE_SUCCESS:
        node_stat_mod_isolated(k, folio, -1)
        yield from k.fn.folio_put(folio)
    else:
        if rc != -EAGAIN:
            ret.append(folio)             # list_add_tail(&page->lru, ret): still isolated
        if put_new_page is not None:
            yield from put_new_page(newfolio, private)
        else:
            yield from k.fn.folio_put(newfolio)
    return rc


@kfunc
def migrate_pages(k, from_list, get_new_page, put_new_page, private, mode, reason):
    """migrate_pages() (v5.11 - v6.2, a single loop of 10 passes).  Returns
    the number of folios not migrated, or -errno.  Folios that failed for
    good wait on ret_pages, still isolated, and are spliced back onto
    ``from_list`` at the end (dd4ae78a21fc, v5.11); the caller puts back
    whatever is left on it.  Under ``retry_collapse`` a pass that would
    repeat the last one is skipped (engine/retry.py)."""
    ret_pages = []
    retry = 1
    nr_failed = 0
    nr_succeeded = 0
    rc = 0
    k.trace("migrate:mm_migrate_pages_start", mode=MIGRATE_MODE_NAMES[mode], reason=MR_NAMES[reason])
    m = k.m
    pass_ = 0
    idle = False
    while pass_ < NR_MAX_MIGRATE_PAGES_RETRY:
        if not retry:
            break
        if pass_ not in (0, 3) and idle and retry_unchanged(m, "migrate_pages"):
            # Every folio of the last pass failed with -EAGAIN and nothing
            # that pass touched has changed: the next passes of the same kind
            # (trylock before the fourth, folio_lock from it) would fail as it
            # did (engine/retry.py).
            last = 2 if pass_ < 3 else NR_MAX_MIGRATE_PAGES_RETRY - 1
            yield (f"migrate_pages: nothing pass {pass_} touched has changed: "
                   f"pass{'es' if last > pass_ else ''} {pass_ + 1}"
                   f"{f'-{last + 1}' if last > pass_ else ''} would repeat it, skipped")
            pass_ = last + 1
            if pass_ >= NR_MAX_MIGRATE_PAGES_RETRY:
                break
        retry_begin(m, "migrate_pages")
        retry = 0
        idle = True               # every folio of this pass: -EAGAIN
        k._migrate_pass = pass_ + 1
        for folio in list(from_list):
            yield from cond_resched(k.m)
            r = yield from k.fn.unmap_and_move(get_new_page, put_new_page, private,
                                               folio, pass_ > 2, mode, reason, from_list,
                                               ret_pages)
            if r == -ENOMEM:
                nr_failed += 1
                rc = -ENOMEM
                break
            if r == -EAGAIN:
                retry += 1
            elif r == MIGRATEPAGE_SUCCESS:
                nr_succeeded += 1
                idle = False
            else:
                nr_failed += 1
                idle = False
        if rc == -ENOMEM:
            break
        pass_ += 1
    retry_end(m, "migrate_pages")
    if rc != -ENOMEM:
        nr_failed += retry
        rc = nr_failed
    from_list[:0] = ret_pages             # list_splice(&ret_pages, from)
    k.count_vm_event("pgmigrate_success", nr_succeeded)
    k.count_vm_event("pgmigrate_fail", nr_failed)
    k.trace("migrate:mm_migrate_pages", nr_succeeded=nr_succeeded, nr_failed=nr_failed,
            mode=MIGRATE_MODE_NAMES[mode], reason=MR_NAMES[reason])
    yield f"migrate_pages: {nr_succeeded} migrated, {nr_failed} failed"
    return rc


@kfunc
def putback_movable_pages(k, folio_list):
    """putback_movable_pages(): give isolated folios back to the LRU (through
    this CPU's lru_add batch)."""
    for folio in list(folio_list):
        folio_list.remove(folio)
        node_stat_mod_isolated(k, folio, -1)
        yield from k.fn.folio_putback_lru(folio)


@kfunc
def alloc_migration_target(k, folio, mtc):
    """alloc_migration_target(): a destination of the same order on the
    same node, never from an isolated pageblock."""
    from .page_alloc import __GFP_MOVABLE
    gfp = mtc.gfp_mask | __GFP_MOVABLE
    page_fp_read(folio)
    page = yield from k.fn.alloc_pages(gfp, folio.order)
    if page is not None:
        page.name = f"{folio.label}'"
    return page


# --------------------------------------------- waiting on a migration entry
def migration_pte_lock(k, mm, address):
    """The start of __migration_entry_wait() in every version (v5.12 -
    v5.17): take the PTE lock and look at the PTE again.  Returns the
    entry's page with the lock held, or None (lock released) when the PTE
    is no longer a migration entry.  migration_entry_to_page() checks
    BUG_ON(!PageLocked(compound_head(page)))."""
    from ..engine.oracles import KernelBug
    from .huge_memory import compound_head
    from .page import folio_test_locked
    ptl = mm.page_table_lock
    yield from spin_lock(ptl)
    touch_read(k.m, mm.fpk)
    pte = mm.ptes.get(address)
    if pte is None or pte[0] != "migration":
        yield from spin_unlock(ptl)
        return None
    page = pte[1]
    if not folio_test_locked(compound_head(page)):
        raise KernelBug(f"kernel BUG at include/linux/swapops.h: "
                        f"BUG_ON(!PageLocked(compound_head({page.label})))")
    return page


def migration_wait_get(k, mm, page, shown=None):
    """get_page_unless_zero(page) under the PTE lock, then unlock: True
    with the reference taken, False without (one step each way, then the
    unlock).  ``shown``: the entry's page, when ``page`` is its head."""
    from .huge_memory import get_page_unless_zero
    via = f"{shown.label} -> compound_head " if shown is not None else ""
    if not get_page_unless_zero(page):
        yield f"__migration_entry_wait: {via}get_page_unless_zero({page.label}) fails (refcount 0)"
        yield from spin_unlock(mm.page_table_lock)
        return False
    yield f"__migration_entry_wait: {via}get_page_unless_zero({page.label}) (ref {page._refcount})"
    yield from spin_unlock(mm.page_table_lock)
    return True


@kfunc
def __migration_entry_wait(k, mm, address):
    """__migration_entry_wait() (v5.12, before ffc90cbb2970): under the PTE
    lock recheck the PTE; if it is still a migration entry, take a reference
    on *the entry's page* with get_page_unless_zero() and sleep on its lock
    (put_and_wait_on_page_locked() drops the reference first).  If the
    reference cannot be had -- always, for a tail page of a THP being split:
    its _refcount is 0 -- return at once, and the fault is retried.

    Returns True when the task waited (slept or found the page unlocked)."""
    page = yield from migration_pte_lock(k, mm, address)
    if page is None or not (yield from migration_wait_get(k, mm, page)):
        return False
    yield from k.fn.put_and_wait_on_page_locked(page)
    return True


@kfunc
def migration_entry_wait(k, mm, address):
    """migration_entry_wait() (v5.12): the PTE's lock, then
    __migration_entry_wait()."""
    return (yield from k.fn.__migration_entry_wait(mm, address))
