"""Livelock and soft-lockup oracles: CPUs busy, nothing progresses.

The machine's own ``Livelock`` fires when a run reaches ``max_steps``: a
guess, not a finding.  This module gives two oracles that fire on a finite
run for a reason that can be stated:

**The repeating cycle** (:class:`SpinCycleDetector`).  Model code marks
the head of a retry loop that can spin -- a kernel-mode refault loop, a
busy retry -- with :func:`spin_loop_head` (a no-op unless a detector is
armed).  The mark says: "this task is at the start of one more iteration,
and ``key`` is everything its next steps depend on besides shared state".
After every step that ended with the stepped task at a loop head, the
detector takes a fingerprint of the whole run state:

* the scenario's shared state (``state_fn()``: every field of every object
  the tasks can read or write -- page structs, PTEs, locks and their
  waiters, wait queues -- but not event counters, which nothing in the
  model reads to decide);
* the machine: the task current on each CPU, the task that ran last (a
  preemption is counted against it), and per task its state, the lock it
  spins on, its preemption and irq counts, its pending scheduling point
  and what it waits on;
* per task its *position*: ``(site, key)`` if the task is at a marked loop
  head, else the number of steps it has taken.

If the fingerprint equals the one at an earlier step ``s1``, then every
task that ran in between was at the same loop head with the same ``key``
at both ends, and every other task did not run at all: the run state at
``s2`` is the run state at ``s1``.  The model is deterministic given the
schedule, so the schedule of the window ``(s1, s2]`` can be repeated for
ever, each repetition ending in the same state.  If moreover **every task
that was enabled at any state of the window ran in the window**, that
infinite run is fair (strongly: no task is enabled infinitely often
without running) and it makes no progress: a real livelock, found on a
finite run.  The report names the tasks that can never run (runnable, but
their CPU is held by a task without a scheduling point), the spinning
tasks and their CPUs, the tasks asleep, and the steps of the cycle.

A matching window in which some enabled task did not run is an *unfair*
cycle: the scheduler could have run that task and chose not to.  It is
not reported.  A systematic search (``fair_bound`` 0, which takes the
preemption bound instead of fairness, and ``on_event`` set) would
otherwise follow such a cycle to ``max_steps``; there the detector
abandons the run
(``ScheduleAborted``): every continuation from ``s2`` starts from the
state of ``s1``, with the same task last, which the search reaches with
no more preemptions than at ``s2``.

**Soft lockup** (:class:`SoftLockupWatch`): a CPU that runs kernel code
of one task for more than ``bound`` steps without a scheduling point
(``cond_resched``, blocking, a switch, return to user mode): the
watchdog's "BUG: soft lockup - CPU#N stuck".  A backstop for spins the
cycle detector cannot see (state that grows: a counter the model reads).

Both are step checks (``Machine.add_step_check``): they run between
steps, outside every footprint, and change nothing in the machine.
"""

from __future__ import annotations

from .machine import BLOCKED, DONE, RUNNABLE, SPINNING, ScheduleAborted
from .oracles import KernelFailure, Livelock


class KernelSoftLockup(KernelFailure):
    """The soft-lockup watchdog: a CPU stuck in kernel code with no
    scheduling point past the bound."""

    kind = "soft-lockup"


def spin_loop_enter(m):
    """A call of a function with a spin loop begins: a token that names this
    activation (its callers' frames stay as they are until it returns).
    Pass it in the ``key`` of :func:`spin_loop_head`, so that a cycle never
    spans a return to the caller (whose loop counters moved)."""
    det = getattr(m, "spin_detector", None)
    if det is None:
        return 0
    det.activations += 1
    return det.activations


def spin_loop_head(m, site, key=()):
    """The current task starts one more iteration of the spin loop ``site``;
    ``key``: the loop's local state its next steps depend on (hashable),
    with the activation token of :func:`spin_loop_enter`.  Call it right
    before the first yield of the iteration."""
    det = getattr(m, "spin_detector", None)
    if det is not None:
        det.pending = (m.current.tid, site, key)


class SpinCycleDetector:
    """See the module docstring.  ``state_fn()`` returns a hashable
    snapshot of the scenario's shared state."""

    def __init__(self, m, state_fn, *, max_window=4096):
        self.m = m
        self.state_fn = state_fn
        self.max_window = max_window
        self.pending = None
        self.at_head = {}             # tid -> (site, key) while at a loop head
        self.nsteps = [0] * 0         # per task id: steps taken
        self.seen = {}                # fingerprint -> step number
        self.en_log = []              # per step: bitmask of enabled tids after it
        self.ran = []                 # per step: tid stepped
        self.cycles_cut = 0
        self.activations = 0
        m.spin_detector = self
        m.add_step_check(self.check, name="livelock: repeating cycle")

    # -------------------------------------------------------------- machine
    def _task_state(self, t):
        want = t.want
        wait = t.wait
        return (t.state, want.name if want is not None else None, t.preempt_count,
                t.irqs_off, t.sched_point, t.user,
                getattr(wait, "name", None) if wait is not None else None)

    def _fingerprint(self):
        m = self.m
        pos = []
        at_head = self.at_head
        nsteps = self.nsteps
        for t in m.tasks:
            h = at_head.get(t.tid)
            pos.append(("head",) + h if h is not None else
                       ("n", nsteps[t.tid] if t.tid < len(nsteps) else 0))
        return (self.state_fn(),
                tuple(c.curr.tid if c.curr is not None else -1 for c in m.cpus),
                m.current.tid if m.current is not None else -1,
                tuple(self._task_state(t) for t in m.tasks),
                tuple(pos))

    # ---------------------------------------------------------------- check
    def check(self):
        m = self.m
        tid = m.schedule[-1]
        ntasks = len(m.tasks)
        if len(self.nsteps) < ntasks:
            self.nsteps += [0] * (ntasks - len(self.nsteps))
        self.nsteps[tid] += 1
        mask = 0
        for t in m.enabled():
            mask |= 1 << t.tid
        self.en_log.append(mask)
        self.ran.append(tid)
        p = self.pending
        self.pending = None
        if p is not None and p[0] == tid:
            self.at_head[tid] = (p[1], p[2])
        else:
            self.at_head.pop(tid, None)
            return
        step = m.steps
        fp = self._fingerprint()
        s1 = self.seen.get(fp)
        self.seen[fp] = step
        if s1 is None or step - s1 > self.max_window:
            return
        # the window (s1, step]: steps s1+1 .. step, i.e. indices s1 .. step-1
        ran = 0
        for x in self.ran[s1:step]:
            ran |= 1 << x
        enabled = 0
        for x in self.en_log[s1 - 1 if s1 else 0:step - 1]:
            enabled |= x
        if enabled & ~ran:
            if m.fair_bound == 0 and m.on_event is not None:
                self.cycles_cut += 1
                raise ScheduleAborted(
                    f"unfair cycle: the state at step {step} is the state at step {s1}")
            return
        idle = self._idle_cpu()
        if idle is not None:
            starving = [t for t in m.tasks if t.state == RUNNABLE and not ran >> t.tid & 1
                        and not t.daemon and not t.is_sb]
            if starving:
                # The engine pins tasks; the kernel's idle balancing would
                # pull a starving task to the idle CPU and run it there.
                # Not a behaviour of the kernel: the run is abandoned.
                self.cycles_cut += 1
                raise ScheduleAborted(
                    f"cycle with cpu{idle} idle while {starving[0].name} starves: idle "
                    f"balancing would run it there")
        raise Livelock(self._report(s1, step, ran))

    def _idle_cpu(self):
        """A CPU with nothing to run (every task of it asleep or exited)."""
        for c in self.m.cpus:
            if not any(t.state in (RUNNABLE, SPINNING) for t in c.tasks):
                return c.id
        return None

    # --------------------------------------------------------------- report
    def _report(self, s1, s2, ran):
        m = self.m
        spinning = []
        for t in m.tasks:
            if ran >> t.tid & 1:
                site = self.at_head.get(t.tid, ("?",))[0]
                spinning.append(f"{t.name} on cpu{t.cpu} ({site})")
        starving = []
        for t in m.tasks:
            if t.state == RUNNABLE and not ran >> t.tid & 1 and not t.daemon:
                holder = m.cpus[t.cpu].curr
                why = (f"cpu{t.cpu} held by {holder.name}, which never reaches a "
                       f"scheduling point" if holder is not None and holder is not t
                       else f"never chosen on cpu{t.cpu}")
                starving.append(f"{t.name} (runnable: {why})")
        asleep = [f"{t.name} (D: {getattr(t.wait, 'name', t.wait)}, since step "
                  f"{t.blocked_since})"
                  for t in m.tasks if t.state == BLOCKED and not t.daemon and not t.idle]
        spins = [f"{t.name} (spins on {t.want.name})" for t in m.tasks
                 if t.state in (RUNNABLE, SPINNING) and t.want is not None
                 and t.want.owner is not None]
        names = {t.tid: t.name for t in m.tasks}
        window = self.ran[s1:s2]
        cycle = _compress([names[x] for x in window])
        live = sum(1 for t in m.tasks if t.state != DONE and not t.daemon)
        parts = [f"livelock: no progress while every CPU stays busy -- the state after "
                 f"step {s2} is the state after step {s1}, and every task enabled in "
                 f"between ran: the cycle of {s2 - s1} steps repeats for ever "
                 f"({live} tasks never finish)"]
        if starving:
            parts.append("starving: " + ", ".join(starving))
        parts.append("spinning: " + ", ".join(spinning))
        if asleep:
            parts.append("asleep: " + ", ".join(asleep))
        if spins:
            parts.append("waiting for a lock: " + ", ".join(spins))
        parts.append("cycle: " + cycle)
        return " -- ".join(parts)


def _compress(names):
    """T1 T1 T1 T2 -> T1 x3, T2."""
    out = []
    for n in names:
        if out and out[-1][0] == n:
            out[-1][1] += 1
        else:
            out.append([n, 1])
    return ", ".join(n if c == 1 else f"{n} x{c}" for n, c in out)


class SoftLockupWatch:
    """watchdog_timer_fn()'s soft-lockup check, in steps: per CPU, the steps
    its current task ran since its last scheduling point."""

    def __init__(self, m, bound):
        self.m = m
        self.bound = bound
        self.since = [0] * m.ncpus
        self.who = [None] * m.ncpus
        self.switches = [0] * m.ncpus
        m.add_step_check(self.check, name="soft lockup")

    def check(self):
        m = self.m
        t = m.tasks[m.schedule[-1]]
        if t.is_sb:
            return
        c = t.cpu
        cpu = m.cpus[c]
        preemptible = m.preempt_full and not (t.preempt_count or t.irqs_off)
        if (t.sched_point or t.user or t.state != RUNNABLE or self.who[c] is not t
                or cpu.nr_switches != self.switches[c] or preemptible):
            self.since[c] = 0
            self.who[c] = t
            self.switches[c] = cpu.nr_switches
            return
        self.since[c] += 1
        if self.since[c] > self.bound:
            raise KernelSoftLockup(
                f"watchdog: BUG: soft lockup - CPU#{c} stuck for {self.since[c]} steps! "
                f"[{t.name}:{t.pid}] (no scheduling point in kernel mode; "
                f"{_others_waiting(m, c, t)})")


def _others_waiting(m, c, t):
    waiting = [u.name for u in m.cpus[c].tasks if u is not t and u.state == RUNNABLE]
    return (f"runnable on this CPU and waiting: {', '.join(waiting)}" if waiting
            else "nothing else runnable on this CPU")
