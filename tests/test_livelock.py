"""engine/livelock.py: the repeating-cycle livelock detector and the
soft-lockup watch, on small machine programs (no mm)."""

from __future__ import annotations

import random

import pytest

from foliolab.engine.livelock import KernelSoftLockup, SoftLockupWatch, SpinCycleDetector, \
    spin_loop_enter, spin_loop_head
from foliolab.engine.machine import PREEMPT_FULL, PREEMPT_NONE, Machine
from foliolab.engine.oracles import Livelock
from foliolab.engine.sync import cond_resched


class Flag:
    def __init__(self):
        self.v = 0


def spinner(m, flag, yields):
    """Refault until ``flag.v``: no scheduling point unless ``yields``."""
    token = spin_loop_enter(m)
    while True:
        spin_loop_head(m, "spin", (token, flag.v))
        if flag.v:
            yield "done"
            return
        yield "retry"
        if yields:
            yield from cond_resched(m)


def setter(m, flag):
    yield from cond_resched(m)          # gives its CPU away once
    flag.v = 1
    yield "set"


def run(preempt, yields, seed=0, fair=64):
    m = Machine(2, preempt=preempt, fair_bound=fair, max_steps=5000)
    flag = Flag()
    SpinCycleDetector(m, lambda: (flag.v,))
    m.spawn("setter", 0, setter(m, flag))
    m.spawn("S0", 0, spinner(m, flag, yields))
    m.spawn("S1", 1, spinner(m, flag, yields))
    rng = random.Random(seed)
    return m.run(lambda m, en: en[rng.randrange(len(en))])


def test_spinners_on_every_cpu_without_a_scheduling_point_livelock():
    found = [run(PREEMPT_NONE, False, s) for s in range(20)]
    fails = [r.failure for r in found if r.failure is not None]
    assert fails and all(isinstance(f, Livelock) for f in fails)
    msg = fails[0].message
    assert "is the state after step" in msg
    assert "starving: setter (runnable: cpu0 held by S0" in msg
    assert "S0 on cpu0" in msg and "S1 on cpu1" in msg


@pytest.mark.parametrize("preempt,yields", [(PREEMPT_NONE, True), (PREEMPT_FULL, False)])
def test_a_scheduling_point_or_preemption_lets_the_setter_run(preempt, yields):
    for s in range(20):
        r = run(preempt, yields, s)
        assert r.failure is None and not r.aborted, r.failure


def test_soft_lockup_fires_on_a_cpu_that_never_schedules():
    m = Machine(1, preempt=PREEMPT_NONE, max_steps=5000)
    SoftLockupWatch(m, 100)

    def loop():
        while True:
            yield "spin"

    m.spawn("L", 0, loop())
    r = m.run(lambda m, en: en[0])
    assert isinstance(r.failure, KernelSoftLockup)
    assert "soft lockup - CPU#0 stuck" in r.failure.message


def test_no_soft_lockup_with_cond_resched():
    m = Machine(1, preempt=PREEMPT_NONE, max_steps=2000)
    SoftLockupWatch(m, 100)

    def loop():
        for _ in range(500):
            yield "work"
            yield from cond_resched(m)

    m.spawn("L", 0, loop())
    assert m.run(lambda m, en: en[0]).failure is None
