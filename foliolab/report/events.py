"""ftrace-style event text from a run's tracepoints (``k.trace_events``:
``(step, cpu, task, event, fields)``).  The timestamp is the step number::

              M-101     [000] ....    41: cma:cma_alloc_finish: name=reserved pfn=0x200 count=512 align=0 errorno=-16
"""

from __future__ import annotations

# fields printed in hex, as the kernel's TP_printk formats do
HEX_FIELDS = frozenset({"pfn", "start_pfn", "end_pfn", "start", "end", "page",
                        "addr", "address", "flags", "gfp_flags", "pfn_start",
                        "pfn_end", "base_pfn"})


def format_value(key, v):
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int) and key in HEX_FIELDS:
        return f"0x{v:x}" if v >= 0 else str(v)
    if v is None:
        return "(null)"
    return str(v)


def event_line(ev, pids=None):
    step, cpu, task, event, fields = ev
    pid = (pids or {}).get(task, 0)
    f = " ".join(f"{k}={format_value(k, v)}" for k, v in fields.items())
    cpu_s = f"{cpu:03d}" if isinstance(cpu, int) and cpu >= 0 else "???"
    return f"{task:>16}-{pid:<7} [{cpu_s}] .... {step:>6}: {event}: {f}".rstrip()


def ftrace_text(events, tasks=()):
    """The events as ftrace's ``trace`` file shows them.  ``tasks``:
    TaskInfo objects (for the pids)."""
    pids = {}
    for t in tasks:
        pids.setdefault(t.name, t.pid)
    lines = ["# tracer: nop", "#",
             "#           TASK-PID     CPU#  ||||   STEP  FUNCTION",
             "#              | |         |   ||||     |         |"]
    lines += [event_line(ev, pids) for ev in events or ()]
    return "\n".join(lines) + "\n"
