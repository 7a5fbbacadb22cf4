"""mm: lru_add_drain_all() do local lru_add_drain() first.

Hugh Dickins, patch 6/6 of "mm: better GUP pin lru_add_drain_all()" v2 (8
Sep 2025); not a hotfix: queued in the mm tree for v6.18 (one log shows it
as 74a0e5426284; the mainline id is not confirmed).  The caller drains its
own CPU's batches after loading lru_drain_gen and before taking the mutex:
with competing callers, each flushing its own first minimises the work
("no numbers").
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.swap import do_lru_add_drain_all

PATCH = Patch(
    "g3-drain-all-local-first",
    title="mm: lru_add_drain_all() do local lru_add_drain() first",
    commit=None, date="2025-09-08", version="v6.18 (mm tree)", requires=("sync-rcu",),
    summary="lru_add_drain() on this CPU before the mutex of __lru_add_drain_all()",
)


@PATCH.replaces()
def __lru_add_drain_all(k, force_all_cpus):
    """__lru_add_drain_all() (v6.18): local drain first."""
    yield from do_lru_add_drain_all(k, force_all_cpus=force_all_cpus, local_first=True)
