"""David Hildenbrand's suggestion in the seed thread (14 Aug 2019), not
adopted: "something like a reported_pages_drain_all(), that waits until all
reports are over" before contiguous allocation tests the range.

Modelled on the merged code: test_pages_isolated() first sleeps until no
block is out for reporting (the drain wakes it).  The isolation already
keeps new blocks of the range from being pulled (reporting never scans the
ISOLATE lists), so once the in-flight ones are back -- on the ISOLATE list,
since the drain re-reads the pageblock type -- the test passes.
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.kernel import Patch
from ..engine.sync import wait_event, wait_queue_head_t, wake_up

PATCH = Patch(
    "page-reporting-drain-all",
    title="reported_pages_drain_all(): wait for in-flight reports before the isolation test",
    date="2019-08-14", version="proposal (not merged)",
    link="seed 001 (David Hildenbrand, Re: [PATCH v5 4/6] mm: Introduce Reported pages)",
    summary="alloc_contig_range / offline wait until no block is out for reporting",
)


def _waitq(k):
    wq = getattr(k, "reported_pages_wq", None)
    if wq is None:
        wq = k.reported_pages_wq = wait_queue_head_t(k.m, "reported_pages_drain")
    return wq


def _none_out(k):
    prdev = k.pr_dev_info
    if prdev is None:
        return True
    touch_read(k.m, prdev.fpk)
    return all(e is None for e in prdev.sgl)


@PATCH.init
def _init(k):
    _waitq(k)


@PATCH.adds("reported_pages_drain_all")
def reported_pages_drain_all(k):
    """Sleep until every block out for reporting is back in the buddy."""
    yield from wait_event(_waitq(k), lambda: _none_out(k),
                          "reported_pages_drain_all: wait for the host")


@PATCH.wraps("page_reporting_drain")
def page_reporting_drain(k, orig, prdev, sgl, nents, reported):
    orig(prdev, sgl, nents, reported)
    touch_write(k.m, prdev.fpk)
    wake_up(_waitq(k))


@PATCH.wraps("test_pages_isolated")
def test_pages_isolated(k, orig, start_pfn, end_pfn, isol_flags):
    yield from k.fn.reported_pages_drain_all()
    return (yield from orig(start_pfn, end_pfn, isol_flags))
