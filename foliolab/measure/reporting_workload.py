"""The page_reporting workload: free page reporting against contiguous
allocation, in simulated time (measure mode).

Actors (measure code; they call the model through ``k.fn``):

* the reporting worker (CPU 0, a daemon): the delayed work -- when a pass
  was requested, wait ``report_delay_ns`` (PAGE_REPORTING_DELAY, 2 s,
  scaled with the workload) and run page_reporting_process();
* the host (CPU 2, a daemon): takes a report from the virtqueue, spends
  ``host_latency_ns`` discarding it (QEMU's MADV_DONTNEED, a VM exit, the
  BQL), returns the buffer and interrupts the guest;
* the contiguous allocator (CPU 1): alloc_contig_range() of a 4 MiB range
  (a gigantic-page or CMA user), ``contig_attempts`` times with
  exponentially distributed gaps of mean ``contig_period_ns``; it holds a
  successful range ``contig_hold_ns`` and frees it -- the free makes a new
  unreported block of the reporting order, which requests a pass.

Counters: ``contig_attempts``, ``contig_fail`` (alloc_contig_range() returned
-EBUSY), ``contig_fail_reported`` (it failed while a block of the range was
out for reporting), ``reports``; latency ``alloc_contig_range``.
"""

from __future__ import annotations

from ..engine.sync import wait_event, wake_up
from ..mm.mmzone import MIGRATE_MOVABLE
from .workload import msleep, probe_latency

RANGE = 0x400
RANGE_END = 0x800          # the max-order block (4 MiB), as a gigantic page takes whole ones


def setup_page_reporting_workload(w):
    from ..mm.page import PG_reported
    from ..mm.page_alloc import setup_alloc_page_at
    from ..mm.virtio_balloon import virtio_balloon_probe
    from ..scenarios.base import SettingsError
    k, p = w.k, w.p
    if p["zone_pages"] < 4096:
        raise SettingsError(f"--set zone_pages={p['zone_pages']}: the layout needs 4096")
    if p["page_reporting_capacity"] < 1:
        raise SettingsError(f"--set page_reporting_capacity={p['page_reporting_capacity']}: "
                            f"must be at least 1")
    for key in ("host_latency_ns", "report_delay_ns", "contig_period_ns", "contig_hold_ns"):
        if p[key] < (1 if key == "contig_period_ns" else 0):
            raise SettingsError(f"--set {key}={p[key]}: must be positive")
    setup_alloc_page_at(k, 0x0, 10, 0, name="in use")
    for pfn in (0x800, 0xC00):                     # reported by an earlier pass
        k.pfn_to_page(pfn).flags |= 1 << PG_reported
    vb, prdev = virtio_balloon_probe(k, latency=0, capacity=p["page_reporting_capacity"],
                                     host=False)
    w.prdev = prdev
    prdev.work_pending = True                      # the pass page_reporting_register asked for
    probe_latency(w, "alloc_contig_range", "alloc_contig_range")
    m = k.m
    m.spawn("kworker/0:reporting", 0, reporting_worker(w, prdev), daemon=True)
    m.spawn("contig", 1, contig_user(w))
    m.spawn("qemu", 2, host(w, vb), daemon=True)


def reporting_worker(w, prdev):
    """The delayed work: a pass ``report_delay_ns`` after it was requested."""
    k = w.k
    delay = w.p["report_delay_ns"]
    while not w.done:
        if prdev.work_pending:
            yield from msleep(w, delay, "page_reporting: delayed work")
            yield from k.fn.page_reporting_process(prdev)
        else:
            yield from msleep(w, delay // 4, "page_reporting: idle")


def host(w, vb):
    """QEMU: take a report, discard its ranges for host_latency_ns, ack."""
    lat = w.p["host_latency_ns"]
    while True:
        yield from wait_event(vb.kick, lambda: bool(vb.avail), "host: idle")
        req = vb.avail.pop(0)
        w.count("reports")
        yield from msleep(w, lat, "host: MADV_DONTNEED")
        vb.used.append(req)
        wake_up(vb.acked)
        yield "host: buffer used, interrupt the guest"


def contig_user(w):
    """alloc_contig_range() of the range, again and again."""
    from ..mm.page_reporting import pages_out_for_reporting
    k, p = w.k, w.p
    for _ in range(p["contig_attempts"]):
        yield from msleep(w, int(w.rng.expovariate(1 / p["contig_period_ns"])),
                          "contig: think")
        w.count("contig_attempts")
        ret = yield from k.fn.alloc_contig_range(RANGE, RANGE_END, MIGRATE_MOVABLE, 0)
        if ret:
            w.count("contig_fail")
            if any(RANGE <= pg.pfn < RANGE + 1024 for pg, _o in pages_out_for_reporting(k)):
                w.count("contig_fail_reported")
            continue
        yield from msleep(w, p["contig_hold_ns"], "contig: hold")
        yield from k.fn.free_contig_range(RANGE, RANGE_END - RANGE)
    w.done = True


# ----------------------------------------------------- undo-isolation-split
def free_list_drift(k):
    """NR_FREE_PAGES minus the pages on non-ISOLATE free lists (0 when the
    accounting is right), and the same for NR_FREE_CMA_PAGES."""
    from ..mm.mmzone import MAX_ORDER, MIGRATE_CMA, MIGRATE_ISOLATE, MIGRATE_TYPES
    z = k.zone
    free = cma = 0
    for o in range(MAX_ORDER):
        lists = z.free_area[o].free_list
        for mt in range(MIGRATE_TYPES):
            if mt != MIGRATE_ISOLATE:
                free += len(lists[mt]) << o
        cma += len(lists[MIGRATE_CMA]) << o
    return z.vm_stat["NR_FREE_PAGES"] - free, z.vm_stat["NR_FREE_CMA_PAGES"] - cma


def setup_undo_split_workload(w):
    """A 12 MiB zone: one max-order MOVABLE block (0x0) and a CMA area of two
    max-order blocks (0x400-0xbff) with one busy page in the second, so
    every cma_alloc() of the whole area isolates it, fails the test and
    undoes the isolation -- over the first block, free as one order-10 block
    unless the load took part of it -- while allocators on the other CPUs
    take and free order-9 movable blocks: once they hold the MOVABLE block,
    their requests fall back to CMA (ALLOC_CMA)."""
    from ..mm.cma import cma_declare_contiguous
    from ..mm.page_alloc import setup_alloc_page_at
    from ..scenarios.base import SettingsError
    k, p = w.k, w.p
    if p["zone_pages"] < 3072:
        raise SettingsError(f"--set zone_pages={p['zone_pages']}: the layout needs 3072")
    for key in ("cma_period_ns", "alloc_hold_ns", "alloc_think_ns"):
        if p[key] < 1:
            raise SettingsError(f"--set {key}={p[key]}: must be positive")
    w.cma = cma_declare_contiguous(k, 0x400, 2048, "undo")
    setup_alloc_page_at(k, 0x805, 0, 0, name="busy")      # refcount 1, not on an LRU
    w.drift = (0, 0)

    def after_unset(ret, page, migratetype):
        d = free_list_drift(k)
        if d != w.drift:
            w.count("nr_free_drift_events")
            w.count("nr_free_drift_pages", d[0] - w.drift[0])
            w.count("nr_free_cma_drift_pages", d[1] - w.drift[1])
            w.drift = d
    k.fn.probe("unset_migratetype_isolate", post=after_unset)
    m = k.m
    m.spawn("cma_user", 0, failing_cma_user(w))
    for cpu in range(1, m.ncpus):
        m.spawn(f"alloc/{cpu}", cpu, order9_allocator(w), daemon=True)


def failing_cma_user(w):
    k, p = w.k, w.p
    for _ in range(p["cma_allocs"]):
        yield from msleep(w, int(w.rng.expovariate(1 / p["cma_period_ns"])), "cma_user: think")
        page = yield from k.fn.cma_alloc(w.cma, 2048, 0, True)
        if page is not None:
            yield from k.fn.cma_release(w.cma, page, 2048)
    w.done = True


def order9_allocator(w):
    """Take an order-9 movable block, hold it, free it; forever (a daemon)."""
    from ..mm.page_alloc import GFP_HIGHUSER_MOVABLE, __GFP_NOWARN
    k, p = w.k, w.p
    while not w.done:
        page = yield from k.fn.alloc_pages(GFP_HIGHUSER_MOVABLE | __GFP_NOWARN, 9)
        if page is not None:
            w.count("order9_allocs")
            yield from msleep(w, int(w.rng.expovariate(1 / p["alloc_hold_ns"])), "alloc: hold")
            yield from k.fn.__free_pages(page, 9)
        yield from msleep(w, int(w.rng.expovariate(1 / p["alloc_think_ns"])), "alloc: think")
