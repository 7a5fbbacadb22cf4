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


def event_line(ev, pids=None, timed=False):
    """One event; ``timed``: the first field is simulated nanoseconds (measure
    mode), printed as ftrace's seconds.microseconds timestamp."""
    step, cpu, task, event, fields = ev
    pid = (pids or {}).get(task, 0)
    f = " ".join(f"{k}={format_value(k, v)}" for k, v in fields.items())
    cpu_s = f"{cpu:03d}" if isinstance(cpu, int) and cpu >= 0 else "???"
    stamp = f"{step / 1e9:12.6f}" if timed else f"{step:>6}"
    return f"{task:>16}-{pid:<7} [{cpu_s}] .... {stamp}: {event}: {f}".rstrip()


def ftrace_text(events, tasks=(), timed=False):
    """The events as ftrace's ``trace`` file shows them.  ``tasks``:
    TaskInfo objects or (name, pid) pairs (for the pids).  ``timed``: the
    events carry simulated time (measure mode), not step numbers."""
    pids = {}
    for t in tasks:
        name, pid = t if isinstance(t, tuple) else (t.name, t.pid)
        pids.setdefault(name, pid)
    col = "   TIMESTAMP" if timed else "   STEP"
    lines = ["# tracer: nop", "#",
             f"#           TASK-PID     CPU#  ||||{col}  FUNCTION",
             "#              | |         |   ||||     |         |"]
    lines += [event_line(ev, pids, timed) for ev in events or ()]
    return "\n".join(lines) + "\n"
