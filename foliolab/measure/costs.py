"""The cost model of measure mode: simulated nanoseconds per step, by kind.

Every step of the model yields a label that starts with the kernel function
that made it (``spin_lock_irq(zone->lock)``, ``folio_add_lru: get F ...``).
:func:`step_kind` maps that function to a *kind*, and the cost model gives
each kind a cost in simulated nanoseconds.  A step that no rule names is a
``page`` step: a struct page / struct folio touch, the common case.

The defaults are orders of magnitude, not a calibration of one machine.
Where they come from:

========  =======  ==========================================================
kind      ns       source
========  =======  ==========================================================
page        20     a struct page touch that misses L1 and hits L2/L3:
                   perfbook (McKenney, "Is Parallel Programming Hard", 2023),
                   Table 3.1, Xeon Platinum 8176: single cache miss ~30 ns
lock        15     an uncontended spinlock/mutex/local_lock acquire or
                   release: perfbook Table 3.1, best-case lock 15.4 ns
atomic      25     an atomic RMW or a fully ordered barrier on a line another
                   CPU wrote: perfbook Table 3.1, in-core CAS 18 ns,
                   off-core CAS ~100 ns (we take the cheap end)
list        30     an LRU or free-list move: two struct page touches plus
                   list pointer updates (page x ~1.5)
alloc      150     one page from the per-CPU lists or the buddy allocator:
                   will-it-scale page_fault1 runs ~1-3 M faults/s per CPU
                   (Duyck's 2020 page reporting cover letter: 1.0 M
                   iterations per task), allocation being a fraction of that
ipi       1500     an IPI round trip (smp_call_function*, the expedited RCU
                   IPI): 1-2 us on x86 servers (Huang Ying's batched TLB
                   flush series measures IPI-bound migration; kernel
                   ipi_benchmark reports ~1-2 us)
work      4000     queueing a work item and getting a kworker to run it: a
                   wakeup and a context switch, a few us (schbench /
                   cyclictest wakeup latencies on idle servers)
unmap      500     try_to_migrate / remove_migration_ptes of one mapping:
                   PTE update plus a TLB flush (batched flushing, 7e12beb8ca2a,
                   cut IPIs 99% -- unbatched it is an IPI)
copy       800     copying one 4 KiB page for migration (copy_page): 5-10
                   GB/s memcpy
rcu_gp  8000000    a normal synchronize_rcu(): several jiffies at HZ=250;
                   the 5.18 change to synchronize_rcu() cost stress-ng NUMA
                   88% (412.88 -> 49.33 ops), restored by the expedited form
                   (ff042f4a9b05's follow-up, v5.19)
rcu_exp   20000    synchronize_rcu_expedited(): IPIs to every CPU, tens of us
sched     1000     a context switch / sleeping and waking (schedule())
========  =======  ==========================================================

Scheduling parameters (also overridable): ``slice`` (3 ms: how long a task
keeps its CPU while another task there is runnable, CFS's
sched_min_granularity x a few), ``jitter`` (0.5: every cost is multiplied by
a uniform factor in [1 - jitter, 1 + jitter] drawn from the run's seeded
generator -- the randomness of measure mode), ``sb`` (10 ns: how long a
store waits in the store buffer under memory_model=tso).

Override with ``--cost kind=ns`` on the command line or ``--cost-file F``
(a JSON object ``{"kind": ns}``).  Unknown kinds are an error.
"""

from __future__ import annotations

import json

DEFAULT_COSTS = {
    "page": 20,
    "lock": 15,
    "atomic": 25,
    "list": 30,
    "alloc": 150,
    "ipi": 1500,
    "work": 4000,
    "unmap": 500,
    "copy": 800,
    "rcu_gp": 8_000_000,
    "rcu_exp": 20_000,
    "sched": 1000,
    # scheduling parameters
    "slice": 3_000_000,
    "jitter": 0.5,
    "sb": 10,
}

# kernel function (the label's first word) -> kind
_KINDS = {}
for _kind, _fns in {
    "lock": ("spin_lock", "spin_unlock", "spin_lock_irq", "spin_unlock_irq",
             "spin_lock_irqsave", "spin_unlock_irqrestore", "spin_trylock",
             "mutex_lock", "mutex_unlock", "local_lock", "local_unlock",
             "local_lock_irqsave", "local_unlock_irqrestore", "local_irq_enable",
             "local_irq_disable", "preempt_enable", "preempt_disable",
             "folio_lock", "folio_unlock", "__unmap_and_move", "folio_trylock",
             "rcu_read_unlock"),
    "atomic": ("atomic_inc", "atomic_dec", "atomic_inc_return", "atomic_dec_return",
               "atomic_inc_not_zero", "atomic_read", "atomic_set", "smp_mb",
               "lru_add_drain_all", "folio_put", "folios_put", "folio_get",
               "folio_try_get", "store"),
    "list": ("lru_add", "lru_activate", "lru_deactivate", "lru_deactivate_file",
             "lru_lazyfree", "lru_move_tail", "folio_batch_move_lru",
             "folio_isolate_lru", "folio_putback_lru", "putback_movable_pages",
             "isolate_migratepages_range", "isolate_migratepages_block",
             "lru_add_drain_cpu", "lru_add_drain", "folio_activate", "folio_add_lru",
             "folio_deactivate", "folio_mark_lazyfree", "deactivate_file_folio",
             "folio_rotate_reclaimable", "lru_cache_activate", "shrink_inactive_list",
             "isolate_lru_folios", "shrink_folio_list", "__remove_mapping"),
    "alloc": ("rmqueue", "rmqueue_pcplist", "rmqueue_bulk", "__rmqueue", "alloc_pages",
              "folio_alloc", "free_unref_page", "free_pcppages_bulk", "__free_pages",
              "free_one_page", "__free_one_page", "__free_pages_ok", "alloc_migration_target",
              "isolate_freepages_range", "split_map_pages", "free_contig_range",
              "release_freepages"),
    "ipi": ("on_each_cpu", "smp_call_function", "smp_call_function_many",
            "drain_all_pages", "__drain_all_pages"),
    "work": ("queue_work_on", "queue_work", "flush_work", "process_one_work",
             "worker_thread"),
    "unmap": ("try_to_migrate", "remove_migration_ptes", "zap_pte_range",
              "do_anonymous_page", "filemap_map_pages", "filemap_fault"),
    "copy": ("migrate_page_copy", "migrate_page", "move_to_new_page",
             "filemap_read", "copy_page"),
    "sched": ("cond_resched", "msleep", "schedule", "exit"),
}.items():
    for _fn in _fns:
        _KINDS[_fn] = _kind

_STOP = str.maketrans({"(": " ", ":": " ", "[": " "})


def step_kind(label):
    """The kind of the step that yielded ``label``."""
    head = label.translate(_STOP).split(None, 1)
    if not head:
        return "page"
    fn = head[0]
    kind = _KINDS.get(fn)
    if kind is not None:
        return kind
    if fn.startswith("synchronize_rcu"):
        return "rcu_exp" if "expedited" in fn else "rcu_gp"
    return "page"


class CostError(ValueError):
    """An unknown kind or an impossible cost."""


class CostModel:
    """Costs by kind (ns) plus the scheduling parameters."""

    def __init__(self, overrides=None):
        self.costs = dict(DEFAULT_COSTS)
        for key, val in (overrides or {}).items():
            self.set(key, val)

    def set(self, key, val):
        if key not in DEFAULT_COSTS:
            raise CostError(f"unknown cost {key!r} (known: {', '.join(sorted(DEFAULT_COSTS))})")
        try:
            val = float(val)
        except (TypeError, ValueError):
            raise CostError(f"cost {key}={val!r}: not a number") from None
        if val < 0 or (key == "jitter" and val >= 1):
            raise CostError(f"cost {key}={val}: must be >= 0" + (" and < 1" if key == "jitter" else ""))
        self.costs[key] = val

    def __getitem__(self, kind):
        return self.costs[kind]

    def overrides(self):
        return {k: v for k, v in self.costs.items() if DEFAULT_COSTS[k] != v}

    @classmethod
    def from_file(cls, path, extra=None):
        try:
            with open(path) as f:
                data = json.load(f)
        except OSError as e:
            raise CostError(f"cost file {path}: {e.strerror}") from None
        except json.JSONDecodeError as e:
            raise CostError(f"cost file {path}: not JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(data, dict):
            raise CostError(f"cost file {path}: expected a JSON object of kind -> ns")
        data.update(extra or {})
        return cls(data)
