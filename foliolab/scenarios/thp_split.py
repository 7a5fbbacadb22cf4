"""Family thp_split: THP split vs migration-entry wait (seed 003).

Xu Yu / Gang Deng (Alibaba), "[PATCH] mm, thp: relax migration wait when
failed to get tail page" (2 Jun 2021) and Hugh Dickins' review.  While
split_huge_page_to_list() has a THP unmapped, every subpage is a migration
entry.  A fault on one waits in __migration_entry_wait(), which before
v5.13-rc7 takes get_page_unless_zero() on *the entry's page*: on a tail
(refcount 0) that always fails and the fault returns at once.  A kernel-mode
access (copy_to_user) then refaults with no scheduling point under
PREEMPT_NONE.  If the splitter gave up its CPU at a cond_resched() -- in
unmap_page(), or in remap_page() after a head faulter's transient reference
defeated page_ref_freeze() -- and such refault loops hold every CPU, the
splitter never runs again: the migration entries stay, and so do the loops.
"Usually makes the vanilla kernel hung after tens of minutes at most."

The family runs the **v5.12 era**.  Its variants:

* b0: v5.12 (<= v5.13-rc6);
* b1-cond-resched: Xu Yu's v1, cond_resched() after the failed get;
* b3-compound-head: ffc90cbb2970 (v5.13-rc7), wait on compound_head();
* b4-wait-on-locked: ffa65753c431 (v5.17), wait without a reference.

Layout: one mm "app" (the threads of one process); an anonymous THP "H"
at pfn 0x200, PMD-mapped at 0x7f0000000000, ``1 << thp_order`` subpages
(4 by default: a model THP, see mm/huge_memory.py).  The splitter P0 on
cpu0 is deferred_split_scan()'s caller side: it holds a reference and the
head's lock, calls split_huge_page(), keeps the head locked ``head_hold``
more steps, unlocks and puts it.  The faulters each make ``accesses``
fstat()-like system calls whose copy_to_user() stores to their subpage
(kernel mode), or plain user-mode stores (``fault_mode=user``); each
system call returns to user mode, a scheduling point.  Tasks are pinned to
their CPUs (the engine has no load balancing): P0 and the head faulter P1
on cpu0 and cpu1, the tail faulters T1, T2, ... on cpu1, cpu0, cpu1 ...
-- so with K < N tail faulters the splitter's CPU has no spinner, which is
where the kernel's idle balancing would leave it to run.

Oracles, on top of the engine's hung-task and deadlock: the repeating-cycle
livelock detector and the soft-lockup watchdog (engine/livelock.py), and at
the end of every run the state checks (no migration entry left, no page
left locked, the refcounts of a split or unsplit THP).
"""

from __future__ import annotations

from ..engine.livelock import SoftLockupWatch, SpinCycleDetector
from ..engine.oracles import InvariantViolation
from ..mm.errno import errname
from ..mm.huge_memory import PAGE_SIZE, setup_thp_pmd_mapped
from ..mm.page import PG_locked, _nonatomic_set
from ..mm.rmap import mm_struct
from ..mm.x86_fault import exit_to_user_mode
from .base import HANG, SAFE, Expect, Family, Scenario, Variant

THP_PFN = 0x200
HADDR = 0x7F00_0000_0000

VARIANTS = {
    "b0": Variant("b0", (), "v5.12 (<= v5.13-rc6): get_page_unless_zero() on the entry's page"),
    "b1-cond-resched": Variant("b1-cond-resched", ("b1-cond-resched",),
                               "Xu Yu's v1 (2 Jun 2021): cond_resched() after the failed get"),
    "b3-compound-head": Variant("b3-compound-head", ("b3-compound-head",),
                                "ffc90cbb2970 (v5.13-rc7): reference and wait on the head"),
    "b4-wait-on-locked": Variant("b4-wait-on-locked", ("b4-wait-on-locked",),
                                 "ffa65753c431 (v5.17): queue on the folio lock, no reference"),
}
FIXED = ("b1-cond-resched", "b3-compound-head", "b4-wait-on-locked")
LIVELOCK = ("livelock",)


# ------------------------------------------------------------------ layout
def boot_thp(k):
    """The mm, the PMD-mapped THP, the splitter's reference and head lock."""
    s = k.settings
    mm = mm_struct(k, "app")
    k.app_mm = mm
    thp = setup_thp_pmd_mapped(k, THP_PFN, s["thp_order"], [(mm, HADDR)])
    k.thp = thp
    head = thp.head
    head._refcount += 1                      # the splitter's reference
    _nonatomic_set(head, PG_locked)          # and its trylock_page()
    k.split_ret = []
    k.waits = {}                             # task name -> [(slept at, woken at)]
    return thp


def subpage_addr(i):
    return HADDR + i * PAGE_SIZE


def splitter(k, hold):
    """P0: split_huge_page(head), keep the head locked ``hold`` more steps,
    unlock_page(head), put_page(head)."""
    head = k.thp.head
    ret = yield from k.fn.split_huge_page_to_list(head, None)
    k.split_ret.append(ret)
    for i in range(hold):
        yield f"split caller: head still locked ({i + 1}/{hold})"
    yield from k.fn.folio_unlock(head)
    yield from k.fn.folio_put(head)


def touch(k, mm, addr, mode):
    """One access to ``addr``: a kernel-mode store (copy_to_user, "kernel"),
    a user-mode store ("user"), get_user_pages() of it ("gup": a
    process_vm_readv()-like caller) or KSM's follow_page(FOLL_MIGRATION)
    ("foll_migration": break_ksm()); the last two drop their reference."""
    from ..mm.gup import FOLL_GET, FOLL_MIGRATION
    from ..mm.huge_memory import put_page_ref
    if mode == "kernel":
        yield from k.fn.copy_to_user(mm, addr)
    elif mode == "user":
        yield from k.fn.user_store(mm, addr)
    else:
        if mode == "gup":
            page = yield from k.fn.__get_user_pages(mm, addr, FOLL_GET)
        else:
            page = yield from k.fn.follow_page_mask(mm, addr, FOLL_GET | FOLL_MIGRATION)
        if page is not None:
            put_page_ref(page)
            yield f"put_page({page.label})"


def faulter(k, addr, n, mode):
    """A thread making ``n`` system calls that touch ``addr`` (``touch``),
    each followed by the return to user mode."""
    mm = k.app_mm
    for _ in range(n):
        yield from touch(k, mm, addr, mode)
        yield from exit_to_user_mode(k, "system call returns")


def probe_tail_waits(k):
    """Record a tail faulter (T*) that waits on the head (k.tail_waited_on_head)."""
    k.tail_waited_on_head = []
    head = k.thp.head

    def pre(mm, page, *a):
        t = k.m.current
        if t.name.startswith("T") and (page.compound_head or page) is head:
            k.tail_waited_on_head.append(t.name)

    def pre_put(page, *a):
        pre(None, page)

    if "migration_entry_wait_on_locked" in k.fn:
        k.fn.probe("migration_entry_wait_on_locked", pre=pre)
    k.fn.probe("put_and_wait_on_page_locked", pre=pre_put)


def thp_state(k):
    """The fingerprint of every piece of shared state the tasks of this
    family read or write (SpinCycleDetector): the subpages' struct pages,
    the page table, the locks and their waiters, the wait queues, the split
    results.  Event counters (vmstat) are left out: nothing reads them."""
    thp = k.thp
    mm = k.app_mm
    pages = []
    for p in thp.subpages():
        wq = p.waitq
        pages.append((p._refcount, p.flags, p._mapcount, p.compound_head is not None,
                      p.order, tuple(t.tid for t in wq.waiters) if wq is not None else ()))
    ptes = tuple(sorted((a, e[0], e[1].pfn) for a, e in mm.ptes.items()))
    pmds = tuple(sorted((a, e[1].pfn) for a, e in getattr(mm, "pmds", {}).items()))
    locks = []
    for lk in (mm.page_table_lock, thp.split_queue_lock, thp.lru_lock, thp.anon_vma_rwsem):
        locks.append((lk.owner.tid if lk.owner is not None else -1,
                      tuple(t.tid for t in lk.waiters)))
    return (tuple(pages), ptes, pmds, tuple(locks), thp.compound_mapcount,
            tuple(k.split_ret))


def check_end_state(k):
    """After every task finished: no migration entry left, no subpage
    locked, and the references of a THP that was split (each subpage:
    1, its PTE) or not (head: one per PTE; tails 0)."""
    thp = k.thp
    mm = k.app_mm
    left = [a for a, e in mm.ptes.items() if e[0] == "migration"]
    if left:
        raise InvariantViolation(
            "no migration entry left",
            f"{len(left)} migration entries left in {mm.name} after the split returned "
            f"{errname(k.split_ret[-1]) if k.split_ret else '?'}: the next fault on them "
            f"waits for ever")
    locked = [p.label for p in thp.subpages() if p.flags >> PG_locked & 1]
    if locked:
        raise InvariantViolation("no page left locked", f"{', '.join(locked)} still locked")
    if k.split_ret and k.split_ret[-1] == 0:
        bad = [f"{p.label} ref {p._refcount}" for p in thp.subpages() if p._refcount != 1]
    else:
        want = thp.nr if not getattr(mm, "pmds", None) else thp.compound_mapcount
        bad = [] if thp.head._refcount == want else [
            f"{thp.head.label} ref {thp.head._refcount} (expected {want})"]
    if bad:
        raise InvariantViolation("refcounts", "unexpected references after the split: "
                                 + ", ".join(bad))


class ThpScenario(Scenario):
    family = "thp_split"
    footprints = True
    sc_reason = ("the race is one of scheduling (who holds a CPU), not of memory ordering: "
                 "every shared word here is written under the PTE lock, the wait-queue lock "
                 "or with a locked instruction (refcounts, page flags)")
    defaults = {"ncpus": 2, "preempt": "none", "memory_model": "sc", "max_steps": 20_000,
                "hung_task_steps": 3_000, "thp_order": 2, "tail_faulters": 2,
                "accesses": 3, "fault_mode": "kernel", "head_hold": 0,
                "soft_lockup_steps": 2_000}

    def arm_oracles(self, k):
        SpinCycleDetector(k.m, lambda: thp_state(k))
        SoftLockupWatch(k.m, k.settings["soft_lockup_steps"])

    def spawn_faulters(self, k, head_faulter=True):
        s = k.settings
        m = k.m
        n = s["accesses"]
        mode = s["fault_mode"]
        if head_faulter:
            m.spawn("P1", 1 % m.ncpus, faulter(k, subpage_addr(0), n, mode))
        for i in range(s["tail_faulters"]):
            sub = 1 + i % (k.thp.nr - 1)
            m.spawn(f"T{i + 1}", (i + 1) % m.ncpus, faulter(k, subpage_addr(sub), n, mode))

    def watch(self, k):
        thp = getattr(k, "thp", None)
        if thp is None:
            return {}
        mm = k.app_mm
        kinds = {e[0] for e in mm.ptes.values()}
        where = "pmd" if getattr(mm, "pmds", None) else (
            "migration" if kinds == {"migration"} else
            "ptes" if kinds == {"present"} else "/".join(sorted(kinds)) or "-")
        tails = "".join(str(p._refcount) for p in thp.subpages()[1:])
        return {"H: ref": str(thp.head._refcount), "tails": tails,
                "locked": "y" if thp.head.flags >> PG_locked & 1 else "n", "map": where}


class TailWaitLivelock(ThpScenario):
    """The seed's race (RT §2.2, S6): P0 splits, P1 faults on the head, K
    kernel-mode tail faulters on N CPUs.

    Under b0 with K >= N on PREEMPT_NONE the explorer finds the livelock:
    P1's transient head reference defeats the freeze, P0 calls cond_resched()
    in remap_page() and a tail faulter takes its CPU; P1 sleeps on the head,
    and the other tail faulter takes cpu1.  Both refault for ever; P0 is
    runnable on cpu0 but never runs.  The cycle detector reports it once the
    state repeats.  b1 lets the spinners yield; under b3 and b4 they sleep on
    the head's lock; with K < N P0's CPU has no spinner; under PREEMPT_FULL
    and PREEMPT_VOLUNTARY the spinner's CPU is given back (preemption, the
    fault path's might_sleep()).  The controls are the scenarios below
    (tail-wait-k-lt-n, tail-wait-preempt-full, tail-wait-voluntary).
    """

    slug = "tail-wait-livelock"
    title = "split vs kernel-mode tail faulters, K >= N (PREEMPT_NONE)"
    actors = "P0 split_huge_page on cpu0; P1 head faulter on cpu1; T1 on cpu1, T2 on cpu0 (copy_to_user)"
    prop = "the split and every fault complete"
    expected = {"b0": Expect(HANG, LIVELOCK),
                "b1-cond-resched": Expect(SAFE, preemptions=1, witness=("split-fails",)),
                "b3-compound-head": Expect(SAFE, preemptions=1,
                                           witness=("split-fails", "tail-waits-on-head")),
                "b4-wait-on-locked": Expect(SAFE, preemptions=1,
                                            witness=("tail-waits-on-head",))}

    witnesses = {
        # the race's window was open: P1's head reference defeated the freeze
        "split-fails": lambda k: any(r < 0 for r in k.split_ret),
        # a tail faulter slept on the head's lock (b3, b4)
        "tail-waits-on-head": lambda k: bool(k.tail_waited_on_head),
    }

    def setup(self, k):
        boot_thp(k)
        self.arm_oracles(k)
        probe_tail_waits(k)
        k.m.spawn("P0", 0, splitter(k, k.settings["head_hold"]))
        self.spawn_faulters(k)

    def check(self, k):
        check_end_state(k)


class TailWaitFewer(TailWaitLivelock):
    """The K < N control: one tail faulter (on cpu1, with P1); cpu0 runs
    P0 alone, so a cond_resched() there gives the CPU to nobody else."""

    slug = "tail-wait-k-lt-n"
    title = "split vs one kernel-mode tail faulter on 2 CPUs (K < N)"
    actors = "P0 split_huge_page on cpu0; P1 head faulter and T1 tail faulter on cpu1"
    defaults = dict(ThpScenario.defaults, tail_faulters=1)
    expected = {"b0": Expect(SAFE, preemptions=1, witness=("split-fails",))}


class TailWaitPreemptFull(TailWaitLivelock):
    """The PREEMPT_FULL control: the refault loop is preemptible anywhere."""

    slug = "tail-wait-preempt-full"
    title = "split vs kernel-mode tail faulters, K >= N (PREEMPT_FULL)"
    defaults = dict(ThpScenario.defaults, preempt="full")
    expected = {"b0": Expect(SAFE, preemptions=1, witness=("split-fails",))}


class TailWaitVoluntary(TailWaitLivelock):
    """PREEMPT_VOLUNTARY: do_user_addr_fault()'s might_sleep() is a
    scheduling point on every refault."""

    slug = "tail-wait-voluntary"
    title = "split vs kernel-mode tail faulters, K >= N (PREEMPT_VOLUNTARY)"
    defaults = dict(ThpScenario.defaults, preempt="voluntary")
    expected = {"b0": Expect(SAFE, preemptions=1, witness=("split-fails",))}


class TailWaitUserMode(TailWaitLivelock):
    """User-mode faulters: each failed fault returns to user mode, a
    scheduling point."""

    slug = "tail-wait-user-mode"
    title = "split vs user-mode tail faulters, K >= N (PREEMPT_NONE)"
    defaults = dict(ThpScenario.defaults, fault_mode="user")
    expected = {"b0": Expect(SAFE, preemptions=1, witness=("split-fails",))}


class TailWaitGup(TailWaitLivelock):
    """GUP callers (process_vm_readv()-like: get_user_pages() of their
    subpage) instead of copy_to_user(): __get_user_pages()' retry has a
    cond_resched(), so under b0 the spinners yield (Hugh's "there is
    already a cond_resched() there")."""

    slug = "tail-wait-gup"
    title = "split vs get_user_pages() tail callers, K >= N (PREEMPT_NONE)"
    actors = "P0 split_huge_page on cpu0; P1 on cpu1; T1 on cpu1, T2 on cpu0 (get_user_pages)"
    defaults = dict(ThpScenario.defaults, fault_mode="gup")
    expected = {"b0": Expect(SAFE, preemptions=1, witness=("split-fails",))}


class TailWaitFollMigration(TailWaitLivelock):
    """KSM's break_ksm(): follow_page(FOLL_MIGRATION) waits on a migration
    entry and retries inside follow_page_pte() -- break_ksm()'s own
    cond_resched() is outside that loop.  The reference's inference (RT
    2.1: "INF that it is also exposed"), put to the explorer: under b0 the
    tail callers spin there as copy_to_user() does."""

    slug = "tail-wait-foll-migration"
    title = "split vs follow_page(FOLL_MIGRATION) tail callers, K >= N (PREEMPT_NONE)"
    actors = ("P0 split_huge_page on cpu0; P1 on cpu1; T1 on cpu1, T2 on cpu0 "
              "(follow_page(FOLL_MIGRATION), as break_ksm)")
    defaults = dict(ThpScenario.defaults, fault_mode="foll_migration")
    expected = {"b0": Expect(HANG, LIVELOCK),
                "b1-cond-resched": Expect(SAFE, preemptions=1),
                "b3-compound-head": Expect(SAFE, preemptions=1,
                                           witness=("tail-waits-on-head",)),
                "b4-wait-on-locked": Expect(SAFE, preemptions=1,
                                            witness=("tail-waits-on-head",))}


FAMILY = Family(
    name="thp_split",
    title="THP split vs migration-entry wait",
    seed="003_fee1749869ac01f3.txt",
    variants=VARIANTS,
    era="v5.12",
    scenarios=[TailWaitLivelock(), TailWaitFewer(), TailWaitPreemptFull(), TailWaitVoluntary(),
               TailWaitUserMode(), TailWaitGup(), TailWaitFollMigration()],
)
