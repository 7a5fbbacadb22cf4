"""Reverse mapping and migration entries: mm/rmap.c and the PTE side of
mm/migrate.c (v5.12 try_to_unmap(TTU_MIGRATION), v5.15+ try_to_migrate()).

The page tables are modelled per mm as {address: pte}; a pte is
("present", folio) or ("migration", folio).  A mapping holds one folio
reference and one mapcount; try_to_migrate() swaps each mapping for a
migration entry and drops both, remove_migration_ptes() maps the given
folio back at every entry that points to the source.

The reverse map itself (anon_vma chains, the i_mmap tree) is the list
``folio.pvmw`` of (mm, address) pairs; page_add_new_anon_rmap(),
page_add_file_rmap() and page_remove_rmap() keep it with the mapcount.  An
anon folio's ``mapping`` is its mm's anon_vma (the kernel stores the pointer
with PAGE_MAPPING_ANON set), which folio_test_anon() recognises.

The fault, zap and madvise paths (mm/memory.c, mm/madvise.c) hold the
mm's ``page_table_lock`` around their PTE updates: one PTE lock per mm, as
without split PTE locks.  try_to_migrate() and remove_migration_ptes() do
their whole walk in one step instead: the rmap walkers of the migration
family never take it.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import BadPageState
from ..engine.sync import spinlock_t
from .page import dump_flags, folio_get, page_fp_read, page_fp_write

PAGE_SHIFT = 12


class mm_struct:
    def __init__(self, k, name):
        self.name = name
        self.ptes = {}
        self.fpk = k.m.new_key()      # the page table and anon_vma
        self.anon_vma = None          # the anon_vma of the mm's anonymous memory (one VMA)
        self.page_table_lock = spinlock_t(k.m, f"mm({name})->page_table_lock",
                                          "&mm->page_table_lock")

    def __repr__(self):
        return f"mm({self.name})"


class anon_vma:
    """struct anon_vma: what an anon folio's ``mapping`` points to.  No state
    the model changes after creation (the chains are ``folio.pvmw``)."""

    anon = True               # PAGE_MAPPING_ANON
    swap_backed = True

    def __init__(self, mm):
        self.host = f"anon_vma({mm.name})"

    def __repr__(self):
        return self.host


def anon_vma_prepare(k, mm):
    """anon_vma_prepare() (v5.12): give the VMA an anon_vma on its first
    anonymous fault.  The kernel allocates it, then installs it under
    mm->page_table_lock; the model does both in the caller's step."""
    touch_read(k.m, mm.fpk)
    if mm.anon_vma is None:
        touch_write(k.m, mm.fpk)
        mm.anon_vma = anon_vma(mm)
    return mm.anon_vma


def linear_page_index(address):
    """linear_page_index() of a VMA that starts at file offset 0."""
    return address >> PAGE_SHIFT


@kfunc
def page_add_new_anon_rmap(k, folio, mm, address):
    """page_add_new_anon_rmap() (v5.12) of a new order-0 folio, under the
    PTE lock: swap-backed, first mapcount, mapping = the anon_vma, index =
    the page offset of ``address``.  Nobody else can see the folio yet, so
    plain stores do (__SetPageSwapBacked)."""
    from .page import PG_swapbacked, _nonatomic_set
    av = anon_vma_prepare(k, mm)
    _nonatomic_set(folio, PG_swapbacked)
    page_fp_write(folio)
    folio._mapcount = 0
    folio.mapping = av
    folio.index = linear_page_index(address)
    folio.pvmw = list(folio.pvmw) + [(mm, address)]


@kfunc
def page_add_file_rmap(k, folio, mm, address):
    """page_add_file_rmap() (v5.12) of an order-0 page cache folio, under the
    PTE lock: one more mapcount (an atomic_inc in the kernel)."""
    page_fp_write(folio)
    folio._mapcount += 1
    folio.pvmw = list(folio.pvmw) + [(mm, address)]


@kfunc
def page_remove_rmap(k, folio, mm, address):
    """page_remove_rmap() (v5.12) of an order-0 folio, under the PTE lock:
    one mapcount less.  A negative mapcount is the zap's print_bad_pte()."""
    page_fp_write(folio)
    folio._mapcount -= 1
    if (mm, address) in folio.pvmw:
        folio.pvmw = [e for e in folio.pvmw if e != (mm, address)]
    if folio._mapcount < -1:
        raise BadPageState(
            f"BUG: Bad page map in process {mm.name}: page:{folio.label} "
            f"pfn:0x{folio.pfn:x} mapcount:{folio._mapcount + 1} flags: {dump_flags(folio)}")


def setup_map_folio(k, mm, address, folio):
    """Boot-time helper: ``folio`` is mapped at ``address`` in ``mm``."""
    mm.ptes[address] = ("present", folio)
    folio._mapcount += 1
    folio._refcount += 1
    folio.pvmw = list(folio.pvmw) + [(mm, address)]


@kfunc
def try_to_migrate(k, folio):
    """try_to_migrate(): replace every PTE mapping the folio with a
    migration entry (the caller holds the folio lock)."""
    n = 0
    page_fp_write(folio)
    for mm, addr in folio.pvmw:
        touch_write(k.m, mm.fpk)
        pte = mm.ptes.get(addr)
        if pte is not None and pte[0] == "present" and pte[1] is folio:
            mm.ptes[addr] = ("migration", folio)
            folio._mapcount -= 1
            folio._refcount -= 1        # the mapping's reference (never the last)
            n += 1
    yield f"try_to_migrate: {folio.label} {n} PTE(s) -> migration entries (ref {folio._refcount})"


@kfunc
def remove_migration_ptes(k, src, dst):
    """remove_migration_ptes(): map ``dst`` where migration entries for
    ``src`` are (dst is src when the migration failed)."""
    moved = []
    page_fp_write(src)
    page_fp_write(dst)
    for mm, addr in src.pvmw:
        touch_write(k.m, mm.fpk)
        pte = mm.ptes.get(addr)
        if pte is not None and pte[0] == "migration" and pte[1] is src:
            mm.ptes[addr] = ("present", dst)
            folio_get(dst)
            dst._mapcount += 1
            moved.append((mm, addr))
    if dst is not src:
        src.pvmw = [e for e in src.pvmw if e not in moved]
        dst.pvmw = list(dst.pvmw) + moved
    yield f"remove_migration_ptes: {len(moved)} PTE(s) -> {dst.label}"
