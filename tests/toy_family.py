"""A toy scenario family for the explorer's tests: engine-level races with
known answers, built on ``k.m`` only (no foliolab.mm).

Variants: ``racy`` (baseline) and ``locked`` (the patch ``counter-lock``
puts ``counter_inc`` under a spinlock).

| slug            | racy                          | locked             |
|-----------------|-------------------------------|--------------------|
| lost-update     | bug (counter == 1), k = 1     | safe k<=2, witness |
| abba            | bug (lockdep cycle)           | bug                |
| busy-cpu-flush  | hang (hung task)              | -                  |
| sb-tso          | bug (r1 == r2 == 0)           | bug                |
| sb-sc           | safe k<=2                     | safe k<=2          |

The runs are put together by the scenarios' own ``make_run`` (a machine, a
small kernel object with a per-run function table) so the family works
whatever state foliolab.mm is in.  Load it in another process with
``FOLIOLAB_FAMILIES=tests/toy_family.py``.
"""

from __future__ import annotations

import inspect

from foliolab.engine.kernel import FunctionTable, Patch, PatchError
from foliolab.engine.memory import READ_ONCE, WRITE_ONCE, Shared
from foliolab.engine.oracles import PropertyViolation
from foliolab.engine.sync import spin_lock, spin_unlock, spinlock_t
from foliolab.engine.workqueue import (
    flush_work, queue_work_on, work_struct, workqueue_init, workqueue_struct,
)
from foliolab.scenarios.base import (
    BUG, HANG, NA, SAFE, Expect, Family, Scenario, Variant, make_machine,
    start_scenario,
)

# ------------------------------------------------------------ toy "kernel"
TOY_BASELINE = {}


def toyfunc(f):
    TOY_BASELINE[f.__name__] = f
    return f


class ToyKernel:
    def __init__(self, m, settings, patches):
        self.m = m
        self.settings = settings
        self.patches = list(patches)
        self.trace_events = None
        self.vmstat = {}
        table = dict(TOY_BASELINE)
        for p in self.patches:
            for key, f in p.replaced.items():
                if key not in table:
                    raise PatchError(f"patch {p.name}: replaces {key}, which the kernel does not have")
                if inspect.isgeneratorfunction(table[key]) != inspect.isgeneratorfunction(f):
                    raise PatchError(f"patch {p.name}: {key} changes kind")
                table[key] = f
            for key, f in p.added.items():
                table[key] = f
        self.fn = FunctionTable(self, table)

    def trace(self, event, **fields):
        ev = self.trace_events
        if ev is not None:
            t = self.m.current
            ev.append((self.m.steps, t.cpu if t else -1, t.name if t else "-", event, fields))


def toy_make_run(scenario, patches, settings):
    k = ToyKernel(make_machine(settings), settings, patches)
    for p in k.patches:
        for hook in p.init_hooks:
            hook(k)
    return start_scenario(scenario, k)


class ToyScenario(Scenario):
    family = "toy"
    # The engine's tests read these schedules step by step (tables, traces,
    # replays); sb-tso is the toy that needs store buffers.
    defaults = {"memory_model": "sc"}
    sc_reason = "a test fixture of the explorer; sb-tso is its TSO litmus test"
    needs = {"ncpus": 2}            # every toy runs tasks on cpu0 and cpu1

    def make_run(self, patches, settings):
        return toy_make_run(self, patches, settings)


# ------------------------------------------------------------ lost update
@toyfunc
def counter_inc(k):
    """A non-atomic read-modify-write of a shared counter."""
    v = k.counter
    yield f"load counter = {v}"
    k.counter = v + 1
    k.trace("toy:counter_store", value=v + 1)
    yield f"store counter = {v + 1}"


COUNTER_LOCK = Patch("counter-lock", title="toy: counter_inc under a spinlock",
                     summary="Takes counter_lock around the read-modify-write.")


@COUNTER_LOCK.init
def _counter_lock_init(k):
    k.counter_lock = spinlock_t(k.m, "counter_lock")
    k.contended = False


@COUNTER_LOCK.replaces("counter_inc")
def counter_inc_locked(k):
    if k.counter_lock.owner is not None:
        k.contended = True
    yield from spin_lock(k.counter_lock)
    v = k.counter
    yield f"load counter = {v}"
    k.counter = v + 1
    k.trace("toy:counter_store", value=v + 1)
    yield f"store counter = {v + 1}"
    yield from spin_unlock(k.counter_lock)


def updater(k):
    yield from k.fn.counter_inc()


class LostUpdate(ToyScenario):
    slug = "lost-update"
    title = "two CPUs increment a counter without a lock"
    actors = "A on CPU0 and B on CPU1: counter_inc()"
    prop = "counter == 2"
    expected = {"racy": Expect(BUG, kinds=("property",), preemptions=1, witness=("lost",)),
                "locked": Expect(SAFE, preemptions=2, witness=("contended",))}
    witnesses = {"lost": lambda k: k.counter == 1,
                 "contended": lambda k: getattr(k, "contended", False)}

    def setup(self, k):
        k.counter = 0
        k.m.spawn("A", 0, updater(k))
        k.m.spawn("B", 1, updater(k))

    def check(self, k):
        if k.counter != 2:
            raise PropertyViolation(self.prop, f"counter is {k.counter} after two increments")

    def watch(self, k):
        lock = getattr(k, "counter_lock", None)
        d = {"counter": str(k.counter)}
        if lock is not None:
            d["lock"] = lock.owner.name if lock.owner else "-"
        return d


# ------------------------------------------------------------------- ABBA
@toyfunc
def take_ab(k):
    yield from spin_lock(k.lock_a)
    yield from spin_lock(k.lock_b)
    yield from spin_unlock(k.lock_b)
    yield from spin_unlock(k.lock_a)


@toyfunc
def take_ba(k):
    yield from spin_lock(k.lock_b)
    yield from spin_lock(k.lock_a)
    yield from spin_unlock(k.lock_a)
    yield from spin_unlock(k.lock_b)


class ABBA(ToyScenario):
    slug = "abba"
    title = "two locks taken in opposite orders"
    actors = "P on CPU0: A then B; Q on CPU1: B then A"
    prop = "no lock-order cycle"
    expected = {"racy": Expect(BUG, kinds=("lockdep", "deadlock")),
                "locked": Expect(BUG, kinds=("lockdep", "deadlock"))}

    def setup(self, k):
        k.lock_a = spinlock_t(k.m, "lock_a")
        k.lock_b = spinlock_t(k.m, "lock_b")
        k.m.spawn("P", 0, k.fn.take_ab())
        k.m.spawn("Q", 1, k.fn.take_ba())


# --------------------------------------------------- flush vs a FIFO hog
def toy_drain_fn(work):
    yield "toy_drain_local"


@toyfunc
def flush_remote(k):
    yield from queue_work_on(1, k.wq, k.work)
    yield from flush_work(k.work)


@toyfunc
def busy_loop(k, n):
    for i in range(n):
        yield f"busy {i}"


class BusyCpuFlush(ToyScenario):
    slug = "busy-cpu-flush"
    title = "flush_work on a CPU monopolised by a SCHED_FIFO task"
    actors = "M on CPU0: queue_work_on(1) + flush_work; X on CPU1: SCHED_FIFO busy loop"
    prop = "flush_work returns"
    defaults = {"memory_model": "sc", "hung_task_steps": 100}
    expected = {"racy": Expect(HANG, kinds=("hung-task",))}

    def setup(self, k):
        m = k.m
        workqueue_init(m)
        k.wq = workqueue_struct("mm_percpu_wq")
        k.work = work_struct(m, "lru_add_drain_work", toy_drain_fn)
        m.spawn("M", 0, k.fn.flush_remote())
        m.spawn("X", 1, k.fn.busy_loop(600), rt_prio=50)


# ------------------------------------------------------ store buffering
@toyfunc
def sb_thread(k, mine, other, slot):
    WRITE_ONCE(mine, 1)
    yield f"WRITE_ONCE({mine.name}, 1)"
    r = READ_ONCE(other)
    k.r[slot] = r
    yield f"r{slot} = READ_ONCE({other.name}) = {r}"


class StoreBuffering(ToyScenario):
    slug = "sb-tso"
    title = "the SB litmus test"
    actors = "T0 on CPU0: x = 1; r0 = y || T1 on CPU1: y = 1; r1 = x"
    prop = "not (r0 == 0 and r1 == 0)"
    defaults = {"memory_model": "tso"}
    expected = {"racy": Expect(BUG, kinds=("property",)),
                "locked": Expect(BUG, kinds=("property",))}

    def setup(self, k):
        m = k.m
        k.x = Shared(m, "x")
        k.y = Shared(m, "y")
        k.r = [None, None]
        m.spawn("T0", 0, k.fn.sb_thread(k.x, k.y, 0))
        m.spawn("T1", 1, k.fn.sb_thread(k.y, k.x, 1))

    def check(self, k):
        if k.r == [0, 0]:
            raise PropertyViolation(self.prop, "r0 == r1 == 0: both loads passed the other CPU's store")

    def watch(self, k):
        return {"x": str(k.x.v), "y": str(k.y.v),
                "r": ",".join("-" if v is None else str(v) for v in k.r)}


class StoreBufferingSC(StoreBuffering):
    slug = "sb-sc"
    title = "the SB litmus test under sequential consistency"
    defaults = {"memory_model": "sc"}
    sc_reason = "the SC column of the litmus test: the same program, no store buffers"
    expected = {"racy": Expect(SAFE, preemptions=2),
                "locked": Expect(SAFE, preemptions=2)}


# -------------------------------------------- a deliberately flaky scenario
_flaky_builds = [0]


class Flaky(LostUpdate):
    """Not in the family: its outcome depends on how many runs this process
    built before (module state), which the nondeterminism check must catch."""

    slug = "flaky"

    def setup(self, k):
        _flaky_builds[0] += 1
        k.flaky_odd = _flaky_builds[0] % 2 == 1
        super().setup(k)

    def check(self, k):
        if k.flaky_odd:
            raise PropertyViolation("even build", f"build {_flaky_builds[0]} is odd")


FLAKY = Flaky()

FAMILY = Family(
    name="toy",
    title="toy races for the explorer's tests",
    seed="-",
    variants={
        "racy": Variant("racy", (), "no lock"),
        "locked": Variant("locked", (COUNTER_LOCK,), "counter_inc under a spinlock"),
    },
    scenarios=[LostUpdate(), ABBA(), BusyCpuFlush(), StoreBuffering(), StoreBufferingSC()],
)
