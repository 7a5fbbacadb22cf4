"""The systematic search split into subtrees by schedule prefix, for
scale-out (foliolab/runner, docs/scaleout.md).

:func:`split_prefixes` expands the top of the search tree breadth-first:
at each of the first branch points it takes *every* enabled task the
preemption bound allows (no reduction there), until there are at least
``target`` prefixes or the tree has no more branch points.  Each prefix is
one unit: :class:`PrefixSystematic` replays the prefix and searches the
subtree below it with the same bounded DPOR as the serial search
(dpor.py), never backtracking into the prefix.

Why the union is a certificate: at the split nodes every choice within the
bound is taken, a superset of any persistent (source) set there, and below
them each subtree runs the serial algorithm, whose backtrack points inside
the subtree come from runs inside the subtree.  Backtrack points a subtree's
races add to the split nodes are dropped: their siblings are units of
their own.  Sleep sets (unbounded search only) start empty at the subtree's
root, which only explores more.  The split search therefore covers every
schedule the serial one covers, and may run more schedules (the split nodes
are not reduced): the certificate says into how many subtrees it was split,
and the number of schedules is the sum over them.

The split depends on the scenario, the settings, the bound and ``target``,
never on the number of workers: the same command gives the same units, the
same certificate and the same first failure (the first in the units'
order) on any backend.  The subtrees run without iterative deepening
(each at the full bound).
"""

from __future__ import annotations

from ..engine.machine import ScheduleAborted
from .dpor import Systematic, preemption_cost
from .explorer import with_strategy_settings
from .registry import builder
from .run import NondeterminismError, run_schedule

DEFAULT_SPLIT = 32            # units a split search aims at (before any worker count)
MAX_SPLIT = 100_000


class _Branch(Exception):
    pass


def _probe(scenario, patches, full, build, prefix, bound):
    """Run ``prefix`` then the non-preemptive choice until the first state
    with two choices or more within ``bound``.  Returns (steps to that
    state, [choices]) or None when the run ends without one; and whether the
    bound refused a choice on the way."""
    found = []
    cut = [False]
    state = {"last": None, "pre": 0}

    def choose(m, en):
        i = m.steps
        vis = [t for t in en if not t.invisible] or list(en)
        last = state["last"]
        tids = [t.tid for t in vis]

        free = [t.tid for t in vis if t.is_sb]

        def cost(t):
            return preemption_cost(last, t.tid, tids, free)

        if i < len(prefix):
            pick = next((t for t in en if t.tid == prefix[i]), None)
            if pick is None:
                raise NondeterminismError(f"split: step {i + 1}: task {prefix[i]} is not enabled")
        else:
            order = sorted(vis, key=lambda t: (t.tid != last, tids.index(t.tid)))
            ok = [t for t in order if bound is None or state["pre"] + cost(t) <= bound]
            if len(ok) < len(order):
                cut[0] = True
            if len(ok) >= 2:
                found.append((list(m.schedule[:i]), [t.tid for t in ok]))
                raise ScheduleAborted("split point")
            pick = ok[0] if ok else order[0]
        state["pre"] += cost(pick) if pick in vis else 0
        if not pick.invisible and not pick.is_sb:
            state["last"] = pick.tid
        return pick

    def setup(k):
        k.m.choose_single = True

    run_schedule(scenario, patches, full, choose, build=build, setup=setup)
    return (found[0] if found else None), cut[0]


def split_prefixes(scenario, patches, settings, preemptions, target=DEFAULT_SPLIT,
                   build=None):
    """[prefix (task ids by step)], in serial order, and whether the bound
    refused a choice at a split node (then the search is not exhaustive)."""
    build = build or builder(scenario)
    full = with_strategy_settings(scenario.settings(settings), settings, Systematic)
    frontier = [[]]
    leaves = set()                 # indexes of prefixes with no branch below
    cut_any = False
    while len(frontier) < target:
        nxt = []
        grew = False
        for i, p in enumerate(frontier):
            if tuple(p) in leaves:
                nxt.append(p)
                continue
            br, cut = _probe(scenario, patches, full, build, p, preemptions)
            cut_any = cut_any or cut
            if br is None:
                leaves.add(tuple(p))
                nxt.append(p)
                continue
            path, choices = br
            grew = True
            nxt.extend(path + [c] for c in choices)
        frontier = nxt
        if not grew:
            break
    return frontier, cut_any


class PrefixSystematic(Systematic):
    """:class:`Systematic` below a fixed schedule prefix (one subtree of a
    split search): the prefix's steps are forced and never backtracked."""

    def __init__(self, prefix, preemptions=2, reduction="dpor"):
        super().__init__(preemptions, reduction, iterative=False)
        self.prefix = list(prefix)
        self.floor = len(self.prefix)

    def fraction_done(self):
        """The estimator of dpor.py over the subtree only (the prefix's
        nodes have one branch here, whatever races added to them)."""
        nodes = self.nodes
        self.nodes = nodes[self.floor:]
        try:
            return super().fraction_done()
        finally:
            self.nodes = nodes

    def _default_choice(self, node):
        i = len(self.nodes) - 1
        if i < len(self.prefix):
            tid = self.prefix[i]
            if tid not in node.en:
                raise NondeterminismError(
                    f"split: step {i + 1}: task {tid} of the prefix is not enabled")
            return tid
        return super()._default_choice(node)
