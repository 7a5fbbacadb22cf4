"""Family gup_longterm: long-term GUP pins vs per-CPU batches, CMA (seed 002).

yangge, "[PATCH V4] mm/gup: Clear the LRU flag of a page before adding to
LRU batch" (4 Jul 2024) and Hugh Dickins' review; then Will Deacon's pKVM
report and Hugh's v6.17 series.  A VM with device passthrough pins all of
its memory with pin_user_pages_remote(FOLL_LONGTERM); every guest folio in
a CMA pageblock must first migrate out.  One folio with a reference the
migration does not expect -- held by a per-CPU batch that
collect_longterm_unpinnable_folios() did not drain -- fails migrate_pages()
all 10 passes, and the pin fails with -ENOMEM: "the VM fails to start".

The family runs the **v6.10 era** (foliolab/patches/eras.py): the v5.12
baseline plus the patches to v6.10 (folio batches of 31, folio_get()
before the batch lock, the mlock batch, lru_cache_disable() with an
expedited grace period, long-term pins that fail on a migration failure,
MGLRU).  Its variants apply on top, through v6.17 and the 2026 mm tree.

Common layout (4096-page zone): CMA area "A" = 1024 pages at pfn 0x400; the
guest's memory is anonymous memory of the mm "qemu"; F = the guest folio at
pfn 0x407 (in A), mapped once at GUEST, on the inactive anon LRU.  A
migration target comes from outside CMA (PF_MEMALLOC_PIN).

Properties:

* ``no pin failure caused by a per-CPU batch`` (vm-start-activate,
  mlock-batch-pin): the pin may fail while F is genuinely busy (another
  task holds it), but not because a per-CPU batch (an LRU batch or the
  mlock batch) of a CPU outside its batch critical section held F's extra
  reference when the refcount check failed.  A probe on the refcount check
  records that cause.
* ``no CMA folio long-term pinned`` (concurrent-pinners).
* ``VM_LOCKED mapped => mlocked`` (mlock-count-miss).
* ``reclaim makes progress`` (mglru-oldest-batched; kind no-reclaim-progress).
* ``no per-access slow path`` (activate-cost).
"""

from __future__ import annotations

from ..engine.oracles import PropertyViolation
from ..mm.errno import EAGAIN
from ..mm.gup import FOLL_LONGTERM, FOLL_WRITE, folio_pinned_in_cma
from ..mm.memory import setup_anon_folio
from ..mm.mm_inline import setup_lru_folio
from ..mm.page import folio_test_lru, folio_test_mlocked
from ..mm.rmap import mm_struct
from ..mm.swap import folio_in_cpu_batches
from .base import BUG, SAFE, Expect, Family, Scenario, Variant
from .lru_cache import _causes, folio_state as lru_cache_folio_state

CMA_BASE = 0x400
CMA_PAGES = 1024
F_PFN = CMA_BASE + 7
GUEST = 0x7F00_0000_0000

G1 = ("g1-clear-lru",)
G1_FIX = G1 + ("mglru-fix",)
G3 = G1_FIX + ("g3-gup-refcount", "g3-gup-local-drain", "g3-revert-clear-lru",
               "g3-revert-mglru-fix", "g3-may-be-lru-cached", "g3-drain-all-local-first")
VARIANTS = {
    "g0": Variant("g0", (), "v6.10: !PG_lru => lru_add_drain_all() once"),
    "g1": Variant("g1", G1, "33dfe9204f29 (v6.11): clear PG_lru at batch add"),
    "g1+mglru-fix": Variant("g1+mglru-fix", G1_FIX,
                            "g1 + 0885ef470560 (v6.12): !PG_lru is ineligible in sort_folio"),
    "g2": Variant("g2", G1_FIX + ("g2-drain-if-mlocked",),
                  "Will Deacon's proposal (Aug 2025, on v6.16): also drain if mlocked"),
    "g3": Variant("g3", G3, "Hugh Dickins' v6.17 series: refcount check, local drain "
                            "first, reverts of g1 and its MGLRU fix, folio_may_be_lru_cached, "
                            "and lru_add_drain_all() local first (v6.18)"),
    "g4": Variant("g4", G3 + ("g4-pin-refs",),
                  "2026 mm tree: compare with the pin's references (1024), not +1"),
    "h": Variant("h", ("h-empty-list-success",),
                 "1aaf8c122918 (early 2025, reverted): empty movable list = success"),
}
# Certificates: every safe cell under TSO at k<=2 (the 2-CPU cells take
# 700 - 2,200 DFS schedules, a few seconds), except concurrent-pinners
# (k<=0, LIVELOCK_NOTE).
SAFE_K2 = Expect(SAFE, preemptions=2)
PROP = ("property",)


# ------------------------------------------------------------------- layout
def boot_guest(k, *, referenced=True, lru=True):
    """The CMA area, the guest's mm and F (mapped, on the inactive anon LRU;
    ``referenced``: PG_referenced set, so the next access activates it)."""
    from ..mm.cma import cma_declare_contiguous
    from ..mm.page_alloc import setup_alloc_page_at
    k.cma_a = cma_declare_contiguous(k, CMA_BASE, CMA_PAGES, "A")
    k.guest_mm = mm_struct(k, "qemu")
    F = setup_alloc_page_at(k, F_PFN)
    F.name = "F"
    k.F = F
    setup_anon_folio(k, k.guest_mm, GUEST, F)
    if lru:
        setup_lru_folio(k, F, referenced=referenced)
    k.results = {}
    k.stranded_causes = []
    return F


def pinner(k, key, flags=FOLL_LONGTERM | FOLL_WRITE, addresses=(GUEST,)):
    """A VMM's vaddr_get_pfns(): pin_user_pages_remote(FOLL_LONGTERM)."""
    ret = yield from k.fn.pin_user_pages_remote(k.guest_mm, list(addresses), flags)
    k.results[key] = ret
    yield f"{key}: pin_user_pages_remote -> {ret if isinstance(ret, int) else 'pinned'}"


def stranded_in_batches(k, folio):
    """Per-CPU batches (LRU and mlock) holding ``folio`` whose CPU is outside
    its batch critical section: references that stay until a drain."""
    out = []
    ll = k.cpu_fbatches_lock
    lli = k.cpu_fbatches_lock_irq
    for cpu, name in folio_in_cpu_batches(k, folio):
        if ll.owner[cpu] is None and lli.owner[cpu] is None:
            out.append((cpu, f"cpu_fbatches.{name}"))
    mlock = getattr(k, "mlock_fbatch", None)
    if mlock is not None:
        from ..mm.mlock import folio_in_mlock_batches
        for cpu, _ in folio_in_mlock_batches(k, folio):
            if k.mlock_fbatch_lock.owner[cpu] is None:
                out.append((cpu, "mlock_fbatch"))
    return out


def probe_stranded_causes(k):
    """Record when a migration refcount check fails while a batch of a CPU
    outside its critical section holds the folio."""
    logged = [0]        # refcount checks logged before this call

    def before_move_mapping(mapping, newfolio, folio, extra):
        logged[0] = len(k.migrate_eagain)

    def after_move_mapping(ret, mapping, newfolio, folio, extra):
        if ret == -EAGAIN:
            where = stranded_in_batches(k, folio)
            if not where:
                return
            held = ", ".join(f"cpu{c}'s {b}" for c, b in where)
            if len(k.migrate_eagain) > logged[0]:
                # the figures the model's check compared, as its row shows them
                _label, _pass, refs, expected = k.migrate_eagain[-1]
                k.stranded_causes.append(
                    f"migrate_pages: {folio.label} refcount {refs} != expected "
                    f"{expected}, the extra reference held by {held}")
            else:
                k.stranded_causes.append(
                    f"migrate_pages: {folio.label} reference freeze failed, the extra "
                    f"reference held by {held}")

    k.fn.probe("migrate_page_move_mapping", pre=before_move_mapping, post=after_move_mapping)


def probe_drains(k):
    """Count the drains collect_longterm_unpinnable_folios() asks for."""
    k.drains = {"lru_add_drain": 0, "lru_add_drain_all": 0}

    def count(name):
        def pre(*a, **kw):
            t = k.m.current
            if t is not None and not t.name.startswith("kworker"):
                k.drains[name] += 1
        return pre

    k.fn.probe("lru_add_drain", pre=count("lru_add_drain"))
    k.fn.probe("lru_add_drain_all", pre=count("lru_add_drain_all"))


def check_no_batch_pin_failure(k, key="M"):
    ret = k.results.get(key)
    if isinstance(ret, int) and ret < 0 and k.stranded_causes:
        raise PropertyViolation(
            "no pin failure caused by a per-CPU batch",
            f"pin_user_pages_remote: {ret} (vfio_dma_map -12: the VM fails to start) -- "
            + _causes(k))


def check_no_cma_pin(k):
    for key, ret in k.results.items():
        if isinstance(ret, list):
            for folio in ret:
                if folio_pinned_in_cma(k, folio):
                    raise PropertyViolation(
                        "no CMA folio long-term pinned",
                        f"{key}: pin_user_pages_remote returned with {folio.label} "
                        f"(pfn 0x{folio.pfn:x}, MIGRATE_CMA) pinned long-term "
                        f"(ref {folio._refcount}): the CMA area stays fragmented")


def folio_state(k, folio):
    """lru_cache's watch columns, with the mlock batch among the places."""
    d = lru_cache_folio_state(k, folio)
    if folio is not None and getattr(k, "mlock_fbatch", None) is not None:
        from ..mm.mlock import folio_in_mlock_batches
        mlock = [f"{w}@{c}" for c, w in folio_in_mlock_batches(k, folio)]
        if mlock:
            lru = [d["where"]] if "@" in d["where"] else []
            d["where"] = ",".join(lru + mlock)
    return d


class GupScenario(Scenario):
    family = "gup_longterm"
    footprints = True
    defaults = {"ncpus": 2}

    def watch(self, k):
        return folio_state(k, k.F)


# --------------------------------------------------------------- scenarios
class VmStartActivate(GupScenario):
    """yangge's VM start on one CPU: M pins F (referenced once); the pin's
    own FOLL_TOUCH (folio_mark_accessed, second access) queues F on this
    CPU's activate batch with PG_lru set.

    Model findings (the reference's inference: "how the folio reaches a
    PG_lru-set batch"): FOLL_TOUCH alone does it, on the pinning CPU, with no
    other actor -- g0 fails on the only schedule there is: no drain (PG_lru
    is set), isolation succeeds, migrate_pages() meets the activate batch's
    reference all 10 passes, -ENOMEM.  g1 clears PG_lru at the add, so the
    !PG_lru heuristic drains and the re-pin succeeds.  g3 drains locally
    (refcount mismatch) and the drain_all finds nothing left; g4 drains
    locally only when the refcount really mismatches (here it does: the
    batch's reference).  h (on g0) fails like g0.
    """

    slug = "vm-start-activate"
    title = "FOLL_TOUCH queues F on the pinning CPU's activate batch (1 CPU)"
    actors = "M pin_user_pages_remote(FOLL_LONGTERM) of F on cpu0 (1 CPU)"
    prop = "no pin failure caused by a per-CPU batch"
    defaults = {"ncpus": 1}
    expected = {"g0": Expect(BUG, PROP), "g1": SAFE_K2, "g1+mglru-fix": SAFE_K2,
                "g2": SAFE_K2, "g3": SAFE_K2, "g4": SAFE_K2, "h": Expect(BUG, PROP)}

    def setup(self, k):
        boot_guest(k, referenced=True)
        probe_stranded_causes(k)
        probe_drains(k)
        k.m.spawn("M", 0, pinner(k, "M"))

    def check(self, k):
        check_no_batch_pin_failure(k)


def vcpu_touch(k, F):
    """U: another thread of the VMM reads guest memory through
    get_user_pages(FOLL_GET | FOLL_TOUCH) and drops the reference."""
    from ..mm.gup import FOLL_GET, FOLL_TOUCH
    folios = yield from k.fn.__get_user_pages_locked(k.guest_mm, [GUEST], FOLL_GET | FOLL_TOUCH)
    for folio in folios:
        yield from k.fn.folio_put(folio)


class VmStartActivate2(GupScenario):
    """The two-CPU form: U touches F on cpu1 (its second access queues F on
    cpu1's activate batch), M pins on cpu0.

    Model findings: g0 fails when U's activation is queued before M's
    collect (PG_lru set: no drain).  g1 drains all (PG_lru clear) and
    succeeds.  g3/g4: the local drain does not help (the batch is cpu1's),
    the drain_all does -- both certified.  A re-queue *after* M's
    drain_all cannot happen here: F was referenced before the pin, so by
    then F is either active or still queued (see the docstring of
    vm-start-requeue for the case where it can).
    """

    slug = "vm-start-activate-2cpu"
    title = "F waits in another CPU's activate batch when M pins it"
    actors = "M pin_user_pages_remote(FOLL_LONGTERM) of F on cpu0; U get_user_pages(FOLL_TOUCH) of F on cpu1"
    prop = "no pin failure caused by a per-CPU batch"
    expected = {"g0": Expect(BUG, PROP), "g1": SAFE_K2, "g3": SAFE_K2, "g4": SAFE_K2,
                "h": Expect(BUG, PROP)}

    def setup(self, k):
        boot_guest(k, referenced=True)
        probe_stranded_causes(k)
        k.m.spawn("M", 0, pinner(k, "M"))
        k.m.spawn("U", 1, vcpu_touch(k, k.F))

    def check(self, k):
        check_no_batch_pin_failure(k)


def vcpu_touch_twice(k, F):
    yield from vcpu_touch(k, F)
    yield from vcpu_touch(k, F)


class VmStartRequeue(GupScenario):
    """Inference point "does g3 leave a remote re-queue race open?": F is
    not referenced when M pins it; U on cpu1 touches it twice, so its second
    touch can queue F on cpu1's activate batch (PG_lru set) *after* M's
    drain_all and before M's isolation -- the seed-000 race, which GUP does
    not close because it never calls lru_cache_disable().

    Model findings: yes.  g3 fails (portfolio at schedule 7, DFS k<=1 at 17):
    its refcount check drains locally and all, then U re-queues, isolation
    succeeds (PG_lru set) and migrate_pages() meets cpu1's batch reference
    10 times.  g4 fails too, on a schedule with two preemptions (the
    portfolio finds it; DFS k<=1 certifies 52 schedules).  g0 fails with no
    preemption at all.  g1 closes it: the late re-queue clears PG_lru, so
    the isolation fails, the movable list is empty, the pins are dropped
    and the next round drains again -- certified.
    """

    slug = "vm-start-requeue"
    title = "another CPU re-queues F after the pinner's drain"
    actors = ("M pin_user_pages_remote(FOLL_LONGTERM) of F on cpu0; U get_user_pages(FOLL_TOUCH) "
              "of F twice on cpu1")
    prop = "no pin failure caused by a per-CPU batch"
    expected = {"g0": Expect(BUG, PROP), "g1": SAFE_K2, "g3": Expect(BUG, PROP),
                "g4": Expect(BUG, PROP)}

    def setup(self, k):
        boot_guest(k, referenced=False)
        probe_stranded_causes(k)
        k.m.spawn("M", 0, pinner(k, "M"))
        k.m.spawn("U", 1, vcpu_touch_twice(k, k.F))

    def check(self, k):
        check_no_batch_pin_failure(k)


class CleanPinDrains(GupScenario):
    """Inference point "does the +1 of 98c6d259319e make every small CMA
    folio drain?": M pins F, which no batch holds (F is not referenced: the
    pin's FOLL_TOUCH only sets PG_referenced).

    Model findings: yes.  Under g3 the pinned folio has refcount 1 (its
    mapping) + 1024 (the pin) against folio_expected_ref_count() + 1 = 2, so
    collect_longterm_unpinnable_folios() drains locally and then all CPUs
    for a folio nothing holds -- on every pin of every small CMA folio.  g4
    compares with the pin's 1024 and does not drain; g0 and g1 see PG_lru
    set and do not drain either.
    """

    slug = "clean-pin-drains"
    title = "pin of a CMA folio no batch holds: are the drains needed?"
    actors = "M pin_user_pages_remote(FOLL_LONGTERM) of F on cpu0 (1 CPU)"
    prop = "collect_longterm_unpinnable_folios() drains only for an unexpected reference"
    defaults = {"ncpus": 1}
    expected = {"g0": SAFE_K2, "g1": SAFE_K2, "g3": Expect(BUG, PROP), "g4": SAFE_K2}

    def setup(self, k):
        boot_guest(k, referenced=False)
        probe_drains(k)
        k.m.spawn("M", 0, pinner(k, "M"))

    def check(self, k):
        d = k.drains
        if d["lru_add_drain"] or d["lru_add_drain_all"]:
            raise PropertyViolation(
                self.prop,
                f"the pin of F, which no batch held, ran lru_add_drain() x{d['lru_add_drain']} "
                f"and lru_add_drain_all() "
                f"x{d['lru_add_drain_all']}: the +1 of the refcount check does not count the "
                f"pin's GUP_PIN_COUNTING_BIAS (1024)")


def mlock_then_pin(k, F):
    """M: the VMM's fault path maps F into a VM_LOCKED (MLOCK_ONFAULT) VMA:
    mlock_vma_folio() -> mlock_folio(F) while F is on its LRU; then the pin."""
    yield from k.fn.mlock_folio(F)
    yield from pinner(k, "M")


class MlockBatchPin(GupScenario):
    """Will Deacon's pKVM case (6.15, Pixel 6): crosvm's mlock(MLOCK_ONFAULT)
    queues F on the mlock batch with PG_lru set; then M pins it.

    Model findings: g0 and g1 fail (33dfe9204f29 does not cover the mlock
    batch), and so does h (on g0); Will's drain-if-mlocked (g2) drains all,
    and lru_add_drain()'s mlock_drain_local() empties the batch; g3's local
    drain does the same without a drain_all.
    """

    slug = "mlock-batch-pin"
    title = "F waits in the mlock batch (PG_lru set) when M pins it"
    actors = "M mlock_folio(F) then pin_user_pages_remote(FOLL_LONGTERM) on cpu0 (1 CPU)"
    prop = "no pin failure caused by a per-CPU batch"
    defaults = {"ncpus": 1}
    expected = {"g0": Expect(BUG, PROP), "g1": Expect(BUG, PROP),
                "g1+mglru-fix": Expect(BUG, PROP), "g2": SAFE_K2, "g3": SAFE_K2,
                "g4": SAFE_K2, "h": Expect(BUG, PROP)}

    def setup(self, k):
        boot_guest(k, referenced=False)
        probe_stranded_causes(k)
        k.m.spawn("M", 0, mlock_then_pin(k, k.F))

    def check(self, k):
        check_no_batch_pin_failure(k)


LIVELOCK_NOTE = (
    "weak: at k<=1 the DFS preempts P1 between its isolation of F and its unmap, and P2's "
    "-EAGAIN re-pin loop spins for as long as P1 does not run: reported as a livelock "
    "(the 'infinite loop' 1aaf8c122918 was written against); two real CPUs run P1")


class ConcurrentPinners(GupScenario):
    """Hyesoo Yu's case against 1aaf8c122918: P1 and P2 pin the same guest
    page.  P1 isolates F (PG_lru clear); P2's collect cannot isolate it and
    its movable list is empty.

    Model findings: h returns success to P2 with F still in CMA and pinned;
    g0 and g3 send P2 around the loop (-EAGAIN, re-pin: it waits on P1's
    migration entry, then pins the copy outside CMA).  A pin may still
    fail with -ENOMEM when the other pinner's pin or batch reference outlives
    all 10 passes -- allowed here: the property is about CMA only.

    The model also shows why 1aaf8c122918 was written: under g0 (and g3),
    if P1 stops between isolating F and unmapping it, P2 goes round
    __gup_longterm_locked() without end -- pin, collect (F not on an LRU:
    drain all, isolation fails), unpin, -EAGAIN, pin again -- until P1 runs.
    The DFS at k<=1 finds that schedule at its 11th run (a livelock at
    max_steps); with two real CPUs P1 does run, so the safe cells are
    certified at k<=0 only, and the portfolio's fair schedules find no
    failure.
    """

    slug = "concurrent-pinners"
    title = "two pinners of one CMA folio; the second finds it isolated"
    actors = "P1 pin_user_pages_remote(F) on cpu0; P2 pin_user_pages_remote(F) on cpu1"
    prop = "no CMA folio long-term pinned"
    defaults = {"ncpus": 2, "max_steps": 3000, "hung_task_steps": 1500}
    expected = {"h": Expect(BUG, PROP), "g0": Expect(SAFE, preemptions=0, note=LIVELOCK_NOTE),
                "g3": Expect(SAFE, preemptions=0, note=LIVELOCK_NOTE)}

    def setup(self, k):
        boot_guest(k, referenced=False)
        k.m.spawn("P1", 0, pinner(k, "P1"))
        k.m.spawn("P2", 1, pinner(k, "P2"))

    def check(self, k):
        check_no_cma_pin(k)


def mlock_syscall(k, folio, op, vma):
    """L: mlock()/munlock() of one VMA mapping F: mlock_folio()/munlock_folio()
    per mapped folio, then lru_add_drain() as mlock_vma_pages_range() does."""
    if op == "mlock":
        k.locked_vmas.add(vma)
        yield from k.fn.mlock_folio(folio)
    else:
        k.locked_vmas.discard(vma)
        yield from k.fn.munlock_folio(folio)
    yield from k.fn.lru_add_drain()


def mlocker(k, F):
    yield from mlock_syscall(k, F, "mlock", "vma1")
    yield from mlock_syscall(k, F, "mlock", "vma2")
    yield from mlock_syscall(k, F, "munlock", "vma1")


def toucher(k, F):
    """A: an access to F from cpu0 (its second: folio_activate queues it on
    cpu0's activate batch, which nothing drains)."""
    yield from k.fn.folio_mark_accessed(F)


class MlockCountMiss(GupScenario):
    """Hugh's "fundamental incompatibility" of 33dfe9204f29 with the mlock
    batch: A queues F on cpu0's activate batch; L mlocks two VMAs mapping F
    and munlocks the first.  Under g1 F's PG_lru is held by A's batch, so
    __mlock_folio() cannot count either mlock and __munlock_folio() "assumes
    that was the last mlock": F loses PG_mlocked while the second VMA is
    still locked ("munlocking too soon").

    Model findings: g1 (and every variant carrying it: g1+mglru-fix, g2)
    fails; g0, g3 (the revert) and g4 keep PG_lru set while queued, so the
    mlock drain takes PG_lru and counts both mlocks.
    """

    slug = "mlock-count-miss"
    title = "mlock/munlock miss mlock_count while an LRU batch holds PG_lru"
    actors = "A folio_mark_accessed(F) on cpu0; L mlock(vma1), mlock(vma2), munlock(vma1) on cpu1"
    prop = "a folio mapped by a VM_LOCKED VMA stays mlocked"
    expected = {"g1": Expect(BUG, PROP), "g1+mglru-fix": Expect(BUG, PROP),
                "g2": Expect(BUG, PROP), "g0": SAFE_K2, "g3": SAFE_K2, "g4": SAFE_K2}

    def setup(self, k):
        boot_guest(k, referenced=True)
        k.locked_vmas = set()
        k.m.spawn("A", 0, toucher(k, k.F))
        k.m.spawn("L", 1, mlocker(k, k.F))

    def check(self, k):
        F = k.F
        if k.locked_vmas and not folio_test_mlocked(F):
            raise PropertyViolation(
                "a folio mapped by a VM_LOCKED VMA stays mlocked",
                f"{F.label} is mapped by VM_LOCKED {', '.join(sorted(k.locked_vmas))} but "
                f"PG_mlocked is clear (mlock_count {F.mlock_count}): munlocked too soon, "
                f"reclaim may evict it")

    def watch(self, k):
        d = folio_state(k, k.F)
        d["mlocked"] = "y" if k.F.flags >> 21 & 1 else "n"
        d["mlock_count"] = str(k.F.mlock_count)
        return d


def setup_oldest_gen(k, names, pfns):
    """Anon folios of the guest on MGLRU's oldest generation (PG_lru set)."""
    from ..mm.page import PG_lru, _nonatomic_set
    from ..mm.page_alloc import setup_alloc_page_at
    from ..mm.vmscan import lru_gen_init
    lv = None
    out = []
    for i, (name, pfn) in enumerate(zip(names, pfns)):
        folio = setup_alloc_page_at(k, pfn)
        if lv is None:
            lv = k.fn.folio_lruvec(folio)
            lrugen = lru_gen_init(k, lv)
        folio.name = name
        setup_anon_folio(k, k.guest_mm, GUEST + (i << 12), folio)
        folio.lru_gen = 0
        lrugen.folios[0][folio.pfn] = folio
        folio.lru = lrugen.folios[0]
        _nonatomic_set(folio, PG_lru)
        out.append(folio)
    return lv, out


def writeback_and_cold(k, F0, F1):
    """U: writeback of F0 ends (folio_rotate_reclaimable: move_tail batch)
    and MADV_COLD of F1 (folio_deactivate: deactivate batch)."""
    yield from k.fn.folio_rotate_reclaimable(F0)
    yield from k.fn.folio_deactivate(F1)


class MglruOldestBatched(GupScenario):
    """Chris Li's "OOM on swap stress" (Sep 2024): with 33dfe9204f29, the
    oldest generation's folios wait in per-CPU batches with PG_lru clear;
    scan_folios() can neither sort nor isolate them and splices them back
    into the same generation: nothing reclaimed, nothing aged -> OOM.

    Model findings: g1 fails with "no reclaim progress" when U queues both
    folios before R scans; 0885ef470560 (g1+mglru-fix) sorts them one
    generation up, the oldest generation empties and min_seq advances; g0
    and g3 keep PG_lru set while queued, so R isolates them.  The model's
    MGLRU is reduced (one type, no tiers, no aging, no shrink_folio_list):
    what it checks is only whether the scan can make progress.
    """

    slug = "mglru-oldest-batched"
    title = "MGLRU reclaim vs oldest-generation folios waiting in batches"
    actors = "R lru_gen_shrink_lruvec() on cpu0; U folio_rotate_reclaimable(F0), folio_deactivate(F1) on cpu1"
    prop = "reclaim makes progress (isolates a folio or ages the oldest generation)"
    expected = {"g1": Expect(BUG, ("no-reclaim-progress",)), "g1+mglru-fix": SAFE_K2,
                "g0": SAFE_K2, "g3": SAFE_K2}

    def setup(self, k):
        from ..mm.cma import cma_declare_contiguous
        k.cma_a = cma_declare_contiguous(k, CMA_BASE, CMA_PAGES, "A")
        k.guest_mm = mm_struct(k, "qemu")
        k.results = {}
        lv, (F0, F1) = setup_oldest_gen(k, ("F0", "F1"), (0x810, 0x811))
        k.F = F0
        k.F1 = F1
        k.m.spawn("R", 0, k.fn.lru_gen_shrink_lruvec(lv))
        k.m.spawn("U", 1, writeback_and_cold(k, F0, F1))

    def watch(self, k):
        d = folio_state(k, k.F)
        d.update({f"F1: ref": str(k.F1._refcount),
                  "F1 lru": "y" if folio_test_lru(k.F1) else "n"})
        return d


def repeated_access(k, F, n):
    """U: n accesses of F (tmpfs pwrite -> folio_mark_accessed)."""
    for _ in range(n):
        yield from k.fn.folio_mark_accessed(F)


class ActivateCost(GupScenario):
    """Jinjiang Tu's LibMicro pwrite -12.3% (1 KB writes on tmpfs, Mar
    2025): the same folio is accessed again and again on one CPU.  Before
    33dfe9204f29 each second access re-queues it (one more batch entry, no
    lock) until the batch drains; with it the first queueing clears PG_lru
    and every later access takes folio_mark_accessed()'s !PG_lru path,
    __lru_cache_activate_folio(), which searches the lru_add batch under
    the local_lock (plus workingset_activation(), not modelled) -- per
    access, until some drain.

    The property flags an access that takes that slow path for a folio
    already queued for activation.  The work per access per variant (model
    steps and slow paths, and the measure cost model's nanoseconds) is the
    table in docs/gup_longterm.md.
    """

    slug = "activate-cost"
    title = "repeated accesses to one folio (work per access)"
    actors = "U folio_mark_accessed(F) x 6 on cpu0 (1 CPU)"
    prop = "no per-access slow path for a folio queued for activation"
    defaults = {"ncpus": 1}
    expected = {"g0": SAFE_K2, "g1": Expect(BUG, PROP), "g3": SAFE_K2, "g4": SAFE_K2}
    ACCESSES = 6

    def setup(self, k):
        boot_guest(k, referenced=False)
        k.slow_paths = 0

        def pre(folio):
            if folio_in_cpu_batches(k, folio):
                k.slow_paths += 1

        k.fn.probe("__lru_cache_activate_folio", pre=pre)
        k.m.spawn("U", 0, repeated_access(k, k.F, self.ACCESSES))

    def check(self, k):
        if k.slow_paths:
            raise PropertyViolation(
                "no per-access slow path for a folio queued for activation",
                f"{k.slow_paths} of {self.ACCESSES} accesses took __lru_cache_activate_folio() "
                f"for F, already queued on cpu0's activate batch with PG_lru clear "
                f"(LibMicro pwrite -12.3%)")


FAMILY = Family(
    name="gup_longterm",
    title="long-term GUP pins vs per-CPU batches and CMA",
    seed="002_2800e9cf7535cce6.txt",
    thread='yangge, "[PATCH V4] mm/gup: Clear the LRU flag of a page before adding to LRU batch" (linux-mm, Jul 2024), review by Hugh Dickins',
    variants=VARIANTS,
    era="v6.10",
    scenarios=[VmStartActivate(), VmStartActivate2(), VmStartRequeue(), MlockBatchPin(),
               MglruOldestBatched(), MlockCountMiss(), ConcurrentPinners(), ActivateCost(),
               CleanPinDrains()],
)
