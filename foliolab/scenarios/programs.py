"""Small concurrent programs on the bare engine.

Not mm: the classic small races (a lost update, a bug that needs two
preemptions, N locked increments), written against the engine's primitives
so the explorer can be measured and checked on programs whose answers are
known -- and compared with other checkers on the same programs (bench/).

A program is a :class:`Program` scenario: named threads, each a generator
function ``f(k)`` pinned to its own CPU, an ``init(k)`` that creates the
shared variables on the run's kernel object ``k`` and a ``check(k)`` run at
the end.  Shared memory is the engine's: :class:`Var` (a plain int; every
access is one step), ``atomic_t``, ``spinlock_t``, ``Shared`` with
READ_ONCE/WRITE_ONCE under the memory model.  Every primitive declares its
footprint, so partial-order reduction applies (``footprints = True``).
"""

from __future__ import annotations

from ..engine.footprint import touch_read, touch_write
from ..engine.oracles import PropertyViolation
from ..engine.sync import spin_lock, spin_unlock, spinlock_t
from .base import SAFE, BUG, Expect, Family, Scenario, Variant, make_machine, start_scenario


class Var:
    """A plain shared int: ``yield from read(v)`` and ``yield from
    write(v, x)`` are one step each (a load, a store)."""

    __slots__ = ("m", "name", "v", "fpk")

    def __init__(self, m, name, value=0):
        self.m = m
        self.name = name
        self.v = value
        self.fpk = m.new_key()

    def __repr__(self):
        return f"{self.name}={self.v}"


def read(var):
    touch_read(var.m, var.fpk)
    v = var.v
    yield f"read {var.name} -> {v}"
    return v


def write(var, value):
    touch_write(var.m, var.fpk)
    var.v = value
    yield f"write {var.name} = {value}"


class ProgramKernel:
    """The run's "kernel": the machine and the program's variables."""

    def __init__(self, m, settings):
        self.m = m
        self.settings = settings
        self.patches = []
        self.trace_events = None
        self.vmstat = {}
        self.fn = None

    def trace(self, event, **fields):
        pass


class Program(Scenario):
    """A program as a scenario: ``threads`` is [(name, f)]; thread i runs on
    CPU i."""

    family = "programs"
    footprints = True

    def __init__(self, slug, threads, *, init=None, check=None, title="", prop="",
                 expected=None, memory_model="sc"):
        self.slug = slug
        self.title = title or slug
        self.prop = prop
        self.threads = list(threads)
        self._init = init
        self._check = check
        self.defaults = {"ncpus": len(self.threads), "memory_model": memory_model,
                         "max_steps": 100_000}
        self.expected = expected or {}
        self.actors = ", ".join(f"{n} on cpu{i}" for i, (n, _) in enumerate(self.threads))

    def make_run(self, patches, settings):
        k = ProgramKernel(make_machine(settings, self.footprints), settings)
        return start_scenario(self, k)

    cpus = None                  # the CPU of each thread (default: thread i on CPU i)

    @property
    def needs(self):
        return {"ncpus": 1 + max(self.cpus or range(len(self.threads)), default=0)}

    def setup(self, k):
        if self._init is not None:
            self._init(k)
        for i, (name, f) in enumerate(self.threads):
            k.m.spawn(name, self.cpus[i] if self.cpus else i, f(k))

    def check(self, k):
        if self._check is not None:
            self._check(k)


# ------------------------------------------------------------ the classics
def lost_update():
    """Two threads increment a plain counter (load, then store): one
    preemption between the load and the store loses an update."""

    def init(k):
        k.counter = Var(k.m, "counter")

    def inc(k):
        v = yield from read(k.counter)
        yield from write(k.counter, v + 1)

    def check(k):
        if k.counter.v != 2:
            raise PropertyViolation("no lost update", f"counter = {k.counter.v}, expected 2")

    return Program("lost-update", [("T0", inc), ("T1", inc)], init=init, check=check,
                   title="two unlocked increments", prop="counter == 2",
                   expected={"plain": Expect(BUG, ("property",))})


def stages(fixed=False):
    """Three threads, a bug that needs two preemptions: T1 publishes x=1 and
    takes it back; T2, seeing x==1, publishes y=1 and takes it back; T3 must
    never see y==1.  It does when T1 is preempted between its stores and T2
    between its own.  The fix: T2 publishes y under a lock that T3 takes to
    look at it (T3 then sees y only after T2 took it back)."""

    def init(k):
        k.x = Var(k.m, "x")
        k.y = Var(k.m, "y")
        k.lock = spinlock_t(k.m, "L")
        k.seen = False

    def t1(k):
        yield from write(k.x, 1)
        yield from write(k.x, 0)

    def t2(k):
        x = yield from read(k.x)
        if x == 1:
            if fixed:
                yield from spin_lock(k.lock)
            yield from write(k.y, 1)
            yield from write(k.y, 0)
            if fixed:
                yield from spin_unlock(k.lock)

    def t3(k):
        if fixed:
            yield from spin_lock(k.lock)
        y = yield from read(k.y)
        if fixed:
            yield from spin_unlock(k.lock)
        if y == 1:
            raise PropertyViolation("T3 never sees y == 1", "T3 read y == 1")

    name = "stages-fixed" if fixed else "stages"
    return Program(name, [("T1", t1), ("T2", t2), ("T3", t3)], init=init,
                   title="a bug that needs two preemptions" + (" (fixed)" if fixed else ""),
                   prop="T3 never sees y == 1",
                   expected={"plain": Expect(SAFE if fixed else BUG)})


def locked_increments(n, times=2):
    """``n`` threads each increment a counter ``times`` times under one
    spinlock.  No bug; its Mazurkiewicz traces are the orders of the
    critical sections, (n*times)! / (times!)**n of them."""

    def init(k):
        k.counter = Var(k.m, "counter")
        k.lock = spinlock_t(k.m, "L")

    def inc(k):
        for _ in range(times):
            yield from spin_lock(k.lock)
            v = yield from read(k.counter)
            yield from write(k.counter, v + 1)
            yield from spin_unlock(k.lock)

    def check(k):
        if k.counter.v != n * times:
            raise PropertyViolation("no lost update", f"counter = {k.counter.v}")

    return Program(f"locked-increments-{n}", [(f"T{i}", inc) for i in range(n)],
                   init=init, check=check, title=f"{n} threads x {times} locked increments",
                   prop=f"counter == {n * times}", expected={"plain": Expect(SAFE)})


def classic_programs():
    return [lost_update(), stages(), stages(fixed=True)] + [
        locked_increments(n) for n in (2, 3, 4)]


FAMILY = Family(
    name="programs",
    title="classic small concurrent programs on the bare engine (benchmarks, checks)",
    seed="",
    variants={"plain": Variant("plain", (), "the program as written")},
    scenarios=classic_programs(),
)
