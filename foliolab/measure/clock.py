"""A discrete-event clock for the machine: measure mode's scheduler.

Each CPU has its own clock (simulated nanoseconds).  The next step goes to
the task that can start earliest: a task starts at ``max(its CPU's clock,
the time it became ready)``.  A step advances its CPU's clock by its cost
(costs.py), times a jitter drawn from the run's seeded generator.  So:

* a CPU whose task spins on a held lock or sleeps does not step; when the
  task is enabled again it starts no earlier than the step that enabled it
  (the release, the wake-up): the gap is that task's waiting time;
* ``msleep(ns)`` (below) makes a task ready again only ``ns`` later: a
  workload's think time, without burning steps;
* a synchronize_rcu() waiter is ready no earlier than its grace period's
  cost after it started waiting (the model's grace period ends as soon as
  every CPU has been quiescent; the real one takes jiffies);
* the running task keeps its CPU while it is ready, for at most one
  ``slice``; another task of the CPU (a kworker woken by flush_work) waits
  for that -- which is why lru_add_drain_all() is slow on busy CPUs.

Ties are broken by the seeded generator; nothing depends on wall time.
"""

from __future__ import annotations

from .costs import step_kind


class Clock:
    """Plug into a Machine: ``m.run(clock.choose)``; install() sets the
    hooks that charge each step's cost."""

    def __init__(self, m, costs, rng):
        self.m = m
        self.costs = costs
        self.rng = rng
        n = m.ncpus
        self.cpu_clock = [0.0] * n
        self.ready = [0.0] * 64        # tid -> earliest start
        self.last_end = [None] * 64    # tid -> end of its last step
        self.cur_end = 0.0             # end of the last step
        self.seen = [-1] * 64          # tid -> the last choose() call it was enabled at
        self.calls = 0
        self.waited = {}              # tid -> ns enabled-or-blocked but not running
        self.slice_start = [0.0] * n
        self.now = 0.0                # start of the step being run
        self.kind_ns = {}             # kind -> total ns charged (profile)
        self._kind_cache = {}
        self._rcu_wait = {}           # tid -> True inside synchronize_rcu*()
        c = costs.costs
        self._cost = {k: c[k] for k in c}
        self._jit = c["jitter"]
        self._slice = c["slice"]
        self._sb = c["sb"]
        self.label = None

    # ------------------------------------------------------------ hooks
    def install(self):
        m = self.m
        m.choose_single = True
        m.labels = self           # Machine calls labels.append(label) after a step
        m.on_step = self._charge
        return self

    def append(self, label):
        self.label = label

    def _charge(self, t):
        label = self.label
        kind = self._kind_cache.get(label)
        if kind is None:
            kind = step_kind(label)
            if len(self._kind_cache) < 50_000:
                self._kind_cache[label] = kind
        if kind == "rcu_gp" or kind == "rcu_exp":
            # a grace period: the caller runs again no earlier than its cost
            # after the call (once per call, not per wake-up of its wait)
            if t.tid not in self._rcu_wait:
                self._rcu_wait[t.tid] = True
                ra = self.now + self._cost[kind]
                ready = self._ready(t.tid)
                if ready[t.tid] < ra:
                    ready[t.tid] = ra
            kind = "sched"
        elif self._rcu_wait:
            self._rcu_wait.pop(t.tid, None)
        cost = self._cost[kind]
        j = self._jit
        if j:
            cost *= 1.0 - j + 2.0 * j * self.rng.random()
        end = self.now + cost
        if t.is_sb:
            end = self.now
        else:
            self.cpu_clock[t.cpu] = end
        self.last_end[t.tid] = end
        self.cur_end = end
        self.kind_ns[kind] = self.kind_ns.get(kind, 0.0) + cost

    # ------------------------------------------------------------ choice
    def msleep(self, ns):
        """The current task is ready again only ``ns`` from now (used by
        workload actors between operations; a step of its own)."""
        self._ready(self.m.current.tid)
        self.ready[self.m.current.tid] = self.now + ns

    def _ready(self, tid):
        ready = self.ready
        while tid >= len(ready):
            ready.extend([0.0] * 64)
            self.last_end.extend([None] * 64)
            self.seen.extend([-1] * 64)
        return ready

    def choose(self, m, en):
        clock = self.cpu_clock
        ready = self.ready
        end = self.cur_end
        cpus = m.cpus
        slice_start = self.slice_start
        slice_ns = self._slice
        best = None
        best_start = 0.0
        ties = 0
        seen = self.seen
        call = self.calls = self.calls + 1
        for t in en:
            tid = t.tid
            if tid >= len(ready):
                ready = self._ready(tid)
                seen = self.seen
            r = ready[tid]
            if seen[tid] != call - 1 and r < end:
                # enabled by the step that just ended: not before its end
                ready[tid] = r = end
            seen[tid] = call
            c = t.cpu
            if t.is_sb:
                start = clock[c] + self._sb
                if r > start:
                    start = r
            else:
                start = clock[c]
                if r > start:
                    start = r
                curr = cpus[c].curr
                if curr is not None and curr is not t and curr.in_en \
                        and ready[curr.tid] <= start and start - slice_start[c] < slice_ns:
                    continue          # the running task keeps the CPU
            if best is None or start < best_start:
                best = t
                best_start = start
                ties = 1
            elif start == best_start:
                ties += 1
                if self.rng.random() * ties < 1.0:
                    best = t
        t = best
        if not t.is_sb:
            c = t.cpu
            if cpus[c].curr is not t:
                slice_start[c] = best_start
            prev_end = self.last_end[t.tid]
            if prev_end is not None and best_start > prev_end:
                self.waited[t.tid] = self.waited.get(t.tid, 0.0) + best_start - prev_end
        self.now = best_start
        return t

    def time(self):
        """Simulated time: the latest CPU clock."""
        return max(self.cpu_clock)
