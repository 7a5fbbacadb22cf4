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
``m.new_key()`` in creation order; the machine's own keys are negative;
the block keys below start at ``BLOCK_BASE`` (2**40) and the summary
writes at ``SUMMARY`` (2**44).  Vector clocks and sleep sets compare keys
across runs of one search, which replay the same prefix and therefore
create the same objects in the same order.

Range scans.  A step that scans a range of pfns (an isolation scan,
move_freepages, split_map_pages writing every page of an order-10 block)
would declare one key per page: hundreds, which the race analysis pays for
at every step.  struct pages are therefore grouped in blocks of
``1 << BLOCK_ORDER`` pfns (a pageblock, 512 pages), and a scan declares a
whole block with a few keys instead of 512.  Per block ``b``:

* the *block key* ``block_key(b)`` (an ordinary key): every access to a
  page of the block reads it; a scan that writes every page of the block
  writes it;
* the *scan key* ``block_scan_key(b)``: a scan that reads (or writes)
  every page of the block reads it; nothing writes it as an ordinary key;
* the *summary write* ``summary_key(b)`` = ``block_scan_key(b) | SUMMARY``:
  every write to a page of the block writes it.  A summary write conflicts
  with the reads of its scan key and with nothing else: two writes to
  different pages of the block commute.  A read of the scan key comes after
  every task's last summary write; a summary write comes after every task's
  last read of the scan key, and does not reset those reads (the summary
  writes of a block are not ordered among themselves).

So a step declares, for a page ``p`` of block ``b``:

=================  ============================  ===========================
access             reads                         writes
=================  ============================  ===========================
read ``p``         page_key(p), block_key(b)
write ``p``        block_key(b)                  page_key(p), summary_key(b)
read every page    block_scan_key(b)
write every page   block_scan_key(b)             block_key(b), summary_key(b)
=================  ============================  ===========================

and two steps conflict exactly where they would with one key per page:
a read of ``p`` and a write of another page of the block share only reads
(the block key) and the summary write (which meets only scan keys); a
whole-block read meets every page write through its summary write; a
whole-block write meets every page access through the block key.  A scan
that covers part of a block declares that part page by page
(:func:`pfns_read_keys`, :func:`pfns_write_keys`).  The summary semantics
live in :class:`Event` (``sw``), ``RaceTracker`` (explore/dpor.py) and the
retry watches (engine/retry.py); the footprint checker checks that every
page access is covered this way (a page write without its block's summary
write would hide it from a scan).
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


# Range scans (see the module docstring).
BLOCK_ORDER = 9               # pfns per block: 512, a pageblock
BLOCK_BASE = 1 << 40          # block keys: BLOCK_BASE + 2b, scan keys: BLOCK_BASE + 2b + 1
SUMMARY = 1 << 44             # summary write of scan key x: x | SUMMARY (x < SUMMARY)
_SCAN = BLOCK_BASE | 1
_SUMW = SUMMARY | BLOCK_BASE | 1


def block_key(b):
    """Block ``b`` (pfns ``b << BLOCK_ORDER`` ...): read by every access to
    one of its pages, written by a write of all of them."""
    return BLOCK_BASE + (b << 1)


def block_scan_key(b):
    """Read by a step that reads (or writes) every page of block ``b``."""
    return _SCAN + (b << 1)


def summary_key(b):
    """Written by every write to a page of block ``b``: conflicts with the
    reads of ``block_scan_key(b)`` only."""
    return _SUMW + (b << 1)


def is_summary(key):
    """A summary write (it conflicts with the reads of ``key - SUMMARY``)."""
    return key >= SUMMARY


def page_read_keys(r, pfn):
    """Append the keys of a read of the struct page of ``pfn`` to ``r``."""
    r.append((pfn << 1) | 1)
    r.append(BLOCK_BASE + (pfn >> BLOCK_ORDER << 1))


def page_write_keys(r, w, pfn):
    """Append the keys of a write of the struct page of ``pfn`` to ``r``
    (the block key) and ``w`` (the page, the block's summary write)."""
    b = pfn >> BLOCK_ORDER << 1
    w.append((pfn << 1) | 1)
    w.append(_SUMW + b)
    if r is not None:
        r.append(BLOCK_BASE + b)


def pfns_read_keys(r, start, end):
    """Append the keys of a read of every struct page in [start, end) to
    ``r``: the scan key of each whole block, the pages of a partial one."""
    if end <= start:
        return
    lo = -(-start >> BLOCK_ORDER)         # the first whole block
    hi = end >> BLOCK_ORDER               # past the last one
    if lo >= hi:
        _pages_read(r, start, end)
        return
    a = lo << BLOCK_ORDER
    if start < a:
        _pages_read(r, start, a)
    r.extend(range(_SCAN + (lo << 1), _SCAN + (hi << 1), 2))
    a = hi << BLOCK_ORDER
    if a < end:
        _pages_read(r, a, end)


def pfns_write_keys(r, w, start, end):
    """Append the keys of a write of every struct page in [start, end) to
    ``r`` and ``w``: the block key, the scan key and the summary write of
    each whole block, the pages of a partial one."""
    if end <= start:
        return
    lo = -(-start >> BLOCK_ORDER)
    hi = end >> BLOCK_ORDER
    if lo >= hi:
        _pages_write(r, w, start, end)
        return
    a = lo << BLOCK_ORDER
    if start < a:
        _pages_write(r, w, start, a)
    w.extend(range(BLOCK_BASE + (lo << 1), BLOCK_BASE + (hi << 1), 2))
    w.extend(range(_SUMW + (lo << 1), _SUMW + (hi << 1), 2))
    r.extend(range(_SCAN + (lo << 1), _SCAN + (hi << 1), 2))
    a = hi << BLOCK_ORDER
    if a < end:
        _pages_write(r, w, a, end)


def _blocks(start, end):
    """(first, past the last) block number << 1 of the pfns [start, end)."""
    return start >> BLOCK_ORDER << 1, ((end - 1) >> BLOCK_ORDER << 1) + 2


def _pages_read(r, start, end):
    r.extend(range((start << 1) | 1, (end << 1) | 1, 2))
    b0, b1 = _blocks(start, end)
    r.extend(range(BLOCK_BASE + b0, BLOCK_BASE + b1, 2))


def _pages_write(r, w, start, end):
    w.extend(range((start << 1) | 1, (end << 1) | 1, 2))
    b0, b1 = _blocks(start, end)
    w.extend(range(_SUMW + b0, _SUMW + b1, 2))
    r.extend(range(BLOCK_BASE + b0, BLOCK_BASE + b1, 2))


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
    steps conflict with everything.

    ``pw``: the ordinary writes; ``sw``: the scan keys of the summary
    writes (``writes`` holds both), set by :meth:`split` when first needed
    (``pw`` is None until then: most steps of a run are a replayed prefix,
    never analysed again).  A summary write conflicts with the reads of its
    scan key only; nothing writes a scan key or reads a summary write (the
    footprint checker rejects such a declaration)."""

    __slots__ = ("tid", "reads", "writes", "opaque", "acquires", "woke", "pw", "sw")

    def __init__(self, tid, reads, writes, opaque=False, acquires=None, woke=()):
        self.tid = tid
        self.writes = writes
        self.reads = reads
        self.opaque = opaque
        self.acquires = acquires      # key of a spinlock this step acquired
        self.woke = woke              # tids this step woke (enabled)
        self.pw = None
        self.sw = _NONE

    def split(self):
        """Set (and return) ``pw``, and ``sw``."""
        w = self.writes
        if w and max(w) >= SUMMARY:
            sw = [k for k in w if k >= SUMMARY]
            self.sw = frozenset([k - SUMMARY for k in sw])
            self.pw = w.difference(sw)
        else:
            self.pw = w
        return self.pw

    def conflicts(self, other):
        """Dependent (different tasks assumed by the caller)."""
        if self.opaque or other.opaque:
            return True
        w = self.pw
        if w is None:
            w = self.split()
        ow = other.pw
        if ow is None:
            ow = other.split()
        if w and (not w.isdisjoint(ow) or not w.isdisjoint(other.reads)):
            return True
        if ow and not ow.isdisjoint(self.reads):
            return True
        if self.sw and not self.sw.isdisjoint(other.reads):
            return True
        return bool(other.sw) and not other.sw.isdisjoint(self.reads)

    def __repr__(self):
        if self.opaque:
            return f"<event t{self.tid} opaque>"
        return f"<event t{self.tid} r{sorted(self.reads)} w{sorted(self.writes)}>"


_NONE = frozenset()
