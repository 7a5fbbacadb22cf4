"""The Linux-kernel memory model (LKMM, tools/memory-model/, v4.17+) as an
operational model: ``memory_model=lkmm``.

A propagation model in the style of the POWER/ARMv7 storage subsystem
(non-multicopy-atomic), run by the same scheduler and explorer as SC and TSO:

* **Coherence order.**  Every :class:`~foliolab.engine.memory.Shared` word
  keeps its stores in coherence order (``co``: a list of messages, the
  initial value first).  A store takes the next place when it executes;
  ``var.v`` is always the newest value (what an RMW and the final state see).
* **Per-CPU copies.**  Every CPU sees a prefix of each word's ``co``
  (``var.seen[cpu]``, an index).  A load returns the message at that index:
  it may be stale.  The storing CPU sees its own store at once.
* **Propagation.**  For every word and CPU a pseudo-task ``prop/N:word``
  (a daemon, like TSO's ``sb/N``) moves that CPU's copy of the word one
  store forward.  The explorer chooses when, as it chooses any task: reads-
  from choices are schedule choices, so random walk, PCT, DFS and the
  partial-order reduction cover them and a trace replays them exactly.
  Different words reach a CPU in any order (store-store and load-load
  reordering as another CPU sees it), different CPUs see stores at
  different times (IRIW, WRC: LKMM is not multicopy atomic).
* **Cumulativity.**  A message carries a view (``mv``: word -> index) that
  must reach a CPU with it: the CPU's whole copy for a release
  (smp_store_release, spin_unlock: A-cumulative), the CPU's own stores
  before an smp_wmb(), what an acquire (smp_load_acquire, spin_lock, a
  value-returning RMW) read for stores after it, and for stores after a
  spin_lock() what the unlock it read from carried (po-unlock-lock-po).
* **Full barriers.**  smp_mb(), smp_mb__before/after_atomic(),
  smp_mb__after_spinlock(), value-returning atomics, a context switch, an
  RCU quiescent state and both ends of synchronize_rcu() push the CPU's
  whole copy to every CPU before the next access (strong fence:
  A-cumulative, and it orders the SB/R/IRIW patterns).
* **RMW atomicity.**  An atomic RMW reads the newest value (``co[-1]``) and
  stores right after it in one step.
* **Grace periods.**  synchronize_rcu() waits for every CPU's read-side
  critical section (engine/rcu.py) and is a full barrier at both ends; a
  quiescent state is a full barrier on its CPU: a reader that started after
  the grace period sees every store before it, a reader that was running
  ends before the stores after it.

Approximations (each makes the model *stronger* than LKMM, never weaker,
so an outcome it shows is one LKMM allows; an outcome LKMM allows may be
missing):

* loads of one CPU execute in program order against its copy; load-load
  reordering shows only as stores reaching the CPU out of order;
* a store never overtakes an earlier load of its CPU (no load buffering)
  and stores take their coherence place in program order (no S or 2+2W
  shapes).  The litmus runner (foliolab/litmus/) adds these reorderings by
  running each program order LKMM's preserved program order allows;
* full barriers push the CPU's whole copy (not only what it observed);
  smp_rmb() and smp_load_acquire() order nothing more than program order
  already does; mutex_lock/unlock, spin_trylock and locked bit operations
  are full barriers; address, data and control dependencies are respected
  because nothing is reordered in model code;
* ``atomic_t`` counters (engine/sync.py) and everything that is not a
  ``Shared`` word stay sequentially consistent: only the words a barrier
  argument depends on are weak (as under TSO).
"""

from __future__ import annotations

from .footprint import touch_read, touch_write


def copy_key(cpu, fpk):
    """CPU ``cpu``'s copy of the word with key ``fpk``."""
    return -(1 << 40) - (fpk << 6) - cpu


def vc_key(cpu):
    """What CPU ``cpu``'s later stores carry (:class:`CpuState`)."""
    return copy_key(cpu, -1)


class Message:
    """One store in a word's coherence order: its value and the view that
    must reach a CPU with it (None: nothing)."""

    __slots__ = ("value", "mv", "cpu")

    def __init__(self, value, mv=None, cpu=-1):
        self.value = value
        self.mv = mv
        self.cpu = cpu

    def __repr__(self):
        return f"<msg {self.value} from cpu{self.cpu}>"


class Propagate:
    """The pseudo-task that brings CPU ``cpu``'s copy of ``var`` one store
    forward."""

    __slots__ = ("m", "var", "cpu", "task")

    def __init__(self, m, var, cpu):
        self.m = m
        self.var = var
        self.cpu = cpu
        self.task = None

    def pending(self):
        var = self.var
        return var.seen[self.cpu] < len(var.co) - 1

    def step(self):
        m = self.m
        var = self.var
        d = self.cpu
        touch_read(m, var.fpk)
        touch_write(m, copy_key(d, var.fpk))
        i = var.seen[d] + 1
        var.seen[d] = i
        msg = var.co[i]
        mv = msg.mv
        if mv:
            for w, j in mv.items():
                touch_read(m, copy_key(d, w.fpk))
                _advance(m, w, d, j)
        return f"{var.name} = {msg.value} reaches cpu{d}"


def _dirty(m, var, cpu):
    """``var``'s propagation to ``cpu`` may have become (un)ready."""
    p = var.props.get(cpu)
    if p is not None:
        m._dirty.append(p.task)


def _advance(m, w, d, j):
    """CPU ``d``'s copy of ``w`` moves to index ``j`` (if behind) as part of
    another step: a barrier or a cumulative store brings it.  That may
    disable the word's own propagation to ``d`` (a pseudo-task that was
    enabled and never ran): the step reports the propagation's pending
    step (``m.fp_pending``) so that the reduction looks for the races that
    step would have had (the classic DPOR rule for a disabled transition);
    its own footprint writes the copy, which wakes the propagation in
    sleep sets."""
    if w.seen[d] >= j:
        return
    key = copy_key(d, w.fpk)
    p = w.props.get(d)
    if p is not None:
        pending = m.fp_pending
        if pending is not None and w.seen[d] < len(w.co) - 1:
            pending.append((p.task.tid, (w.fpk,), (key,)))
        m._dirty.append(p.task)
    w.seen[d] = j
    touch_write(m, key)


def register(m, var, value, readers=None):
    """A new Shared word under LKMM: its coherence order and one propagation
    pseudo-task per CPU that may load it (``readers``, default every CPU;
    tids in creation order: deterministic).  A CPU without one sees the
    word's stores only when a barrier or a cumulative store brings them (a
    propagation that never happens is one the hardware may delay: a subset
    of the behaviours, so still sound)."""
    var.co = [Message(value)]
    var.seen = [0] * m.ncpus
    var.props = {}
    for d in range(m.ncpus) if readers is None else sorted(readers):
        p = Propagate(m, var, d)
        var.props[d] = p
        p.task = m.add_mem_task(f"prop/{d}:{var.name}", d, p)
    m.lkmm_words.append(var)


def _cpu(m):
    t = m.current
    return None if t is None else t.cpu


def load(var):
    """READ_ONCE() and friends: this CPU's copy."""
    m = var.m
    c = _cpu(m)
    if c is None:
        return var.v
    touch_read(m, copy_key(c, var.fpk))
    return var.co[var.seen[c]].value


def store(var, value, release=False):
    """WRITE_ONCE() (and smp_store_release() with ``release``): the store
    takes its coherence place now and is seen by its own CPU; others see it
    when its propagation runs (or a barrier pushes it)."""
    m = var.m
    c = _cpu(m)
    if c is None:                     # initialisation, before any CPU runs
        var.co[-1] = Message(value)
        var.v = value
        return
    state = m.lkmm_cpu[c]
    touch_read(m, vc_key(c))
    if release:
        mv = full_view(m, c)
    else:
        mv = state.vc or None
    _append(m, var, c, Message(value, mv, c))


def _append(m, var, c, msg):
    if var.seen[c] < len(var.co) - 1:
        _advance(m, var, c, len(var.co) - 1)   # skips what it had not seen
    touch_write(m, var.fpk)
    touch_write(m, copy_key(c, var.fpk))
    var.co.append(msg)
    var.v = msg.value
    var.seen[c] = len(var.co) - 1
    touch_write(m, vc_key(c))
    m.lkmm_cpu[c].own[var] = len(var.co) - 1
    for d in range(m.ncpus):
        if d != c:
            _dirty(m, var, d)


def rmw(var, fn, *, full=True, acquire=False, release=False):
    """An atomic read-modify-write: reads the newest value; ``fn(old)``
    returns the new value or None (no store: a failed cmpxchg, which
    orders nothing).  ``full``: a value-returning RMW (fully ordered: full
    barrier before and after, when it stores).  Returns the old value."""
    m = var.m
    c = _cpu(m)
    if c is None:
        old = var.v
        new = fn(old)
        if new is not None:
            store(var, new)
        return old
    touch_read(m, var.fpk)
    touch_write(m, copy_key(c, var.fpk))
    last = len(var.co) - 1
    msg = var.co[last]
    old = msg.value
    new = fn(old)
    if new is None:
        # a failed RMW is a plain load, here of the newest value: the CPU's
        # copy moves there (coherence) and takes what the store carried
        _see(m, var, c, last)
        return old
    if full:
        smp_mb(m)
    _see(m, var, c, last)
    state = m.lkmm_cpu[c]
    touch_read(m, vc_key(c))
    if acquire or full:
        state.acquire(m, c, msg.mv)
    if release or full:
        mv = full_view(m, c)
        state.release(m, c, mv)
    else:
        mv = state.vc or None
    _append(m, var, c, Message(new, mv, c))
    if full:
        smp_mb(m)
    return old


def _see(m, var, c, i):
    _advance(m, var, c, i)
    mv = var.co[i].mv
    if mv:
        for w, j in mv.items():
            touch_read(m, copy_key(c, w.fpk))
            _advance(m, w, c, j)


def full_view(m, c):
    """CPU ``c``'s whole copy (the view a release or a full barrier carries)."""
    out = {}
    for w in m.lkmm_words:
        touch_read(m, copy_key(c, w.fpk))
        out[w] = w.seen[c]
    return out


class CpuState:
    """What a CPU's later stores must carry (``vc``) and the index of its
    newest store to each word (``own``, for smp_wmb())."""

    __slots__ = ("vc", "own", "unlocked")

    def __init__(self):
        self.vc = {}
        self.own = {}
        self.unlocked = {}

    def join(self, m, c, mv):
        if mv:
            touch_write(m, vc_key(c))
            vc = dict(self.vc)
            for w, j in mv.items():
                if vc.get(w, -1) < j:
                    vc[w] = j
            self.vc = vc

    def acquire(self, m, c, mv):
        """Stores after an acquire carry what it read (B-cumulativity)."""
        self.join(m, c, mv)

    def release(self, m, c, mv):
        """po-unlock-lock-po and release chains: stores after a release
        carry what it carried (stronger than LKMM for stores after a plain
        release; never weaker)."""
        self.join(m, c, mv)


def smp_wmb(m):
    """Stores after it carry this CPU's stores before it."""
    c = _cpu(m)
    if c is None:
        return
    st = m.lkmm_cpu[c]
    touch_read(m, vc_key(c))
    st.join(m, c, dict(st.own))


def smp_mb(m, cpu=None):
    """A strong fence: every store this CPU has seen reaches every CPU
    before its next access."""
    c = _cpu(m) if cpu is None else cpu
    if c is None:
        return
    for w in m.lkmm_words:
        s = w.seen[c]
        touch_read(m, copy_key(c, w.fpk))
        for d in range(m.ncpus):
            if d == c:
                continue
            touch_read(m, copy_key(d, w.fpk))
            _advance(m, w, d, s)


def lock_acquired(m, lock):
    """spin_lock(): an acquire of the last unlock of ``lock``; stores in the
    critical section carry what that unlock carried (po-unlock-lock-po)."""
    c = _cpu(m)
    mv = getattr(lock, "lkmm_mv", None)
    if c is None or not mv:
        return
    for w, j in mv.items():
        touch_read(m, copy_key(c, w.fpk))
        _advance(m, w, c, j)
    m.lkmm_cpu[c].acquire(m, c, mv)


def lock_released(m, lock):
    """spin_unlock(): a release; the lock carries this CPU's whole copy to
    its next owner, and this CPU's later stores carry it too."""
    c = _cpu(m)
    if c is None:
        return
    mv = full_view(m, c)
    lock.lkmm_mv = mv
    m.lkmm_cpu[c].release(m, c, mv)
