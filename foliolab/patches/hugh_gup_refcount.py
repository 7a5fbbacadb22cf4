"""mm/gup: check ref_count instead of lru before migration.

Commit 98c6d259319e (Hugh Dickins, v6.17-rc7, mm-hotfixes-stable
2025-09-17; patch 1/5 of "mm: better GUP pin lru_add_drain_all()" v2, 8
Sep 2025).  collect_longterm_unpinnable_folios() drains when the folio has
more references than folio_expected_ref_count() + 1 (the "+1" standing for
GUP's own reference) instead of when PG_lru is clear: a reference is what
makes migration fail, whichever batch (LRU or mlock) holds it.  Needs
folio_expected_ref_count() (86ebd50224c0, v6.16).

The model settles the reference's inference point on the "+1": a small
folio pinned with FOLL_PIN carries GUP_PIN_COUNTING_BIAS (1024), not 1, so
every small unpinnable folio mismatches and the drain always runs (see
the gup_longterm scenarios' drain counts); g4-pin-refs corrects it.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.gup import collect_longterm_unpinnable_folios_body
from ..mm.page import folio_ref_count

PATCH = Patch(
    "g3-gup-refcount",
    title="mm/gup: check ref_count instead of lru before migration",
    commit="98c6d259319e", date="2025-09-08", version="v6.17",
    link="https://lore.kernel.org/linux-mm/a28b44f7-cdb4-8b81-4982-758ae774fbf7@google.com/",
    summary="drain_allow && folio_ref_count != folio_expected_ref_count + 1 -> lru_add_drain_all()",
)


def may_be_lru_cached(k, folio):
    """folio_may_be_lru_cached() when 2da6de30e60d is applied; before it
    every folio may be (the guard is that patch's)."""
    if "folio_may_be_lru_cached" in k.fn:
        return k.fn.folio_may_be_lru_cached(folio)
    return True


def unexpected_refs(k, folio, own_refs=1):
    """folio_ref_count() != folio_expected_ref_count() + own_refs."""
    return folio_ref_count(folio) != k.fn.folio_expected_ref_count(folio) + own_refs


def do_collect_longterm_unpinnable_folios(k, folio, drained):
    """98c6d259319e's rule: drain all, once, for a folio with more
    references than expected + 1."""
    if not drained and may_be_lru_cached(k, folio) and unexpected_refs(k, folio):
        yield (f"collect_longterm_unpinnable_folios: {folio.label} ref {folio._refcount} "
               f"!= expected {k.fn.folio_expected_ref_count(folio)} + 1: drain all")
        yield from k.fn.lru_add_drain_all()
        return 2
    return drained


@PATCH.replaces()
def collect_longterm_unpinnable_folios(k, movable_list, pages):
    """collect_longterm_unpinnable_folios() (98c6d259319e alone)."""
    return (yield from collect_longterm_unpinnable_folios_body(
        k, movable_list, pages, do_collect_longterm_unpinnable_folios))
