"""The per-run function table and the patch mechanism.

Model code never calls another patchable kernel function directly: it calls
through the run's table, ``yield from k.fn.lru_add_drain_all()``.  A variant
is the baseline table plus an ordered list of :class:`Patch` objects; each
patch replaces or adds functions *for one run only*.  Nothing global is
modified, so runs in one process or in parallel processes cannot interfere.

Baseline functions register themselves with :func:`kfunc` when their module
is imported (the registry is static code, like the kernel's text section).
"""

from __future__ import annotations

import functools
import inspect

BASELINE: dict = {}


class PatchError(Exception):
    """A patch does not apply (unknown function, wrong kind, conflict)."""


def kfunc(fn=None, *, name=None):
    """Register a baseline kernel function under its kernel name."""

    def register(f):
        key = name or f.__name__
        if key in BASELINE and BASELINE[key] is not f:
            raise PatchError(f"kernel function {key} defined twice "
                             f"({BASELINE[key].__module__} and {f.__module__})")
        BASELINE[key] = f
        return f

    return register(fn) if fn is not None else register


class Patch:
    """A patch or series: the functions it replaces or adds, and the state it
    adds to the kernel (``init`` hooks)."""

    def __init__(self, name, *, title, summary, commit=None, date=None,
                 version=None, link=None, requires=(), author=None):
        self.name = name
        self.author = author      # who posted it (None: not recorded)
        self.title = title
        self.summary = summary
        self.commit = commit
        self.date = date
        self.version = version
        self.link = link
        self.requires = tuple(requires)
        self.replaced = {}
        self.added = {}
        self.wrapped = {}
        self.init_hooks = []
        self.source = None        # path of a user's patch file
        self.digest = None        # sha256 prefix of that file
        self.text = None          # its text (embedded in traces)

    def replaces(self, name=None):
        def deco(f):
            self.replaced[name or f.__name__] = f
            return f
        return deco

    def adds(self, name=None):
        def deco(f):
            self.added[name or f.__name__] = f
            return f
        return deco

    def wraps(self, name=None):
        """Replace a function with a wrapper that receives the function it
        replaces: ``f(k, orig, *args)``, where ``orig(*args)`` is bound."""
        def deco(f):
            self.wrapped[name or f.__name__] = f
            return f
        return deco

    def init(self, f):
        self.init_hooks.append(f)
        return f

    def __repr__(self):
        return f"<Patch {self.name}>"


# Tables composed so far, most recent last: tuple(patches) -> (signature,
# table).  A run only reads its table (FunctionTable binds into its own
# attributes), so the runs of one variant -- a systematic search builds one
# per schedule -- share one table instead of copying the baseline's 200-odd
# entries and checking every replacement again.  The signature is what the
# table was composed from: a kfunc registered since, or a patch given another
# function since, composes a new one.
_TABLES: dict = {}
_TABLES_MAX = 64


def _signature(patches):
    return (len(BASELINE),) + tuple(
        (tuple(p.added.items()), tuple(p.replaced.items()), tuple(p.wrapped.items()))
        for p in patches)


def build_table(patches):
    """Baseline plus patches, in order: {name: function}.  The table is shared
    by every caller with the same patches: read it, never write it."""
    key = tuple(patches)
    sig = _signature(key)
    hit = _TABLES.get(key)
    if hit is not None and hit[0] == sig:
        return hit[1]
    table = _compose_table(key)
    _TABLES.pop(key, None)
    if len(_TABLES) >= _TABLES_MAX:
        del _TABLES[next(iter(_TABLES))]          # the oldest
    _TABLES[key] = (sig, table)
    return table


def _compose_table(patches):
    table = dict(BASELINE)
    for p in patches:
        for key, f in p.added.items():
            if key in table:
                raise PatchError(f"patch {p.name}: adds {key}, which already exists")
            table[key] = f
        for key, f in p.replaced.items():
            if key not in table:
                raise PatchError(f"patch {p.name}: replaces {key}, which the kernel does not "
                                 f"have{did_you_mean(key, table)}")
            old = table[key]
            if inspect.isgeneratorfunction(old) != inspect.isgeneratorfunction(f):
                kind = "a generator (it yields)" if inspect.isgeneratorfunction(old) else "a plain function"
                raise PatchError(f"patch {p.name}: {key} must be {kind}, like the function it replaces")
            table[key] = f
        for key, f in p.wrapped.items():
            if key not in table:
                raise PatchError(f"patch {p.name}: wraps {key}, which the kernel does not "
                                 f"have{did_you_mean(key, table)}")
            table[key] = _wrap(f, table[key])
    return table


def did_you_mean(name, known):
    """`` (did you mean 'x'?)`` for a near miss among ``known``, or ""."""
    import difflib
    close = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def stacked_replacements(patches):
    """(function, earlier patch, later patch) for every function a patch
    replaces after an earlier patch of the list replaced it: the later one
    wins, and the earlier one's version of the function never runs."""
    first = {}
    out = []
    for p in patches:
        for key in p.replaced:
            if key in first:
                out.append((key, first[key], p))
            first[key] = p
    return out


def table_provenance(patches):
    """Baseline plus patches, as :func:`build_table` composes them, but each
    name mapped to the functions its entry is made of ((f,) for a plain
    function, (wrapper, *what it wraps) for a wrapped one): two tables whose
    provenances agree on a name call the same code under it."""
    prov = {key: (f,) for key, f in BASELINE.items()}
    for p in patches:
        for key, f in p.added.items():
            prov[key] = (f,)
        for key, f in p.replaced.items():
            prov[key] = (f,)
        for key, f in p.wrapped.items():
            prov[key] = (f,) + prov.get(key, ())
    return prov


def _wrap(f, old):
    if inspect.isgeneratorfunction(old):
        def wrapper(k, *args, **kw):
            return (yield from f(k, functools.partial(old, k), *args, **kw))
    else:
        def wrapper(k, *args, **kw):
            return f(k, functools.partial(old, k), *args, **kw)
    wrapper.__name__ = old.__name__
    wrapper.__doc__ = f.__doc__
    return wrapper


# Sets collecting the names of the functions runs look up, innermost last
# (record_lookups): a run's behaviour depends on its table only through them.
_recorders = []


class record_lookups:
    """``with record_lookups() as names:`` every function table built inside
    adds to ``names`` each function name its run looks up (called, probed,
    or tested with ``in``).  Runs that look up the same names and find the
    same functions behave the same (explore/cellcache.py)."""

    def __enter__(self):
        self.names = set()
        _recorders.append(self.names)
        return self.names

    def __exit__(self, *exc):
        _recorders.remove(self.names)
        if _recorders:
            _recorders[-1].update(self.names)      # an enclosing recorder sees them too
        return False


class FunctionTable:
    """``k.fn.<kernel function>``: the run's functions, bound to the kernel."""

    def __init__(self, k, table):
        self._k = k
        self._table = table
        self._used = _recorders[-1] if _recorders else None

    def __getattr__(self, key):
        # Bound on first use and cached: a run binds only what it calls.
        if key in ("_k", "_table", "_used"):
            raise AttributeError(key)        # not yet set (a copy being made)
        if self._used is not None:
            self._used.add(key)
        try:
            f = self._table[key]
        except KeyError:
            raise AttributeError(f"the kernel has no function {key}"
                                 f"{did_you_mean(key, self._table)}") from None
        bound = functools.partial(f, self._k)
        setattr(self, key, bound)
        return bound

    def probe(self, key, pre=None, post=None):
        """Attach a probe to one function of this run (kprobe/fexit style):
        ``pre(*args)`` before it runs, ``post(ret, *args)`` after it returns.
        For scenario oracles and measurements; the model is unchanged."""
        inner = getattr(self, key)
        if inspect.isgeneratorfunction(self._table[key]):
            def probed(*args, **kw):
                if pre is not None:
                    pre(*args, **kw)
                ret = yield from inner(*args, **kw)
                if post is not None:
                    post(ret, *args, **kw)
                return ret
        else:
            def probed(*args, **kw):
                if pre is not None:
                    pre(*args, **kw)
                ret = inner(*args, **kw)
                if post is not None:
                    post(ret, *args, **kw)
                return ret
        probed.__name__ = key
        setattr(self, key, probed)

    def __contains__(self, key):
        if self._used is not None:
            self._used.add(key)
        return key in self._table

    def source(self, key):
        if self._used is not None:
            self._used.add(key)
        return self._table[key]
