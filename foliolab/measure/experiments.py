"""Named experiments shipped with the package.

Each reproduces the *shape* of a published figure on the model: who is
above whom, by how much, and how it moves with a parameter -- not the
absolute numbers of one phone or server.  ``foliolab measure --list``
prints them.

An experiment has default parameters (machine, kernel, workload), default
variants, the rows of its table (counters and latencies, by their kernel
names), and optionally a sweep: a parameter and its values, for the plot.
"""

from __future__ import annotations

from dataclasses import dataclass

from .run import setup_lru_cache_workload

MS = 1_000_000
US = 1_000

# The lru_cache workload.  Sizes are in pages (4 KiB).
LRU_CACHE_DEFAULTS = {
    "ncpus": 8,
    "zone_pages": 2048,           # 8 MiB: a phone's memory, scaled down
    "pagevec_size": 15,
    "cma_base": 0x400,
    "cma_pages": 1024,            # a 4 MiB CMA area, half the zone: movable
                                  # allocations land in it (v5.12 __rmqueue:
                                  # CMA first while it holds more than half
                                  # of the free memory)
    "cma_alloc_pages": 1024,      # 4 MiB, Minchan's size
    "cma_allocs": 50,             # per seed: 10 seeds make Minchan's ~500
    "cma_period_ns": 100 * US,    # his 5 s, scaled with the workload
    "cma_hold_ns": 50 * US,
    "anon_pages": 16,             # heap faulted per app launch
    "lib_pages": 192,             # the shared library file
    "read_pages": 16,             # library pages read per launch
    "rereads": 8,                 # re-reads of them while the app runs
    "think_ns": 20 * US,
    "launch_gap_ns": 300 * US,
    "madvise_cold": True,
    "madvise_free": True,
    "kswapd": True,
    "reclaim_below": 128,
    "kswapd_sleep_ns": 500 * US,
    "disable_users": 0,
    "disable_period_ns": 2 * MS,
    "disable_hold_ns": 50 * US,
}


@dataclass
class Row:
    """One row of the table: a counter (summed per run) or a latency
    (percentiles over every sample of the run)."""
    key: str
    title: str
    kind: str = "counter"         # counter | latency


@dataclass
class Experiment:
    name: str
    title: str
    anchor: str                   # the published figure it reproduces
    family: str
    defaults: dict
    variants: tuple
    rows: tuple
    setup_fn: object = None
    sweep: tuple = ()             # (param, values) for the plot
    plot_row: str = ""            # the row the sweep plots
    seeds: int = 10
    expect: str = ""              # the shape, in words (checked by the tests)

    def setup(self, w):
        self.setup_fn(w)

    def params(self, overrides=None):
        p = dict(self.defaults)
        p.update(overrides or {})
        return p


ROWS_MIGRATION = (
    Row("migrate_fail_pass_gt2", "migrate fail (pass>2)"),
    Row("cma_alloc_fail", "cma_alloc_fail"),
    Row("cma_alloc_success", "cma_alloc_success"),
    Row("cma:cma_alloc_busy_retry", "cma_alloc_busy_retry"),
    Row("pgmigrate_success", "pgmigrate_success"),
    Row("pgmigrate_fail", "pgmigrate_fail"),
    Row("cma_alloc", "cma_alloc latency", "latency"),
    Row("lru_cache_disable", "drain latency", "latency"),
)

EXPERIMENTS = {}


def _add(e):
    EXPERIMENTS[e.name] = e
    return e


_add(Experiment(
    name="minchan-2021",
    title="cma_alloc of 4 MiB under app launches, 8 CPUs",
    anchor="d479960e44f2 (v5.13) changelog: ~500 cma_allocs during Android app "
           "launches; 'fail to migrate' at pass > 2 for MR_CONTIG_RANGE ~400 "
           "under v5.12, under 30 with lru_cache_disable",
    family="lru_cache",
    defaults=LRU_CACHE_DEFAULTS,
    variants=("v0", "lru-cache-disable"),
    rows=ROWS_MIGRATION,
    setup_fn=setup_lru_cache_workload,
    sweep=("ncpus", (2, 4, 8)),
    plot_row="migrate_fail_pass_gt2",
    expect="v0 at least 10x lru-cache-disable on migrate fail (pass>2)",
))

_add(Experiment(
    name="pagevec-sweep",
    title="failing migrations against pagevec_size (15 before v6.9, 31 after)",
    anchor="PAGEVEC_SIZE 15 (v4.15-v6.8), folio_batch 31 (v6.9+): a bigger batch "
           "holds pages longer",
    family="lru_cache",
    defaults=dict(LRU_CACHE_DEFAULTS, cma_allocs=20),
    variants=("v0", "lru-cache-disable"),
    rows=ROWS_MIGRATION,
    setup_fn=setup_lru_cache_workload,
    sweep=("pagevec_size", (7, 15, 31)),
    plot_row="migrate_fail_pass_gt2",
    seeds=4,
    # Model finding (4 seeds x 20 cma_allocs, default costs): v0 26, 37 and
    # 27 failures per run at 7, 15 and 31 -- no significant effect of the
    # batch size at this sample (the count is lumpy: a folio stranded for a
    # whole migrate_pages() call fails at each of passes 3-9, up to 5 calls);
    # lru-cache-disable none at any size.
    expect="v0 above lru-cache-disable at every pagevec_size; lru-cache-disable stays at 0",
))

_add(Experiment(
    name="disable-latency",
    title="latency of lru_cache_disable() under each disabling variant",
    anchor="ff042f4a9b05 (v5.18) synchronize_rcu made it slow (stress-ng NUMA "
           "-88%); the expedited grace period (v5.19) restored it",
    family="lru_cache",
    defaults=dict(LRU_CACHE_DEFAULTS, cma_allocs=10, disable_users=2),
    variants=("lru-cache-disable", "minchan-rfc", "nested-skip-v1", "nested-skip-v2",
              "sync-rcu", "sync-rcu-expedited"),
    rows=(Row("lru_cache_disable", "drain latency", "latency"),
          Row("cma_alloc", "cma_alloc latency", "latency"),
          Row("migrate_fail_pass_gt2", "migrate fail (pass>2)")),
    setup_fn=setup_lru_cache_workload,
    seeds=4,
    expect="sync-rcu p50 well above lru-cache-disable and sync-rcu-expedited",
))


# The page_reporting workload (measure/reporting_workload.py).
PAGE_REPORTING_DEFAULTS = {
    "ncpus": 3,
    "zone_pages": 4096,
    "page_reporting_capacity": 2,  # 32 in the kernel; the zone gate asks for
                                   # low + capacity << 9 free pages
    "report_delay_ns": 2 * MS,     # PAGE_REPORTING_DELAY (2 s), scaled 1/1000
    "host_latency_ns": 100 * US,
    "contig_attempts": 50,
    "contig_period_ns": 3 * MS,
    "contig_hold_ns": 200 * US,
}


def _setup_page_reporting(w):
    from .reporting_workload import setup_page_reporting_workload
    setup_page_reporting_workload(w)


_add(Experiment(
    name="report-vs-contig",
    title="alloc_contig_range failures against the host's report latency",
    anchor="seed 001 (David Hildenbrand, Aug 2019): 'try to allocate a gigantic page -> "
           "fails.  Try again -> works'; RT 1.7: host ack latency 10 us - 10 ms, 2 s cadence",
    family="page_reporting",
    defaults=PAGE_REPORTING_DEFAULTS,
    variants=("v4-merged", "v5-to-tail", "v2-drain-reports"),
    rows=(Row("contig_fail", "alloc_contig_range -EBUSY"),
          Row("contig_fail_reported", "-EBUSY with a block out"),
          Row("contig_attempts", "alloc_contig_range calls"),
          Row("reports", "reports to the host"),
          Row("alloc_contig_range", "alloc_contig_range latency", "latency")),
    setup_fn=_setup_page_reporting,
    sweep=("host_latency_ns", (10 * US, 100 * US, 1 * MS, 3 * MS)),
    plot_row="contig_fail",
    seeds=4,
    # Model finding (4 seeds x 50 calls, default costs, --plot sweep):
    # v4-merged / v5-to-tail fail about 0, 1, 10 and 22 of 50 calls at a host
    # latency of 10 us, 100 us, 1 ms and 3 ms (a contiguous call every 3 ms
    # on average, a pass 2 ms after each free); every failure had the
    # range's block out for reporting; v2-drain-reports none.  v5.10's tail
    # placement changes nothing measurable here.
    expect="the merged designs fail more often as host_latency_ns grows; "
           "v2-drain-reports never fails (it waits for the report instead)",
))


def _setup_undo_split(w):
    from .reporting_workload import setup_undo_split_workload
    setup_undo_split_workload(w)


_add(Experiment(
    name="undo-isolation-split",
    title="NR_FREE_PAGES drift from cma_alloc failing partway under order-9 allocation load",
    anchor="the v5.12 undo_isolate_page_range double count (found by the model; fixed in "
           "v6.10 by fd919a85cd55 + e0932b6c1f94)",
    family="page_reporting",
    defaults={"ncpus": 4, "zone_pages": 3072, "cma_allocs": 100,
              "cma_period_ns": 200 * US, "alloc_hold_ns": 1 * US, "alloc_think_ns": 2 * US},
    variants=("v5.12", "hygiene-6.10"),
    rows=(Row("nr_free_drift_events", "undo steps that moved the count"),
          Row("nr_free_drift_pages", "NR_FREE_PAGES drift (pages)"),
          Row("nr_free_cma_drift_pages", "NR_FREE_CMA_PAGES drift (pages)"),
          Row("cma_alloc_fail", "cma_alloc_fail"),
          Row("order9_allocs", "order-9 allocations")),
    setup_fn=_setup_undo_split,
    sweep=("alloc_think_ns", (1 * US, 2 * US, 5 * US, 20 * US)),
    plot_row="nr_free_drift_events",
    seeds=4,
    # Model finding (4 seeds x 100 failing cma_allocs per point, default
    # costs): under v5.12, 10, 6, 0 and 0 undo steps in 400 moved
    # NR_FREE_PAGES (each by +512, NR_FREE_CMA_PAGES too) at an allocator
    # think time of 1, 2, 5 and 20 us (hold 1 us, three allocators): about 1
    # failing cma_alloc in 40-70 under a heavy order-9 load, none seen
    # (rule of three: < 3/400) under a lighter one.  hygiene-6.10: none.
    expect="v5.12 drifts (rarely); hygiene-6.10 never",
))


# The memcg_lru_lock workload (measure/memcg_workload.py): Hugh Dickins'
# "cg m" against writeback rotations.  One simulated "second" is
# second_ns = 100 us: a charge-move pass over the task's 32 pages takes
# about 4 us, i.e. a pass takes ~4% of the shortest period (a task of some
# 100 MB moved in ~40 ms of a real second).
MEMCG_SECOND_NS = 100 * US
MEMCG_DEFAULTS = {
    "ncpus": 2,
    "task_pages": 32,
    "second_ns": MEMCG_SECOND_NS,
    "move_period_ns": 60 * MEMCG_SECOND_NS,    # Hugh's seconds=60
    "wb_think_ns": 1 * US,
    "sim_limit_ns": 200 * MS,
    "debug_vm": True,
}


def _setup_memcg(w):
    from .memcg_workload import setup_memcg_workload
    setup_memcg_workload(w)


_add(Experiment(
    name="cg-m",
    title="Hugh's cg m: charge moves every 60 s (and 1 s) against writeback rotations",
    anchor="seed 004 (Hugh Dickins, 10-11 Jun 2020): the v11 VM_BUG_ON after 6 h and 8 h "
           "with cg m seconds=60; two machines crashed in 1.5 h with seconds=1",
    family="memcg_lru_lock",
    defaults=MEMCG_DEFAULTS,
    variants=("b-v11", "c-test-clear-lru"),
    rows=(Row("vm_bug_on", "runs ending in the VM_BUG_ON"),
          Row("moves", "charge-move passes"),
          Row("pages_moved", "pages moved"),
          Row("rotations", "writeback rotations")),
    setup_fn=_setup_memcg,
    sweep=("move_period_ns", (1 * MEMCG_SECOND_NS, 60 * MEMCG_SECOND_NS)),
    plot_row="vm_bug_on",
    seeds=10,
    expect="b-v11 hits the VM_BUG_ON, more often with the 1 s period; c-test-clear-lru never",
))


# The thp_split workload (measure/thp_workload.py).
THP_DEFAULTS = {
    "ncpus": 4,                   # the splitter alone on CPU 0: no CPU can be starved
    "preempt": "none",
    "thp_order": 2,               # 4 subpages (see mm/huge_memory.py)
    "faulters": 3,                # faulter 0 touches the head, the others tails
    "faulter_cpu0": False,
    "fault_mode": "kernel",
    "split_attempts": 50,
    "split_period_ns": 20 * US,
    "think_ns": 500,              # between fstat() calls
    "head_hold_ns": 0,
    "max_steps": 5_000_000,
}


def _setup_thp(w):
    from .thp_workload import setup_thp_workload
    setup_thp_workload(w)


THP_VARIANTS = ("b0", "b1-cond-resched", "b3-compound-head", "b4-wait-on-locked")

_add(Experiment(
    name="split-success-rate",
    title="P(split_huge_page succeeds) under concurrent kernel-mode faulters",
    anchor="seed 003, Hugh Dickins on ffc90cbb2970: the faulters' head references 'can "
           "reduce the chance of splitting considerably'; ffa65753c431 (5.17) takes none",
    family="thp_split",
    defaults=THP_DEFAULTS,
    variants=THP_VARIANTS,
    rows=(Row("thp_split_page", "thp_split_page"),
          Row("thp_split_page_failed", "thp_split_page_failed"),
          Row("migration_entry_left", "migration entry left after a split"),
          Row("tail_wait", "tail fault wait", "latency")),
    setup_fn=_setup_thp,
    sweep=("faulters", (1, 3, 6)),
    plot_row="thp_split_page",
    seeds=6,
    expect="b3-compound-head splits least often, b4-wait-on-locked most; no migration "
           "entry is ever left after a successful split",
))

_add(Experiment(
    name="head-wait-latency",
    title="a tail faulter's wait against the time the caller keeps the head locked",
    anchor="seed 003, Kirill A. Shutemov on ffc90cbb2970: after a successful split a tail "
           "waiter sleeps on the head until the caller unlocks it ('wait on wrong page')",
    family="thp_split",
    defaults=dict(THP_DEFAULTS, head_hold_ns=20 * US),
    variants=("b0", "b3-compound-head", "b4-wait-on-locked"),
    rows=(Row("tail_wait", "tail fault wait", "latency"),
          Row("thp_split_page", "thp_split_page")),
    setup_fn=_setup_thp,
    seeds=4,
    expect="b3/b4 tail waits grow with head_hold_ns; b0's do not (it waits on the tail)",
))

_add(Experiment(
    name="thp-hang",
    title="time to the tail-wait livelock: 2 CPUs, PREEMPT_NONE, kernel-mode faulters",
    anchor="seed 003, Xu Yu: 'usually makes the vanilla kernel hung after tens of minutes "
           "at most'; patched kernels 'alive for hours'",
    family="thp_split",
    defaults=dict(THP_DEFAULTS, ncpus=2, faulter_cpu0=True, split_attempts=400),
    variants=("b0", "b3-compound-head"),
    rows=(Row("livelock", "livelocked runs"),
          Row("split_attempts", "split attempts"),
          Row("thp_split_page_failed", "thp_split_page_failed"),
          Row("time_to_hang", "time to hang", "latency")),
    setup_fn=_setup_thp,
    seeds=8,
    # Model finding (8 seeds x 400 attempts): with the default 3 ms slice no
    # run hangs (the splitter keeps its CPU at remap_page()'s cond_resched()
    # unless need_resched is set); with --cost slice=20000 (CPUs crowded
    # with fstat threads) 6 of 8 b0 runs hang, after a median 5 ms of
    # simulated time (~200 split attempts); b3-compound-head never.
    expect="b0 livelocks once need_resched meets remap_page()'s cond_resched() "
           "(--cost slice=20000: most runs); b3-compound-head never",
))


def find_experiment(name):
    from ..explore.registry import LookupFailure
    if name in EXPERIMENTS:
        return EXPERIMENTS[name]
    raise LookupFailure(f"unknown experiment {name!r} (known: {', '.join(EXPERIMENTS)})")
