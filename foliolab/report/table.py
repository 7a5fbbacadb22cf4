"""The interleaving table: one column per task that ran, one row per step,
the kernel function and what the step did, the scenario's key state on the
right, the failing check at the bottom.  Plain fixed-width text, ready to
paste into a mail.

::

    lost-update  variant racy  strategy pct(d=2) seed 1  schedule 4  2 CPUs CONFIG_PREEMPT  SC
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

COL_WIDTH = 28         # a task column's width; a longer cell spills over the
                       # (empty) columns to its right
MAX_AREA = 120         # the task columns' total width; longer cells continue
                       # on the next lines (not with full=True)
MAX_PERIOD = 256       # longest repeating block the elision looks for
FAILED_WIDTH = 100     # the FAILED line wraps at the table's width, at least this
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


def _wrap(text, width):
    """``text`` in lines of at most ``width`` characters, continuation lines
    indented by two spaces; breaks after spaces, commas or '(' when it can."""
    if len(text) <= width or width < 12:
        return [text]
    out = []
    indent = ""
    while len(indent) + len(text) > width:
        room = width - len(indent)
        cut = max(text.rfind(" ", 0, room + 1), text.rfind(",", 0, room),
                  text.rfind("(", 0, room))
        if cut < room // 3:
            cut = room
        elif text[cut] in ",(":
            cut += 1
        out.append(indent + text[:cut].rstrip())
        text = text[cut:].lstrip()
        indent = "  "
    out.append(indent + text)
    return out


def shown_notes(recording):
    """{step number: the memory notes worth a row}: every stale load, and a
    buffered store only of a word some load read stale (the store the other
    CPU missed); other buffered stores change nothing another CPU saw."""
    stale = set()
    for r in recording.steps:
        for n in getattr(r, "notes", ()):
            if n.startswith("load ") and "stale" in n:
                stale.add(n.split()[1])
    out = {}
    for r in recording.steps:
        keep = [n for n in getattr(r, "notes", ())
                if n.startswith("load ") or (n.startswith("store ") and n.split()[1] in stale)]
        if keep:
            out[r.step] = keep
    return out


def header_line(scenario, variant, strategy, seed, schedule_index, settings, shown=None,
                era=None):
    """The table's first line: what ran, how it was found, and what it
    models (the kernel era when the scenario has one, the preemption model
    by its Kconfig name, the memory model)."""
    from ..provenance import MEMORY_MODEL_NAMES, kconfig_preempt
    sched = ""
    if schedule_index is not None:
        sched = f"  schedule {schedule_index}"
        if shown == "shrunk":
            sched += " (shrunk)"
    kernel = ""
    if era:
        from ..patches.eras import get_era
        kernel = f"  Linux {get_era(era).kernel}"
    mm = settings.get("memory_model", "sc")
    return (f"{scenario}  variant {variant or 'custom'}  strategy {strategy} seed {seed}"
            f"{sched}{kernel}  {settings.get('ncpus', '?')} CPUs "
            f"{kconfig_preempt(settings.get('preempt', '?'))}  "
            f"{MEMORY_MODEL_NAMES.get(mm, mm)}")


def next_occurrence(ids, lo, hi):
    """{j: the next index after j in lo..hi-1 with the same id, or None}."""
    nxt = {}
    pos_of = {}
    for j in range(hi - 1, lo - 1, -1):
        nxt[j] = pos_of.get(ids[j])
        pos_of[ids[j]] = j
    return nxt


def repeats(ids, i, p, hi):
    """How many times the block ids[i:i+p] repeats in a row from i."""
    j = i + p
    while j < hi and ids[j] == ids[j - p]:
        j += 1
    return (j - i) // p


def _elide(ids, lo, hi, out):
    """Append to ``out`` the rows lo..hi-1 to show (row indices) and the
    runs to hide (``("skip", hidden, repetitions, period)``): a block of
    ``p`` rows repeated ``r >= 3`` times shows its first and last copies
    (themselves elided the same way) and hides the ``r - 2`` in between."""
    nxt = next_occurrence(ids, lo, hi)
    i = lo
    while i < hi:
        best_p, best_region = 0, 0
        q = nxt[i]
        while q is not None and q - i <= MAX_PERIOD and 3 * (q - i) <= hi - i:
            p = q - i
            region = repeats(ids, i, p, hi) * p
            if region >= 3 * p and region - 2 * p >= MIN_ELIDED and region > best_region:
                best_p, best_region = p, region
                if i + region + p > hi:
                    break                    # nothing longer can follow
            q = nxt[q]
        if best_p:
            p, region = best_p, best_region
            _elide(ids, i, i + p, out)
            out.append(("skip", region - 2 * p, region // p - 2, p))
            _elide(ids, i + region - p, i + region, out)
            i += region
        else:
            out.append(i)
            i += 1
    return out


def interleaving_table(recording, *, header, failure=None, extra_lines=(),
                       full=False, col_width=COL_WIDTH, max_area=MAX_AREA):
    """Render a :class:`~foliolab.explore.run.Recording`.

    ``header``: the first line (see :func:`header_line`).  ``failure``: a
    FailureInfo shown at the bottom.  ``extra_lines``: lines under it
    (shrink, replay command).  ``full``: no elision of repetitive rows and
    no cut cells (however wide the table gets).
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
    cells = [step_cell(r) for r in steps]
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
    if not full:
        need = min(need, max(area, max_area))
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
        """One row; a cell longer than the room left of the state columns
        continues on the next lines, indented (nothing is cut)."""
        room = area - offsets[col] if col >= 0 else area
        chunks = _wrap(text, room) if col >= 0 else [""]
        rows = []
        for n, chunk in enumerate(chunks):
            parts = [(str(stepno) if n == 0 else "").rjust(nw)]
            parts.append((" " * (offsets[col] if col >= 0 else 0) + chunk).ljust(area))
            for j, key in enumerate(wkeys):
                v = watch.get(key, "") if (watch is not None and n == 0) else ""
                parts.append(str(v).rjust(wwidths[j]))
            rows.append("  ".join(parts).rstrip())
        return "\n".join(rows)

    notes = shown_notes(recording)
    out = [header]
    hparts = ["step".rjust(nw)] + [h.ljust(w) for h, w in zip(heads, widths)]
    hparts += [k.rjust(w) for k, w in zip(wkeys, wwidths)]
    out.append("  ".join(hparts).rstrip())
    if recording.watch0 and wkeys:
        out.append(line(0, -1, "", recording.watch0))     # the state before step 1
    if full:
        items = list(range(len(steps)))
    else:
        sig_ids = {}
        ids = [sig_ids.setdefault((r.tid, _DIGITS.sub("#", c)), len(sig_ids))
               for r, c in zip(steps, cells)]
        items = _elide(ids, 0, len(steps), [])
    for it in items:
        if isinstance(it, int):
            r = steps[it]
            out.append(line(r.step, colpos[r.tid], cells[it], r.watch))
            for note in notes.get(r.step, ()):
                # a buffered store or a stale load inside the step (TSO)
                out.append(line("", colpos[r.tid], f"  > {note}", None))
        else:
            _, hidden, reps, p = it
            more = f" ({reps} x {p})" if p > 1 else ""
            out.append(f"{'...'.rjust(nw)}  ... {hidden} similar steps{more} ...")
    if failure is not None:
        import textwrap
        width = max(FAILED_WIDTH, min(len(out[1]), 2 * FAILED_WIDTH))
        out.extend(textwrap.wrap(f"FAILED  {failure.headline()}", width=width,
                                 subsequent_indent=" " * 8, break_long_words=False,
                                 break_on_hyphens=False))
    else:
        out.append(f"no failure ({len(steps)} steps)")
    pad = " " * len("FAILED  ")
    for extra in extra_lines:
        if extra:
            out.append(pad + extra)
    return "\n".join(out) + "\n"


def legend_lines(scenario_legend=None):
    """What the table's marks mean; ``scenario_legend``: its state columns."""
    out = ["legend: '... N similar steps (R x P) ...' = R repetitions of a block of P "
           "rows left out between its first and last copies; '> ' rows = what a step "
           "did in memory under TSO (a buffered store, a stale load); sb/N = CPU N's "
           "store buffer making its oldest store visible; prop/N:word (LKMM) = a store "
           "to word reaching CPU N"]
    if scenario_legend:
        out.append("state: " + scenario_legend)
    return out
