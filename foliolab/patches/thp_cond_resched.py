"""mm, thp: relax migration wait when failed to get tail page (v1).

Xu Yu, 2 Jun 2021 (linux-mm; with Gang Deng's report from Alibaba), on
v5.13-rc4: when __migration_entry_wait() cannot get a reference on the
entry's page (a tail of a THP being split), unlock the PTE lock and
cond_resched() before returning, so a kernel-mode refault loop gives its
CPU to the splitter.  Not merged: Hugh Dickins called it "papering over the
real bug" (the waiter still busy-polls the tail's entry, and other retry
paths without a scheduling point stay exposed); v2 became the
compound_head() fix (ffc90cbb2970).
"""

from __future__ import annotations

from ..engine.footprint import touch_read
from ..engine.kernel import Patch
from ..engine.oracles import KernelBug
from ..engine.sync import cond_resched, spin_lock, spin_unlock
from ..mm.huge_memory import compound_head, get_page_unless_zero
from ..mm.page import folio_test_locked

PATCH = Patch(
    "b1-cond-resched",
    title="mm, thp: relax migration wait when failed to get tail page",
    date="2021-06-02", version="v1 on v5.13-rc4 (not merged)",
    link="https://lore.kernel.org/linux-mm/ (Xu Yu, 2 Jun 2021)",
    summary="__migration_entry_wait(): on a failed get_page_unless_zero(), unlock and "
            "cond_resched() before returning",
)


@PATCH.replaces()
def __migration_entry_wait(k, mm, address):
    """__migration_entry_wait() with Xu Yu's v1: cond_resched() after a
    failed get_page_unless_zero()."""
    ptl = mm.page_table_lock
    yield from spin_lock(ptl)
    touch_read(k.m, mm.fpk)
    pte = mm.ptes.get(address)
    if pte is None or pte[0] != "migration":
        yield from spin_unlock(ptl)
        return False
    page = pte[1]
    if not folio_test_locked(compound_head(page)):
        raise KernelBug(f"kernel BUG at include/linux/swapops.h: "
                        f"BUG_ON(!PageLocked(compound_head({page.label})))")
    if not get_page_unless_zero(page):
        yield f"__migration_entry_wait: get_page_unless_zero({page.label}) fails (refcount 0)"
        yield from spin_unlock(ptl)
        yield from cond_resched(k.m)
        return False
    yield f"__migration_entry_wait: get_page_unless_zero({page.label}) (ref {page._refcount})"
    yield from spin_unlock(ptl)
    yield from k.fn.put_and_wait_on_page_locked(page)
    return True
