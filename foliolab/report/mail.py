"""The race as a kernel commit message draws it: one column per CPU, at most
72 columns, call nesting by indentation, only the steps that matter.

::

    CPU0 (M)                             CPU1 (U)
    cma_alloc()
     alloc_contig_range()
      ...
       cpu1 nothing to drain
                                         filemap_read()
                                          mark_page_accessed()
                                           activate_page()
                                            get F (ref 5), F queued ...

Which steps are shown (every decision is made on the model's own labels and
watched state, nothing is written per scenario):

* a step that changed the watched state (a refcount, PG_lru, a batch);
* a step whose label names a watched object (``F``, ``F'``) or a shared word
  a store buffer held, or another CPU's per-CPU data (``cpu1 ...`` on
  CPU0): that is how CPUs talk to each other;
* the store-buffer steps (a store becoming visible, under TSO), and the
  steps that buffered a store or loaded a stale value (shown under the
  step with ``>``: the value read and what the buffer held);
* a step of a function whose own shown steps are nested in it (the
  ``migrate_pages: 0 migrated`` closing a pass), so that loops keep their
  shape;
* never lock, unlock, irq, preempt or RCU reader rows, unless the failure
  is about locks (lockdep, deadlock, hung task) or the row changed the
  watched state.

Tasks of one CPU share its column (a kworker runs on the CPU it belongs
to); a line ``<kworker/1>`` marks where the column's task changes.  Runs of
identical shown steps are folded: ``10 times:`` above the block shown once,
and a nested block says how many times its rows ran in all.
"""

from __future__ import annotations

import re
import textwrap

from .table import _wrap, next_occurrence, repeats, shown_notes

WIDTH = 72
GAP = 2
MAX_PERIOD = 256
LOCK_KINDS = ("lockdep", "deadlock", "hung", "hung-task", "scheduling-while-atomic")

_PLUMBING = re.compile(
    r"^(raw_)?(spin_|mutex_|local_|read_|write_|down_|up_|rcu_read_|preempt_|"
    r"local_irq|irq_|lock_page_lruvec|unlock_page_lruvec|relock_page_lruvec)"
    r"|^(exit|rcu_read_lock|rcu_read_unlock|local_irq_enable|local_irq_disable)$")
_OTHER_CPU = re.compile(r"\bcpu(\d+)\b")
_STORE = re.compile(r"^store (\S+) = ")


def _strip_fn(label, fn):
    """The label without a leading ``fn: `` (the frame line names it)."""
    if fn and label.startswith(fn + ": "):
        return label[len(fn) + 2:]
    return label


def _plumbing(text):
    return bool(_PLUMBING.match(text))


def _chain(rec):
    """The call chain without the scenario's actor frames, adjacent
    duplicates merged (a function and its shared body)."""
    out = []
    for name in rec.chain:
        if name.endswith("_actor"):
            continue
        if out and out[-1] == name:
            continue
        out.append(name)
    return out


def _objects(recording):
    """Names of the watched objects: ``F`` of a ``F: ref`` column."""
    names = set()
    keys = list(recording.watch0 or {})
    for r in recording.steps:
        keys += [k for k in r.watch if k not in keys]
    for key in keys:
        if ":" in key:
            names.add(key.split(":", 1)[0].strip())
    return names


def select_steps(recording, failure=None):
    """Indices (into ``recording.steps``) of the steps the mail shows."""
    steps = recording.steps
    tasks = {t.tid: t for t in recording.tasks}
    locks_matter = failure is not None and failure.kind in LOCK_KINDS
    objs = _objects(recording)
    words = set()
    for r in steps:
        m = _STORE.match(r.label)
        if m:
            words.add(m.group(1))
    names = sorted(objs | words, key=len, reverse=True)
    mention = (re.compile(r"(?<![\w.])(" + "|".join(re.escape(n) for n in names) + r")(?![\w(])")
               if names else None)
    keep = []
    notes = shown_notes(recording)
    prev = recording.watch0 or {}
    for i, r in enumerate(steps):
        t = tasks.get(r.tid)
        text = _strip_fn(r.label, r.function)
        changed = r.watch != prev
        prev = r.watch
        if changed or r.step in notes:
            keep.append(i)
            continue
        if t is not None and t.is_sb:
            keep.append(i)
            continue
        if _plumbing(text) and not locks_matter:
            continue
        if failure is not None and r.step == failure.step and r.label != "exit":
            keep.append(i)
            continue
        if mention is not None and mention.search(text):
            keep.append(i)
            continue
        cpu = t.cpu if t is not None else None
        if any(int(c) != cpu for c in _OTHER_CPU.findall(text)):
            keep.append(i)
            continue
        if locks_matter and _plumbing(text):
            keep.append(i)
    # the own steps of functions that enclose shown steps (loop summaries)
    enclosing = set()
    for i in keep:
        enclosing.update(_chain(steps[i])[:-1])
    shown = set(keep)
    for i, r in enumerate(steps):
        if i in shown or not r.chain:
            continue
        text = _strip_fn(r.label, r.function)
        if r.function in enclosing and not _plumbing(text) and r.label != "exit":
            shown.add(i)
    return sorted(shown)


def _fold(ids, lo, hi):
    """Nodes for ids[lo:hi]: an index, or ``("rep", count, nodes)`` for a
    block repeated ``count >= 2`` times in a row.  At each row the run that
    covers the most rows is taken, unless one starting a little later (within
    its period) covers more: the loop is then cut at its own boundaries."""
    nxt = next_occurrence(ids, lo, hi)
    memo = {}

    def best(i):
        if i not in memo:
            best_p, best_n = 0, 0
            q = nxt.get(i)
            while q is not None and q - i <= MAX_PERIOD and 2 * (q - i) <= hi - i:
                p = q - i
                n = repeats(ids, i, p, hi)
                if n >= 2 and n * p > best_n * best_p:
                    best_p, best_n = p, n
                q = nxt[q]
            memo[i] = (best_p, best_n)
        return memo[i]

    out = []
    i = lo
    while i < hi:
        p, n = best(i)
        if p and any(best(j)[0] * best(j)[1] > p * n for j in range(i + 1, min(i + p, hi))):
            p = 0                       # a better-aligned run starts soon
        if p:
            out.append(("rep", n, _fold(ids, i, i + p)))
            i += p * n
        else:
            out.append(i)
            i += 1
    return out


class _Column:
    __slots__ = ("cpu", "offset", "width", "task", "chains")

    def __init__(self, cpu, offset, width):
        self.cpu = cpu
        self.offset = offset
        self.width = width
        self.task = None
        self.chains = {}            # task id -> the chain last shown for it


def columns_of(recording, width=WIDTH):
    """One column per CPU that ran a task: ``[(cpu, offset, width)]``."""
    cpus = sorted({t.cpu for t in recording.tasks
                   if any(r.tid == t.tid for r in recording.steps)})
    n = max(1, len(cpus))
    w = (width - GAP * (n - 1)) // n
    return [(cpu, i * (w + GAP), w) for i, cpu in enumerate(cpus)]


def mail_body(recording, failure=None, width=WIDTH):
    """The CPU columns: a heading line and the shown steps."""
    steps = recording.steps
    tasks = {t.tid: t for t in recording.tasks}
    cols = {cpu: _Column(cpu, off, w) for cpu, off, w in columns_of(recording, width)}
    if not cols:
        return ["(no steps)"]
    idx = select_steps(recording, failure)
    texts = {i: _strip_fn(steps[i].label, steps[i].function) for i in idx}
    notes = shown_notes(recording)
    shown_chain = _shown_chains(steps, idx)
    sig = {}
    ids = [sig.setdefault((steps[i].tid, tuple(shown_chain[i]), texts[i],
                           tuple(notes.get(steps[i].step, ()))), len(sig))
           for i in idx]
    tree = _fold(ids, 0, len(idx))
    lines = []

    def put(col, indent, text):
        room = col.width - indent
        for n, chunk in enumerate(_wrap(text, max(room, 12))):
            pad = col.offset + indent
            lines.append((" " * pad + chunk).rstrip())

    def cpu_of(tid):
        t = tasks.get(tid)
        return t.cpu if t is not None else next(iter(cols))

    heads = []
    for cpu, col in cols.items():
        names = []
        for r in steps:
            t = tasks.get(r.tid)
            if t is not None and t.cpu == cpu and not t.is_sb and t.name not in names:
                names.append(t.name)
        heads.append((col, f"CPU{cpu} ({', '.join(names)})" if names else f"CPU{cpu}"))
    row = ""
    for col, h in heads:
        h = h if len(h) <= col.width else h[:col.width - 1] + ">"
        row = row.ljust(col.offset) + h
    lines.append(row.rstrip())
    lines.append("")

    def show(i):
        r = steps[i]
        col = cols[cpu_of(r.tid)]
        t = tasks.get(r.tid)
        if col.task != r.tid:
            if col.task is not None or len({x.tid for x in recording.tasks
                                            if x.cpu == col.cpu and not x.is_sb}) > 1:
                put(col, 0, f"<{t.name if t else r.tid}>")
            col.task = r.tid
        chain = shown_chain[i]
        fn = r.function
        frames = chain
        if fn and chain and chain[-1] == fn and r.label.startswith(fn) \
                and not r.label.startswith(fn + ": "):
            frames = chain[:-1]         # the label names its function itself
        enter(col, r.tid, frames)
        put(col, len(frames), texts[i])
        for note in notes.get(r.step, ()):
            put(col, len(frames) + 1, f"> {note}")   # buffered store, stale load

    def enter(col, tid, frames):
        """Show the frames entered since the column last showed ``tid``."""
        last = col.chains.get(tid, [])
        common = 0
        while common < min(len(frames), len(last)) and frames[common] == last[common]:
            common += 1
        for d in range(common, len(frames)):
            put(col, d, f"{frames[d]}()")
        col.chains[tid] = list(frames)

    def walk(nodes, times):
        for node in nodes:
            if isinstance(node, int):
                show(idx[node])
            else:
                _, count, inner = node
                first = _first(inner)
                r = steps[idx[first]]
                col = cols[cpu_of(r.tid)]
                common = _common([shown_chain[idx[j]] for j in _all(inner)
                                  if steps[idx[j]].tid == r.tid])
                # the loop's body: the frames all its rows share, then a note
                if len({steps[idx[j]].tid for j in _all(inner)}) == 1 and common:
                    if col.task == r.tid:
                        enter(col, r.tid, common[:-1])
                    depth = len(common) - 1
                else:
                    depth = len(col.chains.get(r.tid, [])) if col.task == r.tid else 0
                total = times * count
                note = f"{count} times" + (f", {total} in all" if times > 1 else "") + ":"
                put(col, depth, f"[{note}]")
                walk(inner, total)

    walk(tree, 1)
    return lines


def _common(chains):
    """The longest chain prefix all of ``chains`` share."""
    if not chains:
        return []
    out = []
    for d in range(min(len(c) for c in chains)):
        if len({c[d] for c in chains}) != 1:
            break
        out.append(chains[0][d])
    return out


def _shown_chains(steps, idx):
    """The chain shown for each step of ``idx``: :func:`_chain` without the
    frames a reader does not need to place a row -- a frame (neither the
    outermost nor the step's own function) through which every shown row of
    the task goes to one same callee and which shows no row of its own."""
    chains = {i: _chain(steps[i]) for i in idx}
    kids = {}
    own = set()
    for i in idx:
        c = tuple(chains[i])
        tid = steps[i].tid
        own.add((tid, c))
        for d in range(len(c) - 1):
            kids.setdefault((tid, c[:d + 1]), set()).add(c[d + 1])
    out = {}
    for i in idx:
        c = chains[i]
        tid = steps[i].tid
        keep = []
        for d, name in enumerate(c):
            p = (tid, tuple(c[:d + 1]))
            if 0 < d < len(c) - 1 and len(kids.get(p, ())) == 1 and p not in own:
                continue
            keep.append(name)
        out[i] = keep
    return out


def _first(nodes):
    n = nodes[0]
    return n if isinstance(n, int) else _first(n[2])


def _all(nodes):
    for n in nodes:
        if isinstance(n, int):
            yield n
        else:
            yield from _all(n[2])


def mail_text(recording, *, head, failure=None, tail=(), width=WIDTH):
    """The whole mail excerpt.  ``head``: the header lines (wrapped to
    ``width``); ``tail``: lines under the failure (vmstat delta, replay
    command), wrapped likewise."""
    out = []
    for line in head:
        out += textwrap.wrap(line, width=width, subsequent_indent="  ",
                             break_long_words=False, break_on_hyphens=False) or [""]
    out.append("")
    out += mail_body(recording, failure, width)
    out.append("")
    if failure is not None:
        out += textwrap.wrap(f"FAILED {failure.headline()}", width=width,
                             subsequent_indent="  ", break_long_words=True,
                             break_on_hyphens=False)
    else:
        out.append(f"no failure ({len(recording.steps)} steps)")
    for line in tail:
        if line:
            # a path is never cut: the replay command must paste whole; a
            # counter keeps its figure on its line
            line = line.replace(" +", "\xa0+").replace(" -", "\xa0-")
            out += [x.replace("\xa0", " ") for x in textwrap.wrap(
                line, width=width, subsequent_indent="  ", break_long_words=False,
                break_on_hyphens=False)]
    return "\n".join(out) + "\n"


def mail_head(scenario, variant, *, era, settings, strategy, seed, schedule_index,
              shown=None, actors=None):
    """The header lines: what ran, on what, found how."""
    from ..provenance import era_text, machine_text, tool_text
    sched = f", schedule {schedule_index}" if schedule_index is not None else ""
    if shown == "shrunk":
        sched += " (shrunk)"
    lines = [f"{tool_text()} {scenario}, variant {variant or 'custom'}",
             f"models {era_text(era)}",
             f"{machine_text(settings)}; {strategy} seed {seed}{sched}"]
    if actors:
        if era:
            from ..patches.eras import get_era
            actors = get_era(era).rename(actors)     # the era's function names
        lines.append(actors)
    return lines
