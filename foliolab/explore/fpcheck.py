"""The footprint checker: proof that the partial-order reduction is sound.

The reduction (explore/dpor.py) trusts the footprints the model declares
(engine/footprint.py): two steps whose declared keys do not conflict are
assumed to commute.  A step that touches a model object without declaring
it would make the search skip schedules it must run.  This debug mode
records what every step actually does -- every read and write of a mutable
field of a model object, including the contents of its lists and dicts,
between two yields -- and fails when a step touched something its footprint
does not declare (a read of an undeclared key, or a write of a key declared
only as read or not at all).

struct pages follow the block scheme of engine/footprint.py: a read of a
page is covered by the page's key with its block key, or by the block's
scan key (a scan of the whole block); a write of a page needs the block's
summary write and block key with the page's key, or the block key written
with the scan key read (a write of the whole block).  A page write without
its summary write would be missed by a scan of its block; a scan without
its block's scan key would miss the page writes.  Declarations that break
the scheme (a summary write declared as read, a scan key as written) are
violations too.  Objects of other classes keyed by a page's key (a page's
wait queue) need that key itself.

It works by instrumenting the model's classes for the duration of a ``with``
block (``__getattribute__``/``__setattr__`` of the tracked fields, and
container subclasses for the lists and dicts they hold), so it is slow and
meant for tests::

    with FootprintChecker() as chk:
        explore(..., setup=chk.prepare)
    assert not chk.violations, chk.report()

Fields that only the engine's scheduler reads (the waiters of a spinlock,
used to tell which CPUs to re-examine) and fields only the end-of-run checks
read (scenario results, vmstat counters: increments commute) are not
tracked.
"""

from __future__ import annotations

import collections

from ..engine import memory, rcu, sync, workqueue
from ..engine.footprint import (
    BLOCK_BASE, BLOCK_ORDER, OPAQUE, RCU_KEY, SUMMARY, block_key, block_scan_key, page_key,
    summary_key,
)


class Violation:
    __slots__ = ("step", "task", "key", "what", "write", "declared")

    def __init__(self, step, task, key, what, write, declared):
        self.step = step
        self.task = task
        self.key = key
        self.what = what
        self.write = write
        self.declared = declared

    def __str__(self):
        op = "wrote" if self.write else "read"
        return (f"step {self.step} ({self.task}) {op} {self.what} [key {self.key}] "
                f"but declared {self.declared}")


def _key_fpk(obj, attr):
    return object.__getattribute__(obj, "fpk")


def _key_page(obj, attr):
    return _PageRef(object.__getattribute__(obj, "pfn"))


class _PageRef(int):
    """The key of an access to a struct page's fields: its pfn, checked
    against the page and block keys (``_page_covered``), not as a key."""

    __slots__ = ()


def _key_rcu(obj, attr):
    return RCU_KEY


def _tracked_classes():
    """(class, tracked fields, key function) for every model class."""
    from ..mm import mmzone, page, swap
    from ..scenarios import programs
    out = [
        (programs.Var, ("v",), _key_fpk),
        (sync.spinlock_t, ("owner",), _key_fpk),
        (sync.mutex, ("owner", "waiters"), _key_fpk),
        (sync.atomic_t, ("counter",), _key_fpk),
        (memory.Shared, ("v",), _key_fpk),
        (sync.wait_queue_head_t, ("waiters",), _key_fpk),
        (sync.completion, ("done",), _key_fpk),
        (workqueue.work_struct, ("func", "pending", "running", "cpu", "queued_seq",
                                 "done_seq", "waiters"), _key_fpk),
        (workqueue.worker_pool, ("worklist",), _key_fpk),
        (rcu.GracePeriod, ("pending", "done"), _key_rcu),
        (page.Page, ("flags", "_refcount", "_mapcount", "mapping", "index", "private",
                     "page_type", "lru", "compound_head", "order", "memcg_data",
                     "_pincount", "waitq", "pvmw", "mlock_count", "lru_gen"), _key_page),
        (swap.folio_batch, ("folios",), _key_fpk),
        (mmzone.zone, ("vm_stat", "nr_isolate_pageblock", "pageblock_flags",
                       "cma_pages"), _key_fpk),
        (mmzone.free_area, ("nr_free",), _key_fpk),
        (mmzone.lruvec, ("nr_pages",), _key_fpk),
        (mmzone.pglist_data, ("vm_stat",), _key_fpk),
    ]
    extra = []
    for modname, clsname, fields in _OPTIONAL:
        try:
            mod = __import__(f"foliolab.mm.{modname}", fromlist=[clsname])
        except ImportError:     # pragma: no cover
            continue
        cls = getattr(mod, clsname, None)
        if cls is not None:
            extra.append((cls, fields, _key_fpk))
    return out + extra


# model classes of later modules: (module, class, fields)
_OPTIONAL = [
    ("filemap", "address_space", ("i_pages", "nrpages", "i_mmap")),
    ("rmap", "mm_struct", ("ptes", "anon_vma")),
    ("page_alloc", "per_cpu_pages", ("count", "lists", "high", "batch")),
    ("cma", "cma", ("bitmap",)),
    ("mlock", "mlock_fbatch", ("tags",)),
    ("vmscan", "lru_gen_folio", ("min_seq", "max_seq", "folios")),
]


class FootprintChecker:
    """Instrument the model classes; check every step of the runs prepared
    with :meth:`prepare`."""

    def __init__(self, limit=50, extra=()):
        self.violations = []
        self.extra = [(cls, tuple(fields), _key_fpk) for cls, fields in extra]
        self.limit = limit
        self.m = None
        self.steps_checked = 0
        self._reads = {}
        self._writes = {}
        self._preads = {}             # struct page accesses: pfn -> what
        self._pwrites = {}
        self._saved = []
        self._next = None
        self._in_init = 0          # constructing new objects: not shared yet

    # ----------------------------------------------------------- recording
    def _active(self):
        m = self.m
        return m is not None and m.fpr is not None and not self._in_init

    def _record(self, key, what, write):
        if not self._active():
            return
        if type(key) is _PageRef:
            d = self._pwrites if write else self._preads
            key = int(key)
        else:
            d = self._writes if write else self._reads
        if key not in d:
            d[key] = f"{what} at {_where()}"

    # ---------------------------------------------------------- per step
    def prepare(self, k):
        """Attach to a freshly built run (``explore(..., setup=...)``)."""
        self.m = k.m
        self._next = k.m.on_event
        k.m.on_event = self._on_event
        self._reads = {}
        self._writes = {}
        self._preads = {}
        self._pwrites = {}

    def _on_event(self, m, t, en, reads, writes, woke, acquired, drained):
        self.steps_checked += 1
        declared_w = set(writes)
        for _sb, sbkey, key, ekey in drained or ():
            # a barrier in the step drained the store buffer: the commits
            # are declared as the buffer's own steps right before this one
            declared_w.update((sbkey, key, ekey))
        if OPAQUE not in declared_w and not t.invisible:
            read_only = set(reads)
            declared_r = read_only | declared_w
            for key, what in self._writes.items():
                if key not in declared_w:
                    self._violation(m, t, key, what, True, key in declared_r)
            for key, what in self._reads.items():
                if key not in declared_r:
                    self._violation(m, t, key, what, False, False)
            for pfn, what in self._pwrites.items():
                missing = _page_write_missing(pfn, read_only, declared_w, declared_r)
                if missing is not None:
                    self._violation(m, t, missing[0], what, True, missing[1])
            for pfn, what in self._preads.items():
                missing = _page_read_missing(pfn, read_only, declared_r)
                if missing is not None:
                    self._violation(m, t, missing[0], what, False, missing[1])
            for key in read_only:
                if key >= SUMMARY:
                    self._violation(m, t, key, "a summary write declared as read",
                                    False, "a key nothing reads")
            for key in declared_w:
                if key & 1 and BLOCK_BASE <= key < SUMMARY:
                    self._violation(m, t, key, "a block's scan key declared as written",
                                    True, "a key nothing writes")
        self._reads = {}
        self._writes = {}
        self._preads = {}
        self._pwrites = {}
        if self._next is not None:
            self._next(m, t, en, reads, writes, woke, acquired, drained)

    def _violation(self, m, t, key, what, write, as_read):
        if len(self.violations) < self.limit:
            if as_read is True:
                declared = "it as read only"
            elif as_read is False:
                declared = "nothing about it"
            else:
                declared = as_read
            self.violations.append(Violation(m.steps, t.name, key, what, write, declared))

    def report(self):
        return "\n".join(str(v) for v in self.violations)

    # ----------------------------------------------------- instrumentation
    def __enter__(self):
        for cls, fields, keyfn in _tracked_classes() + self.extra:
            self._instrument(cls, frozenset(fields), keyfn)
        self._instrument_listhead()
        self._instrument_mem_map()
        return self

    def __exit__(self, *exc):
        for cls, name, old in reversed(self._saved):
            if old is _MISSING:
                delattr(cls, name)
            else:
                setattr(cls, name, old)
        self._saved = []
        self.m = None
        return False

    def _patch(self, cls, name, fn):
        self._saved.append((cls, name, cls.__dict__.get(name, _MISSING)))
        setattr(cls, name, fn)

    def _instrument(self, cls, fields, keyfn):
        chk = self
        base_get = cls.__getattribute__
        base_set = cls.__setattr__
        base_init = cls.__init__
        cname = cls.__name__

        def __getattribute__(obj, name):
            v = base_get(obj, name)
            if name in fields and chk._active():
                chk._record(keyfn(obj, name), f"{cname}.{name} of {_describe(obj)}", False)
            return v

        def __setattr__(obj, name, value):
            if name in fields:
                if chk._active():
                    chk._record(keyfn(obj, name), f"{cname}.{name} of {_describe(obj)}", True)
                value = chk._wrap(obj, name, value, keyfn, cname)
            base_set(obj, name, value)

        def __init__(obj, *a, **kw):
            chk._in_init += 1
            try:
                base_init(obj, *a, **kw)
            finally:
                chk._in_init -= 1
            for name in fields:
                try:
                    v = object.__getattribute__(obj, name)
                except AttributeError:
                    continue
                w = chk._wrap(obj, name, v, keyfn, cname)
                if w is not v:
                    base_set(obj, name, w)

        self._patch(cls, "__getattribute__", __getattribute__)
        self._patch(cls, "__setattr__", __setattr__)
        self._patch(cls, "__init__", __init__)

    def _wrap(self, obj, name, value, keyfn, cname):
        """Containers held in tracked fields record their own accesses."""
        if type(value) is list:
            return _TrackedList(value, self, obj, name, keyfn, cname)
        if type(value) is dict:
            return _TrackedDict(value, self, obj, name, keyfn, cname)
        return value

    def _instrument_mem_map(self):
        """A lookup that finds no struct page (a pristine pfn) reads the
        page's state all the same: "free, inside a buddy block"."""
        from ..mm.kernel import MemMap
        chk = self

        def wrap(base):
            def f(mm, pfn, *a):
                if chk._active():
                    chk._record(_PageRef(pfn), f"mem_map lookup of pfn 0x{pfn:x}", False)
                return base(mm, pfn, *a)
            return f

        for meth in ("get", "peek"):
            self._patch(MemMap, meth, wrap(getattr(MemMap, meth)))

    def _instrument_listhead(self):
        from ..mm.mmzone import ListHead
        chk = self
        od = collections.OrderedDict

        def reader(meth):
            base = getattr(od, meth)

            def f(lh, *a, **kw):
                if chk._active():
                    chk._record(object.__getattribute__(lh, "fpk"),
                                f"list {lh.name}", False)
                return base(lh, *a, **kw)
            return f

        def writer(meth):
            base = getattr(od, meth)

            def f(lh, *a, **kw):
                if chk._active():
                    chk._record(object.__getattribute__(lh, "fpk"),
                                f"list {lh.name}", True)
                return base(lh, *a, **kw)
            return f

        for meth in ("__getitem__", "get", "__contains__", "__iter__", "__len__",
                     "__reversed__", "values", "keys", "items"):
            self._patch(ListHead, meth, reader(meth))
        for meth in ("__setitem__", "__delitem__", "move_to_end", "pop", "popitem",
                     "clear", "setdefault", "update"):
            self._patch(ListHead, meth, writer(meth))


_MISSING = object()


def _page_read_missing(pfn, reads, declared):
    """None when a read of the struct page of ``pfn`` is covered: the page's
    key and its block key, or its block's scan key; else (the key missing,
    what was declared)."""
    b = pfn >> BLOCK_ORDER
    if block_scan_key(b) in reads:
        return None
    if page_key(pfn) not in declared:
        return page_key(pfn), "nothing about it (nor its block's scan key)"
    if block_key(b) not in declared:
        return block_key(b), "its page key without its block key"
    return None


def _page_write_missing(pfn, reads, writes, declared):
    """None when a write of the struct page of ``pfn`` is covered: the
    block's summary write and block key with the page's key written, or
    the block key written with the scan key read (the whole block); else
    (the key missing, what was declared)."""
    b = pfn >> BLOCK_ORDER
    if summary_key(b) not in writes:
        if page_key(pfn) in writes:
            return summary_key(b), "its page key without its block's summary write"
        if block_key(b) in writes:
            return summary_key(b), "its whole block without the block's summary write"
        return summary_key(b), "neither its page key nor its block's summary write"
    if block_key(b) not in declared:
        return block_key(b), "its page key without its block key"
    if page_key(pfn) in writes:
        return None
    if block_key(b) in writes and block_scan_key(b) in reads:
        return None
    if page_key(pfn) in declared:
        return page_key(pfn), "it as read only"
    return page_key(pfn), "its block's summary write, not the page (nor all the block)"


def _where():
    """The model code (file:line) that made the access."""
    import os
    import sys
    f = sys._getframe(2)
    here = os.path.dirname(os.path.abspath(__file__))
    while f is not None:
        fn = f.f_code.co_filename
        if not fn.startswith(here) and "/engine/" not in fn and "/mm/kernel.py" not in fn:
            return f"{os.path.basename(fn)}:{f.f_lineno} ({f.f_code.co_name})"
        f = f.f_back
    return "?"


def _describe(obj):
    try:
        name = object.__getattribute__(obj, "name")
    except AttributeError:
        name = None
    if name:
        return str(name)
    try:
        return f"pfn 0x{object.__getattribute__(obj, 'pfn'):x}"
    except AttributeError:
        return type(obj).__name__


class _Tracked:
    __slots__ = ()

    def _rec(self, write, index=None):
        chk = self._chk
        if chk._active():
            key = self._keyfn(self._owner, self._attr)
            if index is not None and self._per_index:
                key = key + 2 * index
            chk._record(key, f"{self._cname}.{self._attr} of {_describe(self._owner)}", write)


def _tracked_container(base):
    reads = {"__getitem__", "__iter__", "__len__", "__contains__", "__reversed__",
             "index", "count", "get", "keys", "values", "items", "copy", "__eq__",
             "__ne__"}
    writes = {"__setitem__", "__delitem__", "append", "extend", "insert", "pop",
              "remove", "clear", "sort", "reverse", "__iadd__", "setdefault",
              "update", "popitem"}
    ns = {"__slots__": ("_chk", "_owner", "_attr", "_keyfn", "_cname", "_per_index")}

    def init(self, value, chk, owner, attr, keyfn, cname):
        base.__init__(self, value)
        self._chk = chk
        self._owner = owner
        self._attr = attr
        self._keyfn = keyfn
        self._cname = cname
        # local_lock_t.owner: one key per CPU
        self._per_index = isinstance(owner, sync.local_lock_t) and attr == "owner"

    ns["__init__"] = init
    for meth in reads | writes:
        if not hasattr(base, meth):
            continue
        bm = getattr(base, meth)
        write = meth in writes

        def make(bm, write, meth):
            def f(self, *a, **kw):
                idx = a[0] if (meth in ("__getitem__", "__setitem__") and a
                               and isinstance(a[0], int)) else None
                self._rec(write, idx)
                return bm(self, *a, **kw)
            return f
        ns[meth] = make(bm, write, meth)
    return type(f"Tracked{base.__name__.title()}", (_Tracked, base), ns)


_TrackedList = _tracked_container(list)
_TrackedDict = _tracked_container(dict)
