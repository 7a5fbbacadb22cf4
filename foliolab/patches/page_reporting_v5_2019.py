"""The 2019 designs debated in the seed thread (Alexander Duyck, "[PATCH v5
4/6] mm: Introduce Reported pages", 12-14 Aug 2019), as patches against the
merged reporting code (v5.7+, the model's baseline):

* ``page-reporting-v5-2019`` (v0-v5): at most 16 blocks per report; the
  reporter skips the ISOLATE *and* CMA lists; get_unreported_page() takes a
  block straight off its list (del_page_from_free_list, no
  __isolate_free_page: no per-page watermark gate, no pageblock conversion),
  records the migratetype and order in the page (set_pcppage_migratetype,
  set_page_private) and put_reported_page() returns it "where I found it":
  to the saved type's list.  The free counts follow the saved type both
  ways.  The boundary pointers per (order, migratetype) only decide which
  unreported block is found first; the scenarios have one candidate per
  list, so they are not modelled.  (Whether the v5 put-back used the saved
  type is [UNV] in the reference; the seed's quoted code saves it and Duyck
  calls it "put it back where I found it", which is what is modelled.)
* ``page-reporting-reread-mt`` (v1): David's answer -- "read the
  migratetype out of the pfnblock" at return (adopted in v6, 21 Aug 2019).
* ``page-reporting-skip-isolate`` (v3): Duyck's counter-proposal in the
  thread -- a block whose pageblock is ISOLATE is moved to the ISOLATE list
  instead of being reported, and a block that comes back into an ISOLATE
  pageblock goes to the ISOLATE list.
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from ..engine.kernel import Patch
from ..mm.mmzone import MIGRATE_CMA, MIGRATE_ISOLATE
from ..mm.page import PageBuddy, __SetPageReported, buddy_order, page_fp_write
from ..mm.page_alloc import (
    FPI_SKIP_REPORT_NOTIFY, __mod_zone_freepage_state, del_page_from_free_list,
    get_pageblock_migratetype, move_to_free_list,
)
from ..mm.page_reporting import reporting_cycle

V5 = Patch(
    "page-reporting-v5-2019",
    title="[PATCH v5 4/6] mm: Introduce Reported pages",
    date="2019-08-12", version="proposal v5",
    link="seed 001 (Alexander Duyck, 12 Aug 2019)",
    summary="16 blocks per report, ISOLATE and CMA skipped, saved migratetype restored",
)
REREAD = Patch(
    "page-reporting-reread-mt",
    title="read the pageblock migratetype at return (David Hildenbrand's review; v6)",
    date="2019-08-21", version="proposal v6", requires=("page-reporting-v5-2019",),
    link="seed 001; v6 cover letter 21 Aug 2019",
    summary="put_reported_page re-reads the pageblock type",
)
SKIP_ISOLATE = Patch(
    "page-reporting-skip-isolate",
    title="skip an ISOLATE pageblock's block: move it to the ISOLATE list (Duyck's counter-proposal)",
    date="2019-08-14", version="proposal", requires=("page-reporting-v5-2019",),
    link="seed 001 (Alexander Duyck, 14 Aug 2019)",
    summary="blocks of ISOLATE pageblocks go to the ISOLATE list, never to the host",
)
PATCHES = (V5, REREAD, SKIP_ISOLATE)
V5_CAPACITY = 16


def _get_unreported_page(k, zone, mt):
    def pull(page, order):
        """get_unreported_page(): off the list, type and order saved in the page."""
        del_page_from_free_list(page, zone, order)
        if mt != MIGRATE_ISOLATE:
            __mod_zone_freepage_state(zone, -(1 << order), mt)
        page_fp_write(page)
        page.index = mt                      # set_pcppage_migratetype()
        return 1 << order
    return pull


@V5.init
def _v5_init(k):
    k.pr_v5_capacity = V5_CAPACITY


@V5.wraps("page_reporting_register")
def page_reporting_register(k, orig, prdev):
    prdev.capacity = min(prdev.capacity, V5_CAPACITY)
    prdev.sgl = prdev.sgl[:prdev.capacity]
    return orig(prdev)


@V5.replaces("page_reporting_skip_mt")
def page_reporting_skip_mt(k, mt):
    """v5 skipped the ISOLATE and the CMA lists."""
    return mt in (MIGRATE_ISOLATE, MIGRATE_CMA)


@V5.replaces("page_reporting_cycle")
def page_reporting_cycle(k, prdev, zone, order, mt, sgl, offset):
    return (yield from reporting_cycle(k, prdev, zone, order, mt, sgl, offset,
                                       k.fn.get_unreported_page_pull(zone, mt)))


@V5.adds("get_unreported_page_pull")
def get_unreported_page_pull(k, zone, mt):
    return _get_unreported_page(k, zone, mt)


@V5.adds("put_reported_page_mt")
def put_reported_page_mt(k, page):
    """The type a returned block goes back to: the saved one (v5)."""
    return page.index


@V5.replaces("page_reporting_drain")
def page_reporting_drain(k, prdev, sgl, nents, reported):
    """put_reported_page() for each block: __free_one_page() onto the
    chosen type's list, no notification, PG_reported if it did not merge."""
    touch_write(k.m, prdev.fpk)
    zone = k.zone
    for i, ent in enumerate(sgl):
        if ent is None:
            continue
        page, order = ent
        mt = k.fn.put_reported_page_mt(page)
        k.fn.__free_one_page(page, page.pfn, zone, order, mt, FPI_SKIP_REPORT_NOTIFY)
        if reported and PageBuddy(page) and buddy_order(page) == order:
            __SetPageReported(page)
        sgl[i] = None


@REREAD.replaces("put_reported_page_mt")
def put_reported_page_mt_reread(k, page):
    """v1: the pageblock's type now."""
    return get_pageblock_migratetype(page)


@SKIP_ISOLATE.replaces("get_unreported_page_pull")
def get_unreported_page_pull_skip(k, zone, mt):
    base = _get_unreported_page(k, zone, mt)

    def pull(page, order):
        if get_pageblock_migratetype(page) == MIGRATE_ISOLATE:
            # not reported: onto the ISOLATE list, out of the free counts
            move_to_free_list(page, zone, order, MIGRATE_ISOLATE)
            __mod_zone_freepage_state(zone, -(1 << order), mt)
            return 0
        return base(page, order)
    return pull


@SKIP_ISOLATE.replaces("put_reported_page_mt")
def put_reported_page_mt_skip(k, page):
    """A block that comes back into an ISOLATE pageblock joins the ISOLATE list."""
    if get_pageblock_migratetype(page) == MIGRATE_ISOLATE:
        return MIGRATE_ISOLATE
    return page.index
