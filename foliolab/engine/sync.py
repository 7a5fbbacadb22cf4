"""Kernel synchronisation primitives, written so model code reads like C.

Steps (use ``yield from``): every operation another CPU can observe or that
can switch tasks -- lock acquire/release, atomic read-modify-write,
preempt_enable, sleeping.  Plain functions: operations that are invisible to
other CPUs (preempt_disable, local_lock acquire, atomic_read).

Most steps are generators.  The hottest one-step primitives (spin_unlock,
spin_unlock_irq, atomic_inc, atomic_dec) are plain functions instead: they
do their work when called and return their label as a 1-tuple, which
``yield from`` yields at once -- the same step as the generator's (whose
body ran to its only yield when ``yield from`` started it), without a
generator per call.

Spinlocks announce themselves: ``spin_lock()`` ends the current step with the
task wanting the lock (``Task.want``); the machine does not run the task
again until the lock is free, and the acquisition happens at the start of
its next step.  The yield before the acquisition is the point at which the
lockless actions before it become visible to other CPUs (a TestClearPageLRU
right before taking the lruvec lock); a contended lock costs no steps.

Footprints (engine/footprint.py): every primitive declares the key of the
object it reads or writes, so a systematic search knows which steps commute.

Lockdep: every lock has a class name (``"&lruvec->lru_lock"``).  Acquiring a
lock records the order against every lock the task holds; an order cycle, a
recursive acquisition, or a release by a task that does not hold the lock
raises :class:`~foliolab.engine.oracles.LockdepSplat`.
"""

from __future__ import annotations

from . import lkmm as _lkmm
from .footprint import touch_read, touch_write
from .machine import SCHED_ALWAYS, SCHED_VOLUNTARY
from .memory import locked_op
from .oracles import KernelBug, LockdepSplat


# ------------------------------------------------------------------ lockdep
class _Lock:
    __slots__ = ("m", "name", "cls", "owner", "waiters", "fpk", "lkmm_mv")

    def __init__(self, m, name, cls=None):
        self.m = m
        self.lkmm_mv = None           # lkmm: the view the last unlock released
        self.name = name
        self.cls = cls or name
        self.owner = None
        self.waiters = []
        self.fpk = m.new_key()

    def __repr__(self):
        return f"{type(self).__name__}({self.name})"


def _lockdep_acquire(m, t, lock):
    _lockdep_check(m, t, lock)
    t.held.append(lock)


def _lockdep_check(m, t, lock):
    """lock_acquire(): checked before spinning or sleeping, as lockdep does."""
    for h in t.held:
        if h is lock:
            raise LockdepSplat(
                f"WARNING: possible recursive locking detected: {t.name}/{t.pid} "
                f"is trying to acquire {lock.cls} ({lock.name}) but already holds it; "
                f"*** DEADLOCK ***")
    deps = m.lock_deps
    for h in t.held:
        a, b = h.cls, lock.cls
        if a == b:
            continue
        out = deps.setdefault(a, {})
        if b not in out:
            out[b] = f"{t.name} ({_chain_text(m, t)})"
            path = _lockdep_path(deps, b, a)
            if path is not None:
                chain = " -> ".join(path + [b])
                # both chains: each edge of the existing one with the task
                # (and the functions) that established it, then the new one
                existing = "; ".join(f"{x} -> {y} by {deps[x][y]}"
                                     for x, y in zip(path, path[1:]))
                raise LockdepSplat(
                    "WARNING: possible circular locking dependency detected: "
                    f"{t.name}/{t.pid} acquires {b} while holding {a}; "
                    f"existing dependency chain: {chain}; "
                    f"the existing chain: {existing}; "
                    f"the new dependency: {a} -> {b} by {out[b]}; "
                    f"possible unsafe locking scenario: CPU0 lock({a}), CPU1 lock({b}), "
                    f"CPU1 lock({a}), CPU0 lock({b}); *** DEADLOCK ***")


def _chain_text(m, t):
    """lockdep's stack trace of an acquisition: the model functions on the
    Python stack, innermost first (engine frames skipped, the explorer's
    frames end it), as "f < caller < its caller"."""
    import sys
    names = []
    f = sys._getframe(2)
    while f is not None:
        fn = f.f_code.co_filename
        if _EXPLORE_DIR in fn or _MEASURE_DIR in fn:
            break
        if _ENGINE_DIR not in fn and not f.f_code.co_name.startswith("<"):
            names.append(f.f_code.co_name)
        f = f.f_back
    return " < ".join(names[:8]) or "no stack"


_ENGINE_DIR = __file__.rsplit("/", 1)[0] + "/"
_EXPLORE_DIR = __file__.rsplit("/", 2)[0] + "/explore/"
_MEASURE_DIR = __file__.rsplit("/", 2)[0] + "/measure/"


def _lockdep_path(deps, src, dst):
    """A path src -> ... -> dst in the lock-order graph, or None."""
    stack = [(src, [src])]
    seen = {src}
    while stack:
        node, path = stack.pop()
        if node == dst:
            return path
        for nxt in deps.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return None


def _lockdep_release(m, t, lock):
    held = t.held
    for i in range(len(held) - 1, -1, -1):
        if held[i] is lock:
            del held[i]
            return
    raise LockdepSplat(
        f"WARNING: bad unlock balance detected: {t.name}/{t.pid} is trying to "
        f"release lock {lock.name} but there are no more locks to release")


def lockdep_assert_held(lock):
    t = lock.m.current
    if isinstance(lock, local_lock_t):
        owner = lock.owner[t.cpu]
    else:
        touch_read(lock.m, lock.fpk)
        owner = lock.owner
    if owner is not t:
        raise LockdepSplat(f"WARNING: lockdep_assert_held({lock.name}) failed in {t.name}")


# ------------------------------------------------------------------ preempt
def preempt_disable(m):
    m.current.preempt_count += 1


def preempt_enable(m):
    t = m.current
    if t.preempt_count <= 0:
        raise KernelBug(f"BUG: preempt count underflow in {t.name}")
    t.preempt_count -= 1
    yield "preempt_enable"


def local_irq_disable(m):
    m.current.irqs_off += 1


def local_irq_enable(m, label="local_irq_enable"):
    """``label``: what the step ending here did that other CPUs can see
    (a page committed to a pcp list ...), when that is more than the enable."""
    t = m.current
    t.irqs_off -= 1
    yield label


def relabel(gen, prefix):
    """Run the steps of ``gen`` (a primitive: spin_lock, mutex_unlock, ...)
    with ``prefix`` before the label of its first step: a step's label names
    what the step did that another CPU can observe, and the work done since
    the previous yield (a racy read, a skipped CPU) belongs to the step the
    primitive ends."""
    it = iter(gen)
    try:
        first = next(it)
    except StopIteration as e:
        return e.value
    yield prefix + first
    return (yield from it)


def cond_resched(m):
    """A scheduling point and an RCU quiescent state.  Under PREEMPT_FULL
    (CONFIG_PREEMPTION) cond_resched() compiles to nothing: every point is
    already a preemption point, so it is not a step there."""
    m.might_sleep(m.current, "cond_resched")
    if m.preempt_full:
        return
    m.current.sched_point = SCHED_ALWAYS
    yield "cond_resched"


def might_sleep_point(m, label):
    """might_sleep(): a voluntary preemption point, a step under
    PREEMPT_VOLUNTARY only (elsewhere it is a debug check)."""
    t = m.current
    m.might_sleep(t, label)
    if not m.preempt_voluntary:
        return
    t.sched_point = SCHED_VOLUNTARY
    yield label


# ---------------------------------------------------------------- local_lock
class local_lock_t(_Lock):
    """A per-CPU local_lock (!PREEMPT_RT: preempt_disable + lockdep)."""

    def __init__(self, m, name):
        super().__init__(m, name)
        self.owner = [None] * m.ncpus
        # one key per CPU: only oracles look at another CPU's owner
        self.fpk = m.new_key(m.ncpus)

    def cpu_key(self, cpu):
        return self.fpk + 2 * cpu


def local_lock(ll):
    t = ll.m.current
    t.preempt_count += 1
    ll.owner[t.cpu] = t
    t.held.append(ll)
    touch_write(ll.m, ll.fpk + 2 * t.cpu)


def local_unlock(ll):
    t = ll.m.current
    ll.owner[t.cpu] = None
    _lockdep_release(ll.m, t, ll)
    t.preempt_count -= 1
    touch_write(ll.m, ll.fpk + 2 * t.cpu)
    yield f"local_unlock({ll.name})"


def local_lock_irqsave(ll):
    t = ll.m.current
    t.irqs_off += 1
    ll.owner[t.cpu] = t
    t.held.append(ll)
    touch_write(ll.m, ll.fpk + 2 * t.cpu)


def local_unlock_irqrestore(ll):
    t = ll.m.current
    ll.owner[t.cpu] = None
    _lockdep_release(ll.m, t, ll)
    t.irqs_off -= 1
    touch_write(ll.m, ll.fpk + 2 * t.cpu)
    yield f"local_unlock_irqrestore({ll.name})"


# ----------------------------------------------------------------- spinlock
class spinlock_t(_Lock):
    __slots__ = ("lbl_lock", "lbl_lock_irq", "step_unlock", "step_unlock_irq")

    def __init__(self, m, name, cls=None):
        super().__init__(m, name, cls)
        # the labels of its steps, formatted once (a lock is hot); the
        # unlocks' as the 1-tuples they return
        self.lbl_lock = f"spin_lock({name})"
        self.lbl_lock_irq = f"spin_lock_irq({name})"
        self.step_unlock = (f"spin_unlock({name})",)
        self.step_unlock_irq = (f"spin_unlock_irq({name})",)


def spin_lock(lock, label=None):
    """Announce the lock, end the step; take it at the start of the next.

    The announcement is the interleaving point after what the step did
    before the lock (a lockless test_and_clear of PG_lru right before taking
    the lruvec lock is visible to other CPUs from then on): model code relies
    on it.  While the lock is held the task spins (not enabled, keeping its
    CPU) without taking steps.  ``label``: the announcement's, when it is
    not spin_lock()'s own (spin_lock_irq)."""
    m = lock.m
    t = m.current
    t.preempt_count += 1
    if t.held:
        _lockdep_check(m, t, lock)
    t.want = lock
    waiters = lock.waiters
    waiters.append(t)
    yield label or lock.lbl_lock
    # the machine resumes us only once the lock is free
    waiters.remove(t)
    t.want = None
    if m.tso and m.cpus[t.cpu].sb:
        m.drain_store_buffer(t.cpu)       # a locked instruction
    lock.owner = t
    if m.lkmm:
        _lkmm.lock_acquired(m, lock)      # an acquire
    t.held.append(lock)
    w = m.fpw
    if w is not None:
        w.append(lock.fpk)
        m.fp_acquired = lock.fpk
    if waiters:
        m._dirty.extend(waiters)          # they spin again (Machine.lock_changed, inline)


def _spin_wrong_owner(lock, t):
    raise LockdepSplat(
        f"BUG: spinlock wrong owner on CPU#{t.cpu}, {t.name}/{t.pid}: {lock.name}")


# The release is written out in both unlocks (no helper call: the hottest
# path of the model).  Each returns its step (see the top of this file).
def spin_unlock(lock):
    m = lock.m
    t = m.current
    if lock.owner is not t:
        _spin_wrong_owner(lock, t)
    lock.owner = None
    held = t.held
    if held and held[-1] is lock:
        held.pop()
    else:
        _lockdep_release(m, t, lock)
    if m.fpw is not None:
        m.fpw.append(lock.fpk)
    if m.lkmm:
        _lkmm.lock_released(m, lock)      # a release
    if lock.waiters:
        m._dirty.extend(lock.waiters)     # one of them may take it now (lock_changed)
    t.preempt_count -= 1
    return lock.step_unlock


# spin_lock_irq() hands over spin_lock()'s generator (one generator per
# acquisition); ``yield from`` starts it at once, so both counts are raised
# in the step that announces the lock.
def spin_lock_irq(lock):
    lock.m.current.irqs_off += 1
    return spin_lock(lock, lock.lbl_lock_irq)


def spin_unlock_irq(lock):
    m = lock.m
    t = m.current
    if lock.owner is not t:
        _spin_wrong_owner(lock, t)
    lock.owner = None
    held = t.held
    if held and held[-1] is lock:
        held.pop()
    else:
        _lockdep_release(m, t, lock)
    if m.fpw is not None:
        m.fpw.append(lock.fpk)
    if m.lkmm:
        _lkmm.lock_released(m, lock)      # a release
    if lock.waiters:
        m._dirty.extend(lock.waiters)     # one of them may take it now (lock_changed)
    t.preempt_count -= 1
    t.irqs_off -= 1
    return lock.step_unlock_irq


spin_lock_irqsave = spin_lock_irq
spin_unlock_irqrestore = spin_unlock_irq


def spin_trylock(lock):
    """Returns True when taken; one step either way."""
    t = lock.m.current
    if lock.owner is None:
        t.preempt_count += 1
        locked_op(lock.m)
        lock.owner = t
        _lockdep_acquire(lock.m, t, lock)
        touch_write(lock.m, lock.fpk)
        if lock.waiters:
            lock.m.lock_changed(lock.waiters)
        yield f"spin_trylock({lock.name}) ok"
        return True
    touch_read(lock.m, lock.fpk)
    yield f"spin_trylock({lock.name}) busy"
    return False


# -------------------------------------------------------------------- mutex
class mutex(_Lock):
    pass


def mutex_lock(mtx):
    m = mtx.m
    t = m.current
    yield from might_sleep_point(m, f"mutex_lock({mtx.name}): might_sleep")
    _lockdep_check(m, t, mtx)
    while mtx.owner is not None:
        touch_write(m, mtx.fpk)
        mtx.waiters.append(t)
        m.block(t, mtx)
        yield f"mutex_lock({mtx.name}) sleeps, held by {mtx.owner.name}"
    locked_op(m)
    mtx.owner = t
    t.held.append(mtx)
    touch_write(m, mtx.fpk)
    yield f"mutex_lock({mtx.name})"


def mutex_unlock(mtx):
    m = mtx.m
    t = m.current
    if mtx.owner is not t:
        raise LockdepSplat(f"DEBUG_LOCKS_WARN_ON(owner != current): {mtx.name} by {t.name}")
    locked_op(m)
    mtx.owner = None
    _lockdep_release(m, t, mtx)
    touch_write(m, mtx.fpk)
    if mtx.waiters:
        m.wake(mtx.waiters.pop(0))
    yield f"mutex_unlock({mtx.name})"


# ------------------------------------------------------------------- atomic
class atomic_t:
    """atomic_t: RMW operations are locked instructions (full barriers)."""

    __slots__ = ("m", "name", "counter", "fpk", "lbl_inc", "lbl_dec")

    def __init__(self, m, name, value=0):
        self.m = m
        self.name = name
        self.counter = value
        self.fpk = m.new_key()
        # the labels of atomic_inc() and atomic_dec() up to the value,
        # formatted once (a counter is hot)
        self.lbl_inc = f"atomic_inc({name}) -> "
        self.lbl_dec = f"atomic_dec({name}) -> "

    def __repr__(self):
        return f"atomic_t({self.name}={self.counter})"


def atomic_read(a):
    r = a.m.fpr
    if r is not None:
        r.append(a.fpk)
    return a.counter


def atomic_set(a, v):
    touch_write(a.m, a.fpk)
    a.counter = v


def _atomic_rmw(a):
    """A locked read-modify-write: drains the store buffer (x86 LOCK prefix)."""
    m = a.m
    if m.tso:
        locked_op(m)
    w = m.fpw
    if w is not None:
        w.append(a.fpk)


# atomic_inc() and atomic_dec() return their step (see the top of this file).
def atomic_inc(a):
    m = a.m
    if m.tso or m.fpw is not None:    # else _atomic_rmw() has nothing to do
        _atomic_rmw(a)
    a.counter += 1
    return (f"{a.lbl_inc}{a.counter}",)


def atomic_dec(a):
    m = a.m
    if m.tso or m.fpw is not None:
        _atomic_rmw(a)
    a.counter -= 1
    return (f"{a.lbl_dec}{a.counter}",)


def atomic_inc_return(a):
    _atomic_rmw(a)
    if a.m.lkmm:
        locked_op(a.m)                # value-returning: fully ordered
    a.counter += 1
    v = a.counter                     # the value of the RMW, not a later read
    yield f"atomic_inc_return({a.name}) -> {v}"
    return v


def atomic_dec_return(a):
    _atomic_rmw(a)
    if a.m.lkmm:
        locked_op(a.m)
    a.counter -= 1
    v = a.counter
    yield f"atomic_dec_return({a.name}) -> {v}"
    return v


def atomic_inc_not_zero(a):
    _atomic_rmw(a)
    if a.m.lkmm:
        locked_op(a.m)
    if a.counter == 0:
        yield f"atomic_inc_not_zero({a.name}) fails (0)"
        return False
    a.counter += 1
    yield f"atomic_inc_not_zero({a.name}) -> {a.counter}"
    return True


# -------------------------------------------------------------- wait queues
class wait_queue_head_t:
    __slots__ = ("m", "name", "waiters", "fpk")

    def __init__(self, m, name, fpk=None):
        self.m = m
        self.name = name
        self.waiters = []
        # a queue created on first use keys on what it belongs to (fpk)
        self.fpk = m.new_key() if fpk is None else fpk

    def __repr__(self):
        return f"waitqueue({self.name})"


def wait_event(wq, cond, label="wait_event"):
    """Sleep until ``cond()`` holds (checked after every wake-up).  ``cond``
    declares what it reads, as model code does."""
    m = wq.m
    t = m.current
    while not cond():
        touch_write(m, wq.fpk)
        wq.waiters.append(t)
        m.block(t, wq)
        yield f"{label}: sleeps on {wq.name}"


def wake_up(wq):
    m = wq.m
    touch_write(m, wq.fpk)
    for t in wq.waiters:
        m.wake(t)
    wq.waiters.clear()


class completion:
    __slots__ = ("m", "name", "done", "wait", "fpk")

    def __init__(self, m, name):
        self.m = m
        self.name = name
        self.done = 0
        self.wait = wait_queue_head_t(m, name)
        self.fpk = m.new_key()


def complete(c):
    touch_write(c.m, c.fpk)
    c.done += 1
    wake_up(c.wait)


def _completion_done(c):
    touch_read(c.m, c.fpk)
    return c.done > 0


def wait_for_completion(c):
    yield from wait_event(c.wait, lambda: _completion_done(c),
                          f"wait_for_completion({c.name})")
    touch_write(c.m, c.fpk)
    c.done -= 1
