"""The machine: CPUs, run queues, tasks, preemption models and the step loop.

A task is a Python generator.  It runs atomically from one ``yield`` to the
next; every ``yield`` is an interleaving point and yields a short label that
names what the step did.  The machine knows nothing about memory management.

Scheduling rules (see ARCHITECTURE.md):

* Each CPU runs one task at a time (``cpu.curr``).  CPUs run in parallel: the
  explorer picks, at every step, which of the *enabled* tasks advances.
* A task inside a preempt- or irq-disabled region (``preempt_count`` or
  ``irqs_off`` non-zero) or spinning on a lock keeps every other task off its
  CPU.  Outside such regions PREEMPT_FULL lets another runnable task of the CPU
  take over at any yield; PREEMPT_NONE and PREEMPT_VOLUNTARY only at explicit
  scheduling points (``cond_resched``, blocking, user mode; VOLUNTARY also at
  ``might_sleep`` points).
* SCHED_FIFO tasks (``rt_prio > 0``) always win their CPU against normal tasks
  and are never preempted by a task of equal or lower priority.
* Fairness: a task that stayed enabled without running for ``fair_bound``
  consecutive steps is run next.  CPUs make progress, as real CPUs do; a
  stall longer than that is a different scenario (spawn a competing task).
* Memory model: ``sc`` (sequential consistency) or ``tso`` (x86-TSO: stores to
  :class:`~foliolab.engine.memory.Shared` locations wait in a per-CPU store
  buffer; every buffer has a pseudo-task ``sb/N`` whose step makes the oldest
  store visible; locked operations, full barriers and context switches drain
  the buffer).

The schedule of a run is the list of task ids that were stepped, in order.
Replaying the same schedule on a freshly built scenario reproduces the run.
"""

from __future__ import annotations

from .oracles import (
    Deadlock,
    HungTask,
    KernelFailure,
    Livelock,
    SchedulingWhileAtomic,
)

PREEMPT_NONE = "none"
PREEMPT_VOLUNTARY = "voluntary"
PREEMPT_FULL = "full"
PREEMPT_MODELS = (PREEMPT_NONE, PREEMPT_VOLUNTARY, PREEMPT_FULL)
MEMORY_MODELS = ("sc", "tso")

RUNNABLE, BLOCKED, SPINNING, DONE = 0, 1, 2, 3
# Task.sched_point at a yield: 0 none, SCHED_VOLUNTARY a might_sleep() point
# (a switch point under PREEMPT_VOLUNTARY), SCHED_ALWAYS cond_resched()/schedule().
SCHED_VOLUNTARY, SCHED_ALWAYS = 1, 2
STATE_NAMES = {RUNNABLE: "R", BLOCKED: "D", SPINNING: "spin", DONE: "exit"}


class Task:
    """A kernel or user task, pinned to one CPU (as kworkers and the actors of
    a scenario are)."""

    __slots__ = (
        "tid", "name", "cpu", "gen", "state", "preempt_count", "irqs_off",
        "rcu_nesting", "sched_point", "user", "rt_prio", "daemon", "idle",
        "wait", "blocked_since", "starve", "held", "is_sb", "retval",
        "pid", "invisible",
    )

    def __init__(self, tid, name, cpu, gen, *, daemon=False, rt_prio=0,
                 user=False, is_sb=False, invisible=False):
        self.tid = tid
        self.pid = 100 + tid
        self.name = name
        self.cpu = cpu
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
        self.wait = None           # what the task waits or spins on
        self.blocked_since = 0
        self.starve = 0
        self.held = []             # locks held, in acquisition order (lockdep)
        self.is_sb = is_sb
        self.retval = None
        # Every step of an invisible task touches only its own state (a user
        # busy loop): explorers need not interleave it with anything.
        self.invisible = invisible

    def __repr__(self):
        return f"<Task {self.tid} {self.name} cpu{self.cpu} {STATE_NAMES[self.state]}>"


class Cpu:
    __slots__ = ("id", "curr", "tasks", "sb", "sb_task", "nr_switches")

    def __init__(self, cpu_id):
        self.id = cpu_id
        self.curr = None
        self.tasks = []
        self.sb = []               # x86-TSO store buffer: [(Shared, value)]
        self.sb_task = None
        self.nr_switches = 0


class RunResult:
    """What one run produced."""

    __slots__ = ("failure", "steps", "schedule", "preemptions", "machine")

    def __init__(self, failure, steps, schedule, preemptions, machine):
        self.failure = failure         # KernelFailure or None
        self.steps = steps
        self.schedule = schedule       # list of task ids
        self.preemptions = preemptions
        self.machine = machine

    @property
    def failed(self):
        return self.failure is not None


class Machine:
    """N CPUs, their tasks, and the step loop."""

    def __init__(self, ncpus: int, *, preempt: str = PREEMPT_FULL,
                 memory_model: str = "sc", fair_bound: int = 64,
                 max_steps: int = 50_000, hung_task_steps: int = 4_000):
        if ncpus < 1:
            raise ValueError("ncpus must be at least 1")
        if preempt not in PREEMPT_MODELS:
            raise ValueError(f"unknown preemption model {preempt!r}")
        if memory_model not in MEMORY_MODELS:
            raise ValueError(f"unknown memory model {memory_model!r}")
        if fair_bound < 1 or max_steps < 1 or hung_task_steps < 1:
            raise ValueError("fair_bound, max_steps and hung_task_steps must be positive")
        self.ncpus = ncpus
        self.preempt = preempt
        self.preempt_full = preempt == PREEMPT_FULL
        self.preempt_voluntary = preempt == PREEMPT_VOLUNTARY
        self.tso = memory_model == "tso"
        self.memory_model = memory_model
        self.fair_bound = fair_bound
        self.max_steps = max_steps
        self.hung_task_steps = hung_task_steps
        self.cpus = [Cpu(i) for i in range(ncpus)]
        self.tasks = []
        self.current = None
        self.last = None
        self.steps = 0
        self.schedule = []
        self.preemptions = 0
        self.nr_live = 0               # non-daemon tasks not yet finished
        # observers (set by explore/ or report/): called after every step
        self.labels = None             # list of labels when recording
        self.on_step = None
        # RCU grace periods in flight: [GracePeriod]
        self.rcu_gps = []
        # lockdep: lock class -> {lock class acquired while holding it: first site}
        self.lock_deps = {}
        # end-of-run checks registered by the model: callables raising failures
        self.quiesce_checks = []
        self.workqueues_ready = False
        self.kworkers = []
        self.worker_pools = []
        if self.tso:
            for c in self.cpus:
                t = Task(len(self.tasks), f"sb/{c.id}", c.id, None,
                         daemon=True, is_sb=True)
                self.tasks.append(t)
                c.sb_task = t

    # ------------------------------------------------------------------ tasks
    def spawn(self, name, cpu, gen, *, daemon=False, rt_prio=0, user=False,
              invisible=False):
        """Create a task running generator ``gen`` on ``cpu``."""
        if not 0 <= cpu < self.ncpus:
            raise ValueError(f"task {name}: cpu {cpu} does not exist (ncpus={self.ncpus})")
        t = Task(len(self.tasks), name, cpu, gen, daemon=daemon,
                 rt_prio=rt_prio, user=user, invisible=invisible)
        self.tasks.append(t)
        c = self.cpus[cpu]
        c.tasks.append(t)
        if not daemon:
            self.nr_live += 1
        return t

    def task_by_name(self, name):
        for t in self.tasks:
            if t.name == name:
                return t
        return None

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
        # schedule() is a full barrier and a quiescent state
        if self.tso and self.cpus[t.cpu].sb:
            self.drain_store_buffer(t.cpu)
        if self.rcu_gps:
            self.rcu_report_qs(t.cpu)

    def spin(self, t, lock):
        """``t`` spins on ``lock``: it keeps its CPU but cannot advance."""
        t.state = SPINNING
        t.wait = lock
        t.blocked_since = self.steps

    def wake(self, t):
        if t.state == BLOCKED or t.state == SPINNING:
            t.state = RUNNABLE
            t.wait = None
            t.idle = False

    def might_sleep(self, t, what):
        if t.preempt_count or t.irqs_off:
            raise SchedulingWhileAtomic(
                f"BUG: sleeping function called from invalid context: {what} "
                f"in_atomic(): 1, irqs_disabled(): {int(bool(t.irqs_off))}, "
                f"pid: {t.pid}, name: {t.name}")

    # ------------------------------------------------------------ memory model
    def full_barrier(self, cpu):
        if self.cpus[cpu].sb:
            self.drain_store_buffer(cpu)

    def drain_store_buffer(self, cpu):
        sb = self.cpus[cpu].sb
        for var, value in sb:
            var.v = value
        sb.clear()

    # ---------------------------------------------------------------- RCU
    def rcu_report_qs(self, cpu):
        bit = 1 << cpu
        done = None
        for gp in self.rcu_gps:
            if gp.pending & bit:
                gp.pending &= ~bit
                if self.cpus[cpu].sb:
                    self.drain_store_buffer(cpu)   # QS reports imply a full barrier
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

    # -------------------------------------------------------------- enabled
    def enabled(self):
        """Tasks that may execute the next step, in task-id order per CPU."""
        en = []
        full = self.preempt_full
        vol = self.preempt_voluntary
        for c in self.cpus:
            cur = c.curr
            if cur is not None:
                st = cur.state
                if st == RUNNABLE:
                    sp = cur.sched_point
                    if cur.preempt_count or cur.irqs_off or not (
                            full or cur.user or sp == SCHED_ALWAYS
                            or (vol and sp)):
                        en.append(cur)
                        continue
                elif st == SPINNING:
                    continue
            best = -1
            cands = None
            for t in c.tasks:
                if t.state == RUNNABLE:
                    p = t.rt_prio
                    if p > best:
                        best = p
                        cands = [t]
                    elif p == best:
                        cands.append(t)
            if cands is None:
                continue
            if best > 0 and cur is not None and cur.state == RUNNABLE and cur.rt_prio == best:
                en.append(cur)     # SCHED_FIFO: not preempted by equal priority
            else:
                en.extend(cands)
        if self.tso:
            for c in self.cpus:
                if c.sb:
                    en.append(c.sb_task)
        return en

    # ------------------------------------------------------------- the loop
    def run(self, choose):
        """Run to completion or failure.  ``choose(machine, enabled)`` returns
        the task to step.  Returns a :class:`RunResult`."""
        failure = None
        try:
            self._loop(choose)
            for check in self.quiesce_checks:
                check()
        except KernelFailure as f:
            failure = f
        return RunResult(failure, self.steps, self.schedule, self.preemptions, self)

    def _loop(self, choose):
        schedule = self.schedule
        cpus = self.cpus
        fair = self.fair_bound
        max_steps = self.max_steps
        hung_check = 256
        while self.nr_live > 0:
            en = self.enabled()
            if not en:
                raise Deadlock(self._deadlock_report())
            # fairness: the longest-starved task over the bound runs next
            forced = None
            for t in en:
                if t.starve >= fair and (forced is None or t.starve > forced.starve):
                    forced = t
            if forced is not None:
                t = forced
            else:
                t = choose(self, en) if len(en) > 1 else en[0]
                last = self.last
                if t is not last and last is not None and last in en:
                    self.preemptions += 1
            for o in en:
                o.starve += 1
            t.starve = 0
            self.steps += 1
            schedule.append(t.tid)
            self.last = t
            c = cpus[t.cpu]
            if t.is_sb:
                var, value = c.sb.pop(0)
                var.v = value
                if self.labels is not None:
                    self.labels.append(f"store {var.name} = {value} becomes visible")
                    self.on_step and self.on_step(t)
                continue
            if c.curr is not t:
                # context switch: full barrier and a quiescent state
                c.curr = t
                c.nr_switches += 1
                if c.sb:
                    self.drain_store_buffer(t.cpu)
                if self.rcu_gps:
                    self.rcu_report_qs(t.cpu)
            self.current = t
            t.sched_point = 0
            try:
                label = t.gen.send(None)
            except StopIteration as e:
                t.state = DONE
                t.retval = e.value
                label = "exit"
                if not t.daemon:
                    self.nr_live -= 1
                if self.rcu_gps:
                    self.rcu_report_qs(t.cpu)
            if self.rcu_gps:
                self._rcu_step_qs(t)
            if self.labels is not None:
                self.labels.append(label)
                self.on_step and self.on_step(t)
            if self.steps % hung_check == 0:
                self._check_hung()
                if self.steps >= max_steps:
                    raise Livelock(self._livelock_report())
            elif self.steps >= max_steps:
                raise Livelock(self._livelock_report())

    # ------------------------------------------------------------ reports
    def _check_hung(self):
        for t in self.tasks:
            if (t.state == BLOCKED and not t.idle and not t.daemon
                    and self.steps - t.blocked_since > self.hung_task_steps):
                raise HungTask(
                    f"INFO: task {t.name}:{t.pid} blocked for more than "
                    f"{self.hung_task_steps} steps, waiting in {t.wait}")

    def _deadlock_report(self):
        stuck = [f"{t.name} ({STATE_NAMES[t.state]}: {t.wait})" for t in self.tasks
                 if t.state != DONE and not t.daemon]
        return "deadlock: nothing can run; " + ", ".join(stuck)

    def _livelock_report(self):
        live = [t.name for t in self.tasks if t.state != DONE and not t.daemon]
        return (f"no progress: {', '.join(live)} did not finish within "
                f"{self.max_steps} steps")
