"""/proc/buddyinfo and /proc/pagetypeinfo: the model's renderers follow the
kernel's format (mm/proc.c) byte for byte.  tests/data holds a real
sample (Linux 6.18, x86-64, CONFIG_CMA=n): it parses by the rules the
format follows, re-rendered from what was parsed it is identical, and the
model's own text parses by the same rules and agrees with the free lists."""

from __future__ import annotations

import pathlib

import pytest

from foliolab.report import proc
from foliolab.mm.mmzone import MAX_ORDER, MIGRATE_TYPES, MIGRATETYPE_NAMES
from foliolab.report.proc import ProcFormatError, parse_buddyinfo, parse_pagetypeinfo

DATA = pathlib.Path(__file__).parent / "data"
BUDDY = (DATA / "buddyinfo.6.18.sample").read_text()
PAGETYPE = (DATA / "pagetypeinfo.6.18.sample").read_text()


def test_the_real_buddyinfo_parses_and_rerenders_identically():
    info = parse_buddyinfo(BUDDY)
    assert list(info) == [(0, "DMA"), (0, "DMA32"), (0, "Normal")]
    assert all(len(v) == MAX_ORDER for v in info.values())
    text = "".join(proc.frag_show_print(n, z, counts) for (n, z), counts in info.items())
    assert text == BUDDY


def test_the_real_pagetypeinfo_parses_and_rerenders_identically():
    p = parse_pagetypeinfo(PAGETYPE)
    assert p["pageblock_order"] == 9 and p["pages_per_block"] == 512
    assert p["orders"] == list(range(MAX_ORDER))
    assert p["types"] == ["Unmovable", "Movable", "Reclaimable", "HighAtomic", "Isolate"]
    out = [proc.pagetypeinfo_header(p["pageblock_order"], len(p["orders"]))]
    out += [proc.pagetypeinfo_showfree_print(n, z, t, c) for (n, z, t), c in p["free"].items()]
    out.append(proc.pagetypeinfo_blockcount_header(p["types"]))
    out += [proc.pagetypeinfo_showblockcount_print(n, z, list(c.values()))
            for (n, z), c in p["blocks"].items()]
    assert "".join(out) == PAGETYPE
    # the two files of one moment agree: buddyinfo = the sum over types
    buddy = parse_buddyinfo(BUDDY)
    for (n, z), counts in buddy.items():
        summed = [sum(p["free"][(n, z, t)][o] for t in p["types"]) for o in range(MAX_ORDER)]
        assert abs(sum(summed) - sum(counts)) < 200        # read a moment apart


def test_a_capped_count_gets_the_kernels_marker():
    row = proc.pagetypeinfo_showfree_print(0, "Normal", "Movable", [100000] + [0] * 10)
    assert row.startswith("Node    0, zone   Normal, type      Movable >100000      0 ")
    assert parse_pagetypeinfo("Page block order: 9\nPages per block:  512\n\n"
                              + proc.pagetypeinfo_header(9).split("\n\n")[1]
                              + row + "\nNumber of blocks type     Movable \n"
                              "Node 0, zone   Normal            1 \n")["free"][
        (0, "Normal", "Movable")][0] == 100000


def test_the_models_text_parses_and_matches_its_free_lists():
    from foliolab.engine.machine import Machine
    from foliolab.mm.kernel import build_kernel
    from foliolab.mm.page_alloc import setup_alloc_page_at
    k = build_kernel(Machine(1), {})
    setup_alloc_page_at(k, 0x10, 0)
    b = parse_buddyinfo(proc.buddyinfo(k))
    assert b == {(0, "Normal"): [k.zone.free_area[o].nr_free for o in range(MAX_ORDER)]}
    p = parse_pagetypeinfo(proc.pagetypeinfo(k))
    assert p["types"] == list(MIGRATETYPE_NAMES)
    for mt in range(MIGRATE_TYPES):
        assert p["free"][(0, "Normal", MIGRATETYPE_NAMES[mt])] == [
            len(k.zone.free_area[o].free_list[mt]) for o in range(MAX_ORDER)]
    assert sum(p["blocks"][(0, "Normal")].values()) == len(k.zone.pageblock_flags)


def test_a_malformed_line_is_refused():
    with pytest.raises(ProcFormatError):
        parse_buddyinfo("Node 0, zone Normal 1 2 3\n")


def test_explore_prints_buddyinfo_at_the_failing_step(tmp_path):
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-m", "foliolab.cli", "explore", "undo-isolation-split",
                        "--variant", "v5.12", "--proc", "buddyinfo", "--no-progress",
                        "--trace-dir", str(tmp_path)],
                       capture_output=True, text=True, cwd=root, timeout=300)
    assert p.returncode == 1, p.stderr
    i = p.stdout.index("/proc/buddyinfo at step ")
    line = p.stdout[i:].splitlines()[1] + "\n"
    assert parse_buddyinfo(line)[(0, "Normal")][10] == 0
