"""The contiguous memory allocator: mm/cma.c (v5.12, with the v5.13 trace
event and vmstat names).

A CMA area is a max-order aligned range whose pageblocks are MIGRATE_CMA:
the buddy allocator lends its free pages to movable allocations (ALLOC_CMA)
and cma_alloc() takes ranges back with alloc_contig_range(), migrating
whatever is in use.  ``cma->bitmap`` records the ranges handed out by
cma_alloc(); ``cma->lock`` (a mutex) protects only the bitmap, and is
dropped while alloc_contig_range() runs: the bits already set reserve the
range against other cma_alloc() callers.
"""

from __future__ import annotations

from ..engine.footprint import touch_write
from ..engine.kernel import kfunc
from ..engine.oracles import KernelBug
from ..engine.sync import mutex, mutex_lock, mutex_unlock
from .errno import EBUSY, ENOMEM
from .mmzone import MIGRATE_CMA
from .page_alloc import (
    GFP_KERNEL, MAX_ORDER_NR_PAGES, __GFP_NOWARN, __free_one_page,
    del_page_from_free_list, FPI_NONE, get_pageblock_migratetype,
    set_pageblock_migratetype, __mod_zone_freepage_state,
)


class cma:
    """struct cma (mm/cma.h)."""

    __slots__ = ("base_pfn", "count", "bitmap", "order_per_bit", "lock", "name", "fpk")

    def __init__(self, m, base_pfn, count, order_per_bit, name):
        self.base_pfn = base_pfn
        self.count = count
        self.order_per_bit = order_per_bit
        self.bitmap = [False] * (count >> order_per_bit)
        self.lock = mutex(m, f"cma({name})->lock")
        self.name = name
        self.fpk = m.new_key()               # the bitmap (cma->lock protects it)

    def __repr__(self):
        used = sum(self.bitmap)
        return (f"cma({self.name} [0x{self.base_pfn:x}, 0x{self.base_pfn + self.count:x}) "
                f"{used << self.order_per_bit}/{self.count} pages used)")


def cma_init(k):
    """Boot: no CMA areas until cma_declare_contiguous() is called."""
    k.cma_areas = []


def cma_declare_contiguous(k, base_pfn, count, name="reserved", order_per_bit=0):
    """Boot-time setup (cma_declare_contiguous + cma_init_reserved_mem +
    cma_activate_area -> init_cma_reserved_pageblock): turn [base_pfn,
    base_pfn + count) into a CMA area.  Base and size must be aligned to
    max(MAX_ORDER_NR_PAGES, pageblock_nr_pages), as cma_init_reserved_mem()
    demands, and every page must still be free.  The free blocks leave the
    MOVABLE lists, the pageblocks become MIGRATE_CMA and each pageblock is
    freed again (__free_pages(page, pageblock_order)), so the range ends up
    on the CMA free lists and in NR_FREE_CMA_PAGES.  Returns the struct cma
    (also appended to k.cma_areas)."""
    zone = k.zone
    align = max(MAX_ORDER_NR_PAGES, zone.pageblock_nr_pages)
    end = base_pfn + count
    if count <= 0 or base_pfn % align or count % align:
        raise ValueError(f"cma_declare_contiguous: base 0x{base_pfn:x} and size {count} "
                         f"must be multiples of {align} pages: v5.12 cma_init_reserved_mem() "
                         f"aligns CMA areas to max(MAX_ORDER_NR_PAGES, pageblock_nr_pages), "
                         f"because CMA and non-CMA pageblocks still merge at max order")
    if not (zone.zone_spans_pfn(base_pfn) and zone.zone_spans_pfn(end - 1)):
        raise ValueError(f"cma_declare_contiguous: [0x{base_pfn:x}, 0x{end:x}) is not "
                         f"inside the zone")
    for area in k.cma_areas:
        if base_pfn < area.base_pfn + area.count and area.base_pfn < end:
            raise ValueError(f"cma_declare_contiguous: overlaps {area!r}")
    peek = k.mem_map.peek             # free heads are always materialised
    pfn = base_pfn
    blocks = []
    while pfn < end:
        page = peek(pfn)
        if page is None or not page.page_type & 1 or pfn + (1 << page.private) > end:
            raise ValueError(f"cma_declare_contiguous: pfn 0x{pfn:x} is not free "
                             f"(declare CMA areas before allocating from them)")
        blocks.append(page)
        pfn += 1 << page.private
    for page in blocks:
        order = page.private
        mt = get_pageblock_migratetype(page)
        del_page_from_free_list(page, zone, order)
        __mod_zone_freepage_state(zone, -(1 << order), mt)
    nr = zone.pageblock_nr_pages
    for pfn in range(base_pfn, end, nr):
        page = k.pfn_to_page(pfn)
        set_pageblock_migratetype(page, MIGRATE_CMA)
        __free_one_page(k, page, pfn, zone, zone.pageblock_order, MIGRATE_CMA, FPI_NONE)
    zone.cma_pages += count
    area = cma(k.m, base_pfn, count, order_per_bit, name)
    k.cma_areas.append(area)
    return area


# ---------------------------------------------------------------- bitmap
def cma_bitmap_aligned_mask(c, align_order):
    if align_order <= c.order_per_bit:
        return 0
    return (1 << (align_order - c.order_per_bit)) - 1


def cma_bitmap_aligned_offset(c, align_order):
    return (c.base_pfn & ((1 << align_order) - 1)) >> c.order_per_bit


def cma_bitmap_maxno(c):
    return c.count >> c.order_per_bit


def cma_bitmap_pages_to_bits(c, pages):
    unit = 1 << c.order_per_bit
    return ((pages + unit - 1) & ~(unit - 1)) >> c.order_per_bit


def bitmap_find_next_zero_area_off(bitmap, size, start, nr, align_mask, align_offset):
    """lib/bitmap.c: the first run of ``nr`` clear bits at or after
    ``start`` whose index (+ offset) is aligned by ``align_mask``; a value
    >= size when there is none."""
    while True:
        try:
            index = bitmap.index(False, start, size)       # find_next_zero_bit()
        except ValueError:
            index = max(start, size)
        index = ((index + align_offset + align_mask) & ~align_mask) - align_offset
        end = index + nr
        if end > size:
            return end
        try:
            busy = bitmap.index(True, index, end)          # find_next_bit()
        except ValueError:
            return index
        start = busy + 1


@kfunc
def cma_clear_bitmap(k, c, pfn, count):
    """cma_clear_bitmap() (v3.x - v5.12): give the range back to the area, under cma->lock."""
    bitmap_no = (pfn - c.base_pfn) >> c.order_per_bit
    bitmap_count = cma_bitmap_pages_to_bits(c, count)
    yield from mutex_lock(c.lock)
    touch_write(k.m, c.fpk)
    c.bitmap[bitmap_no:bitmap_no + bitmap_count] = [False] * bitmap_count   # bitmap_clear()
    yield from mutex_unlock(c.lock)


@kfunc
def cma_alloc(k, c, count, align, no_warn=False):
    """cma_alloc() (v5.12 flow; trace events and vmstat of v5.13): find a
    free aligned run in the bitmap under cma->lock, mark it, drop the lock,
    alloc_contig_range(MIGRATE_CMA).  On -EBUSY clear the bits and retry at
    the next aligned position (cma_alloc_busy_retry); any other error, or no
    room left, ends the attempt.  Returns the first page (refcount 1 on
    every page) or None.  ``align`` is an order."""
    if c is None or not c.count or not count:
        k.count_vm_event("cma_alloc_fail")
        return None
    k.trace("cma:cma_alloc_start", name=c.name, count=count, align=align)
    mask = cma_bitmap_aligned_mask(c, align)
    offset = cma_bitmap_aligned_offset(c, align)
    bitmap_maxno = cma_bitmap_maxno(c)
    bitmap_count = cma_bitmap_pages_to_bits(c, count)
    page = None
    pfn = -1
    ret = -ENOMEM
    if bitmap_count > bitmap_maxno:
        k.count_vm_event("cma_alloc_fail")
        return None
    start = 0
    while True:
        yield from mutex_lock(c.lock)
        touch_write(k.m, c.fpk)
        bitmap_no = bitmap_find_next_zero_area_off(c.bitmap, bitmap_maxno, start,
                                                   bitmap_count, mask, offset)
        if bitmap_no >= bitmap_maxno:
            yield from mutex_unlock(c.lock)
            break
        c.bitmap[bitmap_no:bitmap_no + bitmap_count] = [True] * bitmap_count  # bitmap_set()
        # Safe to drop the lock: the bits reserve the range for us.
        yield from mutex_unlock(c.lock)
        pfn = c.base_pfn + (bitmap_no << c.order_per_bit)
        ret = yield from k.fn.alloc_contig_range(
            pfn, pfn + count, MIGRATE_CMA, GFP_KERNEL | (__GFP_NOWARN if no_warn else 0))
        if ret == 0:
            page = k.pfn_to_page(pfn)
            break
        yield from k.fn.cma_clear_bitmap(c, pfn, count)
        if ret != -EBUSY:
            break
        k.trace("cma:cma_alloc_busy_retry", name=c.name, pfn=pfn, count=count, align=align)
        start = bitmap_no + mask + 1
    # pfn: the last range tried (-1 when none was), as the kernel passes it
    k.trace("cma:cma_alloc_finish", name=c.name, pfn=pfn, count=count,
            align=align, errorno=ret)
    if ret and not no_warn:
        k.printk.append(f"cma_alloc: {c.name}: alloc failed, req-size: {count} pages, "
                        f"ret: {ret}")
    if page is not None:
        k.count_vm_event("cma_alloc_success")
    else:
        k.count_vm_event("cma_alloc_fail")
    return page


@kfunc
def cma_release(k, c, pages, count):
    """cma_release() (v5.x): free_contig_range() then clear the bits.  Returns
    False if the pages do not belong to the area."""
    if c is None or pages is None:
        return False
    pfn = pages.pfn
    if pfn < c.base_pfn or pfn >= c.base_pfn + c.count:
        return False
    if pfn + count > c.base_pfn + c.count:
        raise KernelBug(f"kernel BUG: VM_BUG_ON(pfn + count > base_pfn + count) "
                        f"in cma_release({c.name}, 0x{pfn:x}, {count})")
    yield from k.fn.free_contig_range(pfn, count)
    yield from k.fn.cma_clear_bitmap(c, pfn, count)
    k.trace("cma:cma_release", name=c.name, pfn=pfn, count=count)
    return True
