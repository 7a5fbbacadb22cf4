"""Counterexample shrinking: fewer preemptions, same failure.

A schedule is re-expressed as a list of *decisions* ``(step, task id)`` for
the policy "take the task a decision names for this step; else keep running
the last task; when it cannot run, the lowest-id enabled task; a decision
for a step where the last task can still run is a preemption" (invisible
tasks are transparent, as in the strategies).  Replaying
every decision of a schedule reproduces it exactly; delta debugging (Zeller's
ddmin) then drops decisions while the same failure still occurs: the same
kind, property and message class (``FailureInfo.same_failure``: the message
with its figures masked), so that the shrunk table shows the symptom that
was found, not another one the fewer preemptions happen to reach.
When that leaves more than one preemption, a preemption-bounded DFS with a
smaller bound looks for the same failure with fewer preemptions
(ddmin only removes decisions; it cannot move one).  Effort is bounded by a
number of replays.
"""

from __future__ import annotations

from .strategies import DFS, last_visible, visible
from .run import ModelError, NondeterminismError, failure_info, run_schedule, strict_choose


class Shrunk:
    """The result of shrinking."""

    __slots__ = ("schedule", "steps", "preemptions", "preemption_steps",
                 "failure", "tasks", "replays", "decisions", "original_preemptions")

    def __init__(self, schedule, steps, preemptions, preemption_steps, failure,
                 tasks, replays, decisions, original_preemptions):
        self.schedule = schedule
        self.steps = steps
        self.preemptions = preemptions
        self.preemption_steps = preemption_steps
        self.failure = failure
        self.tasks = tasks
        self.replays = replays
        self.decisions = decisions
        self.original_preemptions = original_preemptions

    def line(self):
        n = self.preemptions
        where = ""
        if self.preemption_steps:
            w = ", ".join(str(s) for s in self.preemption_steps)
            where = f" (step{'s' if len(self.preemption_steps) > 1 else ''} {w})"
        return f"shrunk: {n} preemption{'s' if n != 1 else ''}{where}, {self.steps} steps"

    def to_json(self):
        return {"schedule": list(self.schedule), "steps": self.steps,
                "preemptions": self.preemptions,
                "preemption_steps": list(self.preemption_steps),
                "failure": self.failure.to_json(), "tasks": list(self.tasks),
                "replays": self.replays,
                "original_preemptions": self.original_preemptions}


def policy_choose(decisions, preempted):
    """The shrinking policy for ``decisions`` ({step: tid}); appends the
    steps of preemptions to ``preempted``."""

    def choose(m, en):
        s = m.steps + 1
        vis = visible(en)
        last = last_visible(m)
        cont = last is not None and last in vis
        d = decisions.get(s)
        if d is not None:
            for t in en:
                if t.tid == d:
                    if cont and t is not last:
                        preempted.append(s)
                    return t
        return last if cont else _default(vis)

    return choose


def _default(vis):
    best = vis[0]
    for t in vis:
        if t.tid < best.tid:
            best = t
    return best

def extract_decisions(scenario, patches, settings, schedule, build=None):
    """The decisions that make the policy follow ``schedule`` exactly."""
    decisions = []
    follow = strict_choose(schedule)

    def choose(m, en):
        t = follow(m, en)
        vis = visible(en)
        last = last_visible(m)
        default = last if last is not None and last in vis else _default(vis)
        if t is not default:
            decisions.append((m.steps + 1, t.tid))
        return t

    run_schedule(scenario, patches, settings, choose, build=build)
    return decisions


def shrink(scenario, patches, settings, schedule, failure, *, budget=200,
           build=None, should_stop=None):
    """Shrink a failing ``schedule`` (whose failure is ``failure``, a
    FailureInfo).  Returns a :class:`Shrunk` or None when even the decision
    replay does not fail the same way (then the model is not deterministic
    under this policy, which the nondeterminism check reports separately)."""
    try:
        decisions = extract_decisions(scenario, patches, settings, schedule, build)
    except (NondeterminismError, ModelError):
        return None
    replays = [1]
    best = {}

    def attempt(ds):
        if replays[0] >= budget or (should_stop is not None and should_stop()):
            return False
        replays[0] += 1
        pre = []
        try:
            k, res = run_schedule(scenario, patches, settings,
                                  policy_choose(dict(ds), pre), build=build)
        except ModelError:
            return False
        info = failure_info(k, res)
        if info is not None and info.same_failure(failure):
            key = (len(pre), res.steps)
            if "key" not in best or key < best["key"]:
                best.update(key=key, ds=list(ds), res=res, info=info, pre=list(pre),
                            tasks=[t.name for t in res.machine.tasks])
            return True
        return False

    if not attempt(decisions):
        return None
    original_preemptions = best["key"][0]
    items = list(decisions)
    if items and not attempt([]):
        # ddmin over the decision list
        n = 2
        while len(items) >= 2 and replays[0] < budget:
            chunk = -(-len(items) // n)
            parts = [items[i:i + chunk] for i in range(0, len(items), chunk)]
            reduced = False
            for i in range(len(parts)):
                comp = [d for j, p in enumerate(parts) if j != i for d in p]
                if attempt(comp):
                    items = comp
                    n = max(n - 1, 2)
                    reduced = True
                    break
            if not reduced:
                for p in parts:
                    if len(parts) > 2 and attempt(p):
                        items = p
                        n = 2
                        reduced = True
                        break
            if not reduced:
                if n >= len(items):
                    break
                n = min(2 * n, len(items))
        if len(items) == 1:
            attempt([])
    # ddmin stops at a 1-minimal decision list, which can still have more
    # preemptions than needed (a preemption elsewhere may do what two do
    # here): look for a failure with fewer preemptions systematically, with
    # the replays left (iterative DFS: fewest preemptions first).
    if best["key"][0] > 0 and replays[0] < budget:
        dfs = DFS(best["key"][0] - 1)
        while replays[0] < budget and not (should_stop is not None and should_stop()):
            choose = dfs.next_choose()
            if choose is None:
                break
            replays[0] += 1
            try:
                k, res = run_schedule(scenario, patches, settings, choose, build=build)
            except (ModelError, NondeterminismError):
                break
            dfs.after(res)
            info = failure_info(k, res)
            if info is not None and info.same_failure(failure):
                try:
                    ds = extract_decisions(scenario, patches, settings, res.schedule, build)
                except (NondeterminismError, ModelError):
                    break
                replays[0] -= 1              # this replay is not charged twice
                attempt(ds)
                break
    res = best["res"]
    return Shrunk(list(res.schedule), res.steps, len(best["pre"]), best["pre"],
                  best["info"], best["tasks"], replays[0], best["ds"],
                  original_preemptions)
