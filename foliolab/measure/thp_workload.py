"""The thp_split workload: THP splits under concurrent faulters, in
simulated time (measure mode).

Actors (measure code; they call the model through ``k.fn``):

* the splitter (CPU 0): ``split_attempts`` times, after ``split_period_ns``
  on average (exponential), take a fresh PMD-mapped THP (khugepaged's
  collapse is not modelled: the workload maps a new THP at the same
  address, at the next free pfns, while the old one is left to the
  faulters' references), lock its head and take a reference as
  deferred_split_scan() does, split_huge_page(), keep the head locked
  ``head_hold_ns`` more, unlock and put it;
* ``faulters`` fstat()-like threads on CPUs 1.. (round robin; with
  ``faulter_cpu0`` some share CPU 0 with the splitter): each stores to its
  own subpage of the current THP -- faulter i to subpage i mod nr, so
  faulter 0 touches the head -- from kernel mode (copy_to_user) or user
  mode (``fault_mode``), and thinks ``think_ns`` on average between system
  calls.

Counters: ``thp_split_page`` / ``thp_split_page_failed`` (vmstat),
``split_attempts``, ``migration_entry_left`` (a successful split returned
with a migration entry of the THP still in the page table: must stay 0),
``livelock`` (the cycle detector fired; the run ends there).  Latencies:
``tail_wait`` (a tail faulter's store that slept on the THP, from the
fault to its wakeup) and ``time_to_hang`` (simulated time at the
livelock).
"""

from __future__ import annotations

from ..engine.livelock import SpinCycleDetector
from ..engine.machine import ScheduleAborted
from ..engine.oracles import Livelock
from ..mm.huge_memory import PAGE_SIZE, setup_thp_pmd_mapped
from ..mm.page import PG_locked, _nonatomic_set
from ..mm.rmap import mm_struct
from ..mm.x86_fault import exit_to_user_mode
from .workload import msleep

HADDR = 0x7F00_0000_0000
THP_BASE = 0x200


def setup_thp_workload(w):
    from ..scenarios.base import SettingsError
    from ..scenarios.thp_split import thp_state
    k, p = w.k, w.p
    for key in ("split_attempts", "faulters"):
        if p[key] < 1:
            raise SettingsError(f"--set {key}={p[key]}: must be at least 1")
    for key in ("split_period_ns", "think_ns"):
        if not isinstance(p[key], (int, float)) or p[key] <= 0:
            raise SettingsError(f"--set {key}={p[key]}: must be positive")
    if not isinstance(p["head_hold_ns"], (int, float)) or p["head_hold_ns"] < 0:
        raise SettingsError(f"--set head_hold_ns={p['head_hold_ns']}: must be 0 or more")
    if p["fault_mode"] not in ("kernel", "user"):
        raise SettingsError(f"--set fault_mode={p['fault_mode']}: expected kernel or user")
    if not 1 <= p["thp_order"] <= 6:
        raise SettingsError(f"--set thp_order={p['thp_order']}: must be 1..6")
    k.app_mm = mm_struct(k, "app")
    w.next_pfn = THP_BASE
    w.generation = 0
    _collapse(w)
    k.split_ret = []
    m = k.m
    if p.get("detect_livelock", True):
        det = SpinCycleDetector(m, lambda: thp_state(k))
        m.step_checks.pop()                 # re-registered below, with the clock
        def check():
            try:
                det.check()
            except Livelock:
                w.count("livelock")
                w.sample("time_to_hang", w.clock.now)
                raise
            except ScheduleAborted:
                # a cycle with an idle CPU: the engine pins tasks, the
                # kernel would balance the starving one there; the run ends
                w.count("pinned_starvation")
                raise
        m.add_step_check(check, name="livelock: repeating cycle")
    probe_waits(w)
    m.spawn("splitter", 0, splitter(w))
    ncpus = m.ncpus
    for i in range(p["faulters"]):
        if p.get("faulter_cpu0"):
            cpu = (i + 1) % ncpus
        else:
            cpu = 1 + i % (ncpus - 1) if ncpus > 1 else 0
        m.spawn(f"fault/{i}", cpu, faulter(w, i))


def _collapse(w):
    """A fresh PMD-mapped THP at HADDR (stands in for collapse_huge_page())."""
    k = w.k
    mm = k.app_mm
    order = w.p["thp_order"]
    nr = 1 << order
    for i in range(nr):
        mm.ptes.pop(HADDR + i * PAGE_SIZE, None)
    if hasattr(mm, "pmds"):
        mm.pmds.clear()
    k.thp = setup_thp_pmd_mapped(k, w.next_pfn, order, [(mm, HADDR)],
                                 name=f"H{w.generation}")
    w.next_pfn += nr
    w.generation += 1


def splitter(w):
    k, p = w.k, w.p
    mm = k.app_mm
    for _ in range(p["split_attempts"]):
        yield from msleep(w, int(w.rng.expovariate(1 / p["split_period_ns"])),
                          "splitter: think")
        _collapse(w)
        thp = k.thp
        head = thp.head
        head._refcount += 1                   # get_page_unless_zero()
        _nonatomic_set(head, PG_locked)       # trylock_page()
        yield "deferred_split_scan: collapse, get_page_unless_zero, trylock_page"
        w.count("split_attempts")
        ret = yield from k.fn.split_huge_page_to_list(head, None)
        if ret == 0:
            left = [a for a, e in mm.ptes.items()
                    if e[0] == "migration" and (e[1].compound_head or e[1]) in thp.subpages()]
            if left:
                w.count("migration_entry_left")
        if p["head_hold_ns"]:
            yield from msleep(w, p["head_hold_ns"], "split caller: head still locked")
        yield from k.fn.folio_unlock(head)
        yield from k.fn.folio_put(head)
    w.done = True


def faulter(w, i):
    k, p = w.k, w.p
    mm = k.app_mm
    nr = 1 << p["thp_order"]
    sub = i % nr
    addr = HADDR + sub * PAGE_SIZE
    kernel = p["fault_mode"] == "kernel"
    while not w.done:
        yield from msleep(w, int(w.rng.expovariate(1 / p["think_ns"])), "fstat: user think")
        t0 = w.clock.now
        if kernel:
            yield from k.fn.copy_to_user(mm, addr)
        else:
            yield from k.fn.user_store(mm, addr)
        if w.waited.pop(k.m.current.tid, False) and sub:
            w.sample("tail_wait", w.clock.now - t0)
        yield from exit_to_user_mode(k, "system call returns")


def probe_waits(w):
    """Mark a faulter that waited on a THP's lock (for ``tail_wait``)."""
    k = w.k
    w.waited = {}

    def pre(*args, **kw):
        w.waited[k.m.current.tid] = True

    for fn in ("put_and_wait_on_page_locked", "migration_entry_wait_on_locked"):
        if fn in k.fn:
            k.fn.probe(fn, pre=pre)
