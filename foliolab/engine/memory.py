"""Shared memory locations and the memory model.

Under ``sc`` every store is visible at once.  Under ``tso`` (x86-TSO) a plain
store (``WRITE_ONCE``, a non-atomic ``x = v`` on shared data) waits in the
storing CPU's store buffer; the CPU itself reads its own buffered value
(store forwarding), other CPUs read memory.  Locked read-modify-write
operations, ``smp_mb()`` and context switches drain the buffer; otherwise the
``sb/N`` pseudo-task of the CPU makes the oldest store visible when the
explorer schedules it.  Only locations that a barrier argument depends on are
declared :class:`Shared`; everything else is sequentially consistent.

``smp_load_acquire``/``smp_store_release`` are plain accesses on TSO (x86
orders loads with loads and stores with stores); the model therefore cannot
show a bug that needs a weaker architecture (arm64 load-load reordering).
Under ``lkmm`` (:mod:`~foliolab.engine.lkmm`) every access and barrier here
goes to the Linux-kernel memory model, which can.
"""

from __future__ import annotations

from . import lkmm as _lkmm
from .footprint import sb_entry_key


class Shared:
    """A shared word whose plain stores go through the memory model."""

    __slots__ = ("m", "v", "name", "fpk", "co", "seen", "props", "init")

    def __init__(self, m, name, value=0, readers=None):
        self.m = m
        self.name = name
        self.v = value
        self.init = value
        self.fpk = m.new_key()
        if m.lkmm:
            # readers: the CPUs that may load it (LKMM: which CPUs its
            # stores propagate to on their own; None: all)
            _lkmm.register(m, self, value, readers)

    def __repr__(self):
        return f"<Shared {self.name}={self.v}>"


def _log(m, op, var=None, value=None):
    """``foliolab replay --litmus``: the accesses and barriers of the run
    (m.mem_log, None unless asked for)."""
    t = m.current
    if t is not None:
        m.mem_log.append((t.tid, op, var, value))


def READ_ONCE(var: Shared):
    """Load as seen by the current CPU (its own buffered store first)."""
    m = var.m
    if m.mem_log is not None:
        v = _read_once(var)
        _log(m, "READ_ONCE", var, v)
        return v
    return _read_once(var)


def _read_once(var):
    m = var.m
    if m.lkmm:
        return _lkmm.load(var)
    r = m.fpr
    if m.tso:
        t = m.current
        if t is not None:
            c = m.cpus[t.cpu]
            if r is not None:
                # whether this CPU has a store to var buffered
                r.append(sb_entry_key(c.id, var.fpk))
            sb = c.sb
            if sb:
                for i in range(len(sb) - 1, -1, -1):
                    if sb[i][0] is var:
                        # forwarded: memory is not read, so a commit (its
                        # own or another CPU's) does not change the result
                        return sb[i][1]
    if r is not None:
        r.append(var.fpk)
    if m.mem_notes is not None and m.tso:
        _note_stale_load(m, var)
    return var.v


def _note_stale_load(m, var):
    """For the table: a load from memory while another CPU still buffers a
    store to the same word -- the value read is stale."""
    t = m.current
    for c in m.cpus:
        if t is not None and c.id == t.cpu:
            continue
        held = [v for x, v in c.sb if x is var]
        if held:
            m.mem_notes.append(f"load {var.name} = {var.v} from memory: stale, "
                               f"cpu{c.id}'s store buffer holds {held[-1]}")


def READ_REMOTE(var: Shared):
    """What memory holds (a load by a CPU with no buffered store to var)."""
    return var.v


def WRITE_ONCE(var: Shared, value) -> None:
    m = var.m
    if m.current is None:
        var.init = value              # setup: the initial state
    if m.mem_log is not None:
        _log(m, "WRITE_ONCE", var, value)
    if m.lkmm:
        _lkmm.store(var, value)
        return
    w = m.fpw
    if m.tso and m.current is not None:
        c = m.cpus[m.current.cpu]
        if w is not None:
            w.append(c.sbkey)
            w.append(sb_entry_key(c.id, var.fpk))
        c.sb.append((var, value))
        if m.mem_notes is not None:
            m.mem_notes.append(f"store {var.name} = {value} buffered "
                               f"(cpu{c.id}'s store buffer; memory holds {var.v})")
    else:
        if w is not None:
            w.append(var.fpk)
        var.v = value


def smp_load_acquire(var: Shared):
    """A plain load on TSO; under LKMM later stores carry what it read."""
    m = var.m
    if m.lkmm:
        v = _lkmm.load(var)
        c = m.current
        if c is not None:
            msg = var.co[var.seen[c.cpu]]
            if msg.mv:
                m.lkmm_cpu[c.cpu].acquire(m, c.cpu, msg.mv)
    else:
        v = _read_once(var)
    if m.mem_log is not None:
        _log(m, "smp_load_acquire", var, v)
    return v


def smp_store_release(var: Shared, value) -> None:
    """A plain store on TSO; under LKMM the store carries everything its
    CPU has seen (A-cumulative)."""
    m = var.m
    if m.mem_log is not None:
        _log(m, "smp_store_release", var, value)
    if m.lkmm:
        _lkmm.store(var, value, release=True)
        return
    log, m.mem_log = m.mem_log, None
    WRITE_ONCE(var, value)
    m.mem_log = log


def smp_mb(m) -> None:
    """Full barrier: drain the current CPU's store buffer (TSO); push the
    CPU's copy of memory to every CPU (LKMM)."""
    if m.current is None:
        return
    if m.mem_log is not None:
        _log(m, "smp_mb")
    if m.tso or m.lkmm:
        m.full_barrier(m.current.cpu)


def smp_wmb(m) -> None:
    """Store-store barrier: nothing on TSO (x86 keeps stores in order)."""
    if m.mem_log is not None:
        _log(m, "smp_wmb")
    if m.lkmm:
        _lkmm.smp_wmb(m)


def smp_rmb(m) -> None:
    """Load-load barrier: nothing on TSO; under LKMM the model's loads are
    already in program order (engine/lkmm.py)."""
    if m.mem_log is not None:
        _log(m, "smp_rmb")


# the model makes these full barriers (LKMM: strong fences)
smp_mb__before_atomic = smp_mb
smp_mb__after_atomic = smp_mb
smp_mb__after_spinlock = smp_mb


def shared_rmw(var: Shared, fn, *, full=True):
    """An atomic read-modify-write of a Shared word (xchg, cmpxchg,
    atomic_*_return on a word the memory model covers): ``fn(old)`` gives
    the new value or None (no store).  Value-returning RMWs are fully
    ordered (``full``); void ones (atomic_inc) are relaxed.  Returns the old
    value."""
    m = var.m
    if m.mem_log is not None:
        _log(m, "rmw" if full else "rmw_relaxed", var, None)
    if m.lkmm:
        return _lkmm.rmw(var, fn, full=full)
    locked_op(m)                      # x86: a LOCK-prefixed instruction
    r = m.fpr
    if r is not None:
        r.append(var.fpk)
    old = var.v
    new = fn(old)
    if new is not None:
        w = m.fpw
        if w is not None:
            w.append(var.fpk)
        var.v = new
    return old


def locked_op(m) -> None:
    """A locked RMW instruction (atomic_inc, test_and_set_bit, cmpxchg...)
    drains the store buffer on x86 before it executes."""
    if m.mem_log is not None and (m.tso or m.lkmm):
        _log(m, "smp_mb")             # as strong as one here
    if m.tso and m.current is not None:
        c = m.cpus[m.current.cpu]
        if c.sb:
            m.drain_store_buffer(c.id)
    elif m.lkmm and m.current is not None:
        _lkmm.smp_mb(m)
