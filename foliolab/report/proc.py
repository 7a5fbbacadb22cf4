"""Parsers for /proc/buddyinfo and /proc/pagetypeinfo, by the rules the
kernel's format follows (mm/vmstat.c): what a user's script would do with
the text, and what the tests check the model's renderers against (a real
sample is kept in tests/data)."""

from __future__ import annotations

import re

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
