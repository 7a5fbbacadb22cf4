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
"""

from __future__ import annotations

from .footprint import sb_entry_key


class Shared:
    """A shared word whose plain stores go through the memory model."""

    __slots__ = ("m", "v", "name", "fpk")

    def __init__(self, m, name, value=0):
        self.m = m
        self.name = name
        self.v = value
        self.fpk = m.new_key()

    def __repr__(self):
        return f"<Shared {self.name}={self.v}>"


def READ_ONCE(var: Shared):
    """Load as seen by the current CPU (its own buffered store first)."""
    m = var.m
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


smp_load_acquire = READ_ONCE
smp_store_release = WRITE_ONCE


def smp_mb(m) -> None:
    """Full barrier: drain the current CPU's store buffer."""
    if m.tso and m.current is not None:
        m.full_barrier(m.current.cpu)


def locked_op(m) -> None:
    """A locked RMW instruction (atomic_inc, test_and_set_bit, cmpxchg...)
    drains the store buffer on x86 before it executes."""
    if m.tso and m.current is not None:
        c = m.cpus[m.current.cpu]
        if c.sb:
            m.drain_store_buffer(c.id)
