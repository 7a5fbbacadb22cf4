"""Family lru_cache: per-CPU LRU batches vs page migration (seed 000).

Minchan Kim, "[RFC 1/2] mm: disable LRU pagevec during the migration
temporarily" (16 Feb 2021) and Michal Hocko's review.  A folio that enters a
per-CPU batch after the migrator's drain keeps a reference the migrator does
not expect (or keeps PG_lru clear), so migrate_pages() fails all 10 passes,
alloc_contig_range() its 5 tries, and cma_alloc() returns NULL.

Common layout (4096-page zone, pageblock_order 9): CMA area "A" = the two
pageblocks at pfn 0x400 (v5.12 aligns CMA areas to MAX_ORDER_NR_PAGES, 1024
pages); F = a page-cache folio of the file "app" at pfn 0x407 inside it,
mapped once by the app (references: page cache 1 + mapping 1).  The
migrator M allocates the whole area (cma_alloc of 1024 pages, as a camera or
codec driver would), so cma_alloc has no other range to fall back to.

Properties:

* ``cma_alloc succeeds`` (readd-after-drain, drain-transient, busy-cpu):
  a failure is a bug.
* ``no batch-stranded failure`` (add-after-drain, nested-disablers): cma_alloc
  may fail while F is genuinely busy (not yet on any LRU when the range was
  scanned: the caller retries), but not because F was *stranded* in a
  per-CPU batch -- held by a batch of a CPU outside its batch critical
  section -- when isolation skipped it or when its refcount check failed.
  Probes on isolate_migratepages_range() and migrate_page_move_mapping()
  record that cause.
"""

from __future__ import annotations

from ..engine.oracles import PropertyViolation
from ..mm.cma import cma_declare_contiguous
from ..mm.errno import EAGAIN
from ..mm.filemap import address_space, folio_mark_uptodate, setup_page_cache_folio
from ..mm.mm_inline import setup_lru_folio
from ..mm.page import folio_test_lru
from ..mm.page_alloc import setup_alloc_page_at
from ..mm.rmap import mm_struct, setup_map_folio
from ..mm.swap import folio_in_cpu_batches, folio_stranded_in_batches
from .base import BUG, HANG, NA, SAFE, Expect, Family, Scenario, Variant

CMA_BASE = 0x400
CMA_PAGES = 1024
F_PFN = CMA_BASE + 7
APP_ADDR = 0x7F00_0000_0000

VARIANTS = {
    "v0": Variant("v0", (), "baseline <= v5.12: drain, then isolate and migrate"),
    "minchan-rfc": Variant("minchan-rfc", ("minchan-rfc",),
                           "RFC: spinlock + plain counter, dummy work on every CPU, then drain"),
    "lru-cache-disable": Variant("lru-cache-disable", ("lru-cache-disable",),
                                 "d479960e44f2 (v5.13): atomic count + forced drain of every CPU"),
    "mhocko-atomic": Variant("mhocko-atomic", ("mhocko-atomic",),
                             "review sketch: atomic count + plain drain of non-empty CPUs"),
    "nested-skip-v1": Variant("nested-skip-v1", ("lru-cache-disable", "nested-skip-v1"),
                              "Dec 2021 v1: nested disable skips the drain"),
    "nested-skip-v2": Variant("nested-skip-v2", ("lru-cache-disable", "nested-skip-v2"),
                              "Jan 2022 v2: forced drain only for the first disabler"),
    "sync-rcu": Variant("sync-rcu", ("lru-cache-disable", "sync-rcu"),
                        "ff042f4a9b05 (v5.18): synchronize_rcu + drain non-empty CPUs"),
    "sync-rcu-expedited": Variant("sync-rcu-expedited",
                                  ("lru-cache-disable", "sync-rcu", "sync-rcu-expedited"),
                                  "09d66eedb485 (v5.19): expedited grace period"),
    "no-mb-before-gen-load": Variant("no-mb-before-gen-load", ("no-mb-before-gen-load",),
                                     "mutant of v0: barrier (A) removed", mutant=True),
    "no-mb-after-gen-bump": Variant("no-mb-after-gen-bump", ("no-mb-after-gen-bump",),
                                    "mutant of v0: barrier (D) removed", mutant=True),
}
DISABLING = ("minchan-rfc", "lru-cache-disable", "nested-skip-v1", "nested-skip-v2",
             "sync-rcu", "sync-rcu-expedited")
# Certificate bounds.  Every safe cell is certified under TSO with the
# largest preemption bound whose DPOR search finishes in about a quarter of a
# minute on one core of the 2-core CI machine (`foliolab reproduce` runs them
# all in about a minute), k<=0 at least (nested-disablers under
# lru-cache-disable needs about 13 s for that, 6,349 schedules with the
# state cache).  Figures: bench/bench.py --only certificates, which also
# tries every cell one bound deeper.  The expensive cells are the ones whose
# migrate_pages() retry loop runs 10 passes x 5 alloc_contig_range() tries
# (a run of ~600 steps) while another CPU's references race with every pass.
SAFE_K2 = Expect(SAFE, preemptions=2)
SAFE_K1 = Expect(SAFE, preemptions=1, note=(
    "k<=2: about 16,500 schedules, 35 s (foliolab explore -s dfs -k 2)"))
SAFE_K0 = Expect(SAFE, preemptions=0, note=(
    "weak: k<=1 takes 17,418 schedules, about a minute"))
SAFE_K1_3CPU = Expect(SAFE, preemptions=1, note=(
    "k<=2 does not finish within 20,000 schedules (three CPUs)"))
PROPERTY_KINDS = ("property",)


# ------------------------------------------------------------------- layout
def boot_cma_layout(k, *, f_state="lru"):
    """The CMA area, the file, the app's mm and F.

    f_state: "lru" (F cached, mapped, on the inactive file LRU with
    PG_referenced: the next access activates it), "new" (F just allocated,
    refcount 1 held by the faulting task, not yet cached), or None (no F).
    """
    k.cma_a = cma_declare_contiguous(k, CMA_BASE, CMA_PAGES, "A")
    k.app_file = address_space(k, "app")
    k.app_mm = mm_struct(k, "app")
    k.F = None
    k.results = {}
    k.stranded_causes = []
    if f_state is None:
        return
    F = setup_alloc_page_at(k, F_PFN)
    F.name = "F"
    k.F = F
    if f_state == "lru":
        setup_page_cache_folio(k, k.app_file, F, 0)
        setup_map_folio(k, k.app_mm, APP_ADDR, F)
        setup_lru_folio(k, F, referenced=True)


def cma_alloc_actor(k, area_attr="cma_a", count=CMA_PAGES, align=0, key="cma"):
    """M: cma_alloc() of the whole area (a driver's contiguous buffer)."""
    page = yield from k.fn.cma_alloc(getattr(k, area_attr), count, align, False)
    k.results[key] = page


def probe_stranded_causes(k):
    """Record when F is skipped by isolation or fails its refcount check while
    stranded in a per-CPU batch."""
    def after_isolate(ret, cc, start, end):
        F = k.F
        if F is None or F in cc.migratepages or not (start <= F.pfn < end):
            return
        where = folio_stranded_in_batches(k, F)
        if where:
            k.stranded_causes.append(
                f"isolate_migratepages_range skipped F (PG_lru clear): it waits in "
                f"{_where(where)}")

    logged = [0]        # refcount checks logged before this call

    def before_move_mapping(mapping, newfolio, folio, extra):
        logged[0] = len(k.migrate_eagain)

    def after_move_mapping(ret, mapping, newfolio, folio, extra):
        if ret == -EAGAIN and folio is k.F:
            where = folio_stranded_in_batches(k, folio)
            if where and len(k.migrate_eagain) > logged[0]:
                # the figures the model's refcount check compared (its label
                # shows the same), never recomputed here
                _label, _pass, refs, expected = k.migrate_eagain[-1]
                k.stranded_causes.append(
                    f"migrate_pages: F refcount {refs} != expected "
                    f"{expected}, the extra reference held by {_where(where)}")
            elif where:
                k.stranded_causes.append(
                    f"migrate_pages: F reference freeze failed, the extra reference "
                    f"held by {_where(where)}")

    k.fn.probe("isolate_migratepages_range", post=after_isolate)
    k.fn.probe("migrate_page_move_mapping", pre=before_move_mapping, post=after_move_mapping)


def _where(where):
    # cpu_fbatches.<batch>: the era's name table renames it (lru_pvecs.activate_page in v5.12)
    return ", ".join(f"cpu{cpu}'s cpu_fbatches.{name}" for cpu, name in where)


def folio_state(k, folio):
    """Watch columns for one folio: refcount, PG_lru, where it is."""
    if folio is None:
        return {}
    batches = folio_in_cpu_batches(k, folio)
    if batches:
        place = ",".join(f"{name.replace('lru_', '')}@{cpu}" for cpu, name in batches)
    elif folio.lru is not None:
        place = folio.lru.name.split(".")[-1]
    elif folio._refcount == 0:
        place = "free"
    else:
        place = "-"
    return {f"{folio.label}: ref": str(folio._refcount),
            "lru": "y" if folio_test_lru(folio) else "n",
            "where": place}


def _causes(k):
    """Distinct causes with how often each was seen, in first-seen order."""
    counts = {}
    for c in k.stranded_causes:
        counts[c] = counts.get(c, 0) + 1
    return "; ".join(f"{c} (seen {n} times)" if n > 1 else c for c, n in counts.items())


def check_cma_succeeded(k, key="cma"):
    if k.results.get(key) is None:
        why = _causes(k) or "see the table"
        raise PropertyViolation(
            "cma_alloc succeeds",
            f"cma_alloc: alloc failed, req-size: {CMA_PAGES} pages, ret: -16 ({why})")


def check_no_stranded_failure(k, key="cma"):
    if k.results.get(key) is None and k.stranded_causes:
        raise PropertyViolation(
            "no cma_alloc failure caused by a per-CPU LRU batch",
            f"cma_alloc: alloc failed, req-size: {CMA_PAGES} pages, ret: -16 -- " + _causes(k))


class LruCacheScenario(Scenario):
    family = "lru_cache"
    footprints = True       # checked step by step in tests/test_footprints.py
    legend = ("F: ref = F's reference count; lru = PG_lru set (y) or clear (n); "
              "where = the LRU list F is on (inactive_file, active_file), or the "
              "per-CPU batches holding it: activate@1 = cpu1's activate batch, "
              "add@0,activate@1 = cpu0's add batch and cpu1's activate batch; "
              "- = isolated (on no list); F' = the page F is migrated to")
    defaults = {"ncpus": 2}
    # tasks on cpu0 and cpu1; the CMA area [0x400, 0x800)
    needs = {"ncpus": 2, "zone_pages": 2048}
    witnesses = {
        "transient-eagain": lambda k: bool(k.migrate_eagain) and k.results.get("cma") is not None,
    }

    def watch(self, k):
        return folio_state(k, k.F)


# --------------------------------------------------------------- scenarios
class ReaddAfterDrain(LruCacheScenario):
    """Race A: after M's drain, U's read activates F; F waits in U's
    lru_activate batch with PG_lru *set*, so M isolates it and every
    migration pass finds the batch's extra reference.

    Model findings: under v0 the failure needs one preemption of M between
    its drain and its isolation scan.  Every disabling variant makes U's
    activation flush at once; M may still see the reference during U's own
    flush (a transient -EAGAIN), and a later pass succeeds -- or, rarely, M's
    scan meets F while U's flush holds PG_lru cleared and skips it (the
    isolation window of drain-transient): cma_alloc then fails, but not
    because of a stranded batch reference, which is the property here.

    mhocko-atomic (Michal's review sketch: atomic count, plain drain) fails
    under TSO with one preemption of U after its add: U's store to its
    lru_activate counter still sits in its store buffer when U reads the
    count as 0; M's atomic_inc is visible at once, its drain reads cpu1's
    counter from memory as 0 and skips cpu1 (store buffering, the SB shape),
    and nothing drains cpu1 until M has given up.  The store has to linger
    only until M's drain has read the counter.  Explorer, seed 0, TSO: sticky
    walk at schedule 11 (4% of sticky schedules fail), PCT d=2 at 367, PCT
    d=3 at 551, random walk at 692 (about 1 schedule in 3000), DFS k=2 at
    82.  Under SC the k=2 DFS certifies it (1196 schedules): U's counter
    store precedes its read of the count, so the drain sees it.

    Under lkmm (engine/lkmm.py; tests/test_lkmm.py runs every cell): the
    same verdicts.  The mhocko-atomic failure is the same SB shape -- U's
    counter store has not reached cpu0 when M's drain reads it -- and LKMM
    forbids nothing TSO allows here.  Minchan's RFC stays safe: its dummy
    work runs on every CPU through a context switch (a full barrier: U's
    batch is drained whatever M read), and its plain, non-atomic counter
    has one writer in this scenario.
    """

    slug = "readd-after-drain"
    title = "re-queue into a PG_lru-set batch after the drain (Race A)"
    actors = "M cma_alloc(A) on cpu0; U read(app, 0) on cpu1 (folio_mark_accessed -> folio_activate)"
    prop = "no cma_alloc failure caused by a folio stranded in a per-CPU batch"
    expected = {"v0": Expect(BUG, PROPERTY_KINDS), **{v: SAFE_K1 for v in DISABLING},
                "sync-rcu": SAFE_K2, "sync-rcu-expedited": SAFE_K2,
                "minchan-rfc": SAFE_K0,
                "mhocko-atomic": Expect(BUG, PROPERTY_KINDS)}

    def setup(self, k):
        boot_cma_layout(k, f_state="lru")
        probe_stranded_causes(k)
        k.m.spawn("M", 0, cma_alloc_actor(k))
        k.m.spawn("U", 1, k.fn.filemap_read(k.app_file, 0))

    def check(self, k):
        check_no_stranded_failure(k)


class AddAfterDrain(LruCacheScenario):
    """Race B: U allocated F before the isolation and adds it to the page
    cache and its lru_add batch after M's drain; F has PG_lru clear and is
    skipped by the isolation scan.

    Model finding: when U's add comes after M's scan, cma_alloc fails under
    every variant (F is in use, not yet on any LRU: a genuine -EBUSY the
    caller retries); only a failure caused by F stranded in a batch counts.

    mhocko-atomic shows the same store-buffering failure as in
    readd-after-drain under TSO: U's lru_add counter store is still buffered
    when M's drain skips cpu1, and the isolation scan skips F (PG_lru clear)
    while it waits in cpu1's lru_add batch.  Explorer, seed 0, TSO: PCT d=2
    at schedule 121, PCT d=3 at 107, sticky walk at 247 (2.5% of sticky
    schedules fail), random walk at 686, DFS k=2 at 54; shrunk to one
    preemption.  Under SC the k=2 DFS certifies it (844 schedules).

    Under lkmm: the same verdicts as TSO (see readd-after-drain).
    """

    slug = "add-after-drain"
    title = "new folio enters lru_add after the drain (Race B)"
    actors = "M cma_alloc(A) on cpu0; U page-cache fill of F (filemap_add_folio, unlock, put) on cpu1"
    prop = "no cma_alloc failure caused by a folio stranded in a per-CPU batch"
    # k<=2 for the disabling variants: about 7,100 schedules, 13 s each
    expected = {"v0": Expect(BUG, PROPERTY_KINDS), **{v: SAFE_K2 for v in DISABLING},
                # (the RFC's IPI barrier adds an interleaving point on
                # every CPU)
                "minchan-rfc": Expect(SAFE, preemptions=0, note=(
                    "weak: k<=1 takes 8,896 schedules, 18 s")),
                "mhocko-atomic": Expect(BUG, PROPERTY_KINDS)}

    def setup(self, k):
        boot_cma_layout(k, f_state="new")
        probe_stranded_causes(k)
        k.m.spawn("M", 0, cma_alloc_actor(k))
        k.m.spawn("U", 1, page_cache_fill(k, k.F))

    def check(self, k):
        check_no_stranded_failure(k)


def page_cache_fill(k, F):
    """U: readahead of F (allocated before the isolation): insert it in the
    page cache and the lru_add batch, complete the read, drop our ref."""
    yield from k.fn.filemap_add_folio(k.app_file, F, 0)
    folio_mark_uptodate(F)
    yield "read I/O completes: F uptodate"
    yield from k.fn.folio_unlock(F)
    yield from k.fn.folio_put(F)


class NestedDisablers(LruCacheScenario):
    """Andrew Morton's and Michal Hocko's races against the nested-skip
    proposals: C0 adds F to an empty lru_add batch and reads the disable
    count as 0; C1 and C2 both disable; C2 allocates the CMA area holding F.

    Model findings: v1 (skip when already disabled) fails under sequential
    consistency.  v2 (non-forced drain for nested callers) needs C0's batch
    store to be still in its store buffer when C2 reads C0's counter --
    TSO (the scenario's memory model) reaches it, SC does not.  The forced
    drain of lru-cache-disable and the grace period of sync-rcu (whose QS
    reports are full barriers) both close it.  Minchan's RFC and Michal's
    atomic-counter sketch (mhocko-atomic) have no lru_cache_disable(): not
    applicable; the sketch's single-caller race under TSO is already the one
    of readd-after-drain and add-after-drain.

    Under lkmm the v2 race is easier to reach: CPU0's batch store reaches
    CPU2 through a propagation pseudo-task of its own, which PCT can give a
    low priority -- PCT d=3 finds it (seed 0: 2 schedules in 2,000), where
    under TSO only the sticky walk does (random walk and PCT d<=3: none in
    2,000 each).  The other cells keep their verdicts.
    """

    slug = "nested-disablers"
    needs = {"ncpus": 3, "zone_pages": 2048}
    title = "nested lru_cache_disable() callers (Michal's CPU0/1/2 diagram)"
    actors = ("C0 page-cache fill of F on cpu0; C1 lru_cache_disable()/enable() on cpu1; "
              "C2 cma_alloc(A) on cpu2")
    prop = "no cma_alloc failure caused by a folio stranded in a per-CPU batch"
    defaults = {"ncpus": 3, "memory_model": "tso"}
    expected = {
        "nested-skip-v1": Expect(BUG, PROPERTY_KINDS),
        "nested-skip-v2": Expect(BUG, PROPERTY_KINDS, budget=5000),
        # three CPUs, kworkers on each (bench/bench.py)
        "lru-cache-disable": Expect(SAFE, preemptions=0, note=(
            "weak: k<=1 took 199,752 schedules (386 s) under SC and did not finish "
            "in 25 minutes under TSO (three CPUs, kworkers on each)")),
        "sync-rcu": SAFE_K1_3CPU,
        "sync-rcu-expedited": SAFE_K1_3CPU,
    }

    def setup(self, k):
        boot_cma_layout(k, f_state="new")
        probe_stranded_causes(k)
        k.m.spawn("C0", 0, page_cache_fill(k, k.F))
        k.m.spawn("C1", 1, disable_enable(k))
        k.m.spawn("C2", 2, cma_alloc_actor(k))

    def check(self, k):
        check_no_stranded_failure(k)


def disable_enable(k):
    """C1: another lru_cache_disable() user with nothing to migrate (e.g.
    do_migrate_pages() of an empty node)."""
    yield from k.fn.lru_cache_disable()
    yield "C1: nothing to migrate"
    yield from k.fn.lru_cache_enable()


def busy_loop():
    while True:
        yield "user busy loop (SCHED_FIFO)"


class BusyCpu(LruCacheScenario):
    """Marcelo Tosatti's case (ff042f4a9b05): CPU X runs a SCHED_FIFO busy
    loop in user mode with empty batches; work queued on X never runs.

    Model findings: v0 is safe (its drain skips CPUs with empty batches),
    and so is mhocko-atomic, whose plain drain is v0's (SC and TSO);
    every variant that forces per-CPU work on all CPUs (lru-cache-disable,
    the nested-skip series, and Minchan's RFC barrier) hangs M in
    flush_work(); sync-rcu and sync-rcu-expedited return, since user mode is
    a quiescent state and X gets no work.

    Caveat: every "safe" here holds only while X's pcp lists are empty.
    alloc_contig_range() calls drain_all_pages() after isolating the range,
    and in v5.12 that drain is per-CPU work too (drain_local_pages_wq on
    mm_percpu_wq) queued on every CPU whose pcp->count is non-zero.  Checked
    with the model: let X free one page (it lands on cpu1's pcp list) before
    it starts spinning, and on the schedule where the free comes first M
    hangs in flush_work(pcpu_drain/1) under v0 and sync-rcu alike (hung
    task) -- that hang is the pcp drain's, not the LRU drain's, and no
    lru_cache_disable() design touches it (6.x drains pcp lists remotely
    under pcp->lock instead).  The scenario keeps X's pcp lists empty, the
    situation of Marcelo's report (an isolated CPU that never allocates).

    Under lkmm: the same verdicts (the hangs are scheduling, not ordering).
    """

    slug = "busy-cpu"
    title = "SCHED_FIFO busy loop on another CPU"
    actors = "M cma_alloc(A) on cpu0 (area free); X SCHED_FIFO user busy loop on cpu1"
    prop = "cma_alloc succeeds (and returns)"
    expected = {
        "v0": SAFE_K2,
        "minchan-rfc": Expect(HANG, ("hung-task",)),
        "lru-cache-disable": Expect(HANG, ("hung-task",)),
        "mhocko-atomic": SAFE_K2,
        "nested-skip-v1": Expect(HANG, ("hung-task",)),
        "nested-skip-v2": Expect(HANG, ("hung-task",)),
        "sync-rcu": SAFE_K2,
        "sync-rcu-expedited": SAFE_K2,
    }

    def setup(self, k):
        boot_cma_layout(k, f_state=None)
        k.m.spawn("M", 0, cma_alloc_actor(k))
        k.m.spawn("X", 1, busy_loop(), daemon=True, rt_prio=50, user=True, invisible=True)

    def check(self, k):
        check_cma_succeeded(k)

    def watch(self, k):
        return {"lru_disable_count": str(getattr(k, "lru_disable_count", None) and
                                         k.lru_disable_count.counter)}


class DrainTransient(LruCacheScenario):
    """Race C: D activates F and then drains its own batches; between
    setting PG_lru and dropping the batch references D's flush holds a
    transient extra reference, which M's refcount check can see.

    Model findings (the reference marks Race C as inference):

    * the transient reference is real and absorbed: on some schedules M's
      refcount check fails (-EAGAIN) while D's flush still holds its batch
      reference, and a later pass migrates F (witness ``transient-eagain``);
    * but the drain also holds the PG_lru ownership token for a moment --
      the activate drain test-and-clears PG_lru before moving F between the
      lists (the lru_add drain sets it only at the end) -- and an isolation
      scan that passes F in that window skips it.  alloc_contig_range()
      never rescans a skipped pfn within a try, so test_pages_isolated()
      fails and cma_alloc() returns -EBUSY, under every variant: no
      lru_cache_disable() design closes it.  A retry of the caller would
      succeed.  The expected outcome records this finding (BUG everywhere)
      instead of the catalogue's "transient, then success".

    mhocko-atomic is no exception (TSO and SC: the verdict's random walk
    finds the isolation-window failure, after PCT d=2 and d=3 found nothing
    in 3,000 schedules each); its store-buffering race does not show here,
    since D drains its own batch right after the add.

    Under lkmm: every cell still fails within the verdict's budget (2,250
    portfolio schedules; the sticky walk finds the four slowest at schedules
    421-695 under lkmm).
    """

    slug = "drain-transient"
    title = "transient reference during a CPU's own drain (Race C)"
    actors = "M cma_alloc(A) on cpu0; D folio_mark_accessed(F) then lru_add_drain() on cpu1"
    prop = "cma_alloc succeeds"
    expected = {v: Expect(BUG, PROPERTY_KINDS, witness=("transient-eagain",), budget=2250)
                for v in ("v0", "mhocko-atomic") + DISABLING}

    def setup(self, k):
        boot_cma_layout(k, f_state="lru")
        probe_stranded_causes(k)
        k.m.spawn("M", 0, cma_alloc_actor(k))
        k.m.spawn("D", 1, touch_then_drain(k, k.F))

    def check(self, k):
        check_cma_succeeded(k)


def touch_then_drain(k, F):
    yield from k.fn.folio_mark_accessed(F)
    yield from k.fn.lru_add_drain()


class DrainGenShortcut(LruCacheScenario):
    """The generation shortcut of lru_add_drain_all() (6446a5131e24, v5.10):
    x adds F and calls lru_add_drain_all() while z is in the middle of its
    own; y has a folio G queued so that z has work to wait for.  x must not
    return with F still in its batch.

    Model findings: with both barriers (every real variant, mhocko-atomic
    included: its lru_add_drain_all() is v0's and x reads a count of 0) the
    model certifies it; removing smp_mb() (A) or (D) lets x exit at the
    shortcut undrained under TSO.

    Under lkmm: the same.  Both mutants fail (without (A) the portfolio finds
    it at schedule 95, without (D) at 31); the mutant without (B)
    (no-acquire-gen-load, READ_ONCE instead of smp_load_acquire) stays
    safe, and LKMM agrees that (B) is not needed for this guarantee: the
    acquire only keeps the load of lru_drain_gen before mutex_lock();
    loaded later, it can only return the same or a newer generation (CoRR
    with the load at (C)), which sends x to drain every CPU itself
    (patches/drain_gen_barriers.py).  The failing run of the (A) mutant,
    exported with ``foliolab replay --litmus``, is a 3-process litmus test
    that is Sometimes under tso and lkmm and Never under sc.
    """

    slug = "drain-gen-shortcut"
    needs = {"ncpus": 3, "zone_pages": 3072}       # folios at pfn 0x800, 0x801
    title = "lru_add_drain_all() generation shortcut and its barriers"
    actors = "x folio_add_lru(F) + lru_add_drain_all() on cpu0; y idle with G batched on cpu1; z lru_add_drain_all() on cpu2"
    prop = "lru_add_drain_all() drains the caller's earlier adds"
    defaults = {"ncpus": 3, "memory_model": "tso"}
    expected = {
        **{v: SAFE_K2 for v in ("v0", "mhocko-atomic") + DISABLING},
        "no-mb-before-gen-load": Expect(BUG, PROPERTY_KINDS),
        "no-mb-after-gen-bump": Expect(BUG, PROPERTY_KINDS),
    }

    def setup(self, k):
        from ..mm.swap import folio_batch_add
        k.results = {}
        k.stranded_causes = []
        F = setup_alloc_page_at(k, 0x800)
        F.name = "F"
        k.F = F
        G = setup_alloc_page_at(k, 0x801)
        G.name = "G"
        G._refcount += 1                      # the batch's reference
        fb = k.cpu_fbatches.slots[1].lru_add
        folio_batch_add(k, fb, G)
        k.m.spawn("x", 0, add_then_drain_all(k, F))
        k.m.spawn("z", 2, k.fn.lru_add_drain_all())

    def check(self, k):
        pass


def add_then_drain_all(k, F):
    yield from k.fn.folio_add_lru(F)
    yield from k.fn.lru_add_drain_all()
    if any(cpu == 0 for cpu, _ in folio_in_cpu_batches(k, F)):
        raise PropertyViolation(
            "lru_add_drain_all() drains the caller's earlier adds",
            "lru_add_drain_all() returned on cpu0 with F still in cpu0's "
            "cpu_fbatches.lru_add batch (exited at the generation shortcut; the drainer "
            "that bumped the generation did not see cpu0's add)")
    yield "x: F drained"


class UnpairedDisable(LruCacheScenario):
    """An error path that skips lru_cache_enable(): v5.13's offline_pages()
    fails to isolate a range holding a reserved page and returns without the
    enable (Miaohe Lin's fix, Aug 2021).  The count stays raised, so every
    later batch add flushes at once -- batching is off for good.

    The actor runs the v5.13 offline_pages() whatever else the variant
    contains, so every variant with lru_cache_disable() shows the leak; the
    quiescent-state check flags it.  Minchan's RFC did not convert memory
    hotplug (its migrate_prep/migrate_finish pairing has the same hazard and
    the same check), nor does Michal's atomic-counter sketch (mhocko-atomic:
    the same pairing, the same check), and v0 has no counter: not applicable.

    Under lkmm: the same verdicts (the leak does not depend on ordering).
    """

    slug = "unpaired-disable"
    needs = {"ncpus": 1, "zone_pages": 4096}       # offlines [0xC00, 0xE00)
    title = "an error path skips lru_cache_enable()"
    actors = "O offline_pages() (v5.13 error path) of a block holding a reserved page on cpu0"
    prop = "lru_disable_count returns to 0 when every task has finished"
    expected = {v: Expect(BUG, ("leak",)) for v in DISABLING if v != "minchan-rfc"}

    def setup(self, k):
        from ..mm.page import PG_reserved, _nonatomic_set
        boot_cma_layout(k, f_state=None)
        r = setup_alloc_page_at(k, 0xC05)
        r.name = "R"
        _nonatomic_set(r, PG_reserved)
        k.m.spawn("O", 0, offline_leaky(k, 0xC00, 0x200))

    def watch(self, k):
        return {"lru_disable_count": str(k.lru_disable_count.counter)}


def offline_leaky(k, start, nr):
    from ..mm.memory_hotplug import offline_pages_body
    ret = yield from offline_pages_body(k, start, nr, lru_cache_bracket=True)
    k.results["offline"] = ret
    yield f"offline_pages returned {ret}"


FAMILY = Family(
    name="lru_cache",
    title="per-CPU LRU batches vs page migration (lru_cache_disable)",
    seed="000_b4021be49601adab.txt",
    thread='Minchan Kim, "[RFC 1/2] mm: disable LRU pagevec during the migration temporarily" (linux-mm, Feb 2021), review by Michal Hocko',
    variants=VARIANTS,
    era="v5.12",
    scenarios=[ReaddAfterDrain(), AddAfterDrain(), NestedDisablers(), BusyCpu(),
               UnpairedDisable(), DrainTransient(), DrainGenShortcut()],
)
