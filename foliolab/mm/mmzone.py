"""Zones, free areas, pageblocks, lruvecs and nodes.

Models include/linux/mmzone.h and include/linux/pageblock-flags.h (v5.10 -
v6.x).  One node, one zone ("Normal") whose pageblocks carry a migratetype;
CMA pageblocks are MIGRATE_CMA.  Orders run 0..MAX_ORDER-1 (MAX_ORDER = 11 as
in v5.x, i.e. NR_PAGE_ORDERS of v6.4+), pageblock_order = 9 by default.

Free lists are ordered dicts keyed by pfn: the first entry is the list head,
so ``add_to_free_list`` (head) and ``add_to_free_list_tail`` keep the
kernel's ordering, and removal is O(1).  The same container serves the LRU
lists of an lruvec (head = most recently added).
"""

from __future__ import annotations

from collections import OrderedDict

from ..engine.footprint import page_write_keys
from ..engine.oracles import ListCorruption
from ..engine.sync import spinlock_t

# enum migratetype (v5.x order)
MIGRATE_UNMOVABLE = 0
MIGRATE_MOVABLE = 1
MIGRATE_RECLAIMABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_HIGHATOMIC = MIGRATE_PCPTYPES
MIGRATE_CMA = 4
MIGRATE_ISOLATE = 5
MIGRATE_TYPES = 6
MIGRATETYPE_NAMES = ("Unmovable", "Movable", "Reclaimable", "HighAtomic", "CMA", "Isolate")

# enum lru_list
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_UNEVICTABLE = 4
NR_LRU_LISTS = 5
LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")

MAX_ORDER = 11          # orders 0..10 (v5.x MAX_ORDER; v6.4+ NR_PAGE_ORDERS)

# the names of the free lists, formatted once: FREE_LIST_NAMES[order][migratetype]
FREE_LIST_NAMES = tuple(tuple(f"free_area[{order}].{name}" for name in MIGRATETYPE_NAMES)
                        for order in range(MAX_ORDER))


def is_migrate_isolate(mt):
    return mt == MIGRATE_ISOLATE


def is_migrate_cma(mt):
    return mt == MIGRATE_CMA


class ListHead(OrderedDict):
    """A kernel list: first entry = head.  Keys are pfns, values pages.
    ``fpk``: the footprint key of the structure the list belongs to (a
    zone's free lists share the zone's, an lruvec's lists the lruvec's)."""

    __slots__ = ("name", "fpk")

    def __init__(self, name, fpk):
        super().__init__()
        self.name = name
        self.fpk = fpk

    def __repr__(self):
        return f"list({self.name}, {len(self)})"

    def first(self):
        return next(iter(self.values())) if self else None

    def last(self):
        return next(reversed(self.values())) if self else None


# CONFIG_DEBUG_LIST-style primitives on ListHead (free lists and LRU lists).
def _list_fp(lh, page):
    m = page.k.m
    w = m.fpw
    if w is not None:
        w.append(lh.fpk)
        page_write_keys(m.fpr, w, page.pfn)


def list_add(lh, page):
    """list_add(): at the head."""
    list_add_tail(lh, page)
    lh.move_to_end(page.pfn, last=False)


def list_add_tail(lh, page):
    _list_fp(lh, page)
    if page.lru is not None:
        raise ListCorruption(
            f"list_add double add: {page.label} (pfn 0x{page.pfn:x}) is already on "
            f"{page.lru.name}, adding to {lh.name}")
    lh[page.pfn] = page
    page.lru = lh


def list_del(lh, page):
    _list_fp(lh, page)
    if page.lru is not lh or lh.get(page.pfn) is not page:
        where = page.lru.name if page.lru is not None else "no list"
        raise ListCorruption(
            f"list_del corruption: {page.label} (pfn 0x{page.pfn:x}) expected on "
            f"{lh.name}, found on {where}")
    del lh[page.pfn]
    page.lru = None


class _free_lists(dict):
    """free_area.free_list[MIGRATE_TYPES], indexed by migratetype.  A list
    head is made on its first use: a zone has 11 x 6 of them and a run
    touches a few, and building all of them was a tenth of the cost of
    building a kernel for every schedule."""

    __slots__ = ("order", "fpk")

    def __init__(self, order, fpk):
        super().__init__()
        self.order = order
        self.fpk = fpk

    def __missing__(self, mt):
        if not 0 <= mt < MIGRATE_TYPES:
            raise IndexError(f"free_list[{mt}]: no such migratetype")
        lh = self[mt] = ListHead(FREE_LIST_NAMES[self.order][mt], self.fpk)
        return lh


class free_area:
    __slots__ = ("free_list", "nr_free", "fpk", "m")

    def __init__(self, order, fpk, m):
        self.m = m
        self.free_list = _free_lists(order, fpk)
        self.nr_free = 0
        self.fpk = fpk               # the zone's: free areas are zone->lock state


class zone:
    """struct zone (one per node here)."""

    def __init__(self, k, name, start_pfn, spanned_pages, pageblock_order):
        self.k = k
        self.name = name
        self.zone_start_pfn = start_pfn
        self.spanned_pages = spanned_pages
        self.pageblock_order = pageblock_order
        self.pageblock_nr_pages = 1 << pageblock_order
        # one footprint key for the zone's free areas, counters and
        # pageblock flags (zone->lock state, read locklessly by scanners)
        self.fpk = k.m.new_key()
        self.free_area = [free_area(o, self.fpk, k.m) for o in range(MAX_ORDER)]
        self.lock = spinlock_t(k.m, f"zone({name})->lock", "&zone->lock")
        nblocks = (spanned_pages + self.pageblock_nr_pages - 1) >> pageblock_order
        self.pageblock_flags = [MIGRATE_MOVABLE] * nblocks
        self.pageblock_skip = set()      # pageblocks with PB_migrate_skip set
        self.vm_stat = {"NR_FREE_PAGES": 0, "NR_FREE_CMA_PAGES": 0}
        self.nr_isolate_pageblock = 0
        self.cma_pages = 0

    def zone_end_pfn(self):
        return self.zone_start_pfn + self.spanned_pages

    def zone_spans_pfn(self, pfn):
        return self.zone_start_pfn <= pfn < self.zone_end_pfn()

    def __repr__(self):
        return f"zone({self.name})"


class lruvec:
    """struct lruvec: the LRU lists of one (memcg, node) and their lock
    (per-memcg lru_lock since v5.11)."""

    def __init__(self, k, pgdat, memcg, name):
        self.k = k
        self.pgdat = pgdat
        self.memcg = memcg
        self.name = name
        self.fpk = k.m.new_key()     # the lists and their sizes
        self.lists = [ListHead(f"{name}.{LRU_NAMES[i]}", self.fpk) for i in range(NR_LRU_LISTS)]
        self.lru_lock = spinlock_t(k.m, f"{name}->lru_lock", "&lruvec->lru_lock")
        self.nr_pages = [0] * NR_LRU_LISTS

    def __repr__(self):
        return f"lruvec({self.name})"


class pglist_data:
    """struct pglist_data (node 0)."""

    def __init__(self, k, node_id=0):
        self.fpk = k.m.new_key()
        self.node_id = node_id
        self.node_zones = []
        self.__lruvec = None
        self.vm_stat = {"NR_ISOLATED_ANON": 0, "NR_ISOLATED_FILE": 0}

    def __repr__(self):
        return f"node{self.node_id}"
