"""The machine: CPUs, run queues, tasks, preemption models and the step loop.

A task is a Python generator.  It runs atomically from one ``yield`` to the
next; every ``yield`` is an interleaving point and yields a short label that
names what the step did.  The machine knows nothing about memory management.

Scheduling rules (see docs/architecture.md):

* Each CPU runs one task at a time (``cpu.curr``).  CPUs run in parallel: the
  explorer picks, at every step, which of the *enabled* tasks advances.
* A task inside a preempt- or irq-disabled region (``preempt_count`` or
  ``irqs_off`` non-zero) keeps every other task off its CPU.  Outside such
  regions PREEMPT_FULL lets another runnable task of the CPU take over at
  any yield; PREEMPT_NONE and PREEMPT_VOLUNTARY only at explicit scheduling
  points (``cond_resched``, blocking, user mode; VOLUNTARY also at
  ``might_sleep`` points).
* A task that announced a spinlock acquisition (``Task.want``) is not enabled
  while the lock is held: it spins, keeping its CPU, without taking steps.
  The acquisition happens at the start of its next step, so a contended lock
  costs no steps (lock waits are not events a search must order).
* SCHED_FIFO tasks (``rt_prio > 0``) always win their CPU against normal tasks
  and are never preempted by a task of equal or lower priority.
* Fairness (``fair_bound`` > 0): a task that stayed enabled without running
  for ``fair_bound`` steps is run next, as real CPUs make progress.  Random
  searches use it; systematic searches set it to 0 (no fairness bound: the
  preemption bound takes its place, as in CHESS).
* Memory model: ``sc`` (sequential consistency) or ``tso`` (x86-TSO: stores to
  :class:`~foliolab.engine.memory.Shared` locations wait in a per-CPU store
  buffer; every buffer has a pseudo-task ``sb/N`` whose step makes the oldest
  store visible; locked operations, full barriers and context switches drain
  the buffer); ``lkmm`` (the Linux-kernel memory model,
  :mod:`~foliolab.engine.lkmm`: per-CPU copies of every ``Shared`` word,
  one ``prop/N:word`` pseudo-task per CPU and word that brings the copy one
  store forward; barriers, releases and acquires as LKMM orders them).

The enabled set is maintained incrementally: after a step only the CPU of
the stepped task and the CPUs marked by wake-ups, lock hand-overs and remote
store-buffer drains are recomputed (``Machine.enabled()`` recomputes all, for
tests and reports).

The schedule of a run is the list of task ids that were stepped, in order.
Replaying the same schedule on a freshly built scenario reproduces the run.

For systematic search the machine records, per step, the footprint of the
step (:mod:`~foliolab.engine.footprint`) and hands it to ``on_event``.
"""

from __future__ import annotations

from math import floor

from .footprint import (
    END_KEY, OPAQUE, RCU_KEY, cpu_key, rcu_cpu_key, rcu_view_key, sb_entry_key, sbuf_key,
)
from .oracles import (
    Deadlock,
    HungTask,
    KernelFailure,
    Livelock,
    SchedulingWhileAtomic,
)
from .lkmm import CpuState, smp_mb as lkmm_mb
from .retry import watch_step

PREEMPT_NONE = "none"
PREEMPT_VOLUNTARY = "voluntary"
PREEMPT_FULL = "full"
PREEMPT_MODELS = (PREEMPT_NONE, PREEMPT_VOLUNTARY, PREEMPT_FULL)
MEMORY_MODELS = ("sc", "tso", "lkmm")
# the Kconfig name of each preemption model, for headers and certificates
PREEMPT_KCONFIG = {PREEMPT_NONE: "CONFIG_PREEMPT_NONE",
                   PREEMPT_VOLUNTARY: "CONFIG_PREEMPT_VOLUNTARY",
                   PREEMPT_FULL: "CONFIG_PREEMPT"}

RUNNABLE, BLOCKED, SPINNING, DONE = 0, 1, 2, 3
# Task.sched_point at a yield: 0 none, SCHED_VOLUNTARY a might_sleep() point
# (a switch point under PREEMPT_VOLUNTARY), SCHED_ALWAYS cond_resched()/schedule().
SCHED_VOLUNTARY, SCHED_ALWAYS = 1, 2
STATE_NAMES = {RUNNABLE: "R", BLOCKED: "D", SPINNING: "spin", DONE: "exit"}
NEVER = 1 << 62


def _others(en, t):
    return [o for o in en if o is not t and not o.is_sb]


def _rcu_view(c):
    """What synchronize_rcu() reads of CPU ``c``: quiescent (idle, user,
    blocked), inside a read-side section, or neither."""
    cur = c.curr
    if cur is None or cur.state == BLOCKED or cur.state == DONE or cur.user:
        return 0
    return 1 if (cur.preempt_count or cur.irqs_off or cur.rcu_nesting) else 2


class ScheduleAborted(Exception):
    """Raised by a scheduling policy to abandon a run (a systematic search
    that knows the rest of the run is covered elsewhere)."""


class Task:
    """A kernel or user task, pinned to one CPU (as kworkers and the actors of
    a scenario are)."""

    __slots__ = (
        "tid", "name", "cpu", "rq", "gen", "state", "preempt_count", "irqs_off",
        "rcu_nesting", "sched_point", "user", "rt_prio", "daemon", "idle",
        "wait", "blocked_since", "held", "is_sb", "retval",
        "pid", "invisible", "want", "in_en", "acc", "since", "mem", "alone",
    )

    def __init__(self, tid, name, cpu, rq, gen, *, daemon=False, rt_prio=0,
                 user=False, is_sb=False, invisible=False):
        self.tid = tid
        self.pid = 100 + tid
        self.name = name
        self.cpu = cpu
        self.rq = rq               # the Cpu of ``cpu`` (the loop's look-up)
        self.gen = gen
        self.state = RUNNABLE
        self.preempt_count = 0
        self.irqs_off = 0
        self.rcu_nesting = 0
        self.sched_point = 0
        self.user = user
        self.rt_prio = rt_prio
        self.daemon = daemon
        self.idle = False          # sleeping without being "hung" (kworker idle)
        self.wait = None           # what the task waits on (blocked)
        self.want = None           # the spinlock it is about to take (spins while held)
        self.blocked_since = 0
        self.held = []             # locks held, in acquisition order (lockdep)
        self.is_sb = is_sb
        self.retval = None
        # Every step of an invisible task touches only its own state (a user
        # busy loop): explorers need not interleave it with anything.
        self.invisible = invisible
        # fairness bookkeeping (fair_bound > 0): enabled now; while not
        # enabled, the steps it starved since it last ran (banked when it
        # left the enabled set); while enabled, the step its starvation
        # clock started at (the bound forces it at since + fair_bound).  A
        # run only sets since to the step (the clock restarts): the hot
        # loop writes one field, with no addition.
        self.in_en = False
        self.acc = 0
        self.since = NEVER
        self.mem = None            # lkmm: the propagation this pseudo-task runs
        # the enabled tasks of its CPU when it is the CPU's only task and
        # enabled: one list per task, not one per entry (Cpu.en lists are
        # replaced, never modified)
        self.alone = [self]

    def __repr__(self):
        return f"<Task {self.tid} {self.name} cpu{self.cpu} {STATE_NAMES[self.state]}>"


# Machine._loop's stand-in for the last task before the first step
_NO_TASK = Task(-1, "none", -1, None, None)
# the enabled tasks of a CPU without any (Cpu.en lists are replaced, never
# modified: a CPU's en is this list or its only task's Task.alone)
_NO_TASKS = []


class Cpu:
    __slots__ = ("id", "curr", "tasks", "single", "sb", "sb_task", "nr_switches", "en",
                 "key", "sbkey", "rcukey", "props")

    def __init__(self, cpu_id):
        self.id = cpu_id
        self.curr = None
        self.tasks = []
        self.single = False        # exactly one task (the common case: a fast path)
        self.sb = []               # x86-TSO store buffer: [(Shared, value)]
        self.sb_task = None
        self.nr_switches = 0
        self.en = []               # this CPU's enabled tasks (incremental)
        self.key = cpu_key(cpu_id)
        self.sbkey = sbuf_key(cpu_id)
        self.rcukey = rcu_view_key(cpu_id)
        self.props = []            # lkmm: propagation pseudo-tasks into this CPU


class RunResult:
    """What one run produced."""

    __slots__ = ("failure", "steps", "schedule", "preemptions", "machine", "aborted")

    def __init__(self, failure, steps, schedule, preemptions, machine, aborted=False):
        self.failure = failure         # KernelFailure or None
        self.steps = steps
        self.schedule = schedule       # list of task ids
        self.preemptions = preemptions
        self.machine = machine
        self.aborted = aborted         # the policy abandoned the run

    @property
    def failed(self):
        return self.failure is not None


class Machine:
    """N CPUs, their tasks, and the step loop."""

    # Slots: a Machine has more attributes than CPython's shared-key
    # instance dicts hold (30), which would make every ``m.current`` and
    # ``m.fpw`` of the model a dict lookup.  __dict__ keeps attributes that
    # other modules add (livelock's spin_detector) possible.
    __slots__ = (
        "ncpus", "preempt", "preempt_full", "preempt_voluntary", "tso", "lkmm",
        "lkmm_words", "lkmm_cpu", "memory_model", "fair_bound", "max_steps",
        "hung_task_steps", "cpus", "tasks", "current", "steps", "schedule",
        "preempted", "nr_live", "labels", "mem_notes", "mem_log", "on_step",
        "fpr", "fpw", "fp_woke", "fp_acquired", "fp_drained", "fp_pending",
        "step_pending", "on_event", "retry_collapse", "watches", "choose_single",
        "rcu_gps", "lock_deps", "quiesce_checks", "step_checks", "workqueues_ready",
        "kworkers", "worker_pools", "_keys", "_dirty", "_min_since", "__dict__",
    )

    def __init__(self, ncpus: int, *, preempt: str = PREEMPT_FULL,
                 memory_model: str = "sc", fair_bound: int = 64,
                 max_steps: int = 50_000, hung_task_steps: int = 4_000):
        if ncpus < 1:
            raise ValueError("ncpus must be at least 1")
        if preempt not in PREEMPT_MODELS:
            raise ValueError(f"unknown preemption model {preempt!r}")
        if memory_model not in MEMORY_MODELS:
            raise ValueError(f"unknown memory model {memory_model!r}")
        if fair_bound < 0 or max_steps < 1 or hung_task_steps < 1:
            raise ValueError("fair_bound must be >= 0, max_steps and hung_task_steps positive")
        self.ncpus = ncpus
        self.preempt = preempt
        self.preempt_full = preempt == PREEMPT_FULL
        self.preempt_voluntary = preempt == PREEMPT_VOLUNTARY
        self.tso = memory_model == "tso"
        self.lkmm = memory_model == "lkmm"
        self.lkmm_words = []           # lkmm: the Shared words, in creation order
        self.lkmm_cpu = [CpuState() for _ in range(ncpus)] if self.lkmm else None
        self.memory_model = memory_model
        self.fair_bound = fair_bound
        self.max_steps = max_steps
        self.hung_task_steps = hung_task_steps
        self.cpus = [Cpu(i) for i in range(ncpus)]
        self.tasks = []
        # the task that runs (the kernel's ``current``) and, between steps,
        # the last task stepped: a store leaving a store buffer is not a
        # task's step and changes neither
        self.current = None
        self.steps = 0
        self.schedule = []
        # the task of every step that was a preemption: the count is its
        # length (an int count above 256 is allocated at every += and freed
        # at the next, on more than half of the steps of a random walk)
        self.preempted = []
        self.nr_live = 0               # non-daemon tasks not yet finished
        # observers (set by explore/ or report/): called after every step
        self.labels = None             # list of labels when recording
        self.mem_notes = None          # when recording: what a step did in memory (TSO)
        self.mem_log = None            # replay --litmus: [(tid, op, Shared, value)]
        self.on_step = None
        # systematic search: footprints of the current step, and the hook
        # that receives them: on_event(m, task, enabled, reads, writes, woke,
        # acquired, drained)
        self.fpr = None
        self.fpw = None
        self.fp_woke = None
        self.fp_acquired = None
        self.fp_drained = None
        # lkmm: pseudo-tasks the current step disabled or moved without
        # running them, [(tid, reads, writes)] (their pending step);
        # step_pending: the list of the last step, for on_event
        self.fp_pending = None
        self.step_pending = ()
        self.on_event = None
        # idle retries (engine/retry.py): on, every step goes through the
        # footprint path; watches: (tid, site) -> RetryWatch
        self.retry_collapse = False
        self.watches = {}
        self.choose_single = False     # ask the policy even with one task enabled
        # RCU grace periods in flight: [GracePeriod]
        self.rcu_gps = []
        # lockdep: lock class -> {lock class acquired while holding it: first site}
        self.lock_deps = {}
        # end-of-run checks registered by the model: callables raising failures
        self.quiesce_checks = []
        # per-step checks (add_step_check): run between steps, outside any
        # step's footprint
        self.step_checks = []
        self.workqueues_ready = False
        self.kworkers = []
        self.worker_pools = []
        self._keys = 0
        self._dirty = []               # tasks whose CPU's enabled tasks may have changed
        self._min_since = NEVER        # at most the earliest since of an enabled task
        if self.tso:
            for c in self.cpus:
                t = Task(len(self.tasks), f"sb/{c.id}", c.id, c, None,
                         daemon=True, is_sb=True)
                self.tasks.append(t)
                c.sb_task = t

    @property
    def preemptions(self):
        """The choices of another task while the last one was still enabled."""
        return len(self.preempted)

    def new_key(self, n=1):
        """Fresh footprint keys for ``n`` objects (even ints, creation order)."""
        k = self._keys + 2
        self._keys += 2 * n
        return k

    # ------------------------------------------------------------------ tasks
    def spawn(self, name, cpu, gen, *, daemon=False, rt_prio=0, user=False,
              invisible=False):
        """Create a task running generator ``gen`` on ``cpu``."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"task {name}: cpu {cpu} does not exist (ncpus={self.ncpus})")
        c = self.cpus[cpu]
        t = Task(len(self.tasks), name, cpu, c, gen, daemon=daemon,
                 rt_prio=rt_prio, user=user, invisible=invisible)
        self.tasks.append(t)
        c.tasks.append(t)
        c.single = len(c.tasks) == 1 and not self.lkmm
        if not daemon:
            self.nr_live += 1
        self._dirty.append(t)
        if self.fp_woke is not None:
            self.fp_woke.append(t.tid)     # spawned by this step: happens after it
        return t

    def add_mem_task(self, name, cpu, mem):
        """lkmm: a pseudo-task (a daemon that never holds its CPU) whose
        step is ``mem.step()``, enabled while ``mem.pending()``."""
        t = Task(len(self.tasks), name, cpu, self.cpus[cpu], None, daemon=True, is_sb=True)
        t.mem = mem
        self.tasks.append(t)
        self.cpus[cpu].props.append(t)
        self.cpus[cpu].single = False
        self._dirty.append(t)
        return t

    def task_by_name(self, name):
        for t in self.tasks:
            if t.name == name:
                return t
        return None

    def add_step_check(self, check, *, after_release_of=None, name=None):
        """Register an invariant checked *between* steps: ``check()`` raises a
        KernelFailure (usually InvariantViolation) when it does not hold.

        With ``after_release_of=lock`` it runs after every step that released
        that lock (the task held it, or was about to take it, when the step
        began, and no longer holds it when the step ends); without, after
        every step.  The
        check is an oracle, not kernel code: it runs outside the step, so it
        adds nothing to the step's footprint.

        Under partial-order reduction a check is seen at the states of the
        explored schedules only.  An invariant over state that only holders
        of ``lock`` write has the same value after a given release in every
        schedule of a class (the critical sections are ordered by the lock),
        so checking it at releases is sound under the reduction; an
        invariant over racy state is checked only on the representatives.
        Scenarios register their checks in ``setup``, users the same way
        from their own scenario's ``setup``."""
        if self.current is not None:
            # the loop reads the list once per step: a check added by a
            # step would run before it saw a step begin
            raise RuntimeError("add_step_check() is for a scenario's setup, before the run; "
                               f"task {self.current.name} called it from a step")
        self.step_checks.append((after_release_of, check,
                                 name or getattr(check, "__name__", "check")))
        return check

    def _run_step_checks(self, t, held_before):
        for (lock, check, _name), held in zip(self.step_checks, held_before):
            if lock is None or (held and lock.owner is not t):
                check()

    # ------------------------------------------------------- blocking/waking
    def block(self, t, wait, *, idle=False):
        """Put ``t`` to sleep (TASK_UNINTERRUPTIBLE, or idle for kworkers)."""
        if t.preempt_count or t.irqs_off:
            raise SchedulingWhileAtomic(
                f"BUG: scheduling while atomic: {t.name}/{t.pid}/0x{t.preempt_count:08x} "
                f"(waiting for {wait})")
        t.state = BLOCKED
        t.wait = wait
        t.idle = idle
        t.blocked_since = self.steps
        self._dirty.append(t)
        # schedule() is a full barrier and a quiescent state
        self.full_barrier(t.cpu)
        if self.rcu_gps:
            self.rcu_report_qs(t.cpu)

    def wake(self, t):
        if t.state == BLOCKED or t.state == SPINNING:
            woke = self.fp_woke
            d = self.cpus[t.cpu]
            before = None
            if woke is not None and not d.single and self.current is not None \
                    and self.current.cpu != t.cpu:
                # (the scheduler's look at the CPU, not the step's: unrecorded)
                fpr, self.fpr = self.fpr, None
                before = _others(self._cpu_enabled(d), t)
            t.state = RUNNABLE
            t.wait = None
            t.idle = False
            self._dirty.append(t)
            if before is not None:
                after = _others(self._cpu_enabled(d), t)
                self.fpr = fpr
            if woke is not None:
                # The woken task's next step happens after this one.  The
                # wake-up enables a task; it commutes with the steps of the
                # tasks already running there unless it also disables one:
                # a CPU's task that slept there gets the CPU back, and under
                # PREEMPT_NONE the tasks that could run while it slept no
                # longer can -- the step then writes that CPU's key (its
                # own CPU's is decided at the end of the step).
                woke.append(t.tid)
                if before is not None and before != after:
                    self.fpw.append(d.key)

    def lock_changed(self, waiters):
        """A spinlock was taken or released: its waiters' CPUs may change."""
        self._dirty.extend(waiters)

    def might_sleep(self, t, what):
        if t.preempt_count or t.irqs_off:
            raise SchedulingWhileAtomic(
                f"BUG: sleeping function called from invalid context: {what} "
                f"in_atomic(): 1, irqs_disabled(): {int(bool(t.irqs_off))}, "
                f"pid: {t.pid}, name: {t.name}")

    # ------------------------------------------------------------ memory model
    def full_barrier(self, cpu):
        if self.lkmm:
            lkmm_mb(self, cpu)
        elif self.cpus[cpu].sb:
            self.drain_store_buffer(cpu)

    def drain_store_buffer(self, cpu):
        c = self.cpus[cpu]
        sb = c.sb
        if self.fpw is not None and sb:
            # For the search, the drain is the buffer's own commits, right
            # before this step (which needs the buffer empty): they could
            # have come earlier.
            self.fpr.append(c.sbkey)
            tid = c.sb_task.tid
            for var, value in sb:
                self.fp_drained.append((tid, c.sbkey, var.fpk, sb_entry_key(cpu, var.fpk)))
        for var, value in sb:
            var.v = value
        sb.clear()
        if c.sb_task is not None:
            self._dirty.append(c.sb_task)

    # ---------------------------------------------------------------- RCU
    def rcu_report_qs(self, cpu):
        bit = 1 << cpu
        done = None
        r = self.fpr
        if r is not None:
            r.append(rcu_cpu_key(cpu))
            r.append(RCU_KEY)
        for gp in self.rcu_gps:
            if gp.pending & bit:
                w = self.fpw
                if w is not None:
                    w.append(rcu_cpu_key(cpu))
                    w.append(RCU_KEY)
                gp.pending &= ~bit
                self.full_barrier(cpu)             # QS reports imply a full barrier
                if not gp.pending:
                    done = done or []
                    done.append(gp)
        if done:
            for gp in done:
                self.rcu_gps.remove(gp)
                gp.complete(self)

    def _rcu_step_qs(self, t):
        """After a step of ``t``: did its CPU pass a quiescent state?"""
        if t.user or t.sched_point == SCHED_ALWAYS:
            self.rcu_report_qs(t.cpu)
        elif not (t.preempt_count or t.irqs_off or t.rcu_nesting):
            # Outside any read-side section: a QS for preemptible RCU and for
            # an expedited grace period (its IPI finds preemption enabled).
            bit = 1 << t.cpu
            for gp in self.rcu_gps:
                if (gp.pending & bit) and (gp.expedited or self.preempt_full):
                    self.rcu_report_qs(t.cpu)
                    break
            else:
                r = self.fpr
                if r is not None:
                    r.append(rcu_cpu_key(t.cpu))
                    r.append(RCU_KEY)

    # -------------------------------------------------------------- enabled
    def _cpu_enabled(self, c):
        """The tasks of CPU ``c`` that may execute the next step."""
        cur = c.curr
        if cur is not None:
            st = cur.state
            if st == RUNNABLE:
                sp = cur.sched_point
                if cur.preempt_count or cur.irqs_off or not (
                        self.preempt_full or cur.user or sp == SCHED_ALWAYS
                        or (self.preempt_voluntary and sp)):
                    want = cur.want
                    if want is not None and want.owner is not None:
                        return []          # spinning: the CPU is busy
                    return [cur]
                if cur.want is not None and cur.want.owner is not None:
                    return []
            elif st == SPINNING:
                return []
        best = -1
        cands = None
        for t in c.tasks:
            if t.state == RUNNABLE:
                want = t.want
                if want is not None and want.owner is not None:
                    continue
                p = t.rt_prio
                if p > best:
                    best = p
                    cands = [t]
                elif p == best:
                    cands.append(t)
        if cands is None:
            return []
        if best > 0 and cur is not None and cur.state == RUNNABLE and cur.rt_prio == best \
                and cur in cands:
            return [cur]           # SCHED_FIFO: not preempted by equal priority
        return cands

    def enabled(self):
        """Tasks that may execute the next step, in task-id order per CPU,
        store-buffer pseudo-tasks last (recomputed from scratch)."""
        en = []
        for c in self.cpus:
            en.extend(self._cpu_enabled(c))
        if self.tso:
            for c in self.cpus:
                if c.sb:
                    en.append(c.sb_task)
        if self.lkmm:
            for c in self.cpus:
                en.extend(t for t in c.props if t.mem.pending())
        return en

    def _refresh_cpu(self, c, step):
        """Recompute CPU ``c``'s enabled tasks; True when they changed.
        Fairness bookkeeping: tasks leaving the set bank their starved steps,
        tasks entering it restart their clock that much earlier (and lower
        ``_min_since`` to it)."""
        old = c.en
        if c.single and not c.sb:
            # one task on this CPU (the common case): enabled unless it
            # sleeps, exited or spins on a held lock
            t = c.tasks[0]
            want = t.want
            if t.state == RUNNABLE and (want is None or want.owner is None):
                if not old:
                    t.in_en = True
                    if self.fair_bound:
                        x = t.since = step - t.acc
                        if x < self._min_since:
                            self._min_since = x
                    c.en = t.alone
                    return True
                if len(old) == 1 and old[0] is t:
                    return False
                new = t.alone
            elif not old:
                return False
            elif len(old) == 1 and old[0] is t:
                t.in_en = False
                if self.fair_bound:
                    t.acc = step - t.since
                    t.since = NEVER
                c.en = _NO_TASKS
                return True
            else:
                new = []
        else:
            new = self._cpu_enabled(c)
            if c.sb:
                new.append(c.sb_task)
            if c.props:
                new += [t for t in c.props if t.mem.pending()]
            if new == old:
                return False
        fair = self.fair_bound
        for t in old:
            if t not in new:
                t.in_en = False
                if fair:
                    # starved since its last run or its entry
                    t.acc = step - t.since
                    t.since = NEVER
        for t in new:
            if not t.in_en:
                t.in_en = True
                if fair:
                    x = t.since = step - t.acc
                    if x < self._min_since:
                        self._min_since = x
        c.en = new
        return True

    def _rebuild(self):
        """The enabled tasks, in CPU order, store-buffer pseudo-tasks last
        (each CPU's own is last in its ``en``)."""
        cpus = self.cpus
        if self.lkmm:
            en = []
            props = []
            for c in cpus:
                for t in c.en:
                    (props if t.is_sb else en).append(t)
            return en + props
        if self.tso:
            en = []
            sbs = []
            for c in cpus:
                e = c.en
                if e:
                    if e[-1].is_sb:
                        sbs.append(e[-1])
                        en += e[:-1]
                    else:
                        en += e
            en += sbs
        elif len(cpus) == 2:
            en = cpus[0].en + cpus[1].en
        else:
            en = []
            for c in cpus:
                en += c.en
        return en

    def _earliest(self, en):
        """The earliest deadline (since + fair_bound) of the enabled tasks
        ``en`` (NEVER without fairness).  ``_min_since`` is only a lower
        bound of their earliest since: tasks entering the set lower it, a
        run raises only the runner's since and a task leaving the set
        removes one, which leave it a bound; the loop calls this when the
        deadline is due, to make it exact."""
        ms = NEVER
        for t in en:
            x = t.since
            if x < ms:
                ms = x
        self._min_since = ms
        return ms + self.fair_bound

    # ------------------------------------------------------------- the loop
    def run(self, choose):
        """Run to completion or failure.  ``choose(machine, enabled)`` returns
        the task to step.  Returns a :class:`RunResult`."""
        failure = None
        aborted = False
        try:
            self._loop(choose)
            for check in self.quiesce_checks:
                check()
        except KernelFailure as f:
            failure = f
        except ScheduleAborted:
            aborted = True
        return RunResult(failure, self.steps, self.schedule, self.preemptions, self,
                         aborted)

    def _loop(self, choose):
        schedule = self.schedule
        cpus = self.cpus
        fair = self.fair_bound
        fairness = fair > 0
        max_steps = self.max_steps
        dirty = self._dirty
        refresh = self._refresh_cpu
        rcu_gps = self.rcu_gps
        labels = self.labels
        on_step = self.on_step
        on_event = self.on_event
        preempted = self.preempted
        # registered in setup (add_step_check refuses a step's), so the
        # test is of a bool (a list's costs a call)
        step_checks = self.step_checks
        checking = bool(step_checks)
        # tso: store buffers or propagation pseudo-tasks may sit in a
        # CPU's enabled tasks; without them a CPU with one task (single)
        # has en [t] or [], as t.in_en says
        tso = self.tso or self.lkmm
        lkmm = self.lkmm
        # the steps that leave the plain path: footprints for the search,
        # pseudo-tasks (store buffers, propagations; tso and lkmm only)
        special = on_event is not None or tso
        steps = self.steps
        for c in cpus:
            refresh(c, steps)
        dirty.clear()
        en = self._rebuild()
        n = len(en)
        md = self._earliest(en)
        # the policy is asked from lo enabled tasks on
        lo = 1 if self.choose_single else 2
        # the last task stepped; before the first, a stand-in that was
        # never enabled (one test less in the preemption count)
        last = self.current or _NO_TASK
        live = self.nr_live > 0
        # the next step that needs a look beyond the step itself: the hung
        # task check every 256 steps, or the step limit
        check = min((steps | 255) + 1, max_steps)
        # a uniform random walk (explore/strategies.py RandomWalk): its
        # draw made here, the same draws as its choose() would make
        uniform = getattr(choose, "uniform", None)
        again = getattr(choose, "again", None)
        while live:
            if n >= lo and (md > steps or (md := self._earliest(en)) > steps):
                if uniform is not None:
                    t = en[floor(uniform() * n)]
                    if t.invisible:
                        t = again(en)
                else:
                    t = choose(self, en)
                if t is not last and last.in_en and not t.is_sb:
                    preempted.append(t)
            elif n == 0:
                raise Deadlock(self._deadlock_report())
            elif n < lo:
                t = en[0]
            else:
                # fairness: the longest-starved task over the bound runs next
                ms = md - fair
                for t in en:
                    if t.since == ms:
                        break
            schedule.append(t.tid)
            steps += 1
            if checking:
                held_before = [lk is not None and (lk.owner is t or t.want is lk)
                               for lk, _c, _n in step_checks]
            if fairness:
                # running restarts the task's starvation clock
                t.since = steps
            self.steps = steps
            c = t.rq
            if special and (on_event is not None or t.is_sb):
                if on_event is not None:
                    changed = self._step_events(t, c, en, on_event)
                    last = self.current or _NO_TASK
                    live = self.nr_live > 0
                else:
                    # a store becoming visible is not a context switch: it
                    # neither costs a preemption nor ends the running task's turn
                    if t.mem is not None:
                        label = t.mem.step()
                    else:
                        var, value = c.sb.pop(0)
                        var.v = value
                        label = None
                    if labels is not None:
                        labels.append(label if label is not None
                                      else f"store {var.name} = {value} becomes visible")
                        if on_step is not None:
                            on_step(t)
                    changed = refresh(c, steps)
            else:
                self.current = last = t
                if c.curr is not t:
                    # context switch: full barrier and a quiescent state
                    if lkmm and c.curr is not None:
                        lkmm_mb(self, t.cpu)
                    c.curr = t
                    c.nr_switches += 1
                    if c.sb:
                        self.drain_store_buffer(t.cpu)
                    if rcu_gps:
                        self.rcu_report_qs(t.cpu)
                t.sched_point = 0
                try:
                    label = t.gen.send(None)
                except StopIteration as e:
                    label = self._exit(t, e)
                    live = self.nr_live > 0
                if rcu_gps:
                    self._rcu_step_qs(t)
                if labels is not None:
                    labels.append(label)
                    if on_step is not None:
                        on_step(t)
                if c.single and (not tso or not c.sb and c.en[-1] is t):
                    # the CPU's only task, enabled before the step, and en
                    # is [t] (not [t, sb/N] with the buffer drained by the
                    # step): _refresh_cpu's first case, inline
                    changed = False
                    w = t.want
                    if t.state != RUNNABLE or w is not None and w.owner is not None:
                        # t leaves the enabled set (see below)
                        t.in_en = False
                        if fairness:
                            t.acc = 0             # it ran this step
                            t.since = NEVER
                        c.en = _NO_TASKS
                        en = en.copy()
                        en.remove(t)
                        n -= 1
                else:
                    changed = refresh(c, steps)
            if checking:
                self._run_step_checks(t, held_before)
            # The enabled set: this CPU, and the CPUs the step marked.  A
            # one-task CPU's task that leaves it is taken out of a copy of
            # en (the policy may hold on to the list it was given); the
            # others keep their order, as in a rebuild.  A task entering it,
            # or any change on a CPU with more tasks, sets changed: en is
            # rebuilt.
            if dirty:
                for u in dirty:
                    d = u.rq
                    if d.single and (not tso or not d.sb and not u.is_sb
                                     and len(d.en) == u.in_en):
                        # u is the only task of d and d.en is [u] or []:
                        # _refresh_cpu's first case, inline (lock waiters;
                        # on c, where u is t, it finds nothing to change)
                        w = u.want
                        if u.state == RUNNABLE and (w is None or w.owner is None):
                            if not u.in_en:
                                u.in_en = True
                                if fairness:
                                    x = u.since = steps - u.acc
                                    if x < self._min_since:
                                        self._min_since = x
                                d.en = u.alone
                                changed = True
                        elif u.in_en:
                            u.in_en = False
                            if fairness:
                                u.acc = steps - u.since
                                u.since = NEVER
                            d.en = _NO_TASKS
                            # u is in en: it did not enter it in this step
                            # (its state does not change while dirty is read)
                            en = en.copy()
                            en.remove(u)
                            n -= 1
                    elif d is not c and refresh(d, steps):
                        changed = True
                dirty.clear()
            if changed:
                if tso:
                    en = self._rebuild()
                else:
                    en = []
                    for d in cpus:
                        en += d.en
                n = len(en)
                md = self._min_since + fair
            if steps >= check:
                if steps >= max_steps:
                    raise Livelock(self._livelock_report())
                if not steps & 255:
                    self._check_hung()
                check = min((steps | 255) + 1, max_steps)

    def _exit(self, t, e):
        """``t``'s generator returned: the task exits."""
        t.state = DONE
        t.retval = e.value
        if not t.daemon:
            self.nr_live -= 1
        if self.rcu_gps:
            self.rcu_report_qs(t.cpu)
        return "exit"

    def _step_events(self, t, c, en, on_event):
        """One step of ``t`` (CPU ``c``) for a systematic search: the step
        as in the loop, recording its footprint for ``on_event``.  Returns
        whether ``c``'s enabled tasks changed."""
        labels = self.labels
        on_step = self.on_step
        rcu_gps = self.rcu_gps
        steps = self.steps
        fpr = self.fpr = []
        fpw = self.fpw = []
        woke = self.fp_woke = []
        drained = self.fp_drained = []
        if self.lkmm:
            pending = self.fp_pending = []
        self.fp_acquired = None
        q0 = _rcu_view(c)
        e0 = c.en
        if t.is_sb and t.mem is not None:
            label = t.mem.step()
            if labels is not None:
                labels.append(label)
                on_step and on_step(t)
        elif t.is_sb:
            var, value = c.sb.pop(0)
            var.v = value
            fpw.append(c.sbkey)
            fpw.append(var.fpk)
            fpw.append(sb_entry_key(c.id, var.fpk))
            if labels is not None:
                labels.append(f"store {var.name} = {value} becomes visible")
                on_step and on_step(t)
        else:
            if c.curr is not t:
                if self.lkmm and c.curr is not None:
                    lkmm_mb(self, t.cpu)
                c.curr = t
                c.nr_switches += 1
                if c.sb:
                    self.drain_store_buffer(t.cpu)
                if rcu_gps:
                    self.rcu_report_qs(t.cpu)
            self.current = t
            t.sched_point = 0
            try:
                label = t.gen.send(None)
            except StopIteration as e:
                label = self._exit(t, e)
            if rcu_gps:
                self._rcu_step_qs(t)
            if labels is not None:
                labels.append(label)
                on_step and on_step(t)
        # the scheduler's own look at the locks is not the step's
        self.fpr = None
        changed = self._refresh_cpu(c, steps)
        # The end of the run disables every daemon: the exit of the last
        # non-daemon task orders itself against their steps.
        if t.daemon:
            fpr.append(END_KEY)
        elif not self.nr_live:
            fpw.append(END_KEY)
        if not t.is_sb:
            # The CPU's key: written when the step changed which *other*
            # tasks may run there, read otherwise.  Two tasks of one CPU
            # whose steps change neither commute (under PREEMPT the context
            # switch between them only drains the store buffer and reports a
            # quiescent state, which declare themselves); a task that blocks
            # or exits changes only its own lot.
            if changed and _others(e0, t) != _others(c.en, t):
                fpw.append(c.key)
            else:
                fpr.append(c.key)
            if _rcu_view(c) != q0:
                # read: two such steps commute unless the underlying state
                # says otherwise; synchronize_rcu() "writes" it, so it
                # orders itself against every change
                fpr.append(c.rcukey)
        self.fpr = self.fpw = self.fp_woke = self.fp_drained = None
        if self.lkmm:
            self.fp_pending = None
            self.step_pending = pending
        if self.watches:
            watch_step(self.watches, t, fpr, fpw, woke, drained)
        on_event(self, t, en, fpr, fpw, woke, self.fp_acquired, drained)
        return changed

    def opaque(self):
        """The current step may touch anything (code without footprints)."""
        w = self.fpw
        if w is not None:
            w.append(OPAQUE)

    # ------------------------------------------------------------ reports
    def _check_hung(self):
        for t in self.tasks:
            if (t.state == BLOCKED and not t.idle and not t.daemon
                    and self.steps - t.blocked_since > self.hung_task_steps):
                raise HungTask(
                    f"INFO: task {t.name}:{t.pid} blocked for more than "
                    f"{self.hung_task_steps} steps, waiting in {t.wait}")

    def _deadlock_report(self):
        stuck = []
        for t in self.tasks:
            if t.state == DONE or t.daemon:
                continue
            if t.want is not None and t.want.owner is not None:
                stuck.append(f"{t.name} (spins on {t.want.name}, held by {t.want.owner.name})")
            else:
                stuck.append(f"{t.name} ({STATE_NAMES[t.state]}: {t.wait})")
        return "deadlock: nothing can run; " + ", ".join(stuck)

    def _livelock_report(self):
        live = [t.name for t in self.tasks if t.state != DONE and not t.daemon]
        return (f"no progress: {', '.join(live)} did not finish within "
                f"{self.max_steps} steps")
