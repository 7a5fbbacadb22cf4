"""A reader for the C litmus tests of the Linux tree (herd7's C dialect, the
subset tools/memory-model/litmus-tests/ and Documentation/litmus-tests/ use).

A test is::

    C name
    (* comment, with "Result: Never" or "Sometimes" for herd7's verdict *)
    { initial state: int x; int y=1; int *p=y; int *q = &x; atomic_t v = ATOMIC_INIT(1); }
    P0(int *x, ...) { statements }
    ...
    [locations [...]]  [filter (cond)]  exists (cond)

Statements: declarations with an optional initialiser, assignments to a
register or to ``*ptr`` (a plain store), calls, ``(void)call``, ``if``/``else``
and blocks.  Expressions: numbers, registers, locations (a pointer value),
``*ptr`` (a plain load), ``&x``, ``==``, ``!=``, ``!``, ``&&``, ``||``, ``+``, ``-``
and the kernel's accessors (see ``CALLS``).  Conditions: ``P:reg=value``,
``loc=value``, ``/\\``, ``\\/``, ``~``, parentheses.

Anything else is refused with :class:`LitmusError` (one line: the CLI turns
it into exit 2).
"""

from __future__ import annotations

import re

# name -> (number of arguments, what it is); the runner gives the semantics
CALLS = {
    "READ_ONCE": 1, "WRITE_ONCE": 2, "smp_load_acquire": 1, "smp_store_release": 2,
    "rcu_dereference": 1, "rcu_assign_pointer": 2,
    "atomic_read": 1, "atomic_set": 2, "atomic_inc": 1, "atomic_dec": 1,
    "atomic_add": 2, "atomic_inc_return": 1, "atomic_dec_return": 1,
    "atomic_add_return": 2, "atomic_add_unless": 3, "cmpxchg": 3, "xchg": 2,
    "spin_lock": 1, "spin_unlock": 1, "spin_is_locked": 1,
    "smp_mb": 0, "smp_rmb": 0, "smp_wmb": 0, "smp_mb__before_atomic": 0,
    "smp_mb__after_atomic": 0, "smp_mb__after_spinlock": 0,
    "rcu_read_lock": 0, "rcu_read_unlock": 0, "synchronize_rcu": 0,
}


class LitmusError(ValueError):
    """A malformed or unsupported litmus test (the user's input)."""


class Ptr:
    """A pointer value: the address of location ``name``."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __eq__(self, other):
        return isinstance(other, Ptr) and other.name == self.name

    def __hash__(self):
        return hash(("ptr", self.name))

    def __repr__(self):
        return self.name


class Litmus:
    """A parsed test: ``init`` {location: value}, ``types`` {location: int |
    atomic_t | spinlock_t}, ``procs`` [(number, statements)], ``exists`` and
    ``filter`` (condition trees), ``expected`` (the Result line or None)."""

    def __init__(self, name, init, types, procs, exists, filt, expected, quantifier):
        self.name = name
        self.init = init
        self.types = types
        self.procs = procs
        self.exists = exists
        self.filter = filt
        self.expected = expected
        self.quantifier = quantifier

    @property
    def locations(self):
        return [n for n, t in self.types.items() if t != "spinlock_t"]

    @property
    def locks(self):
        return [n for n, t in self.types.items() if t == "spinlock_t"]


_TOKEN = re.compile(r"\s*(?:(0x[0-9a-fA-F]+|\d+)|([A-Za-z_][A-Za-z_0-9]*)|"
                    r"(==|!=|&&|\|\||/\\|\\/|[-+*&!=;,(){}\[\]:~<>]))")


def _tokens(text, where):
    out = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        mt = _TOKEN.match(text, pos)
        if mt is None or mt.end() == pos:
            raise LitmusError(f"{where}: cannot read {text[pos:pos + 20].strip()!r}")
        num, ident, punct = mt.groups()
        if num is not None:
            out.append(("num", int(num, 0)))
        elif ident is not None:
            out.append(("id", ident))
        else:
            out.append(("p", punct))
        pos = mt.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, toks, where):
        self.t = toks
        self.i = 0
        self.where = where

    def peek(self, k=0):
        j = self.i + k
        return self.t[j] if j < len(self.t) else ("eof", None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def expect(self, kind, value=None):
        tok = self.take()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            raise LitmusError(f"{self.where}: expected {want!r}, found {tok[1]!r}")
        return tok[1]

    def at(self, value):
        tok = self.peek()
        return tok[0] in ("p", "id") and tok[1] == value

    # ---------------------------------------------------------- statements
    def statements(self):
        out = []
        while self.peek()[0] != "eof":
            out.append(self.statement())
        return out

    def statement(self):
        if self.at("{"):
            self.take()
            body = []
            while not self.at("}"):
                if self.peek()[0] == "eof":
                    raise LitmusError(f"{self.where}: unclosed '{{'")
                body.append(self.statement())
            self.take()
            return ("block", body)
        if self.at("if"):
            self.take()
            self.expect("p", "(")
            cond = self.expr()
            self.expect("p", ")")
            then = self.statement()
            other = None
            if self.at("else"):
                self.take()
                other = self.statement()
            return ("if", cond, then, other)
        if self.at("int") or self.at("atomic_t"):
            self.take()
            while self.at("*"):
                self.take()
            reg = self.expect("id")
            init = None
            if self.at("="):
                self.take()
                init = self.expr()
            self.expect("p", ";")
            return ("decl", reg, init)
        if self.at("(") and self.peek(1) == ("id", "void"):
            self.take()
            self.take()
            self.expect("p", ")")
            e = self.expr()
            self.expect("p", ";")
            return ("expr", e)
        e = self.expr()
        if self.at("="):
            self.take()
            rhs = self.expr()
            self.expect("p", ";")
            if e[0] == "reg":
                return ("assign", e[1], rhs)
            if e[0] == "deref":
                return ("store", e[1], rhs)
            raise LitmusError(f"{self.where}: cannot assign to {e!r}")
        self.expect("p", ";")
        return ("expr", e)

    # --------------------------------------------------------- expressions
    def expr(self):
        left = self.cmp()
        while self.at("&&") or self.at("||"):
            op = self.take()[1]
            left = ("bin", op, left, self.cmp())
        return left

    def cmp(self):
        left = self.add()
        while self.at("==") or self.at("!="):
            op = self.take()[1]
            left = ("bin", op, left, self.add())
        return left

    def add(self):
        left = self.unary()
        while self.at("+") or self.at("-"):
            op = self.take()[1]
            left = ("bin", op, left, self.unary())
        return left

    def unary(self):
        if self.at("!"):
            self.take()
            return ("not", self.unary())
        if self.at("-"):
            self.take()
            return ("bin", "-", ("num", 0), self.unary())
        if self.at("*"):
            self.take()
            return ("deref", self.unary())
        if self.at("&"):
            self.take()
            return ("addr", self.expect("id"))
        if self.at("("):
            self.take()
            e = self.expr()
            self.expect("p", ")")
            return e
        kind, val = self.take()
        if kind == "num":
            return ("num", val)
        if kind != "id":
            raise LitmusError(f"{self.where}: unexpected {val!r}")
        if self.at("("):
            self.take()
            args = []
            while not self.at(")"):
                args.append(self.expr())
                if self.at(","):
                    self.take()
                elif not self.at(")"):
                    raise LitmusError(f"{self.where}: expected ',' or ')' in {val}()")
            self.take()
            if val not in CALLS:
                raise LitmusError(f"{self.where}: unsupported call {val}()")
            if len(args) != CALLS[val]:
                raise LitmusError(f"{self.where}: {val}() takes {CALLS[val]} arguments")
            return ("call", val, args)
        return ("reg", val)           # a register or a location: the runner decides

    # ---------------------------------------------------------- conditions
    def cond(self):
        left = self.conj()
        while self.at("\\/"):
            self.take()
            left = ("or", left, self.conj())
        return left

    def conj(self):
        left = self.catom()
        while self.at("/\\"):
            self.take()
            left = ("and", left, self.catom())
        return left

    def catom(self):
        if self.at("~"):
            self.take()
            return ("cnot", self.catom())
        if self.at("("):
            self.take()
            c = self.cond()
            self.expect("p", ")")
            return c
        kind, val = self.take()
        if kind == "num" and self.at(":"):
            self.take()
            reg = self.expect("id")
            self.expect("p", "=")
            return ("reg", val, reg, self.cvalue())
        if kind == "id":
            self.expect("p", "=")
            return ("loc", val, self.cvalue())
        raise LitmusError(f"{self.where}: bad condition at {val!r}")

    def cvalue(self):
        kind, val = self.take()
        if kind == "num":
            return val
        if kind == "p" and val == "-":
            return -self.expect("num")
        if kind == "id":
            return Ptr(val)
        raise LitmusError(f"{self.where}: bad value {val!r}")


def _strip_comments(text):
    # "(* ... *)" with a blank after "(*": "(*x" in C code is a dereference
    text = re.sub(r"\(\*\s.*?\*\)", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def _block(text, start, where):
    """The text between the brace at ``start`` and its match, and the index
    after the match."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    raise LitmusError(f"{where}: unbalanced braces")


def parse(text, where="<litmus>"):
    """Parse a litmus test; raises LitmusError."""
    m = re.search(r"Result:\s*(\w+)", text)
    expected = m.group(1) if m else None
    body = _strip_comments(text)
    head = re.match(r"\s*C\s+(\S+)", body)
    if head is None:
        raise LitmusError(f"{where}: not a C litmus test (no 'C name' line)")
    name = head.group(1)
    pos = body.find("{", head.end())
    if pos < 0:
        raise LitmusError(f"{where}: no initial state block")
    init_text, pos = _block(body, pos, where)
    init, types = _initial(init_text, where)
    procs = []
    rest = body[pos:]
    i = 0
    while True:
        pm = re.compile(r"\s*P(\d+)\s*\(([^)]*)\)\s*(?=\{)").match(rest, i)
        if pm is None:
            break
        n = int(pm.group(1))
        for param in pm.group(2).split(","):
            param = param.strip()
            if not param:
                continue
            pt = re.match(r"(int|atomic_t|spinlock_t)\s*(\*+)\s*([A-Za-z_]\w*)$", param)
            if pt is None:
                raise LitmusError(f"{where}: P{n}: bad parameter {param!r}")
            typ, stars, pname = pt.groups()
            if pname not in types:
                types[pname] = typ if len(stars) == 1 else "int"
                init.setdefault(pname, 0)
            elif typ == "spinlock_t":
                types[pname] = typ
        code, i = _block(rest, pm.end(), f"{where}: P{n}")
        stmts = _Parser(_tokens(code, f"{where}: P{n}"), f"{where}: P{n}").statements()
        procs.append((n, stmts))
    if not procs:
        raise LitmusError(f"{where}: no processes")
    if [n for n, _ in procs] != list(range(len(procs))):
        raise LitmusError(f"{where}: processes must be P0, P1, ... in order")
    tail = rest[i:]
    filt = None
    fm = re.search(r"\bfilter\s*(\(.*?\))\s*(?=exists|forall|~exists|$)", tail, re.S)
    if fm:
        filt = _Parser(_tokens(fm.group(1), f"{where}: filter"), f"{where}: filter").cond()
    em = re.search(r"(~?exists|forall)\s*(.*)$", tail, re.S)
    if em is None:
        raise LitmusError(f"{where}: no exists clause")
    quant = em.group(1)
    p = _Parser(_tokens(em.group(2), f"{where}: {quant}"), f"{where}: {quant}")
    exists = p.cond()
    if p.peek()[0] != "eof":
        raise LitmusError(f"{where}: trailing text after the {quant} clause")
    if quant != "exists":
        raise LitmusError(f"{where}: only 'exists' clauses are supported, not {quant!r}")
    for loc in _cond_locations(exists) | (_cond_locations(filt) if filt else set()):
        if loc not in types:
            raise LitmusError(f"{where}: the condition names an unknown location {loc!r}")
    return Litmus(name, init, types, procs, exists, filt, expected, quant)


def _cond_locations(c):
    if c[0] in ("and", "or"):
        return _cond_locations(c[1]) | _cond_locations(c[2])
    if c[0] == "cnot":
        return _cond_locations(c[1])
    return {c[1]} if c[0] == "loc" else set()


def _initial(text, where):
    init, types = {}, {}
    for decl in text.split(";"):
        decl = decl.strip()
        if not decl:
            continue
        dm = re.match(r"(int|atomic_t|spinlock_t)\s*(\*?)\s*([A-Za-z_]\w*)\s*(?:=\s*(.+))?$",
                      decl, re.S)
        if dm is None:
            raise LitmusError(f"{where}: bad initial declaration {decl!r}")
        typ, star, name, val = dm.groups()
        types[name] = "int" if star else typ
        if val is None:
            init[name] = 0
            continue
        val = val.strip()
        am = re.match(r"ATOMIC_INIT\(\s*(-?\d+)\s*\)$", val)
        if am:
            init[name] = int(am.group(1))
        elif re.match(r"-?\d+$", val):
            init[name] = int(val)
        elif re.match(r"&?[A-Za-z_]\w*$", val):
            init[name] = Ptr(val.lstrip("&"))
        else:
            raise LitmusError(f"{where}: bad initial value {val!r} for {name}")
    for name, v in init.items():
        if isinstance(v, Ptr) and v.name not in types:
            types[v.name] = "int"
    return init, types


def read(path):
    """Parse the file at ``path`` (LitmusError for a missing or bad file)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise LitmusError(f"{path}: cannot read: {e}") from None
    return parse(text, str(path))
