"""Scheduling strategies.

A strategy hands out one ``choose(m, enabled) -> task`` policy per schedule
(:meth:`next_choose`, ``None`` when it has nothing left to explore) and is told
how each run went (:meth:`after`).  All randomness comes from one
``random.Random`` per exploration, seeded from the user's seed; nothing
depends on wall time, ``id()`` or set order.

* :class:`RandomWalk`: a uniformly random enabled task at every choice.
* :class:`PCT`: probabilistic concurrency testing (Burckhardt, Kothari,
  Musuvathi, Nagarakatte, "A Randomized Scheduler with Probabilistic
  Guarantees of Finding Bugs", ASPLOS 2010): random task priorities, ``d-1``
  priority change points over the estimated run length; the highest-priority
  enabled task always runs.  Finds a bug of depth ``d`` with probability at
  least ``1/(n k^(d-1))`` per schedule.
* :class:`POS`: partial order sampling (basic scheme).
* :class:`Portfolio`: the default; the above interleaved schedule by schedule
  (rounds of 20: sticky 10, random 5, POS 3, PCT d=2 and d=3 one each).
* :class:`DFS`: preemption-bounded depth-first search (Musuvathi & Qadeer,
  "Iterative Context Bounding for Systematic Testing of Multithreaded
  Programs", PLDI 2007): every schedule with at most ``k`` preemptions, by
  stateless re-execution.  When it runs out of schedules it has a
  certificate.

A *choice* is a step at which the machine asks the policy (more than one
task enabled and no fairness-forced task).  A choice is a *preemption* when
the previously stepped task (``m.current``) is still enabled and another task is
chosen -- the machine's own ``m.preemptions`` count.

Invisible tasks (``Task.invisible``: every step touches only the task's own
state, e.g. a user busy loop) are not interleaved: every strategy runs one
only when no visible task is enabled (or when fairness forces it), and their
steps are transparent to the DFS's preemption accounting (``last`` is the
last *visible* task stepped).  This keeps a SCHED_FIFO busy loop from
starving the tasks that matter under PCT and from multiplying DFS schedules.
"""

from __future__ import annotations

import random
from math import floor

from .run import NondeterminismError


def last_visible(m):
    """The last visible task stepped (``m.current`` unless it is invisible)."""
    last = m.current
    if last is None or not last.invisible:
        return last
    sched = m.schedule
    tasks = m.tasks
    i = len(sched) - 2
    while i >= 0 and tasks[sched[i]].invisible:
        i -= 1
    return tasks[sched[i]] if i >= 0 else None


def visible(en):
    """``en`` without invisible tasks (``en`` itself when all are visible;
    the invisible ones when nothing else is enabled)."""
    for t in en:
        if t.invisible:
            vis = [o for o in en if not o.invisible]
            return vis or en
    return en


def highest(en, prio, draw):
    """The enabled task of highest priority (``prio`` by task id, grown to
    the task count; a task without one gets ``draw(t)``): PCT and POS."""
    best = None
    bp = -3.0
    for t in en:
        p = prio[t.tid]
        if p is None:
            p = prio[t.tid] = draw(t)
        if p > bp:
            bp = p
            best = t
    return best


class Strategy:
    name = "?"
    complete = False          # True once a systematic search has run out

    def next_choose(self):
        raise NotImplementedError

    def after(self, res):
        pass

    def describe(self):
        return self.name

    def params(self):
        return {"name": self.name}


class RandomWalk(Strategy):
    """Uniformly random choice among the enabled tasks."""

    name = "random"

    def __init__(self, seed):
        self.rng = random.Random(seed)
        rnd = self.rng.random

        # floor() of a number in [0, n) is its int(), at half the cost:
        # the same draws give the same choices
        def choose(m, en):
            t = en[floor(rnd() * len(en))]
            if t.invisible:
                t = again(en)
            return t

        def again(en):
            """Uniform over the visible tasks instead."""
            vis = visible(en)
            return vis[floor(rnd() * len(vis))]

        # The machine makes the first draw itself (Machine._loop): the same
        # draws in the same order, without a Python call per step.
        choose.uniform = rnd
        choose.again = again
        self._choose = choose

    def next_choose(self):
        return self._choose


class StickyWalk(Strategy):
    """Random walk for weak-memory bugs: keep running the last task with
    probability ``stick``, otherwise pick uniformly among the enabled tasks
    -- but never a store-buffer pseudo-task by choice.  Buffered stores then
    become visible only through barriers, locked operations, context
    switches and the fairness bound, so they linger as long as the machine
    allows: the schedules TSO bugs need (the uniform walk flushes every
    buffer within a few steps)."""

    name = "sticky"

    def __init__(self, seed, stick=0.8):
        self.rng = random.Random(seed)
        self.stick = stick
        rnd = self.rng.random

        def choose(m, en):
            last = m.current
            cands = [t for t in en if not t.is_sb and not t.invisible] or en
            if last in cands and rnd() < stick:
                return last
            return cands[floor(rnd() * len(cands))]

        self._choose = choose

    def describe(self):
        return f"sticky(p={self.stick})"

    def params(self):
        return {"name": self.name, "stick": self.stick}

    def next_choose(self):
        return self._choose


class PCT(Strategy):
    """PCT with depth ``d``.

    ``k``, the length of a run, is counted in *choices* (steps at which the
    machine asks the policy): a priority change point placed on a step with
    one enabled task or a fairness-forced step could not preempt anything,
    so counting choices wastes none of the ``d-1`` change points and raises
    the per-schedule guarantee to ``1/(n k^(d-1))`` with the smaller ``k``.
    ``k`` is learnt: the first schedule is a random walk, then ``k`` is the
    largest number of choices seen in a run.
    """

    name = "pct"

    def __init__(self, seed, depth=2):
        if depth < 1:
            raise ValueError("PCT depth must be at least 1")
        self.rng = random.Random(seed)
        self.depth = depth
        self.k = 0                 # choices in the longest run seen
        self._walk = RandomWalk(self.rng.getrandbits(64))
        self._count = None

    def describe(self):
        return f"pct(d={self.depth})"

    def params(self):
        return {"name": self.name, "depth": self.depth}

    def after(self, res):
        n = self._count()
        if n > self.k:
            self.k = n

    def next_choose(self):
        if self.k == 0:
            walk = self._walk.next_choose()
            calls = 0

            def first(m, en):
                nonlocal calls
                calls += 1
                return walk(m, en)

            self._count = lambda: calls
            return first
        rng = self.rng
        d = self.depth
        rnd = rng.random
        # d-1 change points over the choices [1, k]; the i-th lowers the
        # running task to priority d-i, below every initial priority (>= d).
        cps = sorted(rng.randint(1, self.k) for _ in range(d - 1))
        cps.append(1 << 62)        # sentinel
        prio = []
        calls = 0
        ci = 0                     # index of the next change point

        def draw(t):
            # invisible tasks rank below every visible one
            return (-1.0 - rnd()) if t.invisible else d + rnd()

        def choose(m, en):
            nonlocal calls, ci
            calls += 1
            n = len(m.tasks)
            if len(prio) < n:
                prio.extend([None] * (n - len(prio)))
            best = highest(en, prio, draw)
            if calls >= cps[ci]:
                while calls >= cps[ci]:
                    ci += 1
                    prio[best.tid] = d - ci
                    best = highest(en, prio, draw)
            return best

        self._count = lambda: calls
        return choose


class POS(Strategy):
    """Partial order sampling, the basic scheme (BasicPOS in Yuan, Yang and
    Gu, "Partial Order Aware Concurrency Sampling", CAV 2018): every pending
    step (one per enabled task) carries a random priority, the highest runs,
    and only the stepped task draws a new one.  A task whose pending step
    drew a high priority keeps it while others run, so steps far apart in
    the run get reordered with a probability that does not shrink with the
    length of the run, as it does for a random walk.  (Full POS would also
    redraw the priorities of the steps that race with the one executed;
    pending steps' footprints are not known before they run, so it is the
    basic scheme.)  Store-buffer pseudo-tasks take part like tasks: a store
    lingers while its pseudo-task's priority is low."""

    name = "pos"

    def __init__(self, seed):
        self.rng = random.Random(seed)

    def next_choose(self):
        rnd = self.rng.random
        prio = []

        def draw(t):
            return (-1.0 - rnd()) if t.invisible else rnd()

        def choose(m, en):
            n = len(m.tasks)
            if len(prio) < n:
                prio.extend([None] * (n - len(prio)))
            best = highest(en, prio, draw)
            # its next step is a new event: a new priority
            prio[best.tid] = draw(best)
            return best

        return choose


class Portfolio(Strategy):
    """The default search: PCT (d=2), PCT (d=3), a random walk, the sticky
    walk and POS interleaved schedule by schedule, each member with its own
    generator seeded from the exploration's seed.

    No single strategy is best on every race (PCT wants a shallow bug in a
    long run, the random walk a bug many choices deep, the sticky walk a
    store that lingers in a store buffer, POS a reordering of steps far
    apart), so each member gets a share of the schedules: a portfolio that
    gives member ``i`` the share ``s_i`` fails on a schedule with probability
    ``sum_i s_i p_i`` (``p_i``: the member's failure rate), and needs
    ``max_i p_i / sum_i s_i p_i`` times the schedules of the best member.
    The shares come from every member's failure rate on every cell of the
    catalogue expected to fail (bench/portfolio.py).  No fixed mixture of
    these members is within 2x of the best member everywhere: the least
    worst ratio any mixture has is 2.6x (three cells pull apart: only the
    sticky walk finds drain-transient under minchan-rfc, the random walk
    finds tail-wait-livelock at 8 times any other's rate, POS leads on
    move-charge-vs-rotate-nodebug).  That mixture, though, is over 2x on 18
    cells of 65.  The rounds here are the mixture with the fewest cells
    over 2x among those whose worst ratio stays under 4x: per round of 20,
    sticky 10, random 5, POS 3, PCT d=2 and d=3 one each (worst 3.6x, 6
    cells over 2x; the rotation of eight it replaces, with the sticky walk
    in every other slot: 6.6x, 10 cells).  The sticky walk keeps half the
    schedules: the scenarios run under TSO and their races need a store to
    linger.  The order within a round spreads each member evenly (smooth
    weighted round robin): sticky, random, sticky, POS, sticky, random,
    sticky, PCT d=2, ...; PCT d=3 first runs thirteenth."""

    name = "portfolio"
    # (member index, schedules per round): pct2, pct3, random, sticky, pos
    SHARES = ((3, 10), (2, 5), (4, 3), (0, 1), (1, 1))

    def __init__(self, seed):
        rng = random.Random(seed)
        self.members = [PCT(rng.getrandbits(64), 2), PCT(rng.getrandbits(64), 3),
                        RandomWalk(rng.getrandbits(64)), StickyWalk(rng.getrandbits(64)),
                        POS(rng.getrandbits(64))]
        self.rotation = tuple(self.members[i] for i in _smooth_rotation(self.SHARES))
        self.i = 0
        self.current = None

    def describe(self):
        return "portfolio(" + ", ".join(m.describe() for m in self.members) + ")"

    def params(self):
        return {"name": self.name, "members": [m.params() for m in self.members]}

    def next_choose(self):
        self.current = self.rotation[self.i % len(self.rotation)]
        self.i += 1
        return self.current.next_choose()

    def after(self, res):
        self.current.after(res)


def _smooth_rotation(shares):
    """One round of smooth weighted round robin over ``shares`` ((item,
    weight) pairs, ties to the earlier pair): each slot goes to the item
    with the largest running credit, which then pays the round's length."""
    total = sum(w for _, w in shares)
    credit = [0] * len(shares)
    out = []
    for _ in range(total):
        for x, (_, w) in enumerate(shares):
            credit[x] += w
        best = max(range(len(shares)), key=lambda x: (credit[x], -x))
        credit[best] -= total
        out.append(shares[best][0])
    return out


class DFS(Strategy):
    """Every schedule with at most ``k`` preemptions, depth first.

    The search tree holds only real branch points: a choice where the last
    task is still enabled and the preemption budget is spent has one
    allowed answer (keep running it) and is neither recorded nor branched;
    steps with one enabled task or a fairness-forced task never reach the
    policy.  At a branch point the non-preemptive answer is tried first.

    ``iterative`` (default; iterative context bounding, Musuvathi & Qadeer
    2007): search with bound 0, then 1, ... up to ``k``, so that a failure
    needing the fewest preemptions is found first and a search cut by the
    budget still certifies the levels it completed.  Level ``j`` re-runs the
    schedules of level ``j-1`` to find its branch points (an overhead of
    ``|S(<=j-1)|`` runs, small against ``|S(<=j)|``); when the bound was never
    binding at a level, no schedule has more preemptions and the search
    stops there, complete for every bound.
    """

    name = "dfs"

    def __init__(self, preemptions=2, iterative=True):
        if preemptions < 0:
            raise ValueError("the preemption bound must be at least 0")
        self.bound = preemptions
        self.iterative = iterative
        self.level = 0 if iterative else preemptions
        self.stack = []            # [[option tids], index of the current option]
        self.branch_points = 0     # nodes created (for measurements)
        self.max_depth = 0
        self.distinct = 0          # distinct schedules explored (<= level preemptions)
        self.certified_level = -1  # highest bound completely explored
        self.certified_distinct = 0
        self.exhaustive = False    # the bound never mattered: every schedule seen
        self.runs = 0
        self._pruned = False
        self._state = None

    def describe(self):
        return f"dfs(k={self.bound})"

    def params(self):
        return {"name": self.name, "preemptions": self.bound}

    def next_choose(self):
        if self.complete:
            return None
        stack = self.stack
        bound = self.level
        pos = 0
        pre = 0
        pruned = False

        def choose(m, en):
            nonlocal pos, pre, pruned
            last = m.current
            for o in en:
                if o.invisible:
                    en = visible(en)
                    if len(en) == 1 or en[0].invisible:
                        return en[0]    # nothing to branch over
                    last = last_visible(m)
                    break
            else:
                if last is not None and last.invisible:
                    last = last_visible(m)
            cont = last is not None and last in en
            if cont and pre >= bound:
                pruned = True
                return last
            i = pos
            pos = i + 1
            if i < len(stack):
                node = stack[i]
                t = m.tasks[node[0][node[1]]]
                if t not in en:
                    raise NondeterminismError(
                        f"dfs: step {m.steps + 1}: task {t.tid} ({t.name}) was "
                        f"enabled at this point in an earlier run but is not now")
            else:
                if cont:
                    opts = [last.tid]
                    opts.extend([o.tid for o in en if o is not last])
                    t = last
                else:
                    opts = [o.tid for o in en]
                    t = en[0]
                stack.append([opts, 0])
                self.branch_points += 1
            if cont and t is not last:
                pre += 1
            return t

        self._state = lambda: (pos, pre, pruned)
        return choose

    def after(self, res):
        stack = self.stack
        depth, pre, pruned = self._state()
        self.runs += 1
        if pruned:
            self._pruned = True
        if pre == self.level or not self.iterative:
            self.distinct += 1          # new at this level
        if depth > self.max_depth:
            self.max_depth = depth
        if depth < len(stack):          # cannot happen with a deterministic model
            raise NondeterminismError(
                f"dfs: the run made {depth} choices, an earlier run with the "
                f"same prefix made at least {len(stack)}")
        while stack:
            node = stack[-1]
            node[1] += 1
            if node[1] < len(node[0]):
                break
            stack.pop()
        if stack:
            return
        # this level is complete
        self.certified_level = self.level
        self.certified_distinct = self.distinct
        if not self._pruned:
            self.exhaustive = True
            self.certified_level = self.bound
            self.complete = True
        elif self.level >= self.bound:
            self.complete = True
        else:
            self.level += 1
            self._pruned = False


def make_strategy(name, seed=0, *, depth=2, preemptions=2, reduction="dpor"):
    """A strategy by name: ``random``, ``sticky``, ``pct`` (``depth``),
    ``dfs`` (``preemptions``, None for no bound; ``reduction``)."""
    if name == "random":
        return RandomWalk(seed)
    if name == "sticky":
        return StickyWalk(seed)
    if name == "pct":
        return PCT(seed, depth)
    if name == "pos":
        return POS(seed)
    if name == "portfolio":
        return Portfolio(seed)
    if name == "dfs":
        from .dpor import Systematic
        return Systematic(preemptions, reduction)
    raise ValueError(f"unknown strategy {name!r} (known: {', '.join(STRATEGIES)})")


STRATEGIES = ("portfolio", "random", "sticky", "pct", "pos", "dfs")
