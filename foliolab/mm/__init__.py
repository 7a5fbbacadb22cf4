"""The mm model: one module per kernel file.

Importing the package imports every model module, which registers its
baseline kernel functions.  ``BOOT_ORDER`` lists the subsystem init
functions build_kernel() runs, in order: page_alloc_init first (it creates
k.pgdat and k.zone, which the others use).
"""

from . import (  # noqa: F401  (modules that only register kfuncs)
    compaction, filemap, gup, huge_memory, madvise, memory, memory_hotplug, mlock, mm_inline,
    page_isolation, rmap, virtio_balloon, x86_fault,
)
from .cma import cma_init
from .memcontrol import mem_cgroup_init
from .migrate import migrate_init
from .page_alloc import page_alloc_init
from .page_reporting import page_reporting_init
from .swap import swap_init
from .vmscan import vmscan_init

BOOT_ORDER = [page_alloc_init, cma_init, mem_cgroup_init, swap_init, migrate_init,
              vmscan_init, page_reporting_init]
