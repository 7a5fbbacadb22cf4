"""Litmus tests as engine programs, run under sc, tso and lkmm.

Every process of a test becomes a task on its own CPU that interprets the
test's statements; every access to a location is one step (a yield), as in
model code.  Locations are engine ``Shared`` words, spinlocks are engine
spinlocks with a ``Shared`` word beside them that ``spin_is_locked()`` reads
(so its value reaches other CPUs as a store does), RCU is the engine's.

Under ``lkmm`` the operational model (engine/lkmm.py) keeps each CPU's loads
and stores in program order.  LKMM does not: it only preserves the program
order of accesses that a barrier, an acquire or release, a fully ordered
RMW, a dependency (address, data, control) or the same location orders
(its ``ppo``).  The runner therefore runs every *program order* of each
process that keeps those pairs in order -- the load buffering, S and 2+2W
shapes and reader-side load-load reordering come from there -- and the
model supplies the rest (non-multicopy-atomic propagation).  A pair is
kept in order conservatively: nothing moves across a barrier, lock, RCU
call or ``if``; a conditional RMW (cmpxchg, atomic_add_unless: fully
ordered only when it stores) may move only if it then fails (a run in
which it succeeds is discarded).

A test's outcome is *found* when some run ends in a state its ``exists``
clause (and ``filter``) accepts; the search is DFS with partial-order
reduction, exhaustive (no preemption bound), over every program order.
"""

from __future__ import annotations

import itertools

from ..engine.memory import (
    READ_ONCE, WRITE_ONCE, Shared, shared_rmw, smp_load_acquire, smp_mb,
    smp_mb__after_atomic, smp_mb__after_spinlock, smp_mb__before_atomic,
    smp_rmb, smp_store_release, smp_wmb,
)
from ..engine.oracles import PropertyViolation
from ..engine.rcu import rcu_read_lock, rcu_read_unlock, synchronize_rcu
from ..engine.sync import spin_lock, spin_unlock, spinlock_t
from ..scenarios.programs import Program
from .reader import LitmusError, Ptr

MODELS = ("sc", "tso", "lkmm")
# the store-buffering family: forbidden under SC, whatever the barriers
SB_FAMILY = ("SB+", "R+", "IRIW+", "cmpxchg-fail-unordered-1")
MAX_ORDERS = 256          # program orders per test (product over processes)

_FENCES = {"smp_mb", "smp_rmb", "smp_wmb", "smp_mb__before_atomic", "smp_mb__after_atomic",
           "smp_mb__after_spinlock", "spin_lock", "spin_unlock", "rcu_read_lock",
           "rcu_read_unlock", "synchronize_rcu"}
_FULL_RMW = {"atomic_inc_return", "atomic_dec_return", "atomic_add_return", "xchg"}
_COND_RMW = {"cmpxchg", "atomic_add_unless"}
_VOID_RMW = {"atomic_inc", "atomic_dec", "atomic_add"}
_LOADS = {"READ_ONCE", "rcu_dereference", "atomic_read", "smp_load_acquire", "spin_is_locked"}
_STORES = {"WRITE_ONCE", "rcu_assign_pointer", "atomic_set", "smp_store_release"}


class _Invalid(Exception):
    """A reordered conditional RMW succeeded: not an execution."""


# --------------------------------------------------------- static analysis
class _Info:
    """What a top-level statement does, for the reordering rules."""

    __slots__ = ("opaque", "locs", "reads", "writes", "acquire", "release", "full", "cond",
                 "has_access")

    def __init__(self):
        self.opaque = False
        self.locs = set()             # locations accessed ("?" unknown: through a register)
        self.reads = set()            # registers read
        self.writes = set()           # registers written
        self.acquire = self.release = self.full = self.cond = False
        self.has_access = False


def _ptr_loc(e, t):
    """The location a pointer expression names ("?" when a register holds it)."""
    if e[0] == "reg" and e[1] in t.types:
        return e[1]
    if e[0] == "addr":
        return e[1]
    return "?"


def _scan(e, t, info):
    kind = e[0]
    if kind == "num" or kind == "addr":
        return
    if kind == "reg":
        if e[1] not in t.types:
            info.reads.add(e[1])
        return
    if kind == "not":
        _scan(e[1], t, info)
        return
    if kind == "bin":
        _scan(e[2], t, info)
        _scan(e[3], t, info)
        return
    if kind == "deref":
        info.has_access = True
        info.locs.add(_ptr_loc(e[1], t))
        _scan(e[1], t, info)
        return
    if kind == "call":
        name, args = e[1], e[2]
        if name in _FENCES:
            info.opaque = True
        for a in args:
            if a[0] == "deref":
                info.has_access = True
                info.locs.add(_ptr_loc(a[1], t))
                _scan(a[1], t, info)
            else:
                _scan(a, t, info)
        if name in _LOADS or name in _STORES or name in _FULL_RMW or name in _COND_RMW \
                or name in _VOID_RMW:
            info.has_access = True
            if args and args[0][0] != "deref":
                info.locs.add(_ptr_loc(args[0], t))
        if name == "smp_load_acquire":
            info.acquire = True
        if name in ("smp_store_release", "rcu_assign_pointer"):
            info.release = True
        if name in _FULL_RMW:
            info.full = True
        if name in _COND_RMW:
            info.cond = True
        return
    raise LitmusError(f"cannot analyse {e!r}")


def _info(stmt, t):
    info = _Info()
    kind = stmt[0]
    if kind in ("if", "block"):
        info.opaque = True
        return info
    if kind == "decl":
        if stmt[2] is not None:
            info.writes.add(stmt[1])
            _scan(stmt[2], t, info)
        return info
    if kind == "assign":
        info.writes.add(stmt[1])
        _scan(stmt[2], t, info)
        return info
    if kind == "store":
        info.has_access = True
        info.locs.add(_ptr_loc(stmt[1], t))
        _scan(stmt[1], t, info)
        _scan(stmt[2], t, info)
        return info
    _scan(stmt[1], t, info)
    return info


def _ordered(a, b):
    """LKMM keeps a (earlier) before b; True when unsure.  The second value
    says the pair may be swapped only if a conditional RMW in it fails."""
    if a.opaque or b.opaque:
        return True, False
    if not (a.has_access and b.has_access):
        # register-only statements: ordered by their registers alone
        return bool(a.writes & (b.reads | b.writes) or b.writes & a.reads), False
    if a.writes & (b.reads | b.writes) or b.writes & a.reads:
        return True, False            # a dependency through a register
    if "?" in a.locs or "?" in b.locs or a.locs & b.locs:
        return True, False            # the same (or an unknown) location
    if a.acquire or b.release or a.full or b.full:
        return True, False
    if a.cond or b.cond:
        return False, True
    return False, False


def program_orders(t, stmts):
    """Every order of ``stmts`` (a process body) that keeps the pairs LKMM
    orders; each with the indexes of the conditional RMWs that must fail."""
    infos = [_info(s, t) for s in stmts]
    n = len(stmts)
    # "int r0;" does nothing: it keeps its place (first), not worth orders
    idle = [i for i, s in enumerate(stmts) if s[0] == "decl" and s[2] is None]
    before = [set() for _ in range(n)]
    cond_pairs = set()
    for i in range(n):
        for j in range(i + 1, n):
            keep, cond = _ordered(infos[i], infos[j])
            if keep:
                before[j].add(i)
            elif cond:
                cond_pairs.add((i, j))
    out = []

    def walk(order, left):
        if not left:
            out.append(tuple(order))
            return
        for j in sorted(left):
            if before[j] & left:
                continue
            left.discard(j)
            order.append(j)
            walk(order, left)
            order.pop()
            left.add(j)

    walk(list(idle), set(range(n)) - set(idle))
    result = []
    for order in out:
        pos = {s: k for k, s in enumerate(order)}
        must_fail = set()
        for i, j in cond_pairs:
            if pos[i] > pos[j]:
                must_fail |= {x for x in (i, j) if infos[x].cond}
        result.append((order, frozenset(must_fail)))
    return result


# ------------------------------------------------------------- execution
class _Proc:
    """One process's registers while it runs."""

    def __init__(self, n):
        self.n = n
        self.regs = {}


def _loc(k, e, proc):
    """The Shared word a pointer expression points to."""
    if e[0] == "reg" and e[1] in k.lt.types:
        return k.words[e[1]]
    if e[0] == "addr":
        return k.words[e[1]]
    v = yield from _eval(k, e, proc)
    if not isinstance(v, Ptr) or v.name not in k.words:
        raise PropertyViolation("litmus", f"P{proc.n}: dereference of {v!r}")
    return k.words[v.name]


def _lvalue(k, e, proc):
    if e[0] != "deref":
        raise LitmusError(f"P{proc.n}: expected *pointer, got {e!r}")
    return (yield from _loc(k, e[1], proc))


def _eval(k, e, proc):
    kind = e[0]
    if kind == "num":
        return e[1]
    if kind == "addr":
        return Ptr(e[1])
    if kind == "reg":
        if e[1] in k.lt.types:
            return Ptr(e[1])
        return proc.regs.get(e[1], 0)
    if kind == "not":
        v = yield from _eval(k, e[1], proc)
        return int(not v)
    if kind == "bin":
        a = yield from _eval(k, e[2], proc)
        b = yield from _eval(k, e[3], proc)
        op = e[1]
        if op == "==":
            return int(a == b)
        if op == "!=":
            return int(a != b)
        if op == "&&":
            return int(bool(a) and bool(b))
        if op == "||":
            return int(bool(a) or bool(b))
        if isinstance(a, Ptr) or isinstance(b, Ptr):
            raise PropertyViolation("litmus", f"P{proc.n}: arithmetic on a pointer")
        return a + b if op == "+" else a - b
    if kind == "deref":
        var = yield from _loc(k, e[1], proc)
        v = READ_ONCE(var)
        yield f"P{proc.n}: *{var.name} -> {v}"
        return v
    if kind == "call":
        return (yield from _call(k, e[1], e[2], proc))
    raise LitmusError(f"P{proc.n}: cannot evaluate {e!r}")


def _call(k, name, args, proc):
    m = k.m
    p = f"P{proc.n}"
    if name in ("READ_ONCE", "rcu_dereference"):
        var = yield from _lvalue(k, args[0], proc)
        v = READ_ONCE(var)
        yield f"{p}: {name}({var.name}) -> {v}"
        return v
    if name in ("WRITE_ONCE", "rcu_assign_pointer"):
        var = yield from _lvalue(k, args[0], proc)
        v = yield from _eval(k, args[1], proc)
        if name == "rcu_assign_pointer":
            smp_store_release(var, v)
        else:
            WRITE_ONCE(var, v)
        yield f"{p}: {name}({var.name}, {v})"
        return None
    if name in ("smp_load_acquire", "atomic_read"):
        var = yield from _loc(k, args[0], proc)
        v = smp_load_acquire(var) if name == "smp_load_acquire" else READ_ONCE(var)
        yield f"{p}: {name}({var.name}) -> {v}"
        return v
    if name in ("smp_store_release", "atomic_set"):
        var = yield from _loc(k, args[0], proc)
        v = yield from _eval(k, args[1], proc)
        if name == "smp_store_release":
            smp_store_release(var, v)
        else:
            WRITE_ONCE(var, v)
        yield f"{p}: {name}({var.name}, {v})"
        return None
    if name in _VOID_RMW or name in _FULL_RMW or name in _COND_RMW:
        var = yield from _loc(k, args[0], proc)
        vals = []
        for a in args[1:]:
            vals.append((yield from _eval(k, a, proc)))
        return (yield from _rmw(k, name, var, vals, proc))
    if name == "spin_lock":
        lk = k.locks[args[0][1]]
        yield from spin_lock(lk)
        shared_rmw(k.words[lk.name], lambda v: 1, full=False)
        yield f"{p}: holds {lk.name}"
        return None
    if name == "spin_unlock":
        lk = k.locks[args[0][1]]
        if m.tso:
            smp_mb(m)                 # stronger than x86: the lock is not a Shared word
        smp_store_release(k.words[lk.name], 0)
        yield from spin_unlock(lk)
        return None
    if name == "spin_is_locked":
        v = READ_ONCE(k.words[args[0][1]])
        yield f"{p}: spin_is_locked({args[0][1]}) -> {v}"
        return v
    if name in ("smp_mb", "smp_rmb", "smp_wmb", "smp_mb__before_atomic",
                "smp_mb__after_atomic", "smp_mb__after_spinlock"):
        {"smp_mb": smp_mb, "smp_rmb": smp_rmb, "smp_wmb": smp_wmb,
         "smp_mb__before_atomic": smp_mb__before_atomic,
         "smp_mb__after_atomic": smp_mb__after_atomic,
         "smp_mb__after_spinlock": smp_mb__after_spinlock}[name](m)
        yield f"{p}: {name}()"
        return None
    if name == "rcu_read_lock":
        rcu_read_lock(m)
        yield f"{p}: rcu_read_lock()"
        return None
    if name == "rcu_read_unlock":
        yield from rcu_read_unlock(m)
        return None
    if name == "synchronize_rcu":
        yield from synchronize_rcu(m)
        return None
    raise LitmusError(f"{p}: unsupported call {name}()")


def _rmw(k, name, var, vals, proc):
    res = {}

    def fn(old):
        if name in ("atomic_inc", "atomic_inc_return"):
            new = old + 1
        elif name in ("atomic_dec", "atomic_dec_return"):
            new = old - 1
        elif name in ("atomic_add", "atomic_add_return"):
            new = old + vals[0]
        elif name == "xchg":
            new = vals[0]
        elif name == "cmpxchg":
            new = vals[1] if old == vals[0] else None
        else:                                         # atomic_add_unless(v, a, u)
            new = old + vals[0] if old != vals[1] else None
        res["new"] = new
        return new

    full = name not in _VOID_RMW
    old = shared_rmw(var, fn, full=full)
    new = res["new"]
    if new is not None and getattr(proc, "must_fail", None):
        raise _Invalid()
    yield f"P{proc.n}: {name}({var.name}) {old} -> {new if new is not None else 'unchanged'}"
    if name in ("atomic_inc_return", "atomic_dec_return", "atomic_add_return"):
        return new
    if name == "atomic_add_unless":
        return int(new is not None)
    if name in _VOID_RMW:
        return None
    return old


def _exec(k, stmt, proc):
    kind = stmt[0]
    if kind == "decl":
        if stmt[2] is not None:
            proc.regs[stmt[1]] = yield from _eval(k, stmt[2], proc)
        else:
            proc.regs.setdefault(stmt[1], 0)
    elif kind == "assign":
        proc.regs[stmt[1]] = yield from _eval(k, stmt[2], proc)
    elif kind == "store":
        var = yield from _loc(k, stmt[1], proc)
        v = yield from _eval(k, stmt[2], proc)
        WRITE_ONCE(var, v)
        yield f"P{proc.n}: *{var.name} = {v}"
    elif kind == "expr":
        yield from _eval(k, stmt[1], proc)
    elif kind == "block":
        for s in stmt[1]:
            yield from _exec(k, s, proc)
    elif kind == "if":
        c = yield from _eval(k, stmt[1], proc)
        if c:
            yield from _exec(k, stmt[2], proc)
        elif stmt[3] is not None:
            yield from _exec(k, stmt[3], proc)


def _holds(c, k):
    kind = c[0]
    if kind == "and":
        return _holds(c[1], k) and _holds(c[2], k)
    if kind == "or":
        return _holds(c[1], k) or _holds(c[2], k)
    if kind == "cnot":
        return not _holds(c[1], k)
    if kind == "reg":
        return k.procs[c[1]].regs.get(c[2], 0) == c[3]
    return k.words[c[1]].v == c[2]


def outcome_text(t, k):
    """The final state of the registers and locations the test's condition names."""
    out = []

    def walk(c):
        if c[0] in ("and", "or"):
            walk(c[1])
            walk(c[2])
        elif c[0] == "cnot":
            walk(c[1])
        elif c[0] == "reg":
            out.append(f"{c[1]}:{c[2]}={k.procs[c[1]].regs.get(c[2], 0)!r}")
        else:
            out.append(f"{c[1]}={k.words[c[1]].v!r}")
    walk(t.exists)
    return " /\\ ".join(dict.fromkeys(out))


def loaders(t):
    """location -> the CPUs whose process may load it (None: unknown, a
    load through a register: every CPU).  Only they get the location's
    propagation pseudo-tasks under lkmm."""
    out = {}
    every = False

    def walk_e(e, n):
        nonlocal every
        kind = e[0]
        if kind in ("not",):
            walk_e(e[1], n)
        elif kind == "bin":
            walk_e(e[2], n)
            walk_e(e[3], n)
        elif kind == "deref":
            loc = _ptr_loc(e[1], t)
            if loc == "?":
                every = True
            out.setdefault(loc, set()).add(n)
            walk_e(e[1], n)
        elif kind == "call":
            name, args = e[1], e[2]
            if name in ("READ_ONCE", "rcu_dereference", "atomic_read", "smp_load_acquire",
                        "spin_is_locked") and args:
                a = args[0]
                loc = _ptr_loc(a[1] if a[0] == "deref" else a, t)
                if loc == "?":
                    every = True
                out.setdefault(loc, set()).add(n)
            for a in args:
                if a[0] == "deref":
                    walk_e(a[1], n)
                else:
                    walk_e(a, n)

    def walk_s(s, n):
        kind = s[0]
        if kind == "decl":
            if s[2] is not None:
                walk_e(s[2], n)
        elif kind == "assign":
            walk_e(s[2], n)
        elif kind == "store":
            walk_e(s[1], n)
            walk_e(s[2], n)
        elif kind == "expr":
            walk_e(s[1], n)
        elif kind == "block":
            for x in s[1]:
                walk_s(x, n)
        elif kind == "if":
            walk_e(s[1], n)
            walk_s(s[2], n)
            if s[3] is not None:
                walk_s(s[3], n)

    for n, stmts in t.procs:
        for s in stmts:
            walk_s(s, n)
    if every:
        return {}
    return {loc: out.get(loc, set()) for loc in t.types}


def make_program(t, orders=None):
    """The test as a :class:`~foliolab.scenarios.programs.Program` (one
    thread per process on its own CPU); ``orders``: per process, (order of
    its statements, indexes of conditional RMWs that must fail)."""
    nproc = len(t.procs)
    readers = loaders(t)

    def init(k):
        k.lt = t
        k.words = {}
        k.locks = {}
        for name, typ in t.types.items():
            if typ == "spinlock_t":
                k.locks[name] = spinlock_t(k.m, name)
            k.words[name] = Shared(k.m, name, t.init.get(name, 0), readers=readers.get(name))
        k.procs = [_Proc(n) for n in range(nproc)]
        k.invalid = False

    def thread(n, stmts):
        order, must_fail = orders[n] if orders else (tuple(range(len(stmts))), frozenset())

        def run(k):
            proc = k.procs[n]
            try:
                for i in order:
                    proc.must_fail = i in must_fail
                    yield from _exec(k, stmts[i], proc)
                proc.must_fail = False
                if k.m.tso:
                    smp_mb(k.m)       # the final state: this CPU's buffered stores land
            except _Invalid:
                k.invalid = True
                yield f"P{n}: not an execution (a reordered RMW succeeded)"
        return run

    def check(k):
        if k.invalid:
            return
        if t.filter is not None and not _holds(t.filter, k):
            return
        if _holds(t.exists, k):
            raise PropertyViolation("litmus exists clause", outcome_text(t, k))

    threads = [(f"P{n}", thread(n, stmts)) for n, stmts in t.procs]
    return Program(f"litmus-{t.name}", threads, init=init, check=check,
                   title=t.name, prop=f"not exists {t.name}")


def all_orders(t):
    """The product of every process's program orders LKMM allows."""
    per = [program_orders(t, stmts) for _n, stmts in t.procs]
    total = 1
    for p in per:
        total *= len(p)
    if total > MAX_ORDERS:
        raise LitmusError(f"{t.name}: {total} program orders, more than {MAX_ORDERS}")
    return list(itertools.product(*per))


class Verdict:
    """One test under one model: ``found`` (the exists clause was reached),
    ``runs`` (schedules explored), ``orders`` (program orders run), the
    outcome and the schedule that reached it."""

    def __init__(self, model, found, runs, orders, outcome=None, exploration=None):
        self.model = model
        self.found = found
        self.runs = runs
        self.orders = orders
        self.outcome = outcome
        self.exploration = exploration

    @property
    def text(self):
        return "Sometimes" if self.found else "Never"


def run_test(t, model, *, budget=None, trace_dir=None, progress=False):
    """Run litmus test ``t`` under ``model`` with exhaustive DFS (with
    partial-order reduction): every program order under lkmm, program order
    alone under sc and tso.  ``budget``: schedules per order (None: the
    search runs to its end)."""
    from ..explore.explorer import explore
    if model not in MODELS:
        raise LitmusError(f"unknown memory model {model!r} (one of {', '.join(MODELS)})")
    orders = all_orders(t) if model == "lkmm" else [None]
    runs = 0
    for i, o in enumerate(orders):
        prog = make_program(t, o)
        ex = explore(prog, None, [], "dfs", budget, preemptions=None, trace_dir=trace_dir,
                     progress=progress, settings={"memory_model": model}, shrink=False,
                     record=False)
        runs += ex.schedules
        if ex.found:
            return Verdict(model, True, runs, i + 1, _failure_text(ex), ex)
    return Verdict(model, False, runs, len(orders))


def _failure_text(ex):
    return ex.failure.message if ex.failure is not None else ""


def expected_verdict(t):
    """herd7's verdict as Never/Sometimes (DEADLOCK: no execution passes
    the filter, so the outcome is never reached)."""
    e = t.expected
    if e is None:
        return None
    return "Never" if e.upper() in ("NEVER", "DEADLOCK") else "Sometimes"


def classify(t, results):
    """Problems with ``results`` {model: Verdict} against herd7's verdict
    (empty: classified correctly)."""
    bad = []
    exp = expected_verdict(t)
    if exp == "Never":
        for mdl, v in results.items():
            if v.found:
                bad.append(f"{mdl} reaches a Never outcome")
    elif exp == "Sometimes" and "lkmm" in results and not results["lkmm"].found:
        bad.append("lkmm misses a Sometimes outcome")
    if t.name.startswith(SB_FAMILY) and "sc" in results and results["sc"].found:
        bad.append("sc reaches a store-buffering outcome")
    return bad
