"""The kernel instance of one run: state of every mm module plus the run's
function table.

``build_kernel(machine, settings, patches)`` boots a fresh kernel: it imports
every model module (which registers its baseline functions), builds the
function table of the variant, initialises each subsystem in boot order and
runs the patches' init hooks.  Nothing a run changes is shared between runs:
the runs of one patch list share only the table of its functions, which no
run writes (each binds and probes them in its own ``k.fn``).

Settings (all optional, defaults in ``MM_DEFAULTS``):

* ``pagevec_size``: PAGEVEC_SIZE, 15 (v4.15-v6.8) or 31 (v6.9+)
* ``pageblock_order``: 9 (2 MiB pageblocks with 4 KiB pages)
* ``zone_pages``: pages in ZONE_NORMAL (a multiple of MAX_ORDER_NR_PAGES)
"""

from __future__ import annotations

from ..engine.kernel import FunctionTable, build_table
from .mmzone import MAX_ORDER
from .page import Page

MM_DEFAULTS = {
    "pagevec_size": 15,
    "pageblock_order": 9,
    "zone_pages": 4096,
}


SPLIT_SHIFT = MAX_ORDER - 1      # a buddy block never straddles a max-order block


class split_range:
    """The tail pages [start, end) of a block that split_map_pages() turned
    into order-0 pages (post_alloc_hook + split_page): refcount 1, nothing
    else.  Its pfns that had no Page at the split get one on first access.

    ``pos`` places the range in mem_map's iteration order: the number of
    pages materialised outside split ranges before the split.  ``nr_lazy``:
    pages of the range not materialised yet."""

    __slots__ = ("start", "end", "pos", "nr_lazy")

    def __init__(self, start, end, pos, nr_lazy):
        self.start = start
        self.end = end
        self.pos = pos
        self.nr_lazy = nr_lazy

    def __repr__(self):
        return (f"split_range([0x{self.start:x}, 0x{self.end:x}), "
                f"{self.nr_lazy} unmaterialised)")


class MemMap(dict):
    """mem_map: pfn -> struct page, materialised on first access.

    A pfn without an entry is either *pristine* (refcount 0, no flags, on no
    list: a page inside a free buddy block or a tail of a non-compound
    allocation) or an *untouched split page*: an order-0 page of a block that
    split_map_pages() handed out (refcount 1, nothing else), recorded as a
    ``split_range`` because a successful alloc_contig_range() of a CMA area
    hands out a thousand of them and usually nobody looks at them again.

    Lookups:

    * ``k.pfn_to_page(pfn)`` (``mem_map[pfn]``): the page, created on a miss;
      a C-level dict lookup on a hit.
    * ``get(pfn)``: the page, or None if the pfn is pristine.  An untouched
      split page is not pristine: it is materialised.
    * ``peek(pfn)``: ``dict.get``, C-level, never creates a page: None for a
      pristine pfn *and* for an untouched split page.  Only for walkers that
      look for what such a page never is (a free block's head, PG_lru, a list
      entry).  Hot walkers that must see split pages inline ``get``:
      ``peek`` first, then ``materialise_split`` when ``pfn >> SPLIT_SHIFT``
      is in ``split`` (a C-level test that fails unless a live split range
      lies in the pfn's max-order block).

    ``items()``, ``keys()``, ``values()``, iteration, ``len()`` and ``in``
    see the eager mem_map, where split_map_pages() created every split page:
    iterating materialises the untouched ones and lists each split page at
    its range's place (``pos``), in pfn order, as if created at the split.
    """

    __slots__ = ("k", "split", "split_log", "from_split", "nr_lazy")

    peek = dict.get

    def __init__(self, k):
        super().__init__()
        self.k = k
        self.split = {}           # pfn >> SPLIT_SHIFT -> [split_range with untouched pages]
        self.split_log = []       # every split_range, in split order
        self.from_split = {}      # pfn -> the split_range whose untouched page it was
        self.nr_lazy = 0          # untouched split pages

    def __missing__(self, pfn):
        # pfn_to_page() of a pfn without an entry
        if pfn >> SPLIT_SHIFT in self.split:
            page = self.materialise_split(pfn)
            if page is not None:
                return page
        page = self[pfn] = Page(self.k, pfn)
        return page

    def get(self, pfn, default=None):
        page = dict.get(self, pfn)
        if page is None:
            if pfn >> SPLIT_SHIFT in self.split:
                page = self.materialise_split(pfn)
            if page is None:
                return default
        return page

    # ------------------------------------------------------------ split pages
    def _split_range(self, pfn):
        for r in self.split.get(pfn >> SPLIT_SHIFT, ()):
            if r.start <= pfn < r.end:
                return r
        return None

    def materialise_split(self, pfn):
        """The Page of the untouched split page at ``pfn`` (a pfn without an
        entry), created now with refcount 1 as split_page() left it; None if
        no split range covers ``pfn``: it is pristine."""
        r = self._split_range(pfn)
        if r is None:
            return None
        page = self[pfn] = Page(self.k, pfn)
        page._refcount = 1
        self.from_split[pfn] = r
        self.nr_lazy -= 1
        r.nr_lazy -= 1
        if not r.nr_lazy:
            live = self.split[pfn >> SPLIT_SHIFT]
            live.remove(r)
            if not live:
                del self.split[pfn >> SPLIT_SHIFT]
        return page

    def add_split_range(self, start, end):
        """split_page() of the block whose tail pages are [start, end):
        set_page_refcounted() on each.  Pages that exist get refcount 1 now;
        the others are recorded as a split_range."""
        live = self.split.get(start >> SPLIT_SHIFT)
        if live:
            # Only a corrupted allocator splits a block over untouched split
            # pages; materialise those, as the eager model had them.
            for r in list(live):
                for pfn in range(max(start, r.start), min(end, r.end)):
                    if not dict.__contains__(self, pfn):
                        self.materialise_split(pfn)
        keys = dict.keys(self)
        if len(keys) < end - start:
            present = [pfn for pfn in keys if start <= pfn < end]
        else:
            present = [pfn for pfn in range(start, end) if pfn in keys]
        for pfn in present:
            dict.__getitem__(self, pfn)._refcount = 1
        nr_lazy = end - start - len(present)
        if not nr_lazy:
            return
        r = split_range(start, end, len(keys) - len(self.from_split), nr_lazy)
        self.split_log.append(r)
        self.split.setdefault(start >> SPLIT_SHIFT, []).append(r)
        self.nr_lazy += nr_lazy

    # -------------------------------------------------- the eager model's view
    def items(self):
        """(pfn, page) of every page, in the eager model's creation order."""
        present = dict.keys(self)
        for live in list(self.split.values()):
            for r in list(live):
                for pfn in range(r.start, r.end):
                    if pfn not in present:
                        self.materialise_split(pfn)
        if not self.split_log:
            return list(dict.items(self))
        from_split = self.from_split
        log = self.split_log
        out = []
        i = 0                     # pages materialised outside split ranges, so far
        j = 0                     # next split_range to list
        for pfn, page in list(dict.items(self)):
            if pfn in from_split:
                continue
            while j < len(log) and log[j].pos == i:
                self._split_items(log[j], out)
                j += 1
            out.append((pfn, page))
            i += 1
        for r in log[j:]:
            self._split_items(r, out)
        return out

    def _split_items(self, r, out):
        from_split = self.from_split
        for pfn in range(r.start, r.end):
            if from_split.get(pfn) is r:
                out.append((pfn, dict.__getitem__(self, pfn)))

    def keys(self):
        return [pfn for pfn, _ in self.items()]

    def values(self):
        return [page for _, page in self.items()]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return dict.__len__(self) + self.nr_lazy

    def __contains__(self, pfn):
        return dict.__contains__(self, pfn) or (
            pfn >> SPLIT_SHIFT in self.split and self._split_range(pfn) is not None)


class Kernel:
    """The per-run kernel: ``k.m`` the machine, ``k.fn`` the function table,
    plus the state each subsystem's init adds (``k.zone``, ``k.cpu_fbatches``
    ...)."""

    def __init__(self, m, settings, patches):
        self.m = m
        self.settings = settings
        self.patches = list(patches)
        self.era = None               # the kernel era (patches/eras.py): names shown to users
        self.vmstat = {}
        self.trace_events = None      # list of (step, cpu, task, event, fields) when tracing
        self.mem_map = MemMap(self)
        # pfn_to_page(): a C-level dict lookup; a miss creates the page
        self.pfn_to_page = self.mem_map.__getitem__
        self.fn = FunctionTable(self, build_table(self.patches))

    # --------------------------------------------------------------- memmap

    def pfn_valid(self, pfn):
        return self.zone.zone_spans_pfn(pfn)

    # --------------------------------------------------------------- vmstat
    def count_vm_event(self, item, delta=1):
        self.vmstat[item] = self.vmstat.get(item, 0) + delta

    def trace(self, event, **fields):
        """A tracepoint (kmem:mm_page_alloc, migrate:mm_migrate_pages ...)."""
        ev = self.trace_events
        if ev is not None:
            t = self.m.current
            ev.append((self.m.steps, t.cpu if t else -1, t.name if t else "-", event, fields))


def build_kernel(m, settings, patches=()):
    from . import BOOT_ORDER
    s = dict(MM_DEFAULTS)
    s.update(settings or {})
    k = Kernel(m, s, patches)
    for init in BOOT_ORDER:
        init(k)
    for p in k.patches:
        for hook in p.init_hooks:
            hook(k)
    return k
