"""/proc/buddyinfo and /proc/pagetypeinfo: the renderers, in the text of
mm/vmstat.c (v5.12; the format is unchanged through v6.x), and parsers by
the rules that format follows.

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
take plain rows, so the tests re-render a real sample (tests/data) exactly;
the parsers are what a user's script would do with the text.
"""

from __future__ import annotations

import re

from ..mm.mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATETYPE_NAMES

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



# ------------------------------------------------------------------ parsers
_BUDDY = re.compile(r"^Node (\d+), zone +(\S+) ((?: *\d+ )+)$")
_FREE = re.compile(r"^Node +(\d+), zone +(\S+), type +(\S+) ((?: *>? *\d+ )+)$")
_BLOCKS = re.compile(r"^Node (\d+), zone +(\S+) ((?: *\d+ )+)$")


class ProcFormatError(ValueError):
    pass


def _ints(cells):
    return [int(c.lstrip(">")) for c in cells.split()]


def parse_buddyinfo(text):
    """{(node, zone): [free blocks per order]}."""
    out = {}
    for line in text.splitlines():
        m = _BUDDY.match(line)
        if not m:
            raise ProcFormatError(f"buddyinfo: bad line {line!r}")
        out[(int(m.group(1)), m.group(2))] = _ints(m.group(3))
    return out


def parse_pagetypeinfo(text):
    """{"pageblock_order", "pages_per_block", "orders", "free": {(node, zone,
    type): [counts]}, "types": [names], "blocks": {(node, zone): {type: n}}}."""
    lines = text.split("\n")
    res = {"free": {}, "blocks": {}}
    m = re.match(r"^Page block order: (\d+)$", lines[0])
    m2 = re.match(r"^Pages per block:  (\d+)$", lines[1])
    if not m or not m2 or lines[2] != "":
        raise ProcFormatError("pagetypeinfo: bad preamble")
    res["pageblock_order"] = int(m.group(1))
    res["pages_per_block"] = int(m2.group(1))
    hdr = lines[3]
    if not hdr.startswith("Free pages count per migrate type at order "):
        raise ProcFormatError(f"pagetypeinfo: bad header {hdr!r}")
    res["orders"] = [int(x) for x in hdr[44:].split()]
    i = 4
    while i < len(lines) and lines[i]:
        m = _FREE.match(lines[i])
        if not m:
            raise ProcFormatError(f"pagetypeinfo: bad line {lines[i]!r}")
        res["free"][(int(m.group(1)), m.group(2), m.group(3))] = _ints(m.group(4))
        i += 1
    i += 1                                   # the empty line
    if i >= len(lines) or not lines[i].startswith("Number of blocks type "):
        raise ProcFormatError("pagetypeinfo: no block count section")
    res["types"] = lines[i][23:].split()
    i += 1
    while i < len(lines) and lines[i]:
        m = _BLOCKS.match(lines[i])
        if not m:
            raise ProcFormatError(f"pagetypeinfo: bad line {lines[i]!r}")
        res["blocks"][(int(m.group(1)), m.group(2))] = dict(zip(res["types"], _ints(m.group(3))))
        i += 1
    return res


def vmstat(k):
    """/proc/vmstat: the event counters the model keeps (report/vmstat.py)."""
    from .vmstat import proc_vmstat
    era = getattr(k, "era", None)
    return proc_vmstat(k.vmstat, getattr(era, "name", era))


PROC_FILES = {"buddyinfo": buddyinfo, "pagetypeinfo": pagetypeinfo, "vmstat": vmstat}
