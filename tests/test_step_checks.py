"""Per-step checks (Machine.add_step_check): an invariant checked between
steps -- after every step, or after every step that releases a given lock --
not only at the end of a run."""

from __future__ import annotations

import pytest

from foliolab.engine.machine import Machine
from foliolab.engine.oracles import InvariantViolation
from foliolab.engine.sync import spin_lock, spin_unlock, spinlock_t


class State:
    a = 0
    b = 0


def _writer(lock, st, *, fix_b=True):
    yield from spin_lock(lock)
    st.a += 1
    yield "a++ (lock held)"
    if fix_b:
        st.b += 1
    yield from spin_unlock(lock)
    yield "after the unlock"


def _check(st):
    def a_equals_b():
        if st.a != st.b:
            raise InvariantViolation("a == b", f"a = {st.a}, b = {st.b}")
    return a_equals_b


def _first(m, en):
    return en[0]


def _run(fix_b, lock_bound):
    m = Machine(2, memory_model="sc")
    lock = spinlock_t(m, "L")
    st = State()
    m.spawn("W0", 0, _writer(lock, st, fix_b=fix_b))
    m.spawn("W1", 1, _writer(lock, st, fix_b=fix_b))
    m.add_step_check(_check(st), after_release_of=lock if lock_bound else None)
    return m.run(_first)


def test_a_check_bound_to_a_lock_sees_only_released_states():
    r = _run(fix_b=True, lock_bound=True)
    assert r.failure is None


def test_a_check_after_every_step_sees_the_critical_section():
    r = _run(fix_b=True, lock_bound=False)
    assert isinstance(r.failure, InvariantViolation)
    assert r.failure.kind == "invariant"
    assert r.steps == 2           # the lock announced, then a++: caught there


def test_a_broken_release_is_caught_at_the_release_not_at_the_end():
    r = _run(fix_b=False, lock_bound=True)
    assert isinstance(r.failure, InvariantViolation)
    # W0: announce, take + a++, unlock -> the check fires at step 3
    assert r.steps == 3


def test_a_check_added_from_a_step_is_refused_with_a_clear_error():
    m = Machine(1, memory_model="sc")
    st = State()

    def late():
        m.add_step_check(_check(st))
        yield "registered a check"
    m.spawn("T", 0, late())
    # (it used to surface as an UnboundLocalError inside the machine's loop)
    with pytest.raises(RuntimeError, match=r"add_step_check\(\) is for a scenario's setup"):
        m.run(_first)
