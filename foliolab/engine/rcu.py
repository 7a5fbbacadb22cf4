"""RCU grace periods: synchronize_rcu() and synchronize_rcu_expedited().

Since v5.1 one flavour serves rcu, rcu_bh and rcu_sched: a preempt- or
irq-disabled region is a read-side critical section.  A grace period that
starts while CPU c is inside such a region (or inside rcu_read_lock) ends
only after c has passed a quiescent state:

* any context switch, idle, user mode, or cond_resched() (all models);
* under PREEMPT_FULL (preemptible RCU), any point outside a read-side section;
* for the expedited form, any point outside a read-side section (the IPI
  handler finds preemption enabled and reports at once), whatever the model.

Memory ordering: when synchronize_rcu() returns, every CPU has executed a
full memory barrier since the grace period began (the documented guarantee
of Documentation/RCU/Design/Memory-Ordering); the model drains a CPU's
store buffer when it reports its quiescent state (TSO), or pushes its copy
of memory to every CPU (LKMM, where synchronize_rcu() is also a full
barrier at both ends).

So the two forms close the same window; they differ in latency only (the
cost model of measure/ gives the normal one its milliseconds).
"""

from __future__ import annotations

from .footprint import RCU_KEY, rcu_cpu_key, rcu_view_key, touch_read, touch_write
from .machine import BLOCKED, DONE


class GracePeriod:
    __slots__ = ("pending", "expedited", "waiter", "done")

    def __init__(self, pending, expedited, waiter):
        self.pending = pending
        self.expedited = expedited
        self.waiter = waiter
        self.done = False

    def complete(self, m):
        self.done = True
        m.wake(self.waiter)

    def __repr__(self):
        cpus = [str(i) for i in range(64) if self.pending >> i & 1]
        kind = "expedited grace period" if self.expedited else "grace period"
        return f"{kind} (CPUs {','.join(cpus)} not yet quiescent)"


def rcu_read_lock(m):
    m.current.rcu_nesting += 1


def rcu_read_unlock(m):
    t = m.current
    t.rcu_nesting -= 1
    yield "rcu_read_unlock"


def _synchronize(m, expedited):
    t = m.current
    name = "synchronize_rcu_expedited" if expedited else "synchronize_rcu"
    m.might_sleep(t, name)
    pending = 0
    touch_write(m, RCU_KEY)
    # synchronize_rcu() starts with a full barrier (the updater's stores
    # before it are visible before any CPU is found quiescent: TSO drains
    # the store buffer, LKMM pushes the CPU's copy)
    m.full_barrier(t.cpu)
    for c in m.cpus:
        if c.id == t.cpu:
            continue                  # we are about to sleep: a context switch
        touch_write(m, rcu_view_key(c.id))  # what every other CPU is doing now
        cur = c.curr
        if cur is None or cur.state == BLOCKED or cur.state == DONE or cur.user:
            m.full_barrier(c.id)      # idle or in user mode: quiescent
            continue
        in_cs = cur.preempt_count or cur.irqs_off or cur.rcu_nesting
        if not in_cs and (expedited or m.preempt_full):
            m.full_barrier(c.id)      # the IPI / QS report is a full barrier
            continue
        pending |= 1 << c.id
        touch_write(m, rcu_cpu_key(c.id))
    if not pending:
        if m.lkmm:
            m.full_barrier(t.cpu)
        yield f"{name}: every CPU already quiescent"
        return
    gp = GracePeriod(pending, expedited, t)
    m.rcu_gps.append(gp)
    while not gp.done:
        m.block(t, gp)
        yield f"{name}: waits for {gp}"
        touch_read(m, RCU_KEY)
    if m.lkmm:
        m.full_barrier(t.cpu)         # ... and ends with one


def synchronize_rcu(m):
    yield from _synchronize(m, False)


def synchronize_rcu_expedited(m):
    yield from _synchronize(m, True)
