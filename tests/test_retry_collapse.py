"""Idle-retry collapse (engine/retry.py) keeps every behaviour but counters.

Three checks:

* on a small program whose success needs a retry that *reacts* to another
  CPU's store, the exhaustive search finds the success with the collapse on
  and off -- and a watch that ignores the other task's writes (the bug the
  collapse must not have) loses it;
* on a program where every retry is idle, the collapse cuts the schedules
  and still certifies;
* on the lru_cache cells that run migrate_pages() and alloc_contig_range()
  retries, the DFS verdict at k<=1 is the same with the collapse on and
  off, and the collapsed runs are shorter (so the collapse was active).
"""

from __future__ import annotations

import pytest

import foliolab.engine.machine as machine
from foliolab.engine.footprint import touch_read, touch_write
from foliolab.engine.oracles import PropertyViolation
from foliolab.engine.retry import retry_begin, retry_end, retry_unchanged
from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.scenarios.base import BUG, SAFE, Expect
from foliolab.scenarios.programs import Program, Var, read, write

ATTEMPTS = 5


def _retrier(b_writes):
    """T0 retries up to ATTEMPTS times: each attempt announces itself
    (trying = 1) and reads x in one step, and succeeds when x is set.
    T1 reads trying and, if T0 is trying, stores 1 to ``b_writes`` ("x":
    the only way T0 succeeds is a retry after that store; "y": a key no
    attempt reads, so every retry is idle)."""

    def init(k):
        k.x = Var(k.m, "x")
        k.y = Var(k.m, "y")
        k.trying = Var(k.m, "trying")
        k.ok = False

    def t0(k):
        m = k.m
        for attempt in range(ATTEMPTS):
            retry_begin(m, "test")
            touch_write(m, k.trying.fpk)
            touch_read(m, k.x.fpk)
            k.trying.v = 1
            x = k.x.v
            yield f"attempt {attempt}: trying = 1, read x -> {x}"
            if x:
                k.ok = True
                break
            if attempt + 1 < ATTEMPTS and retry_unchanged(m, "test"):
                yield f"attempt {attempt} read nothing that changed: the rest skipped"
                break
            yield f"attempt {attempt} failed"
        retry_end(m, "test")

    def t1(k):
        t = yield from read(k.trying)
        if t:
            yield from write(getattr(k, b_writes), 1)

    def check(k):
        if k.ok:
            raise PropertyViolation("T0 never succeeds", "T0 succeeded on a retry")

    return Program(f"retrier-{b_writes}", [("T0", t0), ("T1", t1)], init=init, check=check,
                   prop="T0 never succeeds",
                   expected={"plain": Expect(BUG if b_writes == "x" else SAFE)})


def _dfs(prog, collapse, k=None):
    return explore(prog, "plain", [], "dfs", None, preemptions=k, trace_dir=None,
                   progress=False, shrink=False, record=False,
                   settings={"retry_collapse": collapse})


def _blind_watch_step(watches, t, fpr, fpw, woke, drained):
    # grows the task's own watches, never marks one changed by another task
    for (tid, _site), w in watches.items():
        if tid == t.tid:
            w.keys.update(fpr)
            w.keys.update(fpw)


@pytest.mark.parametrize("collapse", [True, False])
def test_a_reacting_retry_is_kept(collapse):
    r = _dfs(_retrier("x"), collapse)
    assert r.outcome == "failure", r.summary()


def test_a_watch_blind_to_other_tasks_loses_the_retry(monkeypatch):
    monkeypatch.setattr(machine, "watch_step", _blind_watch_step)
    r = _dfs(_retrier("x"), True)
    assert r.outcome == "certified", r.summary()     # wrongly: the retry was dropped


def test_idle_retries_are_collapsed():
    on = _dfs(_retrier("y"), True)
    off = _dfs(_retrier("y"), False)
    assert on.outcome == off.outcome == "certified"
    assert on.schedules < off.schedules, (on.summary(), off.summary())
    assert on.max_run_steps < off.max_run_steps


# lru_cache cells whose runs go through the two retry sites at k<=1, under
# variants where the outcome is settled there (readd-after-drain under
# lru-cache-disable is left to bench/: 1,382 schedules twice, the longest
# of them 681 steps without the collapse).
FAMILY = find_family("lru_cache")
CELLS = [("readd-after-drain", "v0"), ("readd-after-drain", "mhocko-atomic"),
         ("readd-after-drain", "sync-rcu"), ("add-after-drain", "lru-cache-disable")]


@pytest.mark.parametrize("slug,variant", CELLS)
def test_same_verdict_with_and_without_the_collapse(slug, variant):
    sc = FAMILY.scenario(slug)
    patches = variant_patches(FAMILY.variants[variant])
    res = {}
    for collapse in (True, False):
        res[collapse] = explore(sc, variant, patches, "dfs", None, 0, trace_dir=None,
                                progress=False, shrink=False, record=False,
                                family=FAMILY.name, preemptions=1,
                                settings={"retry_collapse": collapse})
    on, off = res[True], res[False]
    assert on.outcome == off.outcome, (on.summary(), off.summary())
    if on.outcome == "certified":
        assert on.max_run_steps < off.max_run_steps, (on.summary(), off.summary())
