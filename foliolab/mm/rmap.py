"""Reverse mapping and migration entries: mm/rmap.c and the PTE side of
mm/migrate.c (v5.12 try_to_unmap(TTU_MIGRATION), v5.15+ try_to_migrate()).

The page tables are modelled per mm as {address: pte}; a pte is
("present", folio) or ("migration", folio).  A mapping holds one folio
reference and one mapcount; try_to_migrate() swaps each mapping for a
migration entry and drops both, remove_migration_ptes() maps the given
folio back at every entry that points to the source.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from .page import folio_get, page_fp_read, page_fp_write


class mm_struct:
    def __init__(self, k, name):
        self.name = name
        self.ptes = {}
        self.fpk = k.m.new_key()      # the page table (its PTE lock is implied)

    def __repr__(self):
        return f"mm({self.name})"


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
