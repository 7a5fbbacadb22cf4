"""``--events``: ftrace text the usual tools accept.

Every event line must match the line grammar of Perfetto's systrace
importer -- the regex of SystraceLineTokenizer, in Perfetto's
src/trace_processor/importers/systrace/systrace_line_tokenizer.cc
(``line_matcher_``), copied below -- which is also the shape trace-cmd
report and mmtests parse (``comm-pid [cpu] flags secs.usecs: event: fields``).
The perfetto Python package downloads its trace processor at run time,
which these machines cannot do, so the grammar is applied here.

Every event with a TP_printk format must print its fields by that format:
the format string (include/trace/events/*.h) is turned into a regex, each
conversion into the text the kernel's vsnprintf can produce for it.
"""

from __future__ import annotations

import re

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.report.events import FORMATS, event_format, ftrace_text, gfp_text, timestamp

# Perfetto, systrace_line_tokenizer.cc: the task name is what precedes the match
PERFETTO_LINE = re.compile(r"-(\d+)\s+\(?\s*(\d+|-+)?\)?\s?\[(\d+)\]\s*"
                           r"[a-zA-Z0-9.]{0,4}\s+(\d+\.\d+):\s+(\S+):")

_CONV = {"%p": r"[0-9a-f]{16}", "%lx": r"[0-9a-f]+", "%lu": r"\d+", "%u": r"\d+",
         "%d": r"-?\d+", "%s": r"\S+"}
# pagemap.h: flags=%s%s%s%s%s%s, one character each (blank when unset)
_LRU_FLAGS = "[M ][af][s ][b ][d ][B ]"


def format_regex(fmt):
    """A TP_printk format as the regex of the lines it can print."""
    fmt = fmt.replace("%s%s%s%s%s%s", "\0")
    out = []
    for part in re.split(r"(%p|%lx|%lu|%u|%d|%s|\0)", fmt):
        if part == "\0":
            out.append(_LRU_FLAGS)
        elif part in _CONV:
            out.append(_CONV[part])
        else:
            out.append(re.escape(part))
    return re.compile("".join(out))


def _events(slug, variant, strategy, seed):
    fam = find_family("lru_cache")
    sc = fam.scenario(slug)
    ex = explore(sc, variant, variant_patches(fam.variants[variant]), strategy, 3000, seed,
                 None, None, False, family=fam.name, shrink=True, record=True, events=True)
    assert ex.outcome == "failure"
    return ex.recording


@pytest.mark.parametrize("kernel", [None, "v5.12", "v6.10"])
def test_every_line_parses_and_follows_its_tp_printk(kernel):
    rec = _events("readd-after-drain", "v0", "pct", 7)
    text = ftrace_text(rec.events, rec.tasks, kernel=kernel, ncpus=2)
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines and len(lines) == len(rec.events)
    seen = set()
    for ln in lines:
        m = PERFETTO_LINE.search(ln)
        assert m, f"not a systrace line: {ln!r}"
        assert ln[:m.start()].strip(), "no task name"
        name = m.group(5)
        assert ":" not in name, f"a system: prefix the kernel does not print: {ln!r}"
        fields = ln[m.end():].lstrip(" ")
        spec = event_format(name, kernel)
        assert spec is not None, f"{name}: no TP_printk format"
        assert format_regex(spec[0]).fullmatch(fields), f"{name}: {fields!r} vs {spec[0]!r}"
        seen.add(name)
    # the events of the race: the failed migrations, F back on an LRU by the
    # drains, the isolation test and the failed allocation
    for name in ("mm_migrate_pages", "mm_lru_insertion", "mm_lru_activate",
                 "test_pages_isolated", "cma_alloc_finish"):
        assert name in seen
    old = kernel == "v5.12"
    assert ("page=" in next(ln for ln in lines if "mm_lru_activate" in ln)) == old
    assert ("nr_split=" in next(ln for ln in lines if "mm_migrate_pages:" in ln)) == (not old)
    # the figures come from the run: the failing isolation test names F's pfn
    iso = next(ln for ln in lines if "test_pages_isolated" in ln)
    assert "fin_pfn=0x407 ret=fail" in iso


def test_timestamps_are_simulated_seconds_dot_microseconds():
    assert timestamp(41) == "    0.000041"
    assert timestamp(1_234_567) == "    1.234567"
    assert timestamp(2_500_000_000, timed=True) == "    2.500000"


def test_gfp_flags_are_symbolic():
    from foliolab.mm.page_alloc import GFP_KERNEL, GFP_USER, __GFP_MOVABLE, __GFP_NOWARN
    assert gfp_text(GFP_KERNEL) == "GFP_KERNEL"
    assert gfp_text(GFP_USER | __GFP_MOVABLE | __GFP_NOWARN) == \
        "GFP_USER|__GFP_NOWARN|__GFP_MOVABLE"
    assert gfp_text(0) == "none"


def test_every_format_is_a_kernel_format():
    """The formats use only the conversions the kernel headers use."""
    for name, (fmt, fields) in FORMATS.items():
        convs = re.findall(r"%[a-z]+", fmt)
        assert len(convs) == len(fields), name
        assert set(convs) <= {"%p", "%lx", "%lu", "%u", "%d", "%s"}, name
