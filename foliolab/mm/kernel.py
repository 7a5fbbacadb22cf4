"""The kernel instance of one run: state of every mm module plus the run's
function table.

``build_kernel(machine, settings, patches)`` boots a fresh kernel: it imports
every model module (which registers its baseline functions), builds the
function table of the variant, initialises each subsystem in boot order and
runs the patches' init hooks.  Nothing here is shared between runs.

Settings (all optional, defaults in ``MM_DEFAULTS``):

* ``pagevec_size``: PAGEVEC_SIZE, 15 (v4.15-v6.8) or 31 (v6.9+)
* ``pageblock_order``: 9 (2 MiB pageblocks with 4 KiB pages)
* ``zone_pages``: pages in ZONE_NORMAL (a multiple of MAX_ORDER_NR_PAGES)
"""

from __future__ import annotations

from ..engine.kernel import FunctionTable, build_table
from .page import Page

MM_DEFAULTS = {
    "pagevec_size": 15,
    "pageblock_order": 9,
    "zone_pages": 4096,
}


class MemMap(dict):
    """mem_map: pfn -> struct page, materialised on first access."""

    __slots__ = ("k",)

    def __init__(self, k):
        super().__init__()
        self.k = k

    def __missing__(self, pfn):
        page = self[pfn] = Page(self.k, pfn)
        return page


class Kernel:
    """The per-run kernel: ``k.m`` the machine, ``k.fn`` the function table,
    plus the state each subsystem's init adds (``k.zone``, ``k.cpu_fbatches``
    ...)."""

    def __init__(self, m, settings, patches):
        self.m = m
        self.settings = settings
        self.patches = list(patches)
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
