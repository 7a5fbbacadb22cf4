"""``foliolab replay TRACE --litmus``: a failing run as a C litmus test.

The trace is replayed with the memory accesses logged (engine/memory.py
``m.mem_log``): every READ_ONCE/WRITE_ONCE, acquire and release of a
``Shared`` word, every barrier (smp_mb/wmb/rmb, and the locked operations
the model treats as full barriers).  The test keeps

* the shared words: those one task writes and another task reads;
* per task (one process each, in task order), its accesses to those words
  and the barriers between them, in program order (a barrier with no kept
  access on both sides is dropped);
* an ``exists`` clause: the value every kept load returned in the failing
  run.

Locks, the model's other state and control flow are left out: the test is
the failure's reordering skeleton, for herd7 (``herd7 -conf linux-kernel.cfg
FILE``) and a mail.  Leaving locks out only adds outcomes, so the failing
outcome stays allowed if the model allowed it.
"""

from __future__ import annotations

import re

_BARRIERS = ("smp_mb", "smp_wmb", "smp_rmb")


def _ident(name):
    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if re.match(r"[A-Za-z_]", s) else "v_" + s


def litmus_from_log(log, tasks, *, name, comment=()):
    """The litmus text for ``log`` [(tid, op, Shared, value)]; ``tasks``:
    tid -> task name.  Returns None when no word is shared."""
    writers, readers = {}, {}
    for tid, op, var, value in log:
        if var is None or not isinstance(value, int):
            continue
        if op in ("WRITE_ONCE", "smp_store_release", "rmw", "rmw_relaxed"):
            writers.setdefault(var, set()).add(tid)
        if op in ("READ_ONCE", "smp_load_acquire", "rmw", "rmw_relaxed"):
            readers.setdefault(var, set()).add(tid)
    words = [v for v in writers if readers.get(v, set()) - writers[v] or len(writers[v]) > 1]
    words.sort(key=lambda v: v.fpk)
    if not words:
        return None
    keep = set(words)
    per = {}
    for tid, op, var, value in log:
        if op in _BARRIERS or (var in keep and op not in ("rmw", "rmw_relaxed")):
            per.setdefault(tid, []).append((op, var, value))
    procs = []
    for tid in sorted(per):
        body = per[tid]
        # barriers only between two kept accesses of the process
        acc = [i for i, (op, _v, _x) in enumerate(body) if op not in _BARRIERS]
        if not acc:
            continue
        lo, hi = acc[0], acc[-1]
        body = [x for i, x in enumerate(body) if x[0] not in _BARRIERS or lo < i < hi]
        out = []
        for op, _v, _x in body:             # repeated barriers: one
            if op in _BARRIERS and out and out[-1][0] == op:
                continue
            out.append((op, _v, _x))
        procs.append((tid, out))
    lines = [f"C {name}", "", "(*"]
    lines += [f" * {c}" for c in comment]
    lines += [" *)", "", "{"]
    for v in words:
        lines.append(f"\tint {_ident(v.name)} = {v.init};" if v.init else f"\tint {_ident(v.name)};")
    lines.append("}")
    exists = []
    for n, (tid, body) in enumerate(procs):
        used = sorted({_ident(v.name) for _op, v, _x in body if v is not None})
        lines += ["", f"P{n}({', '.join(f'int *{u}' for u in used)}) // {tasks.get(tid, tid)}",
                  "{"]
        regs = []
        stmts = []
        for op, v, x in body:
            if op in _BARRIERS:
                stmts.append(f"\t{op}();")
                continue
            w = _ident(v.name)
            if op == "WRITE_ONCE":
                stmts.append(f"\tWRITE_ONCE(*{w}, {x});")
            elif op == "smp_store_release":
                stmts.append(f"\tsmp_store_release({w}, {x});")
            else:
                r = f"r{len(regs)}"
                regs.append(r)
                call = f"READ_ONCE(*{w})" if op == "READ_ONCE" else f"smp_load_acquire({w})"
                stmts.append(f"\t{r} = {call};")
                exists.append(f"{n}:{r}={x}")
        lines += [f"\tint {r};" for r in regs]
        if regs:
            lines.append("")
        lines += stmts
        lines.append("}")
    conj = " /\\ ".join(exists) if exists else "true"
    lines += ["", f"exists ({conj})", ""]
    return "\n".join(lines)


def export_trace(r):
    """The litmus test of replayed trace ``r`` (explore/replay.py), or None."""
    from ..explore.run import run_schedule, strict_choose

    def setup(k):
        k.m.mem_log = []

    k, res = run_schedule(r.scenario, r.patches, r.settings, strict_choose(r.schedule),
                          setup=setup)
    tasks = {t.tid: t.name for t in k.m.tasks}
    mm = r.settings.get("memory_model", "sc")
    label = r.trace.get("label") or r.variant or ""
    name = _ident(f"{r.scenario.slug}-{label}").replace("_", "-") if label else r.scenario.slug
    comment = [f"Exported by foliolab replay --litmus from {r.scenario.slug} ({label}),",
               f"memory_model={mm}: the failing run's accesses to the words its",
               "tasks share, with the barriers between them, in program order;",
               "exists: what each load returned in that run.  Locks, other state and",
               "control flow are left out (they only remove outcomes)."]
    return litmus_from_log(k.m.mem_log, tasks, name=name, comment=comment)
