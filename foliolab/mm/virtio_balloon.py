"""The virtio-balloon free page reporting device: drivers/virtio/virtio_balloon.c
(b0c504f15471, v5.7; unchanged in this respect through v6.x) and the host
side of it (QEMU's virtio-balloon, which discards every reported range with
MADV_DONTNEED before it returns the buffer).

Guest: virtballoon_free_page_report() puts the scatterlist on the reporting
virtqueue, kicks the host and sleeps (wait_event on vb->acked) until the
host has used the buffer.  The reporter therefore sleeps with zone->lock
dropped and its blocks out of the buddy allocator for a whole host round
trip (a VM exit, QEMU taking the BQL and mmap_lock, one madvise per range).

Host: an actor (``virtio_balloon_host``) on a CPU of its own (the host is not
a guest CPU: no guest task runs there).  It takes a request, works for
``host_latency`` steps (each a step of its own that touches only the host's
state: under the reduction they commute with the guest's), then returns the
buffer and interrupts the guest, which wakes the reporter.  ``host_latency``
is a scenario setting (``--set host_latency=N``); under measure it is time.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.sync import wait_event, wait_queue_head_t, wake_up


class virtio_balloon:
    """struct virtio_balloon, reduced to the reporting virtqueue: ``avail``
    (buffers the guest added, not yet taken by the host), ``used`` (buffers
    the host returned), the guest's ``acked`` wait queue and the host's
    doorbell (``kick``)."""

    def __init__(self, k, latency):
        m = k.m
        self.k = k
        self.fpk = m.new_key()                 # the virtqueue rings
        self.host_fpk = m.new_key()            # the host's own work
        self.avail = []
        self.used = []
        self.acked = wait_queue_head_t(m, "vb->acked")
        self.kick = wait_queue_head_t(m, "reporting_vq kick")
        self.latency = latency
        self.ranges_discarded = 0
        self.requests = 0

    def __repr__(self):
        return f"<virtio_balloon avail={len(self.avail)} used={len(self.used)}>"


def _vq_has_used(vb, req):
    touch_read(vb.k.m, vb.fpk)
    return req in vb.used


@kfunc
def virtballoon_free_page_report(k, prdev, sgl, nents):
    """virtballoon_free_page_report(): add the scatterlist to the reporting
    virtqueue (GFP_NOWAIT), kick, wait for the host to use it.  Returns 0."""
    vb = k.vb
    touch_write(k.m, vb.fpk)
    touch_read(k.m, prdev.fpk)                 # the scatterlist
    req = [e for e in sgl if e is not None]
    vb.requests += 1
    vb.avail.append(req)
    wake_up(vb.kick)
    yield f"virtballoon_free_page_report: {len(req)} ranges to the host, kick"
    yield from wait_event(vb.acked, lambda: _vq_has_used(vb, req),
                          "virtballoon_free_page_report: wait for the host")
    touch_write(k.m, vb.fpk)
    vb.used.remove(req)
    return 0


def _host_has_work(vb):
    touch_read(vb.k.m, vb.fpk)
    return bool(vb.avail)


def virtio_balloon_host(k, vb):
    """The host (QEMU): forever take a buffer, discard each range
    (MADV_DONTNEED) over ``latency`` steps, return the buffer and interrupt
    the guest."""
    m = k.m
    while True:
        yield from wait_event(vb.kick, lambda: _host_has_work(vb), "host: idle")
        touch_write(m, vb.fpk)
        req = vb.avail.pop(0)
        yield f"host: takes a report of {len(req)} ranges"
        for i in range(vb.latency):
            touch_write(m, vb.host_fpk)
            yield f"host: MADV_DONTNEED, {i + 1}/{vb.latency}"
        touch_write(m, vb.fpk)
        vb.ranges_discarded += len(req)
        vb.used.append(req)
        wake_up(vb.acked)
        yield "host: buffer used, interrupt the guest"


def virtio_balloon_probe(k, *, latency=1, capacity=None, order=None, host_cpu=None, host=True):
    """virtballoon_probe() with VIRTIO_BALLOON_F_FREE_PAGE_REPORTING: the
    device, its host actor (unless ``host`` is False: measure mode runs a
    host that takes time instead of steps) and page_reporting_register().
    Boot time."""
    from .page_reporting import PAGE_REPORTING_CAPACITY, page_reporting_dev_info
    s = k.settings
    cap = capacity or s.get("page_reporting_capacity", PAGE_REPORTING_CAPACITY)
    if order is None:
        order = k.zone.pageblock_order      # PAGE_REPORTING_MIN_ORDER (v5.7 - v5.13)
    vb = k.vb = virtio_balloon(k, latency)
    prdev = page_reporting_dev_info(k, k.fn.virtballoon_free_page_report, cap, order)
    if host_cpu is None:
        host_cpu = k.m.ncpus - 1
    if host:
        k.m.spawn("H", host_cpu, virtio_balloon_host(k, vb), daemon=True)
    k.fn.page_reporting_register(prdev)
    return vb, prdev
