"""/proc/vmstat as the model counts it: the event counters in the kernel's
names and in the order mm/vmstat.c's ``vmstat_text[]`` lists them, one
``name value`` line each, and the delta of one run on one line.

The model counts only some events (``k.count_vm_event``); a file shows
those, in the kernel's order, never counters the model does not keep.  A
counter the modelled kernel did not have yet is left out of that era's
text (``cma_alloc_success``/``cma_alloc_fail`` came with v5.13: a v5.12 run
counts them but its /proc/vmstat has no such line), and named in a note.
"""

from __future__ import annotations

# the event section of vmstat_text[] (v5.12 .. v6.x), the names the model uses
VMSTAT_ORDER = (
    "nr_foll_pin_acquired", "nr_foll_pin_released",          # node stats, earlier
    "pgpgin", "pgpgout", "pswpin", "pswpout",
    "pgalloc_dma", "pgalloc_dma32", "pgalloc_normal", "pgalloc_movable",
    "allocstall_normal", "pgskip_normal",
    "pgfree", "pgactivate", "pgdeactivate", "pglazyfree", "pgfault", "pgmajfault",
    "pglazyfreed", "pgrefill", "pgreuse", "pgsteal_kswapd", "pgsteal_direct",
    "pgscan_kswapd", "pgscan_direct", "pgscan_direct_throttle", "pgscan_anon",
    "pgscan_file", "pgsteal_anon", "pgsteal_file", "zone_reclaim_failed",
    "pginodesteal", "slabs_scanned", "kswapd_inodesteal",
    "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun",
    "pgrotated", "drop_pagecache", "drop_slab", "oom_kill",
    "numa_pte_updates", "numa_huge_pte_updates", "numa_hint_faults",
    "numa_hint_faults_local", "numa_pages_migrated",
    "pgmigrate_success", "pgmigrate_fail", "thp_migration_success",
    "thp_migration_fail", "thp_migration_split",
    "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
    "compact_stall", "compact_fail", "compact_success", "compact_daemon_wake",
    "compact_daemon_migrate_scanned", "compact_daemon_free_scanned",
    "htlb_buddy_alloc_success", "htlb_buddy_alloc_fail",
    "cma_alloc_success", "cma_alloc_fail",
    "unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
    "unevictable_pgs_mlocked", "unevictable_pgs_munlocked", "unevictable_pgs_cleared",
    "unevictable_pgs_stranded",
)
_RANK = {n: i for i, n in enumerate(VMSTAT_ORDER)}

# counters later than some eras: name -> the first kernel that has it
SINCE = {"cma_alloc_success": (5, 13), "cma_alloc_fail": (5, 13)}


def _version(kernel):
    """``v5.12`` -> (5, 12); None for the plain model (every counter)."""
    if not kernel:
        return None
    try:
        return tuple(int(x) for x in kernel.lstrip("v").split(".")[:2])
    except ValueError:
        return None


def _kernel_of(era):
    if not era:
        return None
    from ..patches.eras import get_era
    return get_era(era).kernel


def split_era(counters, era=None):
    """(counters the era's kernel has, in vmstat_text order; names it lacks)."""
    ver = _version(_kernel_of(era))
    shown, absent = [], []
    for name in sorted(counters, key=lambda n: (_RANK.get(n, len(_RANK)), n)):
        since = SINCE.get(name)
        if ver is not None and since is not None and ver < since:
            absent.append(name)
        else:
            shown.append((name, counters[name]))
    return shown, absent


def vmstat_delta(before, after):
    """{name: after - before} for the counters that moved."""
    out = {}
    for name, v in (after or {}).items():
        d = v - (before or {}).get(name, 0)
        if d:
            out[name] = d
    return out


def delta_line(delta, era=None):
    """``vmstat delta: pgmigrate_fail +50 compact_isolated +1``."""
    shown, absent = split_era(delta, era)
    if not shown and not absent:
        return "vmstat delta: none"
    text = "vmstat delta: " + " ".join(f"{n} {v:+d}" for n, v in shown)
    if absent:
        text += f" (not in {_kernel_of(era)}: {', '.join(absent)})"
    return text


def proc_vmstat(counters, era=None):
    """/proc/vmstat: ``name value`` lines, the counters the model keeps."""
    shown, _absent = split_era(counters, era)
    return "".join(f"{n} {v}\n" for n, v in shown)
