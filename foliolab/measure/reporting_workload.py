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
    k, p = w.k, w.p
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
