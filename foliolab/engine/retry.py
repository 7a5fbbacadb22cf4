"""Idle retries: a bounded retry loop whose next attempt would repeat the last.

The kernel retries a failed operation a fixed number of times:
migrate_pages() makes 10 passes over its list, and alloc_contig_range()
gives the same list 5 migrate_pages() calls, 50 attempts in all.  While no
other CPU changes anything an attempt reads, every attempt repeats the one
before it, step for step.  A systematic search still counts each of them as
a place where another CPU's step can come in, so one schedule per attempt:
50 schedules alike but for a counter, and, with a second preemption, 50 of
those per first one.

With the setting ``retry_collapse`` (turned on by the systematic search,
for a family with footprints; random walks and measure mode keep it off),
a retry site asks, before its next attempt, whether the last one could run
differently:

* the *watch* of an attempt (``retry_begin``) collects every footprint key
  the task reads or writes from then on;
* it is *changed* once another task writes one of those keys after the
  task first touched it (a store leaving a store buffer counts as another
  task's, even the task's own; a summary write of a block of struct pages
  counts as a write of its scan key, engine/footprint.py), or a step of the
  attempt woke a task, or a step on either side was opaque;
* ``retry_unchanged`` is true when nothing changed: the next attempt would
  start from the same values, read the same values and do the same, so
  the site skips the attempts that would repeat this one (the decision
  step reads every key of the watch, so the search orders it against
  every write that would have changed it).

Why nothing is lost: an original schedule in which the task makes attempts
that repeat the one before them maps to a collapsed schedule that drops
them.  The shared state after it is the same (a site qualifies only if a
failed attempt gives back everything it took: locks, PTEs, the page it
allocated), the other tasks' steps are the same, and it has no more
preemptions (dropping a task's steps merges two context switches into
one).  The attempts that react to a change are kept, and with them the
retry budget: a collapsed run gives up no earlier than the kernel would.
Only event counters (pgmigrate_fail, the passes a tracepoint reports)
differ, so a property that counts attempts needs the setting off.

It changes how *likely* each behaviour is, though: a random walk that
leaves the other CPUs out for four decisions gives up where the kernel's
50 attempts would almost surely have let them in.  Hence only the
systematic search, which counts behaviours and not their odds, uses it.

"Changed since the task first touched the key", not "since the attempt
began": a write that comes before the task's first access is ordered with
that access in every equivalent schedule, so the answer is the same in
every schedule of a Mazurkiewicz trace, as the reduction requires.
"""

from __future__ import annotations

from .footprint import OPAQUE, SUMMARY


class RetryWatch:
    """What one attempt at a retry site has touched, and whether another
    task changed any of it since."""

    __slots__ = ("cpu", "keys", "changed")

    def __init__(self, cpu):
        self.cpu = cpu
        self.keys = set()
        self.changed = False


def retry_begin(m, site):
    """An attempt at ``site`` of the current task begins (a no-op unless the
    machine collapses idle retries)."""
    if m.retry_collapse:
        t = m.current
        m.watches[(t.tid, site)] = RetryWatch(t.cpu)


def retry_end(m, site):
    if m.retry_collapse:
        m.watches.pop((m.current.tid, site), None)


def retry_unchanged(m, site):
    """True when the attempt watched at ``site`` would repeat as it ran:
    nothing it touched changed.  Call it inside the step that decides; the
    step reads every key of the watch."""
    if not m.retry_collapse:
        return False
    w = m.watches.get((m.current.tid, site))
    if w is None:
        return False
    r = m.fpr
    if r is not None:
        # (not the summary writes: they stand for the pages the attempt
        # wrote, which their own keys name; reading them means nothing)
        r.extend(key for key in w.keys if key < SUMMARY)
    return not w.changed


def watch_step(watches, t, fpr, fpw, woke, drained):
    """After a step of ``t``: grow the watches of ``t``'s own attempts, and
    mark changed the watches of other tasks whose keys the step wrote."""
    for (tid, _site), w in watches.items():
        if w.changed:
            continue
        if tid == t.tid:
            if woke or OPAQUE in fpw:
                w.changed = True
                continue
            keys = w.keys
            keys.update(fpr)
            keys.update(fpw)
            for _sb, sbkey, key, ekey in drained:
                keys.add(sbkey)
                keys.add(key)
                keys.add(ekey)
        else:
            keys = w.keys
            # a summary write changes what a read of its scan key saw
            # (engine/footprint.py), and nothing else
            if OPAQUE in fpw or any((key - SUMMARY if key >= SUMMARY else key) in keys
                                    for key in fpw) or any(
                    key in keys for _sb, _s, key, _e in drained):
                w.changed = True
