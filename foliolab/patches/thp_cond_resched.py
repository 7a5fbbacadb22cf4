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

from ..engine.kernel import Patch
from ..engine.sync import cond_resched
from ..mm.migrate import migration_pte_lock, migration_wait_get

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
    page = yield from migration_pte_lock(k, mm, address)
    if page is None:
        return False
    if not (yield from migration_wait_get(k, mm, page)):
        yield from cond_resched(k.m)
        return False
    yield from k.fn.put_and_wait_on_page_locked(page)
    return True
