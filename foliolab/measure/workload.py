"""Workload actors: the model's mm code run as a long workload.

An actor is a generator that calls the model (``k.fn.<kernel function>``)
the way a task on a running system would, with think times taken from the
clock (``msleep``) instead of steps.  Every random choice comes from the
run's one seeded generator (``w.rng``).

Actors (all take the run's :class:`Workload` ``w``):

* :func:`app_launcher`: app launches in a loop -- a burst of anonymous
  faults and page-cache reads of a shared library file (the first launch
  reads it in through the lru_add batch, later launches hit and activate it
  through the activate batch), re-reads, MADV_COLD of half the heap and
  MADV_FREE of the other half, exit (the heap is zapped and freed);
* :func:`kswapd`: reclaims the inactive file list when free pages drop
  below a threshold;
* :func:`cma_user`: a driver that calls cma_alloc() of a given size every
  period, holds the buffer, releases it (Minchan's test: one in the
  background every 5 s);
* :func:`disable_user`: an lru_cache_disable()/enable() caller (migrate_pages(2),
  mbind, memory offline do this since v5.13), timing the disable.

Measurements go to ``w.samples`` (latency lists, ns) and the kernel's own
vmstat; probes add Minchan's "fail to migrate at pass > 2" count.
"""

from __future__ import annotations

from ..mm.errno import EAGAIN
from ..mm.madvise import MADV_COLD, MADV_FREE
from ..mm.migrate import MR_CONTIG_RANGE
from ..mm.vmscan import set_current_kswapd

APP_ADDR = 0x7F00_0000_0000
PAGE_SIZE = 4096


def msleep(w, ns, what="msleep"):
    """Think time: the task is ready again ``ns`` later (one step)."""
    w.clock.msleep(ns)
    yield f"{what}({ns / 1e3:.0f} us)"


class Workload:
    """The state shared by the actors of one run."""

    def __init__(self, k, clock, rng, params):
        self.k = k
        self.clock = clock
        self.rng = rng
        self.p = params
        self.done = False
        self.samples = {}             # name -> [ns]
        self.counts = {}              # name -> int (beyond vmstat)

    def sample(self, name, ns):
        self.samples.setdefault(name, []).append(ns)

    def count(self, name, n=1):
        self.counts[name] = self.counts.get(name, 0) + n


# ------------------------------------------------------------------ probes
def probe_migrate_failures(w):
    """Minchan's debug count in d479960e44f2: a folio that fails to migrate
    (-EAGAIN) on a pass after the second (pass > 2, when migrate_pages()
    starts forcing) for reason MR_CONTIG_RANGE."""
    k = w.k

    def post(ret, get_new_page, put_new_page, private, folio, force, mode, reason, from_list,
             ret_pages):
        if ret == -EAGAIN and reason == MR_CONTIG_RANGE:
            w.count("migrate_fail_contig")
            if getattr(k, "_migrate_pass", 0) - 1 > 2:
                w.count("migrate_fail_pass_gt2")

    k.fn.probe("unmap_and_move", post=post)


def probe_latency(w, fn_name, sample_name):
    """The latency of every call of ``fn_name`` (first step to last)."""
    k = w.k
    if fn_name not in k.fn:
        return False
    starts = {}

    def pre(*args, **kw):
        starts.setdefault(k.m.current.tid, []).append(w.clock.now)

    def post(ret, *args, **kw):
        stack = starts.get(k.m.current.tid)
        if stack:
            w.sample(sample_name, w.clock.now - stack.pop())

    k.fn.probe(fn_name, pre=pre, post=post)
    return True


# ------------------------------------------------------------------ actors
def app_launcher(w, cpu):
    """App launches on ``cpu`` until the measurement ends."""
    from ..mm.rmap import mm_struct
    k, p, rng = w.k, w.p, w.rng
    fn = k.fn
    launch = 0
    while not w.done:
        launch += 1
        mm = mm_struct(k, f"app{cpu}.{launch}")
        # launch: fault the heap, read the library (text and data)
        nanon = p["anon_pages"]
        addrs = [APP_ADDR + i * PAGE_SIZE for i in range(nanon)]
        lib = p["lib_pages"]
        first = rng.randrange(lib)
        nread = p["read_pages"]
        for i in range(max(nanon, nread)):
            if i < nanon:
                yield from fn.do_anonymous_page(mm, addrs[i])
            if i < nread:
                yield from fn.filemap_read(w.lib, (first + i) % lib)
        # run: re-read the hot part of the library (activations)
        for _ in range(p["rereads"]):
            yield from msleep(w, rng.expovariate(1.0 / p["think_ns"]))
            yield from fn.filemap_read(w.lib, (first + rng.randrange(nread)) % lib)
            if w.done:
                break
        # background: the cold half of the heap is madvise(MADV_COLD)ed
        # (the deactivate batch); the allocator returns the other half with
        # MADV_FREE (the lazyfree batch) before the app exits
        if p["madvise_cold"]:
            yield from fn.do_madvise(mm, addrs[: nanon // 2], MADV_COLD)
        if p.get("madvise_free"):
            yield from fn.do_madvise(mm, addrs[nanon // 2:], MADV_FREE)
        # exit: the heap is unmapped and freed
        for a in addrs:
            yield from fn.zap_pte_range(mm, a)
        w.count("app_launches")
        yield from msleep(w, rng.expovariate(1.0 / p["launch_gap_ns"]))


def kswapd(w):
    """Reclaim the inactive file list while free pages are short."""
    k, p = w.k, w.p
    zone = k.zone
    set_current_kswapd(k)
    lruvec = k.root_mem_cgroup.nodeinfo[0]
    while not w.done:
        free = zone.vm_stat["NR_FREE_PAGES"]
        if free < p["reclaim_below"]:
            got = yield from k.fn.shrink_inactive_list(lruvec, 32, True)
            if not got:
                yield from msleep(w, p["kswapd_sleep_ns"], "kswapd sleep")
        else:
            yield from msleep(w, p["kswapd_sleep_ns"], "kswapd sleep")


def cma_user(w):
    """cma_alloc() of ``cma_alloc_pages`` every ``cma_period_ns``; hold,
    then release.  Ends the measurement when done."""
    k, p = w.k, w.p
    area = w.cma
    count = p["cma_alloc_pages"]
    try:
        for _ in range(p["cma_allocs"]):
            yield from msleep(w, p["cma_period_ns"], "cma_user sleep")
            t0 = w.clock.now
            page = yield from k.fn.cma_alloc(area, count, 0, True)
            w.sample("cma_alloc", w.clock.now - t0)
            if page is not None:
                yield from msleep(w, p["cma_hold_ns"], "cma_user hold")
                yield from k.fn.cma_release(area, page, count)
    finally:
        w.done = True


def disable_user(w):
    """An lru_cache_disable() caller (v5.13+: migrate_pages(2), mbind, memory
    offline), or migrate_prep() before v5.13."""
    k, p = w.k, w.p
    has = "lru_cache_disable" in k.fn
    while not w.done:
        yield from msleep(w, p["disable_period_ns"], "disable_user sleep")
        if has:
            yield from k.fn.lru_cache_disable()
            yield from msleep(w, p["disable_hold_ns"], "disable_user work")
            yield from k.fn.lru_cache_enable()
        else:
            yield from k.fn.migrate_prep()
