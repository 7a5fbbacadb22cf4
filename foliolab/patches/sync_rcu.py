"""lru_cache_disable(): a grace period instead of per-CPU work as the barrier.

* ff042f4a9b05 "mm: lru_cache_disable: replace work queue synchronization
  with synchronize_rcu" (Marcelo Tosatti, v5.18, Mar 2022): atomic_inc, then
  synchronize_rcu() -- every reader of the count is in a preempt-off,
  irq-off or RCU read-side section, so once the grace period is over every
  CPU that saw 0 has left it and its batch store is visible -- then
  __lru_add_drain_all(true), which now only bypasses the generation shortcut
  and queues work only on CPUs whose batches are non-empty.  A SCHED_FIFO
  busy loop on an isolated CPU no longer hangs the caller: user mode is a
  quiescent state and its empty batches get no work.
* 09d66eedb485 "mm: lru_cache_disable: use synchronize_rcu_expedited"
  (v5.19-rc): the normal grace period made lru_cache_disable() slow enough
  to cut stress-ng NUMA from 412.88 to 49.33 bogo-ops/s; expedited restored
  468.81.  Same closure, lower latency (measure/ gives the cost model).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..engine.rcu import synchronize_rcu, synchronize_rcu_expedited
from ..engine.sync import atomic_inc
from ..mm.swap import do_lru_add_drain_all

SYNC_RCU = Patch(
    "sync-rcu", author='Marcelo Tosatti',
    title="mm: lru_cache_disable: replace work queue synchronization with synchronize_rcu",
    commit="ff042f4a9b05", date="2022-03-22", version="v5.18", requires=("lru-cache-disable",),
    summary="atomic_inc + synchronize_rcu + drain only non-empty CPUs",
)
EXPEDITED = Patch(
    "sync-rcu-expedited",
    title="mm: lru_cache_disable: use synchronize_rcu_expedited",
    commit="09d66eedb485", date="2022-06", version="v5.19", requires=("sync-rcu",),
    summary="the same with an expedited grace period",
)
PATCHES = (SYNC_RCU, EXPEDITED)


@SYNC_RCU.replaces("__lru_add_drain_all")
def __lru_add_drain_all(k, force_all_cpus):
    """__lru_add_drain_all() (v5.18+): force only skips the shortcut."""
    yield from do_lru_add_drain_all(k, force_all_cpus=force_all_cpus)


@SYNC_RCU.replaces("lru_cache_disable")
def lru_cache_disable(k):
    yield from atomic_inc(k.lru_disable_count)
    yield from synchronize_rcu(k.m)
    yield from k.fn.__lru_add_drain_all(True)


@EXPEDITED.replaces("lru_cache_disable")
def lru_cache_disable_expedited(k):
    yield from atomic_inc(k.lru_disable_count)
    yield from synchronize_rcu_expedited(k.m)
    yield from k.fn.__lru_add_drain_all(True)
