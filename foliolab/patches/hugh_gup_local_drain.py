"""mm/gup: local lru_add_drain() to avoid lru_add_drain_all().

Commit a09a8a1fbb37 (Hugh Dickins, v6.17-rc7; patch 2/5 of "mm: better GUP
pin lru_add_drain_all()" v2).  On top of 98c6d259319e: the first
unexpected reference triggers a local lru_add_drain() (which also drains
this CPU's mlock batch); only if the folio still mismatches does
lru_add_drain_all() run -- at most one of each per call ("the cache in
question is usually on this same CPU").
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.gup import collect_longterm_unpinnable_folios_body
from .hugh_gup_refcount import may_be_lru_cached, unexpected_refs

PATCH = Patch(
    "g3-gup-local-drain",
    title="mm/gup: local lru_add_drain() to avoid lru_add_drain_all()",
    commit="a09a8a1fbb37", date="2025-09-08", version="v6.17", requires=("g3-gup-refcount",),
    summary="drained 0 -> lru_add_drain(), still unexpected -> lru_add_drain_all()",
)


def collect_with_drains(k, movable_list, pages, own_refs):
    """The v6.17 loop; ``own_refs(folio)``: the references GUP itself holds
    (1 in v6.17; the pin's, 1024 for a small folio, with g4-pin-refs)."""

    def do_collect_longterm_unpinnable_folios(k, folio, drained):
        if (drained == 0 and may_be_lru_cached(k, folio)
                and unexpected_refs(k, folio, own_refs(folio))):
            yield (f"collect_longterm_unpinnable_folios: {folio.label} ref {folio._refcount} "
                   f"!= expected {k.fn.folio_expected_ref_count(folio)} + {own_refs(folio)}: "
                   f"local drain")
            yield from k.fn.lru_add_drain()
            drained = 1
        if (drained == 1 and may_be_lru_cached(k, folio)
                and unexpected_refs(k, folio, own_refs(folio))):
            yield (f"collect_longterm_unpinnable_folios: {folio.label} ref {folio._refcount} "
                   f"still unexpected: drain all")
            yield from k.fn.lru_add_drain_all()
            drained = 2
        return drained

    return (yield from collect_longterm_unpinnable_folios_body(
        k, movable_list, pages, do_collect_longterm_unpinnable_folios))


@PATCH.replaces()
def collect_longterm_unpinnable_folios(k, movable_list, pages):
    """collect_longterm_unpinnable_folios() (v6.17)."""
    return (yield from collect_with_drains(k, movable_list, pages, lambda folio: 1))
