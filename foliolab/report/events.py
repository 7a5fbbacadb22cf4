"""ftrace text from a run's tracepoints (``k.trace_events``:
``(step, cpu, task, "system:event", fields)``), as ``/sys/kernel/tracing/trace``
prints it, so that trace-cmd-style scripts, mmtests and Perfetto's systrace
importer read it::

               M-102     [000] ....     0.000670: cma_alloc_finish: name=A pfn=0x400 page=0000000000000000 count=1024 align=0 errorno=-16

* the timestamp is simulated: a step of the explorer is one microsecond
  (``secs.usecs``, ftrace's ``%5lu.%06lu``); in measure mode the events
  carry simulated nanoseconds;
* no ``system:`` prefix: the trace file prints the event name alone;
* the fields follow the event's TP_printk format (``FORMATS``: the format
  strings of include/trace/events/{kmem,cma,compaction,migrate,pagemap}.h
  and mm/page_isolation.c's trace header, as recent kernels have them; the
  pagemap events name a ``page`` before v5.16 and a ``folio`` after, and
  mm_migrate_pages has ``nr_split`` from v6.2); an event without a format
  here prints its fields as ``key=value``;
* ``%p`` prints a struct page address in the x86-64 vmemmap
  (0xffffea0000000000 + 64 * pfn), as the kernel does with
  ``no_hash_pointers``; a NULL page prints as sixteen zeros;
* the latency flags column is ``....`` (four characters, as before v5.13's
  migrate-disable column): the model has no irq or preempt state to report
  there.
"""

from __future__ import annotations

import re

VMEMMAP_START = 0xffffea0000000000
STRUCT_PAGE_SIZE = 64

# event -> (TP_printk format, the fields it takes, in order)
FORMATS = {
    "mm_page_alloc": ("page=%p pfn=0x%lx order=%d migratetype=%d gfp_flags=%s",
                      ("page", "pfn", "order", "migratetype", "gfp_flags")),
    "mm_page_free": ("page=%p pfn=0x%lx order=%d", ("page", "pfn", "order")),
    "mm_page_pcpu_drain": ("page=%p pfn=0x%lx order=%d migratetype=%d",
                           ("page", "pfn", "order", "migratetype")),
    "mm_page_alloc_extfrag": (
        "page=%p pfn=0x%lx alloc_order=%d fallback_order=%d pageblock_order=%d "
        "alloc_migratetype=%d fallback_migratetype=%d fragmenting=%d change_ownership=%d",
        ("page", "pfn", "alloc_order", "fallback_order", "pageblock_order",
         "alloc_migratetype", "fallback_migratetype", "fragmenting", "change_ownership")),
    "cma_alloc_start": ("name=%s count=%lu align=%u", ("name", "count", "align")),
    "cma_alloc_finish": ("name=%s pfn=0x%lx page=%p count=%lu align=%u errorno=%d",
                         ("name", "pfn", "page", "count", "align", "errorno")),
    "cma_alloc_busy_retry": ("name=%s pfn=0x%lx page=%p count=%lu align=%u",
                             ("name", "pfn", "page", "count", "align")),
    "cma_release": ("name=%s pfn=0x%lx page=%p count=%lu", ("name", "pfn", "page", "count")),
    "mm_compaction_isolate_migratepages": (
        "range=(0x%lx ~ 0x%lx) nr_scanned=%lu nr_taken=%lu",
        ("start_pfn", "end_pfn", "nr_scanned", "nr_taken")),
    "mm_compaction_isolate_freepages": (
        "range=(0x%lx ~ 0x%lx) nr_scanned=%lu nr_taken=%lu",
        ("start_pfn", "end_pfn", "nr_scanned", "nr_taken")),
    "test_pages_isolated": ("start_pfn=0x%lx end_pfn=0x%lx fin_pfn=0x%lx ret=%s",
                            ("start_pfn", "end_pfn", "fin_pfn", "ret")),
    "mm_migrate_pages_start": ("mode=%s reason=%s", ("mode", "reason")),
    "mm_migrate_pages": (
        "nr_succeeded=%lu nr_failed=%lu nr_thp_succeeded=%lu nr_thp_failed=%lu "
        "nr_thp_split=%lu nr_split=%lu mode=%s reason=%s",
        ("nr_succeeded", "nr_failed", "nr_thp_succeeded", "nr_thp_failed", "nr_thp_split",
         "nr_split", "mode", "reason")),
    "mm_lru_insertion": ("folio=%p pfn=0x%lx lru=%d flags=%s%s%s%s%s%s",
                         ("folio", "pfn", "lru", "f_mapped", "f_anon", "f_swapcache",
                          "f_swapbacked", "f_mappedtodisk", "f_buffers")),
    "mm_lru_activate": ("folio=%p pfn=0x%lx", ("folio", "pfn")),
}

# show_gfp_flags(): composite names first, then single bits (include/trace/events/mmflags.h)
_GFP_NAMES = None


def _gfp_names():
    global _GFP_NAMES
    if _GFP_NAMES is None:
        from ..mm import page_alloc as pa
        names = ["GFP_TRANSHUGE", "GFP_TRANSHUGE_LIGHT", "GFP_HIGHUSER_MOVABLE",
                 "GFP_HIGHUSER", "GFP_USER", "GFP_KERNEL", "GFP_NOFS", "GFP_ATOMIC",
                 "GFP_NOIO", "GFP_NOWAIT", "__GFP_DMA", "__GFP_HIGHMEM", "__GFP_DMA32",
                 "__GFP_HIGH", "__GFP_ATOMIC", "__GFP_IO", "__GFP_FS", "__GFP_NOWARN",
                 "__GFP_RETRY_MAYFAIL", "__GFP_NOFAIL", "__GFP_NORETRY", "__GFP_COMP",
                 "__GFP_ZERO", "__GFP_NOMEMALLOC", "__GFP_MEMALLOC", "__GFP_HARDWALL",
                 "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_MOVABLE", "__GFP_ACCOUNT",
                 "__GFP_WRITE", "__GFP_RECLAIM", "__GFP_DIRECT_RECLAIM",
                 "__GFP_KSWAPD_RECLAIM"]
        _GFP_NAMES = [(n.replace("__GFP_DMA", "GFP_DMA") if n in ("__GFP_DMA", "__GFP_DMA32")
                       else n, getattr(pa, n)) for n in names if hasattr(pa, n)]
    return _GFP_NAMES


def gfp_text(mask):
    """``GFP_USER|__GFP_RETRY_MAYFAIL|__GFP_MOVABLE``: __print_flags() over
    the gfp names, the first matching name taking its bits; ``none`` for 0."""
    if not mask:
        return "none"
    out = []
    for name, bits in _gfp_names():
        if bits and mask & bits == bits:
            out.append(name)
            mask &= ~bits
    if mask:
        out.append(f"0x{mask:x}")
    return "|".join(out)


def page_pointer(pfn):
    """%p of the struct page of ``pfn`` (None: a NULL page)."""
    if pfn is None or pfn < 0:
        return f"{0:016x}"
    return f"{VMEMMAP_START + STRUCT_PAGE_SIZE * pfn:016x}"


def _version(kernel):
    try:
        return tuple(int(x) for x in str(kernel).lstrip("v").split(".")[:2])
    except ValueError:
        return None


def event_format(name, kernel=None):
    """(format, fields) of ``name`` in the kernel ``kernel`` ("v5.12"; None:
    recent kernels), or None."""
    f = FORMATS.get(name)
    if f is None:
        return None
    fmt, fields = f
    ver = _version(kernel) if kernel else None
    if ver is not None:
        if name.startswith("mm_lru_") and ver < (5, 16):
            fmt = fmt.replace("folio=", "page=")
        if name == "mm_migrate_pages" and ver < (6, 2):
            fmt = fmt.replace(" nr_split=%lu", "")
            fields = tuple(x for x in fields if x != "nr_split")
    return fmt, fields


_SPEC = re.compile(r"%(l?l?[dux]|s|p)")
ULONG = 1 << 64


def _values(name, fields):
    """The event's arguments as the kernel's TP_fast_assign would have them."""
    v = dict(fields)
    pfn = v.get("pfn")
    if isinstance(pfn, str) and pfn.startswith("0x"):
        pfn = v["pfn"] = int(pfn, 16)
    if "page" not in v:
        ok = pfn is not None and pfn >= 0 and not (name == "cma_alloc_finish"
                                                  and v.get("errorno", 0))
        v["page"] = page_pointer(pfn if ok else None)
    v["folio"] = v["page"]
    if name == "test_pages_isolated":
        v["ret"] = "success" if v["fin_pfn"] >= v["end_pfn"] else "fail"
    if name == "mm_page_alloc" and isinstance(v.get("gfp_flags"), int):
        v["gfp_flags"] = gfp_text(v["gfp_flags"])
    if name == "mm_page_alloc_extfrag":
        from ..mm.mmzone import pageblock_order
        po = v.get("pageblock_order", pageblock_order if isinstance(pageblock_order, int) else 9)
        v["pageblock_order"] = po
        v.setdefault("fragmenting", int(v["fallback_order"] < po))
        v.setdefault("change_ownership", int(v["fallback_order"] >= po))
    if name == "mm_migrate_pages":
        for key in ("nr_thp_succeeded", "nr_thp_failed", "nr_thp_split", "nr_split"):
            v.setdefault(key, 0)
    if name == "mm_lru_insertion":
        v["f_mapped"] = "M" if v.get("mapped") else " "
        v["f_anon"] = "a" if v.get("anon") else "f"
        v["f_swapcache"] = "s" if v.get("swapcache") else " "
        v["f_swapbacked"] = "b" if v.get("swapbacked") else " "
        v["f_mappedtodisk"] = "d" if v.get("mappedtodisk") else " "
        v["f_buffers"] = "B" if v.get("buffers") else " "
    return v


def format_fields(name, fields, kernel=None):
    """The event's text after ``name: ``, by its TP_printk format."""
    spec = event_format(name, kernel)
    if spec is None:
        return " ".join(f"{k}={_plain(k, v)}" for k, v in fields.items())
    fmt, keys = spec
    v = _values(name, fields)
    args = iter(keys)

    def conv(mo):
        c = mo.group(1)
        x = v.get(next(args))
        if c == "s":
            return "(null)" if x is None else str(x)
        if c == "p":
            return str(x)
        x = int(x or 0)
        if c.endswith("x"):
            return f"{x % ULONG:x}"
        if c.endswith("u"):
            return str(x % ULONG)
        return str(x)
    return _SPEC.sub(conv, fmt)


def _plain(key, v):
    if isinstance(v, bool):
        return str(int(v))
    if v is None:
        return "(null)"
    return str(v)


def timestamp(t, timed=False):
    """ftrace's ``%5lu.%06lu``: ``t`` is a step (one simulated microsecond)
    or, ``timed``, simulated nanoseconds."""
    us = t // 1000 if timed else t
    return f"{us // 1_000_000:5d}.{us % 1_000_000:06d}"


def event_line(ev, pids=None, timed=False, kernel=None):
    """One event line of the trace file."""
    step, cpu, task, event, fields = ev
    pid = (pids or {}).get(task, 0)
    name = event.split(":", 1)[-1]
    cpu_s = f"{cpu:03d}" if isinstance(cpu, int) and cpu >= 0 else "000"
    text = format_fields(name, fields, kernel)
    # no rstrip: a TP_printk ending in a blank flag prints its trailing blanks
    return f"{task:>16}-{pid:<7} [{cpu_s}] .... {timestamp(step, timed)}: {name}: {text}"


def ftrace_text(events, tasks=(), timed=False, kernel=None, ncpus=None):
    """The events as ftrace's ``trace`` file shows them.  ``tasks``:
    TaskInfo objects or (name, pid) pairs (for the pids).  ``timed``: the
    events carry simulated nanoseconds (measure mode), not step numbers.
    ``kernel``: the kernel version whose formats to print."""
    pids = {}
    for t in tasks:
        name, pid = t if isinstance(t, tuple) else (t.name, t.pid)
        pids.setdefault(name, pid)
    events = list(events or ())
    cpus = f"   #P:{ncpus}" if ncpus else ""
    clock = ("simulated ns" if timed else "one explorer step = 1 us")
    lines = ["# tracer: nop", "#",
             f"# entries-in-buffer/entries-written: {len(events)}/{len(events)}{cpus}",
             f"# foliolab: simulated clock ({clock}); formats of "
             f"{kernel or 'recent kernels'}",
             "#",
             "#                                _----=> irqs-off",
             "#                               / _---=> need-resched",
             "#                              | / _--=> hardirq/softirq",
             "#                              || / _-=> preempt-depth",
             "#                              ||| /     delay",
             "#           TASK-PID     CPU#  ||||   TIMESTAMP  FUNCTION",
             "#              | |         |   ||||      |         |"]
    lines += [event_line(ev, pids, timed, kernel) for ev in events]
    return "\n".join(lines) + "\n"
