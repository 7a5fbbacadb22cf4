"""Footprints: what a step reads and writes, for partial-order reduction.

A systematic search (``explore/dpor.py``) needs to know which steps of
different tasks commute.  While it runs, the machine collects for every step
the *keys* of the shared objects the step read and wrote: ``m.fpr`` and
``m.fpw`` are lists during the step (``None`` otherwise, so the accessors
cost one attribute test when nobody listens).  Two steps of different tasks
are *dependent* when one writes a key the other reads or writes.

Who declares what:

* the engine declares its own objects: locks, atomics, ``Shared`` words and
  the store buffers, wait queues, completions, work items and worker pools,
  RCU grace periods, and the CPU itself: every step of a task reads the key
  of its CPU and writes it when it changed which *other* tasks of the CPU
  may run (preemption disabled or enabled, a scheduling point under
  PREEMPT_NONE); what synchronize_rcu() sees of a CPU has a key of its own;
* the mm model declares struct pages, lists, batches, zones ... through its
  accessors (``mm/page.py``) or explicitly with :func:`touch_read` /
  :func:`touch_write` where it pokes fields directly;
* a step that runs code which declares nothing it touches is *opaque*:
  ``m.fp_opaque()`` makes it dependent on every other step.  User patch
  files that do not say ``footprints=True`` run opaque (see
  ``engine/kernel.py``), so the reduction is sound by default and only
  annotated code is pruned.

The footprint checker (``explore/fpcheck.py``) proves the annotations: it
records the attribute reads and writes of model objects between two yields
and fails when a step touched something its footprint does not declare.

Keys are plain ints, deterministic within a run: struct pages use
:func:`page_key` (odd numbers, by pfn: a page "exists" before the model
materialises it); objects created by the model take even numbers from
``m.new_key()`` in creation order; the machine's own keys are negative.
Vector clocks and sleep sets compare keys across runs of one search, which
replay the same prefix and therefore create the same objects in the same
order.
"""

from __future__ import annotations

# Every key of one step: reads and writes are merged into one object when
# the step is recorded.
OPAQUE = 0            # "this step may touch anything": dependent on every step
RCU_KEY = -5          # the list of grace periods in flight
END_KEY = -6          # the run itself: it ends when the last non-daemon task exits
                      # (that step writes it), and then no daemon runs again


def cpu_key(cpu):
    """Written by every step of every task of ``cpu`` (its run queue, the
    preemption state of the task running there)."""
    return -(8 * cpu + 8)


def sbuf_key(cpu):
    """The store buffer of ``cpu`` (x86-TSO)."""
    return -(8 * cpu + 9)


def sb_entry_key(cpu, fpk):
    """The entries for one word (key ``fpk``) in ``cpu``'s store buffer: what
    a load on ``cpu`` forwards from.  A load reads only this key, not the
    whole buffer: a commit of another word does not change what it returns,
    so the two commute (with the whole-buffer key every commit raced with
    every load of its CPU)."""
    return -(1 << 20) - (fpk << 6) - cpu


def pool_key(cpu):
    """The worker pool of ``cpu`` (workqueue.c)."""
    return -(8 * cpu + 10)


def rcu_cpu_key(cpu):
    """``cpu``'s bit in the pending mask of the grace periods in flight."""
    return -(8 * cpu + 11)


def rcu_view_key(cpu):
    """What synchronize_rcu() reads of ``cpu``: quiescent (idle, user,
    blocked), in a read-side section, or neither."""
    return -(8 * cpu + 12)


def page_key(pfn):
    """struct page of ``pfn`` (every field: one key per page)."""
    return (pfn << 1) | 1


def touch_read(m, key):
    r = m.fpr
    if r is not None:
        r.append(key)


def touch_write(m, key):
    w = m.fpw
    if w is not None:
        w.append(key)


class Event:
    """One executed step as the search sees it: the task and the keys it
    read and wrote (``reads`` excludes keys it also wrote).  ``opaque``
    steps conflict with everything."""

    __slots__ = ("tid", "reads", "writes", "opaque", "acquires", "woke")

    def __init__(self, tid, reads, writes, opaque=False, acquires=None, woke=()):
        self.tid = tid
        self.writes = writes
        self.reads = reads
        self.opaque = opaque
        self.acquires = acquires      # key of a spinlock this step acquired
        self.woke = woke              # tids this step woke (enabled)

    def conflicts(self, other):
        """Dependent (different tasks assumed by the caller)."""
        if self.opaque or other.opaque:
            return True
        w = self.writes
        ow = other.writes
        if w and (not w.isdisjoint(ow) or not w.isdisjoint(other.reads)):
            return True
        return bool(ow) and not ow.isdisjoint(self.reads)

    def __repr__(self):
        if self.opaque:
            return f"<event t{self.tid} opaque>"
        return f"<event t{self.tid} r{sorted(self.reads)} w{sorted(self.writes)}>"
