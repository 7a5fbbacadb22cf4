"""The memcg_lru_lock workload: Hugh Dickins' "cg m" against writeback
rotations, in simulated time (measure mode).

Hugh's stress (seed 004) ran swapping loads in memcgs while his "bin/cg m"
moved a task between two memcgs (move_charge_at_immigrate) every
``seconds``: the VM_BUG_ON came after 6 and 8 hours with seconds=60, and
two machines crashed within 1.5 hours with seconds=1.  Actors (measure
code; they call the model through ``k.fn``):

* the writeback completions (CPU 0): every ``wb_think_ns`` on average, the
  end of writeback of a random page of the task, PG_reclaim set, rotates it
  (rotate_reclaimable_page: the lru_rotate pagevec, flushed through
  pagevec_move_tail -> pagevec_lru_move_fn when it fills up: Hugh's second
  stack);
* cg m (CPU 1): every ``move_period_ns`` a charge move of the task's
  ``task_pages`` pages to the other memcg (mem_cgroup_move_charge: the
  source's ``moving_account`` raised, mem_cgroup_move_charge_pte_range over
  the task's PTEs, then its lru_add pagevec drained), back and forth
  between A and B.  The run ends at ``sim_limit_ns`` or at the first kernel
  failure.

One simulated "second" is ``second_ns``: the periods are ``seconds`` times
it.  Counters: ``moves`` (charge-move passes), ``pages_moved``,
``rotations``, ``vm_bug_on`` (1 when the run ended with the VM_BUG_ON),
``exposure_us`` (simulated time of the run).  ``time_to_failure`` turns the
runs of one variant into the mean simulated time to the first VM_BUG_ON
with an exact Poisson interval (runs without a failure count as censored
exposure).
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from .workload import msleep

CGM = 0x7F00_0000_0000
TASK_BASE_PFN = 0x400


def setup_memcg_workload(w):
    from ..mm.memcontrol import commit_charge, mem_cgroup_create
    from ..mm.memory import setup_anon_folio
    from ..mm.mm_inline import setup_lru_folio
    from ..mm.page_alloc import setup_alloc_page_at
    from ..mm.rmap import mm_struct
    from ..scenarios.base import SettingsError
    k, p = w.k, w.p
    for key in ("task_pages", "move_period_ns", "wb_think_ns", "sim_limit_ns"):
        if p[key] < 1:
            raise SettingsError(f"--set {key}={p[key]}: must be at least 1")
    if p["task_pages"] > 512:
        raise SettingsError(f"--set task_pages={p['task_pages']}: at most 512")
    k.settings["debug_vm"] = bool(p.get("debug_vm", True))
    w.memcgs = (mem_cgroup_create(k, "A"), mem_cgroup_create(k, "B"))
    mm = mm_struct(k, "cg-m")
    w.pages = []
    for i in range(p["task_pages"]):
        page = setup_alloc_page_at(k, TASK_BASE_PFN + i, name=f"T{i}")
        setup_anon_folio(k, mm, CGM + i * 4096, page)
        commit_charge(k, page, w.memcgs[0])
        setup_lru_folio(k, page)
        w.pages.append(page)
    probe_vm_bug_on(w)
    m = k.m
    m.spawn("wb-end", 0, writeback_completions(w), daemon=True)
    m.spawn("cg-m", 1, cg_m(w))


def probe_vm_bug_on(w):
    """Count the VM_BUG_ON that is about to end the run (the row
    ``vm_bug_on``): a probe on lruvec_memcg_debug() sees its condition."""
    k = w.k

    def pre(lv, folio):
        if k.settings.get("debug_vm") and lv.memcg is not (folio.memcg_data or k.root_mem_cgroup):
            w.count("vm_bug_on")

    k.fn.probe("lruvec_memcg_debug", pre=pre)


def writeback_completions(w):
    """end_page_writeback() of a random page of the task with PG_reclaim
    set: rotate_reclaimable_page() (irq context in the kernel; here a task
    that keeps its CPU while it holds the irq-safe pagevec lock)."""
    from ..mm.page import PG_reclaim, _set
    k, rng = w.k, w.rng
    mean = w.p["wb_think_ns"]
    while not w.done:
        page = w.pages[rng.randrange(len(w.pages))]
        _set(page, PG_reclaim)
        yield f"end_page_writeback: {page.label}"
        yield from k.fn.folio_rotate_reclaimable(page)
        w.count("rotations")
        yield from msleep(w, max(1, int(rng.expovariate(1 / mean))), "writeback")


def cg_m(w):
    """Hugh's "cg m": move the task to the other memcg every period."""
    k = w.k
    period, limit = w.p["move_period_ns"], w.p["sim_limit_ns"]
    src, dst = w.memcgs
    while w.clock.now < limit:
        touch_write(k.m, src.fpk)
        src.moving_account += 1          # mem_cgroup_move_charge(): atomic_inc + synchronize_rcu
        yield f"mem_cgroup_move_charge: {src.name} -> {dst.name}"
        moved = yield from k.fn.mem_cgroup_move_charge_pte_range(w.pages, src, dst)
        yield from k.fn.lru_add_drain()
        touch_write(k.m, src.fpk)
        src.moving_account -= 1
        w.count("moves")
        w.count("pages_moved", moved)
        src, dst = dst, src
        yield from msleep(w, period, "cg m: sleep")
    w.done = True


def time_to_failure(runs, kind="VM_BUG_ON"):
    """Mean simulated time to the first failure whose text has ``kind``,
    from runs that stop at the first failure or at their time limit
    (censored): total exposure / failures, with the exact 95% Poisson
    interval of the failure rate (chi-square).  Returns (failures,
    exposure_ns, mean_ns, lo_ns, hi_ns); mean/hi are None without a failure
    (then lo is the rule-of-three bound exposure / 3)."""
    from scipy.stats import chi2
    n = sum(1 for r in runs if r["failure"] and kind in r["failure"])
    exposure = sum(r["sim_ns"] for r in runs)
    if n == 0:
        return 0, exposure, None, exposure / 3.0, None
    rate_lo = chi2.ppf(0.025, 2 * n) / 2 / exposure
    rate_hi = chi2.ppf(0.975, 2 * n + 2) / 2 / exposure
    return n, exposure, exposure / n, 1 / rate_hi, 1 / rate_lo
