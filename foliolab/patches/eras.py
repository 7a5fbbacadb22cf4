"""Kernel eras: which kernel a family's baseline is.

One mm/ model serves every family.  Its baseline code follows v5.12 (the
kernel of seed 000, the oldest the families model); each model function's
docstring names the era it follows.  A family does not run "the model": it
runs a named **era** = the baseline plus an ordered list of *era patches*,
each a :class:`~foliolab.engine.kernel.Patch` that cites the commits that
moved the kernel there (mlock batching, 2fbb0c10d1e8; MGLRU; the 6.3
migrate_pages() split ...).  A family's variants are applied on top of its
era's patches, so a variant never copies era code and two eras are never
mixed by accident: the era is fixed by the family and shown by ``foliolab list``.

Names: the model's functions carry one name each (the v5.16+ folio names,
which is what ``k.fn`` and patches use).  An era also has a **name table**
that maps a model name to the name that function has in the era's kernel
(``folio_activate`` -> ``activate_page`` in v5.12), or to ``""`` where the
era's kernel open-codes it in its caller (``folio_batch_add_and_move`` in
v5.12).  Everything a user sees from a run -- the functions of the
interleaving table, the step labels, the failure message -- goes through the
table, so every name in a v5.12 table can be grepped in a v5.12 tree.  Labels
name a per-CPU batch as ``cpu_fbatches.<batch>`` so that the table can tell
the batch from the move function of the same modern name.

A scenario outside a family era (a user's family without ``era``) runs the
plain baseline and sees the model names.
"""

from __future__ import annotations

import re


class Era:
    """A named kernel era: ``patches`` (patch names, in order) on top of the
    baseline, and ``names`` ({model name: era name, "" = open-coded})."""

    def __init__(self, name, *, kernel, summary, patches=(), names=None, contains=()):
        self.name = name
        # fixes the era's kernel contains: (commit, kernel, subject, how the
        # model has it, the patch that drops it or None)
        self.contains = tuple(contains)
        self.kernel = kernel          # e.g. "v5.12"
        self.summary = summary
        self.patches = tuple(patches)
        self.names = dict(names or {})
        alts = sorted((n for n in self.names if self.names[n]), key=len, reverse=True)
        self._re = (re.compile(r"(?<![\w.])(" + "|".join(re.escape(a) for a in alts) + r")(?!\w)")
                    if alts else None)

    def rename(self, text):
        """``text`` with every model name replaced by the era's."""
        if self._re is None or not text:
            return text
        names = self.names
        return self._re.sub(lambda mo: names[mo.group(1)], text)

    def chain(self, chain):
        """A call chain (outermost first) in the era's names; functions the
        era open-codes disappear into their caller."""
        names = self.names
        out = []
        for n in chain:
            e = names.get(n, n)
            if e:
                out.append(e)
        return out

    def patch_objects(self):
        from . import get_patch
        return [get_patch(p) for p in self.patches]

    def contains_lines(self):
        """One line per fix the era's kernel contains, and how to drop it."""
        out = []
        for commit, kernel, subject, how, revert in self.contains:
            subj = f' ("{subject}")' if subject else ""
            drop = (f"; drop it: --patch {revert}" if revert
                    else "; not removable separately")
            out.append(f"{commit}{subj}, {kernel}: {how}{drop}")
        return out

    def describe(self):
        pl = ", ".join(self.patches) or "baseline, no era patches"
        return f"{self.name} ({self.kernel}): {self.summary} [{pl}]"

    def __repr__(self):
        return f"<Era {self.name}>"


# Model name -> v5.12 name.  Every right-hand side was checked to exist in
# a v5.12.9 tree (mm/, include/linux/).
V5_12_NAMES = {
    # include/linux/page-flags.h: the non-atomic flag updates (mm/page.py)
    "__folio_set_flag": "",                  # the __SETPAGEFLAG macro
    "__folio_clear_flag": "",                # the __CLEARPAGEFLAG macro
    "__folio_set_swapbacked": "__SetPageSwapBacked",
    "__folio_clear_swapbacked": "__ClearPageSwapBacked",
    "__folio_mark_uptodate": "__SetPageUptodate",
    # mm/swap.c
    "folio_activate": "activate_page",
    "folio_mark_accessed": "mark_page_accessed",
    "__lru_cache_activate_folio": "__lru_cache_activate_page",
    "folio_add_lru": "lru_cache_add",
    "folio_deactivate": "deactivate_page",
    "deactivate_file_folio": "deactivate_file_page",
    "folio_mark_lazyfree": "mark_page_lazyfree",
    "folio_rotate_reclaimable": "rotate_reclaimable_page",
    "folio_batch_add_and_move": "",          # open-coded in every adder
    "folio_batch_add_and_need_flush": "",    # !pagevec_add() || PageCompound()
    "cpu_needs_drain": "",                   # open-coded in lru_add_drain_all()
    "folio_batch_move_lru": "pagevec_lru_move_fn",
    "folios_put": "release_pages",
    "folio_put": "put_page",
    "__folio_put": "__put_page",
    "free_folio": "",                        # __put_single_page() and below
    "lru_add": "__pagevec_lru_add_fn",
    "lru_activate": "__activate_page",
    "lru_deactivate": "lru_deactivate_fn",
    "lru_deactivate_file": "lru_deactivate_file_fn",
    "lru_lazyfree": "lru_lazyfree_fn",
    "lru_move_tail": "pagevec_move_tail_fn",
    "cpu_fbatches.lru_add": "lru_pvecs.lru_add",
    "cpu_fbatches.lru_deactivate_file": "lru_pvecs.lru_deactivate_file",
    "cpu_fbatches.lru_deactivate": "lru_pvecs.lru_deactivate",
    "cpu_fbatches.lru_lazyfree": "lru_pvecs.lru_lazyfree",
    "cpu_fbatches.lru_activate": "lru_pvecs.activate_page",
    "cpu_fbatches.lru_move_tail": "lru_rotate.pvec",
    "cpu_fbatches.lock_irq": "lru_rotate.lock",
    "cpu_fbatches.lock": "lru_pvecs.lock",
    "cpu_fbatches": "lru_pvecs",
    # mm/vmscan.c, include/linux/mm_inline.h, memcontrol
    "folio_isolate_lru": "isolate_lru_page",
    "folio_putback_lru": "putback_lru_page",
    "isolate_lru_folios": "isolate_lru_pages",
    "shrink_folio_list": "shrink_page_list",
    "move_folios_to_lru": "move_pages_to_lru",
    "folio_check_references": "page_check_references",
    "lruvec_add_folio": "add_page_to_lru_list",
    "lruvec_add_folio_tail": "add_page_to_lru_list_tail",
    "lruvec_del_folio": "del_page_from_lru_list",
    "folio_lru_list": "page_lru",
    "folio_is_file_lru": "page_is_file_lru",
    "folio_lruvec": "mem_cgroup_page_lruvec",
    "folio_memcg": "page_memcg",
    "folio_lruvec_lock_irqsave": "lock_page_lruvec_irqsave",
    "folio_lruvec_relock_irqsave": "relock_page_lruvec_irqsave",
    # mm/filemap.c, mm/rmap.c
    "folio_lock": "lock_page",
    "folio_unlock": "unlock_page",
    "filemap_get_folio": "find_get_page",
    "filemap_add_folio": "add_to_page_cache_lru",
    "__filemap_add_folio": "__add_to_page_cache_locked",
    "__filemap_remove_folio": "__delete_from_page_cache",
    "filemap_alloc_folio": "__page_cache_alloc",
    "filemap_create_folio": "filemap_create_page",
    "folio_alloc": "alloc_pages",
    "try_to_migrate": "try_to_unmap",
    "_drain_local_pages_wq": "drain_local_pages_wq",
    # the thp_split family (mm/huge_memory.c, mm/migrate.c, x86 fault path)
    "remove_migration_ptes_locked": "remove_migration_ptes",
    "migration_pte_lock": "",                # __migration_entry_wait()'s start
    "migration_wait_get": "",                # ... and its get_page_unless_zero()
    "_store_loop": "",                       # copy_to_user() / a user store
}

# Model name -> v6.10 name (checked against v6.10-era sources: the
# 33dfe9204f29 diff context, mm/gup.c of v6.2 - v6.10).
V6_10_NAMES = {
    "lru_add": "lru_add_fn",
    "lru_activate": "folio_activate_fn",
    "lru_deactivate": "lru_deactivate_fn",
    "lru_deactivate_file": "lru_deactivate_file_fn",
    "lru_lazyfree": "lru_lazyfree_fn",
    "lru_move_tail": "lru_move_tail_fn",
    "cpu_fbatches.lru_activate": "cpu_fbatches.activate",
    "folio_batch_add_and_need_flush": "",    # inside folio_batch_add_and_move()
    "free_folio": "",
    "lru_cache_add_inactive_or_unevictable": "folio_add_lru_vma",
    "collect_longterm_unpinnable_folios": "collect_longterm_unpinnable_pages",
    "migrate_longterm_unpinnable_folios": "migrate_longterm_unpinnable_pages",
    "migrate_page_move_mapping": "folio_migrate_mapping",
    "migrate_page": "migrate_folio",
    "move_to_new_page": "move_to_new_folio",
    "expected_page_refs": "folio_expected_refs",
    # the pre-6.3 per-folio loop the v6.10 era still runs (docs/architecture.md)
    "unmap_and_move": "migrate_pages_batch",
    "__unmap_and_move": "migrate_folio_unmap",
    "TestClearPageLRU": "folio_test_clear_lru",
    "get_page_unless_zero": "folio_try_get",
    "_drain_local_pages_wq": "drain_local_pages_wq",
    "_mlock_add": "",                        # open-coded in each mlock adder
}

# Model name -> v5.11 name: the v5.12 table (v5.11 shares these paths)
# plus the functions only the memcg_lru_lock family runs (patches/era_v5_11.py).
V5_11_NAMES = dict(V5_12_NAMES, **{
    "page_remove_rmap_mlocked": "page_remove_rmap",
    "__munlock_phase2": "__munlock_pagevec",
    "lruvec_holds_page_lru_lock_check": "lruvec_holds_page_lru_lock",
    "folio_lruvec_relock_irq": "relock_page_lruvec_irq",
    "folio_lruvec_lock_irq": "lock_page_lruvec_irq",
    "mem_cgroup_move_account_store": "mem_cgroup_move_account",
    "mc_handle_present_pte": "mc_handle_present_pte",
})

# Fixes the v5.12 baseline contains that a user may want to go back before.
V5_12_CONTAINS = (
    ("ad53f92eb416", "v3.19", "mm/page_alloc: fix incorrect isolation behavior by "
     "rechecking migratetype", "free_one_page_migratetype() re-reads the pageblock's type "
     "under zone->lock", "revert-ad53f92eb416"),
    ("968318261221", "v5.8", "mm/memory_hotplug: drain per-cpu pages again during memory "
     "offline", "superseded in v5.11 by ec6e8c7e0314 (below): offline_pages() no longer "
     "drains, its pcplists are off", None),
    ("ec6e8c7e0314", "v5.11", "mm, page_alloc: disable pcplists during memory offline",
     "offline_pages() brackets the work with zone_pcp_disable()/zone_pcp_enable()", None),
    ("fc574c23558c", "v5.11", "", "TestClearPageLRU as the isolation token: folio_isolate_lru() and the isolation "
     "scan take PG_lru with TestClearPageLRU", None),
    ("dd4ae78a21fc", "v5.11", "", "a folio that fails migration for good waits on "
     "migrate_pages()' ret_pages, still isolated, until migrate_pages() returns", None),
    ("6446a5131e24", "v5.10", "",
     "lru_add_drain_all() skips the work when another drain covered it (lru_drain_gen)",
     None),
)

ERAS = {
    "v5.12": Era(
        "v5.12", kernel="v5.12",
        summary="pagevecs (lru_pvecs, lru_rotate; PAGEVEC_SIZE 15), PG_lru as the isolation "
                "token (v5.11), migrate_prep() = lru_add_drain_all(), the pre-6.3 "
                "migrate_pages() loop of 10 passes, zone_pcp_disable() in offline_pages()",
        names=V5_12_NAMES, contains=V5_12_CONTAINS),
    "v5.11": Era(
        "v5.11", kernel="v5.11",
        summary="the per-memcg lru_lock as merged (lruvec->lru_lock, TestClearPageLRU as the "
                "ownership token, relock_page_lruvec), release_pages relocking every "
                "SWAP_CLUSTER_MAX, move_pages_to_lru with SetPageLRU first, __munlock_pagevec, "
                "page_remove_rmap's clear_page_mlock under lock_page_memcg",
        patches=("era-v5.11",),
        names=V5_11_NAMES,
        contains=tuple(c for c in V5_12_CONTAINS if c[1] != "v5.12")),
    "v6.10": Era(
        "v6.10", kernel="v6.10",
        summary="folio batches (cpu_fbatches, PAGEVEC_SIZE 31), the mlock batch, "
                "lru_cache_disable() with an expedited grace period, long-term pins "
                "that fail on a migration failure, folio_get() before the batch lock, "
                "MGLRU (when a scenario enables it)",
        patches=("lru-cache-disable", "sync-rcu", "sync-rcu-expedited",
                 "era-folio-get-before-lock", "era-mlock-batch", "era-pagevec-31",
                 "era-gup-longterm", "era-mglru"),
        names=V6_10_NAMES, contains=V5_12_CONTAINS),
}


def get_era(name):
    from . import PatchError
    if name not in ERAS:
        raise PatchError(f"unknown kernel era {name!r} (known: {', '.join(ERAS)})")
    return ERAS[name]
