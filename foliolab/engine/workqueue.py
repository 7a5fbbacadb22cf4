"""Workqueues: per-CPU worker pools, queue_work_on() and flush_work().

Models kernel/workqueue.c for bound (per-CPU) workqueues such as
mm_percpu_wq: every CPU has one worker pool served by one kworker task that is
pinned to the CPU and runs as SCHED_NORMAL.  A work item therefore runs only
when its CPU schedules the kworker: a SCHED_FIFO busy loop on that CPU starves
it forever, and flush_work() on it never returns (the hang of ff042f4a9b05).
"""

from __future__ import annotations

from .footprint import pool_key, touch_read, touch_write
from .memory import locked_op
from .oracles import ObjectDebug


class work_struct:
    __slots__ = ("m", "name", "func", "pending", "running", "cpu",
                 "queued_seq", "done_seq", "waiters", "fpk")

    def __init__(self, m, name, func=None):
        self.m = m
        self.name = name
        self.func = func
        self.pending = False
        self.running = False
        self.cpu = None
        self.queued_seq = 0
        self.done_seq = 0
        self.waiters = []
        self.fpk = m.new_key()

    def __repr__(self):
        return f"work({self.name})"


class workqueue_struct:
    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name


class worker_pool:
    __slots__ = ("cpu", "worklist", "worker", "fpk")

    def __init__(self, cpu):
        self.cpu = cpu
        self.worklist = []
        self.worker = None
        self.fpk = pool_key(cpu)     # pools exist from boot: a fixed key

    def __repr__(self):
        return f"worker_pool/{self.cpu}"


def workqueue_init(m):
    """Create the per-CPU pools and their kworkers (idle until work arrives)."""
    if m.workqueues_ready:
        return
    m.workqueues_ready = True
    for cpu in range(m.ncpus):
        pool = worker_pool(cpu)
        t = m.spawn(f"kworker/{cpu}", cpu, worker_thread(m, pool), daemon=True)
        t.state = 1            # BLOCKED: idle until the first queue_work_on()
        t.idle = True
        t.wait = pool
        pool.worker = t
        m.worker_pools.append(pool)
        m.kworkers.append(t)


def _func_name(func):
    return getattr(getattr(func, "func", func), "__name__", repr(func))


def INIT_WORK(work, func):
    """CONFIG_DEBUG_OBJECTS_WORK: re-initialising a queued or running work
    item corrupts the pool's list."""
    touch_write(work.m, work.fpk)
    if work.pending or work.running:
        raise ObjectDebug(
            f"ODEBUG: init active (active state 0) object type: work_struct "
            f"hint: {_func_name(work.func)} ({work.name})")
    work.func = func


def queue_work_on(cpu, wq, work):
    """Returns False if the work was already pending (test_and_set_bit)."""
    m = work.m
    if not m.workqueues_ready:
        workqueue_init(m)
    locked_op(m)
    touch_write(m, work.fpk)
    if work.pending:
        yield f"queue_work_on({cpu}, {wq.name}, {work.name}): already pending"
        return False
    work.pending = True
    work.cpu = cpu
    work.queued_seq += 1
    pool = m.worker_pools[cpu]
    touch_write(m, pool.fpk)
    pool.worklist.append(work)
    m.wake(pool.worker)
    yield f"queue_work_on({cpu}, {wq.name}, {work.name})"
    return True


def flush_work(work):
    """Wait until the last queued execution of ``work`` has finished.
    Returns False if it was idle (nothing to wait for)."""
    m = work.m
    t = m.current
    m.might_sleep(t, f"flush_work({work.name})")
    touch_read(m, work.fpk)
    if not work.pending and not work.running:
        yield f"flush_work({work.name}): idle"
        return False
    target = work.queued_seq
    while work.done_seq < target:
        touch_write(m, work.fpk)
        work.waiters.append(t)
        m.block(t, work)
        yield f"flush_work({work.name}): waits for kworker/{work.cpu}"
        touch_read(m, work.fpk)
    return True


def worker_thread(m, pool):
    """kworker/N: process the pool's work items in order; sleep when none
    is left (in the same step as finishing the last one)."""
    while True:
        touch_write(m, pool.fpk)
        if not pool.worklist:
            m.block(m.current, pool, idle=True)
            yield "worker_thread: idle"
            continue
        work = pool.worklist.pop(0)
        touch_write(m, work.fpk)
        seq = work.queued_seq
        work.pending = False
        work.running = True
        yield f"process_one_work({work.name})"
        touch_read(m, work.fpk)
        yield from work.func(work)
        touch_write(m, work.fpk)
        work.running = False
        work.done_seq = seq
        for w in work.waiters:
            m.wake(w)
        work.waiters.clear()
        touch_write(m, pool.fpk)
        if pool.worklist:
            yield f"process_one_work({work.name}) done"
        else:
            m.block(m.current, pool, idle=True)
            yield f"process_one_work({work.name}) done, worker idle"
