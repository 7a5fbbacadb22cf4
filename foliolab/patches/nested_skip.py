"""mm: don't call lru draining in the nested lru_cache_disable.

Minchan Kim, Dec 2021 (v1) and Jan 2022 (v2); not merged.  Both apply on top
of d479960e44f2 (the 5.16-era forced drain).

* v1: ``if (atomic_inc_not_zero(&lru_disable_count)) return;`` -- a nested
  caller skips the drain.  Andrew Morton's race: the first caller has
  incremented 0 -> 1 but its drain has not reached CPU X yet; the second
  caller returns at once and migrates while X's batch still holds a folio.
* v2: ``__lru_add_drain_all(atomic_inc_return(&lru_disable_count) == 1)`` --
  a nested caller drains, but not forced.  Michal Hocko's CPU0/1/2 diagram:
  CPU0's batch store is not yet visible when the nested caller looks at
  CPU0's counters.  In the model this needs the TSO store buffer: under
  sequential consistency the non-forced drain sees CPU0's add (see the
  nested-disablers scenario docstring).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.sync import atomic_inc, atomic_inc_not_zero, atomic_inc_return

V1 = Patch(
    "nested-skip-v1",
    title="mm: don't call lru draining in the nested lru_cache_disable (v1)",
    date="2021-12-30", requires=("lru-cache-disable",), author="Minchan Kim",
    summary="atomic_inc_not_zero: a nested lru_cache_disable() skips the drain",
)
V2 = Patch(
    "nested-skip-v2",
    title="mm: don't call lru draining in the nested lru_cache_disable (v2)",
    date="2022-01-21", requires=("lru-cache-disable",), author="Minchan Kim",
    summary="forced drain only when the count goes 0 -> 1",
)
PATCHES = (V1, V2)


@V1.replaces("lru_cache_disable")
def lru_cache_disable_v1(k):
    if (yield from atomic_inc_not_zero(k.lru_disable_count)):
        return
    yield from atomic_inc(k.lru_disable_count)
    yield from k.fn.__lru_add_drain_all(True)


@V2.replaces("lru_cache_disable")
def lru_cache_disable_v2(k):
    count = yield from atomic_inc_return(k.lru_disable_count)
    yield from k.fn.__lru_add_drain_all(count == 1)
