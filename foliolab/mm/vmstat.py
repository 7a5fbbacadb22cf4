"""/proc/buddyinfo and /proc/pagetypeinfo: mm/vmstat.c (v5.12; the format
is unchanged through v6.x).

The text is the kernel's, byte for byte: ``frag_show_print()`` (buddyinfo:
"Node %d, zone %8s " then "%6lu " per order, a trailing space before the
newline) and ``pagetypeinfo_show()`` (the pageblock order and size, the free
counts per migratetype and order -- "%-43s " header, "Node %4d, zone %8s,
type %12s " rows, each count "%6lu " with a ">" in front when the kernel
stopped counting at 100000 -- and the pageblock counts per type, "\\n%-23s"
header then "%12s " / "%12lu " columns).  The mixed-block section needs
PAGE_OWNER and is not printed, as on a kernel without it.

The model has one node (0) and one zone ("Normal"); its migratetypes are
those of CONFIG_CMA=y, CONFIG_MEMORY_ISOLATION=y.  The formatting functions
take plain rows so that tests can re-render a real sample exactly.
"""

from __future__ import annotations

from .mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATETYPE_NAMES

FREECOUNT_CAP = 100000       # pagetypeinfo_showfree_print() stops counting here


def frag_show_print(node_id, zone_name, nr_free):
    """One /proc/buddyinfo line."""
    return (f"Node {node_id}, zone {zone_name:>8} "
            + "".join(f"{n:6d} " for n in nr_free) + "\n")


def pagetypeinfo_header(pageblock_order, nr_orders=MAX_ORDER):
    return (f"Page block order: {pageblock_order}\n"
            f"Pages per block:  {1 << pageblock_order}\n\n"
            + f"{'Free pages count per migrate type at order':<43} "
            + "".join(f"{o:6d} " for o in range(nr_orders)) + "\n")


def pagetypeinfo_showfree_print(node_id, zone_name, type_name, counts):
    """One row of free blocks of a migratetype, per order."""
    cells = "".join((">" if c >= FREECOUNT_CAP else "") + f"{min(c, FREECOUNT_CAP):6d} "
                    for c in counts)
    return f"Node {node_id:4d}, zone {zone_name:>8}, type {type_name:>12} " + cells + "\n"


def pagetypeinfo_blockcount_header(type_names):
    return f"\n{'Number of blocks type ':<23}" + "".join(f"{n:>12} " for n in type_names) + "\n"


def pagetypeinfo_showblockcount_print(node_id, zone_name, counts):
    return f"Node {node_id}, zone {zone_name:>8} " + "".join(f"{c:12d} " for c in counts) + "\n"


def buddyinfo(k):
    """The text of /proc/buddyinfo for the model's zone."""
    z = k.zone
    return frag_show_print(k.pgdat.node_id, z.name,
                           [z.free_area[o].nr_free for o in range(MAX_ORDER)])


def pagetypeinfo(k):
    """The text of /proc/pagetypeinfo for the model's zone."""
    z = k.zone
    node = k.pgdat.node_id
    out = [pagetypeinfo_header(z.pageblock_order)]
    for mt in range(MIGRATE_TYPES):
        counts = [len(z.free_area[o].free_list[mt]) for o in range(MAX_ORDER)]
        out.append(pagetypeinfo_showfree_print(node, z.name, MIGRATETYPE_NAMES[mt], counts))
    out.append(pagetypeinfo_blockcount_header(MIGRATETYPE_NAMES))
    blocks = [0] * MIGRATE_TYPES
    for mt in z.pageblock_flags:
        blocks[mt] += 1
    out.append(pagetypeinfo_showblockcount_print(node, z.name, blocks))
    return "".join(out)


PROC_FILES = {"buddyinfo": buddyinfo, "pagetypeinfo": pagetypeinfo}
