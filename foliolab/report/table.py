"""The interleaving table: one column per task that ran, one row per step,
the kernel function and what the step did, the scenario's key state on the
right, the failing check at the bottom.  Plain fixed-width text, ready to
paste into a mail.

::

    lost-update  variant racy  strategy pct(d=2) seed 1  schedule 4  2 CPUs PREEMPT_FULL  sc
    step  CPU0 A                       CPU1 B                       counter
       1  counter_inc: load counter = 0                                   0
       2                               counter_inc: load counter = 0      0
    ...
    FAILED  property "counter == 2": counter is 1 after two increments
            shrunk: 1 preemption (step 2), 6 steps
            replay: foliolab replay traces/lost-update.racy.pct.1.json
"""

from __future__ import annotations

import re

COL_WIDTH = 40         # a task column's width; a longer cell spills over the
                       # (empty) columns to its right
MAX_CELL = 76          # longest task cell; longer ones are cut with "..."
MAX_PERIOD = 12        # longest repeating block the elision looks for
MIN_ELIDED = 3         # elide only when it hides at least this many rows

_DIGITS = re.compile(r"\d+")


def step_cell(rec):
    """``function: label`` (the label alone when it starts with the
    function's name, or when there is no model function)."""
    fn = rec.function
    label = rec.label
    if not fn or label.startswith(fn) or label == "exit":
        return label
    return f"{fn}: {label}"


def _cut(text, width):
    return text if len(text) <= width else text[:width - 3] + "..."


def header_line(scenario, variant, strategy, seed, schedule_index, settings, shown=None):
    sched = ""
    if schedule_index is not None:
        sched = f"  schedule {schedule_index}"
        if shown == "shrunk":
            sched += " (shrunk)"
    return (f"{scenario}  variant {variant or 'custom'}  strategy {strategy} seed {seed}"
            f"{sched}  {settings.get('ncpus', '?')} CPUs "
            f"PREEMPT_{str(settings.get('preempt', '?')).upper()}  "
            f"{settings.get('memory_model', 'sc')}")


def _elide(sigs, full):
    """[(start, end, hidden)] blocks: rows start..end-1 shown, then `hidden`
    rows elided (a block with hidden > 0 is followed by the block showing
    the last period)."""
    n = len(sigs)
    if full:
        return [(0, n, 0)]
    out = []
    i = 0
    plain_start = 0
    while i < n:
        best_p, best_len = 0, 0
        for p in range(1, MAX_PERIOD + 1):
            if i + 2 * p > n:
                break
            j = i + p
            while j < n and sigs[j] == sigs[j - p]:
                j += 1
            region = (j - i) // p * p     # whole periods of the repeating rows
            if region - 2 * p >= MIN_ELIDED and region > best_len:
                best_p, best_len = p, region
        if best_p:
            p = best_p
            region = best_len
            hidden = region - 2 * p
            out.append((plain_start, i + p, hidden))
            plain_start = i + region - p
            i += region
        else:
            i += 1
    out.append((plain_start, n, 0))
    return out


def interleaving_table(recording, *, header, failure=None, extra_lines=(),
                       full=False, max_cell=MAX_CELL, col_width=COL_WIDTH):
    """Render a :class:`~foliolab.explore.run.Recording`.

    ``header``: the first line (see :func:`header_line`).  ``failure``: a
    FailureInfo shown at the bottom.  ``extra_lines``: lines under it
    (shrink, replay command).  ``full``: no elision of repetitive rows.
    """
    steps = recording.steps
    tasks = {t.tid: t for t in recording.tasks}
    ran = []
    seen = set()
    for r in steps:
        if r.tid not in seen:
            seen.add(r.tid)
            ran.append(r.tid)
    cols = sorted(ran, key=lambda tid: (tasks[tid].cpu if tid in tasks else 0,
                                        tasks[tid].is_sb if tid in tasks else False, tid))
    colpos = {tid: i for i, tid in enumerate(cols)}
    heads = []
    for tid in cols:
        t = tasks.get(tid)
        if t is None:
            heads.append(f"task {tid}")
        elif t.is_sb:
            heads.append(f"CPU{t.cpu} {t.name}")
        else:
            heads.append(f"CPU{t.cpu} {t.name}")
    cells = [_cut(step_cell(r), max_cell) for r in steps]
    widths = [len(h) for h in heads]
    longest = [0] * len(cols)
    for r, c in zip(steps, cells):
        i = colpos[r.tid]
        if len(c) > longest[i]:
            longest[i] = len(c)
    for i in range(len(cols)):
        widths[i] = max(widths[i], min(longest[i], col_width))
    offsets = []
    off = 0
    for w in widths:
        offsets.append(off)
        off += w + 2
    area = off - 2 if widths else 0
    need = max([offsets[i] + longest[i] for i in range(len(cols))] + [area])
    if need > area and widths:
        widths[-1] += need - area
        area = need
    # watch columns, in order of first appearance
    wkeys = list(recording.watch0 or {})
    for r in steps:
        for key in r.watch:
            if key not in wkeys:
                wkeys.append(key)
    wwidths = [len(k) for k in wkeys]
    for r in steps:
        w = r.watch
        for j, key in enumerate(wkeys):
            v = w.get(key)
            if v is not None and len(str(v)) > wwidths[j]:
                wwidths[j] = len(str(v))
    nw = max(4, len(str(steps[-1].step)) if steps else 4)

    def line(stepno, col, text, watch):
        parts = [str(stepno).rjust(nw)]
        if col >= 0:
            parts.append((" " * offsets[col] + text).ljust(area))
        else:
            parts.append(" " * area)
        for j, key in enumerate(wkeys):
            v = watch.get(key, "") if watch is not None else ""
            parts.append(str(v).rjust(wwidths[j]))
        return "  ".join(parts).rstrip()

    out = [header]
    hparts = ["step".rjust(nw)] + [h.ljust(w) for h, w in zip(heads, widths)]
    hparts += [k.rjust(w) for k, w in zip(wkeys, wwidths)]
    out.append("  ".join(hparts).rstrip())
    if recording.watch0 and wkeys:
        out.append(line(0, -1, "", recording.watch0))     # the state before step 1
    sigs = [(r.tid, _DIGITS.sub("#", c)) for r, c in zip(steps, cells)]
    for start, end, hidden in _elide(sigs, full):
        for idx in range(start, end):
            r = steps[idx]
            out.append(line(r.step, colpos[r.tid], cells[idx], r.watch))
        if hidden:
            out.append(f"{'...'.rjust(nw)}  ... {hidden} similar steps ...")
    if failure is not None:
        out.append(f"FAILED  {failure.headline()}")
    else:
        out.append(f"no failure ({len(steps)} steps)")
    pad = " " * len("FAILED  ")
    for extra in extra_lines:
        if extra:
            out.append(pad + extra)
    return "\n".join(out) + "\n"
