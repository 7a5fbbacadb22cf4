"""Free page reporting: mm/page_reporting.c.

Baseline: the code merged for v5.7 (36e66c554b5c "mm: introduce Reported
pages", Alexander Duyck's v17 series) as it stands in v5.10 - v5.12, where
__putback_isolated_page() puts a returned block at the tail of its free
list (FPI_TO_TAIL) without a new notification.  Earlier and later designs
are patches (foliolab/patches/page_reporting_*.py).

A registered device (virtio-balloon, mm/virtio_balloon.py) is told about
free blocks of at least ``page_reporting_order`` (pageblock_order): a free of
such a block requests a pass (page_reporting_notify_free), the pass runs as
delayed work 2 s later and walks every free list of every reportable order
and migratetype except ISOLATE.  It takes unreported blocks out of the buddy
allocator (__isolate_free_page: refcount 0, !PageBuddy, out of the free
counts) into a scatterlist of ``capacity`` entries; a full list is handed to
the device with zone->lock dropped -- the reporter sleeps until the host has
discarded the memory -- and then every block is put back
(page_reporting_drain) onto the free list of its pageblock's migratetype *as
read at return time*, marked PG_reported if it did not merge on the way in.

While a block is out, nothing in the allocator can see it: isolation does
not move it (move_freepages only moves PageBuddy blocks), has_unmovable_pages
treats it as free (refcount 0), test_pages_isolated fails on it (not
PageBuddy), and its buddy cannot merge with it.  That is the window of the
page_reporting scenario family.

Settings: ``page_reporting_capacity`` (PAGE_REPORTING_CAPACITY, 32; the
scenarios use 1 or 2 to keep the zone small: the zone gate asks for
low watermark + capacity << min order free pages), ``page_reporting_order``
(the reporting order; pageblock_order unless a patch makes it a parameter).

Delayed work: a request while the device is idle "schedules" the work
(``prdev.work_pending``); the 2 s delay is time, not an order of events, so
the explorer models the worker as an actor that runs a pass whenever it is
scheduled (``page_reporting_worker``), and the measure layer charges the
delay.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import kfunc
from ..engine.memory import locked_op
from ..engine.sync import atomic_t, spin_lock_irq, spin_unlock_irq
from .mmzone import MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_TYPES, MIGRATETYPE_NAMES
from .page import PageBuddy, PageReported, __SetPageReported, buddy_order
from .page_alloc import (
    ALLOC_CMA, WMARK_LOW, get_pageblock_migratetype, wmark_pages, zone_fp_read,
    zone_fp_write,
)

PAGE_REPORTING_CAPACITY = 32
PAGE_REPORTING_DELAY_NS = 2_000_000_000      # 2 * HZ
PAGE_REPORTING_IDLE = 0
PAGE_REPORTING_REQUESTED = 1
PAGE_REPORTING_ACTIVE = 2
STATE_NAMES = ("IDLE", "REQUESTED", "ACTIVE")


class page_reporting_dev_info:
    """struct page_reporting_dev_info: the device's report callback, its
    state (an atomic: IDLE / REQUESTED / ACTIVE) and the delayed work.
    ``sgl`` is the worker's scatterlist (entries ``(page, order)`` or None),
    allocated per pass in the kernel and kept here so oracles can see which
    blocks are out.  ``order``: the reporting order (5.14+ makes it a
    driver/module parameter; pageblock_order before)."""

    def __init__(self, k, report, capacity, order):
        self.k = k
        self.report = report
        self.capacity = capacity
        self.order = order
        self.state = atomic_t(k.m, "prdev->state", PAGE_REPORTING_IDLE)
        self.work_pending = False        # the delayed work is scheduled
        self.fpk = k.m.new_key()         # work_pending and the scatterlist
        self.sgl = [None] * capacity
        self.passes = 0
        self.reports = 0                 # report() calls
        self.pages_reported = 0          # blocks handed to the device

    def __repr__(self):
        return f"<prdev {STATE_NAMES[self.state.counter]} cap={self.capacity}>"


def page_reporting_init(k):
    """Boot: no device registered (page_reporting_notify_free is a static
    branch that stays off until page_reporting_register)."""
    k.pr_dev_info = None


def _atomic_set_in_step(a, v):
    """atomic_set() inside a step that is already visible (no yield)."""
    touch_write(a.m, a.fpk)
    a.counter = v


def _atomic_xchg_in_step(a, v):
    """atomic_xchg(): a locked instruction, inside the current step."""
    locked_op(a.m)
    touch_write(a.m, a.fpk)
    old = a.counter
    a.counter = v
    return old


def schedule_delayed_work(k, prdev):
    """schedule_delayed_work(&prdev->work, PAGE_REPORTING_DELAY): the work
    runs in page_reporting_worker (an actor) once the delay has passed."""
    touch_write(k.m, prdev.fpk)
    prdev.work_pending = True


@kfunc
def __page_reporting_request(k, prdev):
    """__page_reporting_request() (v5.7+): mark the device REQUESTED; if it
    was IDLE, schedule a pass in 2 s.  Plain code, run inside the step of
    the free that triggered it (zone->lock held)."""
    touch_read(k.m, prdev.state.fpk)
    if prdev.state.counter == PAGE_REPORTING_REQUESTED:
        return
    if _atomic_xchg_in_step(prdev.state, PAGE_REPORTING_REQUESTED) != PAGE_REPORTING_IDLE:
        return
    schedule_delayed_work(k, prdev)


@kfunc
def page_reporting_notify_free(k, order):
    """page_reporting_notify_free() (v5.7+): called at the end of
    __free_one_page() unless FPI_SKIP_REPORT_NOTIFY; only blocks of the
    reporting order or larger request a pass."""
    prdev = k.pr_dev_info
    if prdev is None or order < prdev.order:
        return
    k.fn.__page_reporting_request(prdev)


@kfunc
def page_reporting_register(k, prdev):
    """page_reporting_register() (v5.7+): publish the device, turn the
    notification on and request a first pass over memory that was free
    before the device appeared.  Runs at boot in the scenarios."""
    k.pr_dev_info = prdev
    k.page_reporting_enabled = True
    k.fn.__page_reporting_request(prdev)


@kfunc
def page_reporting_drain(k, prdev, sgl, nents, reported):
    """page_reporting_drain() (v5.7+): put every block of the scatterlist
    back into the buddy allocator on the free list of its pageblock's
    migratetype as read *now* (an isolation that happened while the block
    was out is honoured: the block lands on the ISOLATE list and stays out
    of the free counts).  A block that is still a free block of the same
    order after the put-back (it did not merge) gets PG_reported.  Caller
    holds zone->lock."""
    touch_write(k.m, prdev.fpk)
    for i, ent in enumerate(sgl):
        if ent is None:
            continue
        page, order = ent
        mt = get_pageblock_migratetype(page)
        k.fn.__putback_isolated_page(page, order, mt)
        if reported and PageBuddy(page) and buddy_order(page) == order:
            __SetPageReported(page)
        sgl[i] = None


def _rotate_to_front(lst, page):
    """list_rotate_to_front(): make ``page`` the first entry, keeping the
    cyclic order (the entries before it move to the tail)."""
    for pfn in list(lst.keys()):
        if pfn == page.pfn:
            break
        lst.move_to_end(pfn)


@kfunc
def page_reporting_cycle(k, prdev, zone, order, mt, sgl, offset):
    """page_reporting_cycle() (v5.7+), see reporting_cycle()."""
    return (yield from reporting_cycle(k, prdev, zone, order, mt, sgl, offset,
                                       k.fn.__isolate_free_page))


def reporting_cycle(k, prdev, zone, order, mt, sgl, offset, pull):
    """page_reporting_cycle() (v5.7+): one free list.  Under zone->lock,
    skip PG_reported blocks, pull unreported ones into the scatterlist
    (filled from the end) until it is full, report it with the lock
    dropped, put the blocks back, and go on from the head of the list.  The
    budget allows about 1/16 of the list per pass (ceil(nr_free / (capacity
    * 16)) report calls, plus one); a pass that runs out of budget asks for
    another.  A watermark refusal ends the list.  ``offset`` is a
    one-element list (the kernel's pointer to the sg entries left).
    ``pull(page, order)`` takes a block out of the buddy allocator (0 when
    refused): __isolate_free_page() in the merged code, the 2019 design's
    own in its patch."""
    area = zone.free_area[order]
    lst = area.free_list[mt]
    zone_fp_read(zone)
    if not lst:                       # a lockless peek: nothing to do
        return 0
    err = 0
    yield from spin_lock_irq(zone.lock)
    zone_fp_write(zone)
    cap = prdev.capacity
    budget = -(-area.nr_free // (cap * 16))
    pages = list(lst.values())
    i = 0
    nxt = None
    while i < len(pages):
        page = pages[i]
        i += 1
        if PageReported(page):
            continue
        if budget < 0:
            _atomic_set_in_step(prdev.state, PAGE_REPORTING_REQUESTED)
            nxt = page
            break
        if offset[0]:
            if not pull(page, order):
                nxt = page
                break
            offset[0] -= 1
            touch_write(k.m, prdev.fpk)
            sgl[offset[0]] = (page, order)
            continue
        # The scatterlist is full: make the first unprocessed block the head
        # so the next pass starts there, then report with the lock dropped.
        _rotate_to_front(lst, page)
        yield from spin_unlock_irq(zone.lock)
        err = yield from prdev.report(prdev, sgl, cap)
        offset[0] = cap
        budget -= 1
        yield from spin_lock_irq(zone.lock)
        zone_fp_write(zone)
        k.fn.page_reporting_drain(prdev, sgl, cap, not err)
        # The old cursor is stale once the lock was dropped: start again
        # from the head of the list.
        pages = list(lst.values())
        i = 0
        nxt = pages[0] if pages else None
        if err:
            break
    else:
        nxt = None
    if nxt is not None and nxt.lru is lst:
        _rotate_to_front(lst, nxt)
    yield from spin_unlock_irq(zone.lock)
    return err


@kfunc
def page_reporting_process_zone(k, prdev, sgl, zone):
    """page_reporting_process_zone() (v5.7+): only a zone with low watermark
    + capacity << min order free pages is scanned; every list of every
    reporting order, then the partly filled scatterlist is reported too."""
    cap = prdev.capacity
    watermark = wmark_pages(zone, WMARK_LOW) + (cap << prdev.order)
    err = 0
    if not k.fn.zone_watermark_ok(zone, 0, watermark, ALLOC_CMA):
        yield "page_reporting_process_zone: zone below the reporting watermark"
        return err
    offset = [cap]
    for order in range(prdev.order, MAX_ORDER):
        for mt in range(MIGRATE_TYPES):
            if k.fn.page_reporting_skip_mt(mt):
                continue
            err = yield from k.fn.page_reporting_cycle(prdev, zone, order, mt, sgl, offset)
            if err:
                return err
    leftover = cap - offset[0]
    if leftover:
        touch_read(k.m, prdev.fpk)
        part = sgl[offset[0]:]
        err = yield from prdev.report(prdev, part, leftover)
        yield from spin_lock_irq(zone.lock)
        zone_fp_write(zone)
        k.fn.page_reporting_drain(prdev, part, leftover, not err)
        for j in range(offset[0], cap):
            sgl[j] = None
        yield from spin_unlock_irq(zone.lock)
    return err


@kfunc
def page_reporting_skip_mt(k, mt):
    """The free lists a pass never scans: ISOLATE (v5.7+; the v5 design of
    2019 skipped CMA too)."""
    return mt == MIGRATE_ISOLATE


@kfunc
def page_reporting_process(k, prdev):
    """page_reporting_process() (v5.7+): the delayed work.  ACTIVE, one pass
    over the zone, then ACTIVE -> IDLE; if a free asked for more meanwhile
    (REQUESTED), schedule the next pass."""
    touch_write(k.m, prdev.fpk)
    prdev.work_pending = False
    prdev.passes += 1
    m = k.m
    locked_op(m)
    touch_write(m, prdev.state.fpk)
    prdev.state.counter = PAGE_REPORTING_ACTIVE
    yield "page_reporting_process: state ACTIVE"
    touch_read(m, prdev.fpk)
    sgl = prdev.sgl
    err = yield from k.fn.page_reporting_process_zone(prdev, sgl, k.zone)
    locked_op(m)
    touch_write(m, prdev.state.fpk)
    state = prdev.state.counter
    if state == PAGE_REPORTING_ACTIVE:
        prdev.state.counter = PAGE_REPORTING_IDLE
    elif state == PAGE_REPORTING_REQUESTED:
        schedule_delayed_work(k, prdev)
    yield f"page_reporting_process: ACTIVE -> {STATE_NAMES[prdev.state.counter]}"
    return err


def page_reporting_worker(k, prdev, max_passes=1):
    """The kworker running the delayed work: one pass per scheduling of the
    work, at most ``max_passes`` (a scenario's horizon)."""
    for _ in range(max_passes):
        touch_read(k.m, prdev.fpk)
        if not prdev.work_pending:
            return
        yield from k.fn.page_reporting_process(prdev)


# ------------------------------------------------------------- oracles
def pages_out_for_reporting(k):
    """(page, order) of every block in the device's scatterlist."""
    prdev = k.pr_dev_info
    if prdev is None:
        return []
    # a probe inside a step reads the scatterlist: declared (an oracle
    # between steps declares nothing, the machine is not recording then)
    touch_read(k.m, prdev.fpk)
    return [e for e in prdev.sgl if e is not None]


def check_reporting_invariants(k):
    """The free-page-reporting invariants (oracles, not kernel code):

    * PG_reported => PageBuddy, on every page;
    * a block out for reporting has refcount 0, is not PageBuddy, is on no
      list and is in exactly one scatterlist entry.

    Raises InvariantViolation."""
    from ..engine.oracles import InvariantViolation
    from .page import PG_reported
    seen = {}
    for page, order in pages_out_for_reporting(k):
        if page.pfn in seen:
            raise InvariantViolation(
                "a reported block is in one sg entry",
                f"pfn 0x{page.pfn:x} (order {order}) is in the scatterlist twice")
        seen[page.pfn] = order
        if page._refcount or page.page_type & 1 or page.lru is not None:
            raise InvariantViolation(
                "a block out for reporting has refcount 0, !PageBuddy, no list",
                f"pfn 0x{page.pfn:x} out for reporting: refcount {page._refcount}, "
                f"buddy {bool(page.page_type & 1)}, list {page.lru!r}")
    for pfn, page in k.mem_map.items():
        if page.flags >> PG_reported & 1 and not page.page_type & 1:
            raise InvariantViolation(
                "PG_reported => PageBuddy",
                f"pfn 0x{pfn:x} has PG_reported but is not a free buddy block "
                f"(refcount {page._refcount})")


def describe_sgl(k):
    out = pages_out_for_reporting(k)
    return ",".join(f"0x{p.pfn:x}/{o}" for p, o in out) or "-"


def list_name(mt):
    return MIGRATETYPE_NAMES[mt]
