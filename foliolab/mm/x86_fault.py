"""The x86 page-fault entry and user copies: arch/x86/mm/fault.c,
arch/x86/lib/usercopy (copy_to_user() with its exception-table fixup) and
the exit to user mode (kernel/entry/common.c), v5.12.

What matters for the THP split livelock is *where a fault that did not
resolve the access returns to*:

* a **user-mode** access faults, handle_mm_fault() returns 0 (it waited on
  a migration entry, or could not), the exception returns to user mode,
  and exit_to_user_mode() calls schedule() when TIF_NEED_RESCHED is set: a
  scheduling point on every retry;
* a **kernel-mode** access to a user address (copy_to_user() in fstat(),
  say) faults, handle_mm_fault() returns 0, the exception returns *into
  the kernel* and the faulting instruction runs again.  The loop has no
  scheduling point under PREEMPT_NONE; do_user_addr_fault()'s
  might_sleep() is one under PREEMPT_VOLUNTARY (might_resched()), and
  PREEMPT_FULL can preempt anywhere.

The access itself reads the translation (the PMD, else the PTE) without a
lock, as the MMU does; a PMD-mapped or present PTE completes the access.
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import kfunc
from ..engine.livelock import spin_loop_enter, spin_loop_head
from ..engine.machine import SCHED_ALWAYS
from ..engine.sync import might_sleep_point

PMD_MASK_LOW = (1 << 21) - 1


def translate(k, mm, address):
    """What the MMU finds for ``address``: ("pmd", head), ("present", page),
    ("migration", page) or None."""
    touch_read(k.m, mm.fpk)
    pmds = getattr(mm, "pmds", None)
    if pmds:
        for haddr, pmd in pmds.items():
            if haddr <= address < haddr + (PMD_MASK_LOW + 1):
                return pmd
    return mm.ptes.get(address)


def _describe(pte):
    if pte is None:
        return "none"
    return f"{pte[0]} {pte[1].label}"


def exit_to_user_mode(k, why):
    """exit_to_user_mode_loop(): schedule() if need_resched -- a scheduling
    point on every return to user mode (under PREEMPT_FULL every point is
    one already)."""
    m = k.m
    if m.preempt_full:
        return
    m.current.sched_point = SCHED_ALWAYS
    yield f"exit_to_user_mode: {why}"


@kfunc
def handle_mm_fault(k, mm, address):
    """handle_mm_fault() -> handle_pte_fault() -> do_swap_page() (v5.12) of a
    PTE that holds a migration entry: migration_entry_wait(), return 0 (the
    access is retried).  Any other PTE: nothing to do (a spurious fault)."""
    pte = translate(k, mm, address)            # vmf->orig_pte, read without the lock
    if pte is not None and pte[0] == "migration":
        yield from k.fn.migration_entry_wait(mm, address)
    return 0


@kfunc
def do_user_addr_fault(k, mm, address, user_mode):
    """do_user_addr_fault() (v5.12): mmap_read_trylock() succeeds, then
    might_sleep() (a scheduling point only under PREEMPT_VOLUNTARY), then
    handle_mm_fault()."""
    yield from might_sleep_point(k.m, "do_user_addr_fault: might_sleep")
    return (yield from k.fn.handle_mm_fault(mm, address))


def _store_loop(k, mm, address, user_mode):
    """The store and its refaults: the access reads the translation; a
    fault goes to do_user_addr_fault() and the store runs again -- after a
    return to user mode (a scheduling point) if it came from user mode."""
    m = k.m
    token = spin_loop_enter(m)
    where = "user store" if user_mode else "copy_to_user: store"
    site = "user-mode refault loop" if user_mode else "copy_to_user refault loop"
    while True:
        pte = translate(k, mm, address)
        spin_loop_head(m, site, (token, address, _key(pte)))
        if pte is not None and pte[0] in ("pmd", "present"):
            yield f"{where} to 0x{address:x} ({_describe(pte)})"
            return 0
        yield f"{where} to 0x{address:x}: #PF ({_describe(pte)})"
        yield from k.fn.do_user_addr_fault(mm, address, user_mode)
        if user_mode:
            yield from exit_to_user_mode(k, "return from the page fault")


@kfunc
def copy_to_user(k, mm, address):
    """copy_to_user() of a user address from kernel mode: the store, and on
    a fault the exception returns into the kernel and retries the store --
    no scheduling point on that loop but do_user_addr_fault()'s
    might_sleep()."""
    return (yield from _store_loop(k, mm, address, False))


@kfunc
def user_store(k, mm, address):
    """A store from user mode: on a fault, the exception returns to user
    mode (exit_to_user_mode: a scheduling point) and the store runs again."""
    return (yield from _store_loop(k, mm, address, True))


def _key(pte):
    return None if pte is None else (pte[0], pte[1].pfn)
