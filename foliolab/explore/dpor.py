"""Systematic search with dynamic partial-order reduction.

:class:`Systematic` explores every schedule of a scenario up to a
preemption bound ``k`` (or every schedule, ``k=None``), but runs only one
schedule per Mazurkiewicz trace where it can tell: two schedules that differ
only in the order of *independent* adjacent steps (steps of different tasks
whose footprints do not conflict, engine/footprint.py) reach the same state,
so only one needs to run.

The algorithm is bounded partial-order reduction, BPOR (Coons, Musuvathi,
McKinley, "Bounded Partial-Order Reduction", OOPSLA 2013), on top of
persistent-set DPOR with sleep sets (Flanagan & Godefroid, POPL 2005;
Godefroid 1996), with the refinements of Coons' thesis:

* after each run, every race (a step ``E_j`` of task ``q`` and a later step
  ``e'`` of task ``p``, dependent, ``E_j`` not already before ``p``'s previous
  step in happens-before) adds ``p`` to the backtrack set of the state before
  ``E_j`` -- or, when ``p`` cannot run there, a single *alternative* task whose
  steps between the two happen before ``e'`` (or all enabled tasks);
* a naive combination of a preemption bound with DPOR is unsound (the bound
  adds dependencies between otherwise independent steps).  BPOR compensates
  with a *conservative* backtrack point at the last context switch before
  ``E_j``: running ``p`` there may stay within the bound where running it at
  ``E_j`` (a preemption) does not.  Two more kinds of conservative point
  that BPOR lacks: every state between that context switch and ``E_j`` where
  the running task holds a lock the alternative takes (preempting there
  costs one preemption, and the switch back is free once the alternative
  blocks on the lock -- the generated tests found schedules only these
  points reach); none for a store-buffer commit, which costs nothing
  anywhere.  Conservative points are explored only below states where the
  bound was actually exceeded;
* sleep sets are used only where the bound did not cut the subtree they
  summarise ("conservative sleep sets"): a task explored from a state whose
  subtree was cut is woken up again;
* so under a bound one trace is run many times, and a state cache stops a
  run at a state whose subtree was searched before, reached by another
  order of the same steps (_cached: the key, and what is replayed above
  it).  This is stateful search on top of DPOR, in the spirit of Yang,
  Chen, Gopalakrishnan, Kirby, "Efficient stateful dynamic partial order
  reduction" (SPIN 2008): the search below a state also adds backtrack
  points above it, and a state cut short must add them too.

Races that cannot be reversed are not races: the step that woke a task (a
wait queue, a completion, flush_work, the lock release a spinner waited
for) is never reordered after the step it enabled; a spinlock acquisition
races with the previous *acquisition* of the lock, not with its release.

With ``k=None`` (or when the bound never bites) the search is exhaustive:
every schedule of the scenario is covered, and -- sleep sets guarantee it --
no two complete runs are equivalent, so the runs counted are the
Mazurkiewicz traces of the program.

Without a bound (``k=None``) the search is optimal DPOR with wakeup trees
(Abdulla, Aronis, Jonsson, Sagonas, POPL 2014; "Source sets", JACM 2017)
instead: a race adds to the state before ``E_j`` not one task but the
sequence that reverses it -- the steps after ``E_j`` that do not happen
after it, then ``p`` -- unless a weak initial of it sleeps there or a
branch of the state's wakeup tree already leads to it; a run follows the
tree's branches before it chooses freely.  Following a whole sequence
meets no sleeping task, so runs are no longer abandoned sleep-set blocked
(N=4 locked increments: 2,520 runs, one per trace, where source sets ran
12,107).  ``p``'s racing step is taken as dependent on everything (it runs
in another state than where it raced), unless it is ``p``'s next step there,
known from an earlier run and untouched by the sequence; where it would in
fact have commuted with a sleeping task a run can still end blocked.  Only
on machines without daemons or shared CPUs (``_plain_machine``): there the
exit of the last task changes footprints, and a recorded sequence may not
replay; those, and races around store-buffer drains, keep the source-set
algorithm above (one initial of the sequence; it mixes soundly, a one-step
branch standing for every run that starts with it).

The machine gives the search every step's footprint through
``Machine.on_event``; steps of code that declares no footprint (user patches
that do not opt in, user families) are opaque and dependent on everything,
so the reduction is sound by default.  Systematic search runs without the
fairness bound (``fair_bound=0``): the preemption bound takes its place.
"""

from __future__ import annotations

from ..engine.footprint import BLOCK_BASE, Event
from ..engine.machine import ScheduleAborted
from .run import NondeterminismError
from .strategies import Strategy

INF = None


def preemption_cost(last, tid, en, free):
    """Preemptions that choosing task ``tid`` costs where ``last`` ran the
    previous visible step and ``en`` (task ids) can run: one when ``last``
    could go on, none for a store-buffer commit (``free``)."""
    if last is None or last == tid or tid in free or last not in en:
        return 0
    return 1


class Node:
    """The state before step ``i`` of the current run."""

    __slots__ = ("en", "chosen", "events", "backtrack", "pending", "done",
                 "sleep", "slept", "bound_exceeded", "last", "pre", "free", "waiting",
                 "wut", "sub", "key", "races", "spill")

    def __init__(self, en, last, pre, sleep, free):
        self.en = en                 # enabled (visible) task ids, in machine order
        self.chosen = None           # task id run from here in the current run
        self.events = {}             # task id -> Event it ran from here
        self.backtrack = set()       # task ids still to run from here
        self.pending = set()         # conservative (BPOR) task ids
        self.done = set()            # task ids run (or refused) from here
        self.sleep = sleep           # inherited sleep set: tid -> Event
        self.slept = {}              # explored here, subtree complete: tid -> Event
        self.bound_exceeded = False  # the bound cut something at or below here
        self.last = last             # last visible task before this step (tid or None)
        self.pre = pre               # preemptions before this step
        self.free = free             # store-buffer pseudo-tasks: never a preemption
        self.waiting = {}            # task id -> key of the held spinlock it waits for
        # Unbounded search (optimal DPOR): the wakeup tree's branches not yet
        # started here, in the order they are to run: [tid, Event or None
        # (unknown: dependent on everything), [branches below]]; and the
        # branches below the one running now, for the next node.
        self.wut = []
        self.sub = None
        # The state cache (bounded search, Systematic._cached): the key of
        # this state (its trace, tail, preemptions and sleep set); the races
        # of the steps below it with the steps above it, as (task, step
        # number, racing task, initials); and the races below that added
        # points above it, as (racing task, the task of the first task step
        # below it).
        self.key = None
        self.races = None
        self.spill = None

    def asleep(self, tid):
        return tid in self.sleep or tid in self.slept

    def cost(self, tid):
        """Preemptions choosing ``tid`` here adds."""
        return preemption_cost(self.last, tid, self.en, self.free)


class Systematic(Strategy):
    """Preemption-bounded (``preemptions``) or exhaustive (``None``) search,
    with partial-order reduction (``reduction="dpor"``) or without
    (``reduction="none"``: every schedule within the bound).

    ``iterative``: bound 0, then 1, ... up to the bound (iterative context
    bounding, Musuvathi & Qadeer 2007): a failure needing the fewest
    preemptions is found first, and a search cut by the budget certifies the
    levels it completed."""

    name = "dfs"
    systematic = True
    # No fairness bound (the preemption bound takes its place), and retries
    # that would repeat their last attempt skipped (engine/retry.py: the same
    # behaviours, fewer schedules; a random walk keeps them, where skipping
    # would make giving up far likelier than it is)
    settings_overrides = {"fair_bound": 0, "retry_collapse": True}

    def __init__(self, preemptions=2, reduction="dpor", iterative=True, state_cache=True):
        if preemptions is not None and preemptions < 0:
            raise ValueError("the preemption bound must be at least 0")
        if reduction not in ("dpor", "none"):
            raise ValueError(f"unknown reduction {reduction!r} (known: dpor, none)")
        self.bound = preemptions
        self.reduction = reduction
        self.state_cache = state_cache
        # Unbounded: races add wakeup sequences (optimal DPOR), not tasks;
        # decided on the first run (_plain_machine), None until then.
        self.optimal = None if preemptions is None and reduction == "dpor" else False
        self.iterative = iterative and preemptions is not None
        self.level = 0 if self.iterative else preemptions
        self.complete = False
        self.exhaustive = False       # the bound never cut anything: every schedule
        self.certified_level = -1     # highest bound completely explored
        self.certified_runs = 0       # runs of that level
        self.distinct = 0             # complete runs of that level
        self.runs = 0                 # runs started, every level
        self.level_runs = 0
        self.level_complete = 0       # runs of this level that reached the end
        self.sleep_blocked = 0        # runs abandoned: every enabled task asleep
        self.pruned = 0               # alternatives within the bound never run
        self.level_pruned = 0
        self.branch_points = 0
        self.max_depth = 0
        self.opaque = False           # the scenario declares no footprints
        self.nodes = []
        self.floor = 0                # nodes never backtracked (a split's prefix, split.py)
        self.prefix_len = 0           # steps of the current run replayed from the tree
        self._events = None
        self._kept = 0                # run steps whose records the last run left (next_choose)
        self._last_vis = None
        self._exceeded = False        # the bound cut something at this level
        self._tracker = None          # RaceTracker of the current run's steps
        self._sb = frozenset()        # store-buffer pseudo-task ids
        # The state cache (bounded search, see _cached): completed states by
        # the trace that reached them; runs cut short at one.
        self.cache = None             # None: off; else {Node.key: (races, users, spill, cut)}
        self.cached = 0               # runs cut short, every level
        self.level_cached = 0
        self._hs = [(0, 0)]           # per run step: the hash of the trace before it
        self._raced = []              # races of the run's new steps, in order
        self._start = 0               # the first new step of the run
        self._replay = None           # what a run cut short replays (_cached)
        self._all_users = {}          # lock -> tids that held it, this level
        self._touch = 1 << 30         # the lowest state a race added points at

    # ----------------------------------------------------------- interface
    def fraction_done(self):
        """An estimate of the part of the current level's tree explored so
        far (Knuth's estimator turned around, as SAT solvers report
        progress): at every node of the current path, the branches already
        finished count for their share of the branches known there, each
        level weighted by the shares above it.  Branches found later (new
        races) make it drift down; it reaches 1 when the level ends."""
        frac = 0.0
        weight = 1.0
        for node in self.nodes:
            if self.optimal:
                known = len(node.done) + len(node.wut) or 1
            else:
                known = len(node.done | node.backtrack) or 1
            finished = len(node.done) - 1
            frac += weight * finished / known
            weight /= known
            if weight < 1e-12:
                break
        return min(frac, 1.0)

    def estimate_total(self):
        """Schedules this level will take, estimated from the runs so far."""
        f = self.fraction_done()
        return None if f <= 0 else max(self.level_runs, round(self.level_runs / f))

    def describe(self):
        k = "inf" if self.bound is None else self.bound
        return f"dfs(k={k}{', no reduction' if self.reduction == 'none' else ''})"

    def params(self):
        return {"name": self.name, "preemptions": self.bound, "reduction": self.reduction}

    def prepare(self, k):
        """Called on each freshly built run before it starts."""
        k.m.on_event = self._on_event
        k.m.choose_single = True         # a lone enabled task may be asleep
        self._sb = frozenset(t.tid for t in k.m.tasks if t.is_sb)
        if self.optimal is None:
            self.optimal = _plain_machine(k.m)
        if not getattr(getattr(k, "scenario", None), "footprints", False):
            self.opaque = True
        if self.cache is None and self.state_cache and not self.optimal and not self.opaque and \
                self.reduction == "dpor" and self.level is not None:
            self.cache = {}
        # The race analysis runs along the run (the state cache needs the
        # trace of every prefix): back to the end of the replayed prefix.
        tr = self._tracker
        if tr is None or tr.ntask < len(k.m.tasks):
            tr = self._tracker = RaceTracker(len(k.m.tasks) + 4)
        tr.truncate_node(self.prefix_len)
        del self._hs[len(tr.first) + 1:]
        self._start = len(tr.first)     # the steps from here on are new
        self._raced = []
        self._replay = None

    def next_choose(self):
        if self.complete:
            return None
        # The run replays the steps before prefix_len as the last run did
        # (nothing else would be deterministic): their records are kept
        # rather than built again (_on_event), which was a fifth of the
        # search's time -- three steps in four of a run are replayed.
        keep = self.prefix_len if self._events is not None else 0
        if keep > len(self._events or ()):       # (a split's prefix: built, not kept)
            keep = 0
        if keep:
            del self._events[keep:]
            del self._grab[keep:]
            self._pending = {x: v for x, v in self._pending.items() if x < keep}
            users = self._lock_users = {}     # lock -> the tids that held it in this run
            events = self._events
            for x, keys in enumerate(self._grab):
                if keys is not None:
                    tid = events[x][0].tid
                    for key in keys:
                        users.setdefault(key, set()).add(tid)
            self._last_vis = self.nodes[keep].last
        else:
            self._events = []
            self._pending = {}         # lkmm: step -> pseudo-task steps it disabled
            self._grab = []            # per step: the locks its task holds after it
            self._lock_users = {}      # lock -> the tids that held it in this run
            self._last_vis = None
        self._kept = keep
        self.runs += 1
        self.level_runs += 1
        return self._choose

    # ------------------------------------------------------------- the run
    def _choose(self, m, en):
        i = m.steps
        nodes = self.nodes
        if i < len(nodes):
            tid = nodes[i].chosen
            for t in en:
                if t.tid == tid:
                    return t
            raise NondeterminismError(
                f"dfs: step {i + 1}: task {tid} ({m.tasks[tid].name}) was enabled at "
                f"this point in an earlier run but is not now")
        node = self._new_node(en)
        node.waiting = {t.tid: t.want.fpk for t in m.tasks
                        if t.want is not None and t.want.owner is not None}
        if self.cache is not None:
            # (the tail: the last task step and the store-buffer commits
            # after it -- where BPOR puts the point of a context switch
            # right at this state)
            events = self._events
            tail = tuple(events[x][0].tid for x in range(max(self._last_task_step(i), 0), i))
            node.key = (self._hs[i], tail, node.pre, frozenset(node.sleep))
            if i > self.floor and self._cached(node, i):
                nodes.pop()
                self.cached += 1
                self.level_cached += 1
                raise ScheduleAborted("a state explored before")
        tid = None
        if self.optimal and len(nodes) > 1:
            # the rest of the wakeup sequence the parent follows
            parent = nodes[-2]
            if parent.sub:
                node.wut = parent.sub
            parent.sub = None
            tid = self._follow(node)
        if tid is None:
            tid = self._default_choice(node)
        if tid is None:
            nodes.pop()
            self.sleep_blocked += 1
            raise ScheduleAborted("every enabled task is asleep")
        node.chosen = tid
        node.done.add(tid)
        for t in en:
            if t.tid == tid:
                return t
        raise AssertionError("chosen task not enabled")   # pragma: no cover

    def _new_node(self, en):
        nodes = self.nodes
        vis = [t.tid for t in en if not t.invisible] or [t.tid for t in en]
        if nodes:
            parent = nodes[-1]
            sleep = self._child_sleep(parent)
            pre = parent.pre + parent.cost(parent.chosen)
        else:
            sleep = {}
            pre = 0
        node = Node(vis, self._last_vis, pre, sleep, self._sb)
        nodes.append(node)
        return node

    def _child_sleep(self, parent):
        if self.reduction == "none":
            return {}
        ev = parent.events.get(parent.chosen)
        out = {}
        for src in (parent.sleep, parent.slept):
            for q, qev in src.items():
                if q != parent.chosen and not qev.conflicts(ev):
                    out[q] = qev
        return out

    def _default_choice(self, node):
        """The non-preemptive choice when it is awake, else the first awake
        enabled task within the bound; None when every one is asleep."""
        order = list(node.en)
        if node.last is not None and node.last in order:
            order.remove(node.last)
            order.insert(0, node.last)
        k = self.level
        refused = False
        for tid in order:
            if node.asleep(tid):
                continue
            if k is not None and node.pre + node.cost(tid) > k:
                refused = True
                continue
            return tid
        if not refused:
            return None
        # Every awake task exceeds the bound: the sleep set here is no longer
        # backed by complete subtrees (Coons): wake everything, run the
        # non-preemptive choice.
        self._cut(node)
        return order[0]

    def _cut(self, node):
        node.bound_exceeded = True
        node.sleep = {}
        node.slept = {}
        self._exceeded = True

    def _on_event(self, m, t, en, reads, writes, woke, acquired, drained):
        i = m.steps - 1
        nodes = self.nodes
        if i == len(nodes):   # pragma: no cover (the policy is asked at every step)
            node = self._new_node([t])
            node.chosen = t.tid
            node.done.add(t.tid)
        node = nodes[i]
        if node.chosen != t.tid:
            raise NondeterminismError(
                f"dfs: step {i + 1}: ran task {t.tid}, the search chose {node.chosen}")
        if i >= self._kept:
            # (a replayed step was recorded by the last run: next_choose)
            self._record(m, t, i, node, reads, writes, woke, acquired, drained)
        if self.reduction == "none":
            return
        if self._tracker.ntask < len(m.tasks):
            self._restart_tracker(m, i + 1)
        elif i >= len(self._tracker.first):
            self._track(i)

    def _record(self, m, t, i, node, reads, writes, woke, acquired, drained):
        """Record new run step ``i``: its event (in the run's list and at its
        node, for sleep sets), the locks held after it, the propagations it
        disabled."""
        if t.invisible:
            ev = Event(t.tid, frozenset(), frozenset())
        else:
            wset = set(writes)
            rset = set(reads)
            rset -= wset
            opaque = self.opaque or 0 in wset
            ev = Event(t.tid, rset, wset, opaque, acquired, tuple(woke))
            if not t.is_sb:
                self._last_vis = t.tid
        # A barrier in the step (a locked op, a context switch, a grace
        # period) drained a store buffer: the race analysis sees those
        # commits as steps of the buffer's pseudo-task right before this
        # one; for sleep sets the step is all of it.
        # The locks (spinlocks, mutexes) the task holds after the step: a
        # task that preempts it there may block on one (_add_backtrack).
        held = t.held
        if held:
            keys = frozenset(lk.fpk for lk in held)
            self._grab.append(keys)
            users = self._lock_users
            for key in keys:
                users.setdefault(key, set()).add(t.tid)
        else:
            self._grab.append(None)
        pend = m.step_pending
        if pend:
            self._pending[i] = [(tid, Event(tid, frozenset(r), frozenset(w)))
                                for tid, r, w in pend]
        if drained:
            whole = set(wset)
            for sb, sbkey, key, ekey in drained:
                whole.add(sbkey)
                whole.add(key)
                whole.add(ekey)
            node.events[t.tid] = Event(t.tid, rset - whole, whole, opaque, acquired, ev.woke)
            self._events.append((ev, t.invisible, tuple(drained)))
        else:
            node.events[t.tid] = ev
            self._events.append((ev, t.invisible, ()))

    def _restart_tracker(self, m, n):
        """A task spawned beyond the tracker's size: start it over, with the
        run's first ``n`` steps."""
        self._tracker = RaceTracker(len(m.tasks) + 4)
        self._hs = [(0, 0)]
        self._raced = []
        self._start = 0
        for x in range(n):
            self._track(x)

    def _track(self, i):
        """Race analysis of run step ``i`` (the tracker holds the steps
        before it): its races (and those of the commits it drained), and
        the hash of the trace up to it."""
        tr = self._tracker
        ev, invisible, drained = self._events[i]
        out = self._raced if i >= self._start else None
        n0 = tr.n
        tr.first.append(n0)
        # lkmm: a propagation this step disabled without running: its
        # pending step races like any other (Flanagan & Godefroid)
        for q, qev in self._pending.get(i, ()):
            for j in tr.event_races(q, qev):
                if out is not None:
                    out.append((i, j, q, None))
        for sb, sbkey, key, ekey in drained:
            commit = Event(sb, frozenset(), frozenset((sbkey, key, ekey)))
            for j, p, vc in tr.push(commit, False, i):
                if out is not None:
                    out.append((i, j, p, vc))
        for j, p, vc in tr.push(ev, invisible, i):
            if out is not None:
                out.append((i, j, p, vc))
        if self.cache is not None:
            # The trace as a set of steps, each with its footprint and vector
            # clock: equal for two runs that order only independent steps
            # differently (the hash of each step, summed: order-free).
            h1, h2 = self._hs[-1]
            vcs, tids, seq = tr.vc, tr.tid, tr.seq
            for x in range(n0, tr.n):
                if x == tr.n - 1:
                    e = (frozenset(ev.reads), frozenset(ev.writes),
                         ev.opaque) if not invisible else None
                else:
                    c = drained[x - n0]
                    e = c[1:]
                s = (tids[x], seq[x], tuple(vcs[x]), e)
                h1 = (h1 + hash(s)) & _MASK
                h2 = (h2 + hash((s, 1))) & _MASK
            self._hs.append((h1, h2))

    # ----------------------------------------------------------- after a run
    def after(self, res):
        if self.cache is not None:
            users = self._all_users
            for key, tids in self._lock_users.items():
                users.setdefault(key, set()).update(tids)
        events = self._events
        n = len(events)
        if n > self.max_depth:
            self.max_depth = n
        del self.nodes[n:]
        if not res.aborted:
            self.level_complete += 1
        if self.reduction == "dpor":
            self._analyse(res)
        else:
            for node in self.nodes[self.prefix_len:]:
                node.backtrack.update(node.en)
        self._backtrack()

    # ------------------------------------------------------- race analysis
    def _analyse(self, res):
        """Backtrack points (BPOR) for the races of the run's new steps
        (found along the run, _track), and for the races a run cut short by
        the state cache would have met below (_cached)."""
        tr = self._tracker
        events = self._events
        self._last_drain = max((y for y in range(len(events)) if events[y][2]), default=-1)
        self._plain_run = _plain_machine(res.machine)
        add = self._add_backtrack
        if self.optimal:
            # A wakeup sequence needs the whole run (the steps after the
            # race that do not happen after it): races wait for its end.
            for _i, j, p, vc in self._raced:
                add(j, p, vc, False)
        else:
            for i, j, p, vc in self._raced:
                self._add_top(j, p, vc, i)
        if self._replay is not None:
            self._replay_races(*self._replay)
        if res.failure is None and not res.aborted:
            # Tasks still enabled when the run ended (a store buffer not yet
            # drained, a kworker with work): their next steps never ran, so
            # assume they conflict with everything (dejafu does the same).
            for t in res.machine.enabled():
                if not t.invisible:
                    for j in tr.pending_races(t.tid):
                        if self.optimal:
                            add(j, t.tid, None, False)
                        else:
                            self._add_top(j, t.tid, None, len(events))

    def _add_backtrack(self, j, p, ivc, conservative, lock=None, pos=None, initials=None):
        """Backtrack point for task ``p`` at the state before step ``j``
        (Coons et al.: ``p`` if it can run there, else a single alternative
        task whose steps after ``j`` happen before ``p``'s racing step
        (``ivc``, its vector clock), else every awake enabled task), plus the
        conservative point at the last context switch before ``j``.

        ``pos``: the run step of ``p``'s racing step (the states between
        ``j`` and it remember the race for the state cache); ``initials``:
        the race as remembered, replayed (_replay_races)."""
        if self.optimal and self._wakeup(j, p):
            return
        nodes = self.nodes
        tr = self._tracker
        nj = tr.node[j]                   # the state before step j
        if nj >= len(nodes):
            return
        node = nodes[nj]
        target = node.pending if conservative else node.backtrack
        alt = None
        if nj < self._touch:
            self._touch = nj
        if pos is not None and self.cache is not None:
            if ivc is not None and initials is None:
                initials = self._initials(j, ivc)
            race = (tr.tid[j], tr.seq[j], p, initials)
            for x in range(nj + 1, min(pos + 1, len(nodes))):
                r = nodes[x].races
                if r is None:
                    nodes[x].races = {race}
                else:
                    r.add(race)
        if p in node.en and not node.asleep(p):
            alt = p
        elif initials is not None or ivc is not None:
            # The initials of v = notdep(j).e' (Abdulla et al., source sets):
            # steps after j that do not happen after it and happen before
            # e', with no such step before them; the cheapest enabled one.
            # (A looser choice, any task with a step after j that happens
            # before e', misses TSO behaviours -- tests/test_dpor.py found
            # them.  It saves sleep-blocked runs on lock-only programs: N=4
            # locked increments 2,693 runs against 12,107; on the lru_cache
            # cells the two cost the same.  Without a bound, wakeup trees
            # (_wakeup) remove the sleep-blocked runs where they apply.)
            if initials is None:
                initials = self._initials(j, ivc)
            best = None
            for q in initials:
                if q not in node.en or node.asleep(q):
                    continue
                c = node.cost(q)
                if best is None or c < best[0]:
                    best = (c, q)
            if best is not None:
                alt = best[1]
        else:
            initials = ()
        if alt is not None:
            if conservative and alt in self._sb:
                return                  # a commit costs nothing anywhere
            users = self._lock_users
            if lock is not None and not any(alt in users[key] for key in lock):
                return                  # alt never blocks on those locks
            self._mark(node, alt, target)
        else:
            for q in node.en:
                if not node.asleep(q):
                    self._mark(node, q, target)
            # p was kept off its CPU here by the task running there (a
            # non-preemptible section; a spinlock wait is a lock race,
            # reversed through the acquisitions); the race can also be
            # reversed where p could last run (Flanagan & Godefroid look at
            # p's pending step in every state, not only at the race).  A
            # store buffer that is empty here holds nothing that races: the
            # store it commits is not issued yet, and the tasks that must
            # run first to issue it are the ones to look for.
            sb = self._sb
            if p in sb:
                late = [q for q in initials if q not in sb and q not in node.en]
            else:
                late = [p]
            for q in late:
                if q not in node.waiting:
                    self._where_it_last_ran(q, nj - 1, conservative)
            if p in node.waiting:
                # p spins on a lock the running task holds.  Unbounded, the
                # race is reversed through the acquisitions; under a bound
                # that reversal may take one preemption more than going
                # before the holder took the lock, where p can run and the
                # switch costs no more than here (tests/test_dpor.py::
                # test_bounded_search_hole_with_two_critical_sections).
                a = self._acquisition_before(nj, node.waiting[p])
                if a is not None:
                    self._add_backtrack(tr.first[a], p, ivc, True)
        if not conservative and self.level is not None and not (
                alt is not None and alt in self._sb):
            # (A store leaving a store buffer costs no preemption and
            # leaves the running task's turn alone: wherever the commit
            # runs, the bound sees the same schedule, so it needs no
            # conservative point.)
            cj = self._last_context_switch_before(nj)
            if cj is not None:
                self._add_backtrack(tr.first[cj], p, ivc, True)
                # Preempting the running task while it holds a lock costs
                # one preemption and no more when the task that preempts it
                # then blocks on that lock: the switch back is free.
                # Neither the race point nor the last context switch need
                # be such a point (tests/test_dpor.py::BOUND_HOLES, found
                # by the generated tests): every state of the segment where
                # the running task holds a lock the alternative takes is.
                self._lock_holder_points(cj, nj, p, ivc)

    def _acquisition_before(self, x, key):
        """The run step that took spinlock ``key`` last before state ``x``
        (None: none in the run)."""
        events = self._events
        for y in range(x - 1, -1, -1):
            if events[y][0].acquires == key:
                return y
        return None

    def _where_it_last_ran(self, q, x, conservative):
        """``q`` at the last state from ``x`` back where it could run."""
        nodes = self.nodes
        while x >= 0:
            back = nodes[x]
            if q in back.en:
                if x < self._touch:
                    self._touch = x
                if not back.asleep(q):
                    self._mark(back, q, back.pending if conservative else back.backtrack)
                return
            x -= 1

    def _lock_holder_points(self, cj, end, p, ivc):
        """Conservative points for ``p`` at the states cj+1 .. end-1 where
        the running task holds a lock ``p`` (or its alternative) takes."""
        grab = self._grab
        users = self._lock_users
        events = self._events
        first = self._tracker.first
        for x in range(cj + 1, end):
            keys = grab[x - 1]
            if keys is None:
                continue
            r = events[x - 1][0].tid          # the lock holder
            if any(len(users[key]) > 1 or r not in users[key] for key in keys):
                self._add_backtrack(first[x], p, ivc, True, keys)

    def _add_top(self, j, p, ivc, pos, initials=None):
        """_add_backtrack for a race of the run (step ``pos`` of ``p``);
        the states it added points above, from the race's step down, are
        no longer what a cached state stands for: a state reached by
        another order of the same steps would add them elsewhere."""
        self._touch = 1 << 30
        self._add_backtrack(j, p, ivc, False, pos=pos, initials=initials)
        if self.cache is not None:
            self._mark_spill(self._touch, self._tracker.node[j], p, None)

    def _mark_spill(self, lo, hi, p, f):
        """States lo+1 .. hi remember that a race of ``p`` from state ``hi``
        on added points at or above state ``lo``, with the task of the first
        task step from each of them on (``f`` from ``hi`` on): a context
        switch found before it is where BPOR put its point."""
        nodes = self.nodes
        events = self._events
        sb = self._sb
        for x in range(min(hi, len(nodes) - 1), lo, -1):
            if x < hi:
                t = events[x][0].tid
                if t not in sb:
                    f = t
            sp = nodes[x].spill
            if sp is None:
                nodes[x].spill = {(p, f)}
            else:
                sp.add((p, f))

    def _last_task_step(self, i):
        """The last step before run step ``i`` that is not a store-buffer
        commit (-1: none)."""
        events = self._events
        sb = self._sb
        y = i - 1
        while y >= 0 and events[y][0].tid in sb:
            y -= 1
        return y

    def _spill(self, i, p, f):
        """What a race of ``p`` below the state before run step ``i`` adds
        above it, with this run's steps above it: the conservative points
        from the last context switch before ``i`` (BPOR), and ``p`` (or, for
        a store buffer, every task) where it could last run -- a superset of
        what the race added from its own step, which had the same steps
        (one task's, no switch) between it and this state."""
        self._touch = 1 << 30
        tr = self._tracker
        if self.level is not None:
            # the last task step before i: a switch from it to f is the
            # context switch; else look before it
            y = self._last_task_step(i)
            if y < 0:
                cj = 0
            elif f is not None and self._events[y][0].tid != f:
                cj = y + 1
            else:
                cj = self._last_context_switch_before(y + 1)
            if cj is not None and cj < len(self.nodes):
                self._add_backtrack(tr.first[cj], p, None, True)
                self._lock_holder_points(cj, i, p, None)
        sb = self._sb
        for q in [q for q in range(tr.ntask) if q not in sb] if p in sb else [p]:
            self._where_it_last_ran(q, i - 1, False)
        self._mark_spill(self._touch, i, p, f)

    def _initials(self, j, ivc):
        """The tasks of the initials of v = notdep(j).e' (``ivc``: the
        vector clock of e'), in run order: a trace-level fact, the same in
        every run of the trace."""
        tr = self._tracker
        seq = tr.seq
        tids = tr.tid
        vcs = tr.vc
        sj, pj = seq[j], tids[j]
        v = [x for x in range(j + 1, tr.n)
             if vcs[x][pj] < sj and ivc[tids[x]] >= seq[x]]
        initials = []
        for a, x in enumerate(v):
            if any(vcs[x][tids[y]] >= seq[y] for y in v[:a]):
                continue                  # not an initial
            initials.append(tids[x])
        return tuple(initials)

    # ------------------------------------------------------- state cache
    def _cached(self, node, i):
        """Whether the new state ``node`` (before run step ``i``) was reached
        before, and its subtree searched to the end: the same trace (the
        same steps, dependent ones in the same order: the same state), the
        same tail (the last task step and the commits after it), the same
        preemptions spent and the same tasks asleep.  The search below it
        would then repeat, choice for choice, the search below the first
        one; what it would add above it is replayed instead, on this run's
        order of the steps above (_replay_races): the races of the steps
        below with the steps above (``Node.races``), and the points the
        races below put above it (``Node.spill``)."""
        e = self.cache.get(node.key)
        if e is None:
            return False
        races, users, spills, exceeded = e
        if exceeded:
            self.nodes[-2].bound_exceeded = True
            self._exceeded = True
        self._replay = (i, races, users, spills)
        return True

    def _replay_races(self, i, races, users, spills=()):
        """The backtrack points of the races remembered at a state the run
        was cut short at (step ``i``), on this run's steps."""
        tr = self._tracker
        where = {}
        for x in range(tr.n):
            where[(tr.tid[x], tr.seq[x])] = x
        # the lock users of the runs below the state too (more users: more
        # conservative points, never fewer)
        mine = self._lock_users
        merged = {key: set(tids) for key, tids in mine.items()}
        for key, tids in users.items():
            merged.setdefault(key, set()).update(tids)
        self._lock_users = merged
        for tid, seq, p, initials in sorted(races, key=_race_order):
            j = where.get((tid, seq))
            if j is None:       # pragma: no cover (the same trace has the step)
                raise NondeterminismError("dfs: a cached state's race names a step "
                                          "its trace does not have")
            self._add_top(j, p, None, i, initials)
        for p, f in sorted(spills, key=lambda s: (s[0], s[1] is None, s[1] or 0)):
            self._spill(i, p, f)
        self._lock_users = mine

    # ------------------------------------------ wakeup trees (unbounded)
    def _wakeup(self, j, p):
        """Optimal DPOR (Abdulla et al., POPL 2014; JACM 2017): the race of
        step ``j`` with the next step ``e'`` of ``p`` is reversed by the
        wakeup sequence v = notdep(j).e' -- the run steps after ``j`` that
        do not happen after it, then ``p`` -- inserted into the wakeup tree
        of the state before ``j``, unless a weak initial of v sleeps there
        (its traces are explored) or a branch of the tree already leads to
        it.  Following v from there runs into no sleeping task: no run is
        sleep-set blocked.  False when the race is left to the source-set
        code (_add_backtrack): store-buffer drains inside a step from
        ``j`` on (a step would stand for several tracker steps), or v not
        starting with a task enabled there."""
        nodes = self.nodes
        tr = self._tracker
        nj = tr.node[j]
        if nj >= len(nodes) or self._last_drain >= nj or not self._plain_run:
            return False
        node = nodes[nj]
        events = self._events
        vcs, first = tr.vc, tr.first
        pj, sj = tr.tid[j], tr.seq[j]
        v = []
        for y in range(nj + 1, len(events)):
            ev, invisible, _ = events[y]
            # an invisible step touches nothing shared: leave it out
            if not invisible and vcs[first[y]][pj] < sj:
                v.append((ev.tid, ev))
        # e' runs after v, not where it ran: its footprint may differ, so
        # it is unknown (dependent on everything) -- unless it is p's next
        # step here, known from an earlier run, and v touches nothing it
        # touches (then v does not change it).
        last = None
        if not any(t == p for t, _ in v):
            known = node.sleep.get(p) or node.slept.get(p) or node.events.get(p)
            if known is not None and not any(_dep(known, e) for _, e in v):
                last = known
        v.append((p, last))
        if v[0][0] not in node.en:
            return False
        for src in (node.sleep, node.slept):
            for q, qev in src.items():
                if _after_initial(q, qev, v) is not None:
                    return True           # a weak initial sleeps: explored
        _insert(node.wut, v)
        return True

    def _follow(self, node):
        """Pop the next branch of ``node``'s wakeup tree to run, or None."""
        wut = node.wut
        while wut:
            tid, _, below = wut.pop(0)
            if tid in node.done or node.asleep(tid):
                # Sleeping: every trace from here with tid as a weak
                # initial -- the branch's among them -- was explored.
                continue
            if tid not in node.en:
                # The sequence is not executable as recorded (the model
                # broke an assumption of the theory): explore every
                # enabled task here, and tid where it could last run.
                for q in node.en:
                    self._add_single(node, q)
                nodes = self.nodes
                x = nodes.index(node) - 1 if tid not in node.waiting else -1
                while x >= 0:
                    if tid in nodes[x].en:
                        self._add_single(nodes[x], tid)
                        break
                    x -= 1
                continue
            node.sub = below
            return tid
        return None

    def _mark(self, node, q, target):
        if self.optimal:
            self._add_single(node, q)
        else:
            target.add(q)

    def _add_single(self, node, q):
        """A branch of one step of ``q`` (a source-set entry): any run
        starting with ``q``."""
        if q in node.done or node.asleep(q) or q not in node.en:
            return
        for br in node.wut:
            if br[0] == q:
                return
        node.wut.append([q, None, []])

    def _last_context_switch_before(self, j):
        """The largest step x < j where the run switched tasks (0: the
        start)."""
        events = self._events
        sb = self._sb
        x = j - 1
        while x > 0:
            t = events[x][0].tid
            if t not in sb:
                # the previous task step, skipping store-buffer commits
                y = x - 1
                while y >= 0 and events[y][0].tid in sb:
                    y -= 1
                if y < 0:
                    return 0
                if events[y][0].tid != t:
                    return y + 1       # before the commits between the two
            x -= 1
        return 0 if j > 0 else None

    # --------------------------------------------------------- backtracking
    def _backtrack(self):
        if self.optimal:
            return self._backtrack_optimal()
        nodes = self.nodes
        k = self.level
        dpor = self.reduction == "dpor"
        while len(nodes) > self.floor:
            node = nodes[-1]
            # the subtree of node.chosen is done: it sleeps here from now on,
            # unless the bound cut something below (conservative sleep sets)
            if dpor and not node.bound_exceeded:
                ev = node.events.get(node.chosen)
                if ev is not None:
                    node.slept[node.chosen] = ev
            pool = set(node.backtrack)
            if node.bound_exceeded:
                pool |= node.pending
            pool -= node.done
            nxt = None
            if pool:
                en = node.en
                for tid in sorted(pool, key=lambda q: (node.cost(q), en.index(q) if q in en else 99)):
                    node.done.add(tid)
                    if tid not in en or node.asleep(tid):
                        continue
                    if k is not None and node.pre + node.cost(tid) > k:
                        self._cut(node)
                        continue
                    nxt = tid
                    break
            if nxt is not None:
                node.chosen = nxt
                self.prefix_len = len(nodes) - 1
                self.branch_points += 1
                return
            if dpor:
                self.level_pruned += sum(
                    1 for q in node.en if q not in node.done
                    and (k is None or node.pre + node.cost(q) <= k))
            if node.key is not None and len(node.en) > 1:
                self.cache.setdefault(node.key, (node.races or (), self._all_users,
                                                 node.spill or (), node.bound_exceeded))
            nodes.pop()
            if nodes and node.bound_exceeded:
                nodes[-1].bound_exceeded = True
        self._level_done()

    def _backtrack_optimal(self):
        """The next branch of the deepest wakeup tree that has one."""
        nodes = self.nodes
        while len(nodes) > self.floor:
            node = nodes[-1]
            ev = node.events.get(node.chosen)
            if ev is not None:
                node.slept[node.chosen] = ev      # its subtree is complete
            node.sub = None
            tid = self._follow(node)
            if tid is not None:
                node.chosen = tid
                node.done.add(tid)
                self.prefix_len = len(nodes) - 1
                self.branch_points += 1
                return
            self.level_pruned += sum(1 for q in node.en if q not in node.done)
            nodes.pop()
        self._level_done()

    def _level_done(self):
        self.certified_level = self.level
        self.certified_runs = self.level_runs
        self.distinct = self.level_complete
        self.pruned = self.level_pruned
        if self.level is None or not self._exceeded:
            # the bound never cut anything: every schedule is covered
            self.exhaustive = True
            self.complete = True
        elif self.level >= self.bound:
            self.complete = True
        else:
            self.level += 1
            self.level_runs = 0
            self.level_complete = 0
            self.level_pruned = 0
            self.level_cached = 0
            self._exceeded = False
            self.prefix_len = 0
            self._tracker = None
            if self.cache is not None:
                self.cache = {}
                self._all_users = {}

    # ------------------------------------------------------- certificates
    def reduction_text(self):
        return reduction_text(self.reduction, self.opaque)

    def summary_json(self, settings):
        """Scope and counts of the search, for --json and traces."""
        return {
            "bound": self.bound, "certified_level": self.certified_level,
            "exhaustive": self.exhaustive, "reduction": self.reduction,
            "reduced": self.reduction == "dpor" and not self.opaque,
            "runs": self.runs, "complete_runs": self.distinct,
            "sleep_blocked": self.sleep_blocked, "pruned_branches": self.pruned,
            "state_cache_hits": self.cached,
            "scope": scope(settings),
        }

    def certificate(self, settings, max_run, partial=False):
        """The certificate, stating what it covers: "no failure within 2
        preemptions (tso, 2 CPUs, CONFIG_PREEMPT; DPOR): ..."."""
        reduced = self.reduction == "dpor" and not self.opaque
        return certificate_text(
            self.certified_level, self.exhaustive and not partial, settings,
            self.reduction_text(), self.distinct,
            sleep_blocked=self.sleep_blocked, cached=self.cached,
            pruned=self.pruned if reduced else None, max_run=max_run)


def reduction_text(reduction, opaque):
    """What a certificate says of the reduction (``opaque``: the scenario
    declares no footprints, so DPOR had nothing to prune with)."""
    if reduction == "none":
        return "no reduction"
    if opaque:
        return "no reduction (the scenario declares no footprints)"
    return "DPOR"


def certificate_text(k, exhaustive, settings, reduction, distinct, *, sleep_blocked=0,
                     cached=0, pruned=None, max_run=0, subtrees=None):
    """A certificate's text (a serial search's or a split one's, which
    says in how many subtrees): the bound ``k`` or ``exhaustive``, the
    scope (``settings``), the reduction, the schedules, and the search's
    counts (``pruned`` None: no reduction, none of them)."""
    if exhaustive:
        what = "no failure in any schedule (exhaustive; "
    else:
        what = f"no failure within {k} preemption{'s' if k != 1 else ''} ("
    text = (f"{what}{scope_text(settings)}; {reduction}): "
            f"{distinct} schedule{'s' if distinct != 1 else ''}")
    if subtrees is not None:
        text += f" in {subtrees} subtrees, every one finished"
    extra = []
    if pruned is not None:
        if sleep_blocked:
            extra.append(f"{sleep_blocked} sleep-set blocked")
        if cached:
            extra.append(f"{cached} cut short at a state searched before")
        extra.append(f"{pruned} branches pruned")
    if max_run:
        extra.append(f"longest run {max_run} steps")
    if extra:
        text += f" ({', '.join(extra)})"
    return text


def scope(settings):
    """The settings a verdict depends on, by name."""
    from ..engine.machine import PREEMPT_KCONFIG
    return {"memory_model": settings.get("memory_model"), "ncpus": settings.get("ncpus"),
            "preempt": PREEMPT_KCONFIG.get(settings.get("preempt"), settings.get("preempt"))}


def scope_text(settings):
    """"tso, 2 CPUs, CONFIG_PREEMPT"."""
    sc = scope(settings)
    n = sc["ncpus"]
    return f"{sc['memory_model']}, {n} CPU{'s' if n != 1 else ''}, {sc['preempt']}"


def mazurkiewicz_trace(events, ntask):
    """A run's Mazurkiewicz trace, canonically, from its ``(Event, invisible,
    drained)`` steps (``Systematic._events``): every step (its task, its
    number among the task's steps) with its vector clock, which names the
    steps that happen before it.  Two schedules have the same trace exactly
    when they order every pair of dependent steps alike.  A store-buffer
    drain inside a step counts as the buffer's commits, as in the search."""
    tr = RaceTracker(ntask + 4)
    for i, (ev, invisible, drained) in enumerate(events):
        for sb, sbkey, key, ekey in drained:
            tr.push(Event(sb, frozenset(), frozenset((sbkey, key, ekey))), False, i)
        tr.push(ev, invisible, i)
    return frozenset((tr.tid[x], tr.seq[x], tuple(tr.vc[x])) for x in range(tr.n))


_MISSING = object()
_MASK = (1 << 64) - 1



class RaceTracker:
    """Happens-before and races over the steps of a run, one step at a time
    (``push``), with an undo log so that the next run, which replays a
    prefix of this one, restarts from the end of that prefix (``truncate``).

    Happens-before: program order, the wake-up edges (the step that woke or
    spawned a task comes before that task's next step), and conflicting
    accesses: a step that writes a key comes after the last write and the
    reads since; a step that reads it, after the last write.  Vector clocks
    count each task's steps.  Opaque steps conflict with everything.

    Summary writes (``Event.sw``, engine/footprint.py) commute with one
    another: a summary write of scan key ``x`` comes after every task's
    last read of ``x`` and leaves those reads in place; it is recorded as
    the task's last write of ``x`` (``lastw[x]``, which only summary writes
    fill: nothing writes a scan key otherwise), so a read of ``x`` comes
    after every task's last summary write.  A write of a block key (a
    whole block written) ends the reads of the block's scan key as a write
    of it would: every later summary write of the block reads the block
    key, so it comes after that write and the reads before it.
    """

    def __init__(self, ntask):
        self.ntask = ntask
        self.n = 0
        self.vc = []                    # VC of each step
        self.seq = []                   # the step's number among its task's steps
        self.tid = []
        self.node = []                  # the tree node (run step) each step belongs to
        self.first = []                 # run step -> its first tracker step
        self.counts = [0] * ntask
        self.last = [-1] * ntask        # each task's last step
        self.last_opaque = [-1] * ntask
        self.opaque_at = -1             # the last opaque step
        self.lastw = {}                 # key -> {tid: its last write}
        self.lastr = {}                 # key -> {tid: its last read since the last write}
        self.woken_by = {}              # tid -> the step that woke it
        self.cs = {}                    # lock key -> (tid, acquisition, release)
        self.undo = []                  # per step: [(dict or list, key, old)]

    # ------------------------------------------------------------- undo
    def truncate_node(self, i):
        """Back to the state before run step ``i``."""
        if i < len(self.first):
            self.truncate(self.first[i])
            del self.first[i:]

    def truncate(self, n):
        while self.n > n:
            self.n -= 1
            for box, key, old in reversed(self.undo.pop()):
                if old is _MISSING:
                    del box[key]
                else:
                    box[key] = old
            del self.vc[-1]
            del self.seq[-1]
            del self.tid[-1]
            del self.node[-1]

    # ------------------------------------------------------------- steps
    def push(self, ev, invisible, node):
        """Add step ``ev`` (of run step ``node``); returns (j, p, vc) for each
        direct race of it with an earlier step j (p = its task, vc = its
        vector clock)."""
        # Hot: one call per step of every run.  The undo log is written
        # inline (box, key, old value); a join is skipped when the step is
        # already known to happen before (vc[q] >= seq[j]: an epoch test).
        i = self.n
        p = ev.tid
        log = []
        add = log.append
        self.undo.append(log)
        self.n += 1
        vcs = self.vc
        seq = self.seq
        tids = self.tid
        counts = self.counts
        seq_p = counts[p] + 1
        add((counts, p, counts[p]))
        counts[p] = seq_p
        last = self.last
        prev_i = last[p]
        prev = vcs[prev_i] if prev_i >= 0 else None
        vc = list(prev) if prev is not None else [0] * self.ntask
        vc[p] = seq_p
        vcs.append(vc)
        seq.append(seq_p)
        tids.append(p)
        self.node.append(node)
        add((last, p, prev_i))
        last[p] = i
        if invisible:
            return ()
        w = self.woken_by.get(p)
        if w is not None:
            add((self.woken_by, p, w))
            del self.woken_by[p]
            if vc[tids[w]] < seq[w]:
                _join(vc, vcs[w])
        lastw = self.lastw
        lastr = self.lastr
        if ev.pw is None:
            ev.split()
        if ev.opaque:
            for q in range(self.ntask):
                j = last[q]
                if q != p and j >= 0 and vc[q] < seq[j]:
                    _join(vc, vcs[j])
        else:
            oa = self.opaque_at
            if oa >= 0 and vc[tids[oa]] < seq[oa]:
                _join(vc, vcs[oa])
            for key in ev.pw:
                d = lastw.get(key)
                if d:
                    _join_steps(vc, d, seq, vcs)
                d = lastr.get(key)
                if d:
                    _join_steps(vc, d, seq, vcs)
            for key in ev.sw:
                d = lastr.get(key)
                if d:
                    _join_steps(vc, d, seq, vcs)
            for key in ev.reads:
                d = lastw.get(key)
                if d:
                    _join_steps(vc, d, seq, vcs)
        races = self._races(i, ev, p, prev, w)
        # record the accesses
        if ev.opaque:
            lo = self.last_opaque
            add((lo, p, lo[p]))
            lo[p] = i
            self._set_attr(log, "opaque_at", i)
        else:
            for key in ev.pw:
                _note(add, lastw, key, p, i)
                r = lastr.get(key)
                if r:
                    add((lastr, key, r))
                    lastr[key] = {}
                if key >= BLOCK_BASE:
                    # a write of a whole block of struct pages: the scans of
                    # the block before it are done with too (the next page
                    # write reads the block key: it comes after this write)
                    r = lastr.get(key | 1)
                    if r:
                        add((lastr, key | 1, r))
                        lastr[key | 1] = {}
            for key in ev.sw:
                # the reads of the scan key stay: the next summary write
                # comes after them too
                _note(add, lastw, key, p, i)
            for key in ev.reads:
                _note(add, lastr, key, p, i)
        cs = self.cs
        if ev.acquires is not None:
            add((cs, ev.acquires, cs.get(ev.acquires, _MISSING)))
            cs[ev.acquires] = (p, i, i)
        if cs:
            for key in ev.writes:
                c = cs.get(key)
                if c is not None and c[0] == p:
                    add((cs, key, c))
                    cs[key] = (p, c[1], i)   # the release (so far)
        wb = self.woken_by
        for q in ev.woke:
            add((wb, q, wb.get(q, _MISSING)))
            wb[q] = i
        return races

    def _set_attr(self, log, name, value):
        log.append((_AttrBox(self), name, getattr(self, name)))
        setattr(self, name, value)

    def _races(self, i, ev, p, prev, woke):
        cand, weak = self._candidates(ev, p)
        if not cand:
            return ()
        seq = self.seq
        vcs = self.vc
        acq = self.cs.get(ev.acquires) if ev.acquires is not None else None
        races = []
        for q, j in cand.items():
            if j == woke:
                continue                      # it woke p: never reversible
            if acq is not None and acq[0] == q and acq[1] <= j <= acq[2]:
                # inside q's critical section (up to its release): the
                # race is with the acquisition
                j = acq[1]
            if prev is not None and prev[q] >= seq[j]:
                continue                      # already before p's previous step
            races.append((q, j, q in weak))
        if acq is not None and acq[0] != p and cand.get(acq[0], -1) > acq[2]:
            # The holder's later steps conflict too (a read after its
            # unlock): that race is the latest, but the lock's order is a
            # race of its own -- under a bound the later one's reversal may
            # not be affordable where this one's is.
            q, a = acq[0], acq[1]
            if a != woke and (prev is None or prev[q] < seq[a]):
                races.append((q, a, False))
        out = []
        vc = vcs[i]
        for q, j, _ in races:
            # only direct races: drop a step that happens before another
            # candidate (the transitive reduction, Coons) -- not a weak one
            # (_candidates), which may stand for no race at all
            sj = seq[j]
            if any(q2 != q and not w2 and vcs[j2][q] >= sj for q2, j2, w2 in races):
                continue
            out.append((j, p, vc))
        return out

    def _candidates(self, ev, p):
        """For each other task: its latest step dependent with ``ev``; and
        the tasks whose latest is *weak*: found only among the reads of
        struct pages (page keys, block keys, scan keys; engine/footprint.py)
        that ``ev`` writes.  A write of one page does not end the reads of
        its block (a scan of it, the block key), nor a write of a whole
        block the reads of its pages, as a key per page would: such a read
        may be one that a later write of the page already ordered, no race
        at all.  A weak candidate races as any other (a race too many costs
        runs, not behaviours), but it drops no other as indirect: a lock's
        acquisition that happens before it, say, which with a key per page
        would be a race of its own."""
        cand = {}
        weak = ()
        if ev.opaque:
            for q, j in enumerate(self.last):
                if q != p and j >= 0:
                    cand[q] = j
            return cand, weak
        for q, j in enumerate(self.last_opaque):
            if q != p and j >= 0:
                cand[q] = j
        lastw = self.lastw
        lastr = self.lastr
        late = None                     # the weak candidates: q -> step
        for key in ev.pw:
            d = lastw.get(key)
            if d:
                for q, j in d.items():
                    if q != p and j > cand.get(q, -1):
                        cand[q] = j
            d = lastr.get(key)
            if d:
                if key > 0 and (key & 1 or key >= BLOCK_BASE):   # a page, a block
                    if late is None:
                        late = {}
                    for q, j in d.items():
                        if q != p and j > late.get(q, -1):
                            late[q] = j
                else:
                    for q, j in d.items():
                        if q != p and j > cand.get(q, -1):
                            cand[q] = j
        for key in ev.sw:
            d = lastr.get(key)
            if d:
                if late is None:
                    late = {}
                for q, j in d.items():
                    if q != p and j > late.get(q, -1):
                        late[q] = j
        for key in ev.reads:
            d = lastw.get(key)
            if d:
                for q, j in d.items():
                    if q != p and j > cand.get(q, -1):
                        cand[q] = j
        if late:
            weak = set()
            for q, j in late.items():
                if j > cand.get(q, -1):
                    cand[q] = j
                    weak.add(q)
        return cand, weak

    def event_races(self, p, ev):
        """The last steps (of other tasks, not already before ``p``'s last
        step) that task ``p``'s next step ``ev`` would race with."""
        prev_i = self.last[p] if p < self.ntask else -1
        prev = self.vc[prev_i] if prev_i >= 0 else None
        seq = self.seq
        out = set()
        if ev.pw is None:
            ev.split()
        for key in ev.pw:
            for src in (self.lastw.get(key), self.lastr.get(key)):
                for q, j in (src or {}).items():
                    if q != p and (prev is None or prev[q] < seq[j]):
                        out.add(j)
        for key in ev.sw:
            for q, j in (self.lastr.get(key) or {}).items():
                if q != p and (prev is None or prev[q] < seq[j]):
                    out.add(j)
        for key in ev.reads:
            for q, j in (self.lastw.get(key) or {}).items():
                if q != p and (prev is None or prev[q] < seq[j]):
                    out.add(j)
        if self.opaque_at >= 0:
            out.add(self.opaque_at)
        return sorted(out)

    def pending_races(self, p):
        """Steps a task's unknown next step would race with: each other
        task's last step not already before ``p``."""
        prev_i = self.last[p] if p < self.ntask else -1
        prev = self.vc[prev_i] if prev_i >= 0 else None
        for q in range(self.ntask):
            j = self.last[q]
            if q == p or j < 0 or (prev is not None and prev[q] >= self.seq[j]):
                continue
            yield j


def _note(add, box, key, p, i):
    """``box[key][p] = i`` (the last access of ``key`` by task ``p``), with
    its undo entry through ``add``."""
    d = box.get(key)
    if d is None:
        add((box, key, _MISSING))
        box[key] = {p: i}
    else:
        add((d, p, d.get(p, _MISSING)))
        d[p] = i


class _AttrBox:
    """Undo-log adapter for an attribute."""

    __slots__ = ("obj",)

    def __init__(self, obj):
        self.obj = obj

    def __setitem__(self, name, value):
        setattr(self.obj, name, value)

    def __delitem__(self, name):                       # pragma: no cover
        raise AttributeError(name)


def _plain_machine(m):
    """Wakeup sequences replay as recorded: no daemons (store buffers,
    kworkers) and no shared CPU.  Which task exits last changes footprints
    there -- it writes END, which a daemon's step reads; with a CPU's last
    other task gone, preempt_disable no longer writes the CPU's key -- so a
    sequence recorded in one order may not run (a daemon already stopped)
    or may run into sleeping tasks in another; the search then uses source
    sets (the generated tests found both)."""
    seen = set()
    for t in m.tasks:
        if t.daemon or t.cpu in seen:
            return False
        seen.add(t.cpu)
    return True


def _race_order(r):
    return (r[0], r[1], r[2], r[3] is None, r[3] or ())


def _dep(a, b):
    """Steps of two tasks do not commute (None: unknown)."""
    if a is None or b is None:
        return True
    return a.conflicts(b) or a.tid in b.woke or b.tid in a.woke


def _after_initial(q, qev, w):
    """If ``q`` (next step ``qev``, None: unknown) is a weak initial of the
    sequence ``w`` [(tid, Event or None)]: ``w`` without ``q``'s first step;
    else None.  A weak initial: ``q``'s first step in ``w`` depends on no
    step before it, or ``q`` is not in ``w`` and ``qev`` commutes with all
    of it (then ``q`` first leads to the same traces)."""
    for a, (t, ev) in enumerate(w):
        if t == q:
            for b in range(a):
                if _dep(w[b][1], ev):
                    return None
            return w[:a] + w[a + 1:]
    for _, ev in w:
        if _dep(qev, ev):
            return None
    return w


def _insert(branches, w):
    """Insert the sequence ``w`` into a wakeup tree (Abdulla et al.): follow
    the first branch whose step is a weak initial of what is left of
    ``w``; a leaf reached (or ``w`` used up) already covers ``w``; else
    ``w``'s rest becomes the last branch there."""
    while True:
        for br in branches:
            rest = _after_initial(br[0], br[1], w)
            if rest is not None:
                break
        else:
            chain = top = [w[0][0], w[0][1], []]
            for t, ev in w[1:]:
                nxt = [t, ev, []]
                chain[2].append(nxt)
                chain = nxt
            branches.append(top)
            return
        if not br[2] or not rest:
            return
        branches, w = br[2], rest


def _join_steps(vc, steps, seq, vcs):
    """``vc`` after the steps ``steps`` (task -> step): joined with the
    clock of each one it is not already after (the epoch test)."""
    for q, j in steps.items():
        if vc[q] < seq[j]:
            _join(vc, vcs[j])


def _join(a, b):
    for x in range(len(b)):
        if b[x] > a[x]:
            a[x] = b[x]
    return a
