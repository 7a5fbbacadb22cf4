"""mm, thp: use head page in __migration_entry_wait().

Commit ffc90cbb2970ab88b66ea51dd580469eede57b67 (Xu Yu and Gang Deng;
suggested and acked by Hugh Dickins, acked by Kirill A. Shutemov; Cc
stable; Fixes: ba98828088ad "thp: add option to setup migration entries
during PMD split"), taken for v5.13-rc7 (16 Jun 2021).  After
``page = migration_entry_to_page(entry)`` the wait takes ``page =
compound_head(page)``: the reference is taken on the head, which is
non-zero except in the short frozen window, and the waiter sleeps on the
head's PG_locked.  Side effects (Hugh, Kirill): every faulter's transient
head reference can now defeat page_ref_freeze(), so the split fails more
often under concurrent faults; after a successful split a tail faulter
sleeps on the head until the caller unlocks it.
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.huge_memory import compound_head
from ..mm.migrate import migration_pte_lock, migration_wait_get

PATCH = Patch(
    "b3-compound-head",
    title="mm, thp: use head page in __migration_entry_wait()",
    commit="ffc90cbb2970", date="2021-06-16", version="v5.13-rc7",
    summary="__migration_entry_wait(): get_page_unless_zero() and wait on compound_head(page)",
)


@PATCH.replaces()
def __migration_entry_wait(k, mm, address):
    """__migration_entry_wait() with ffc90cbb2970 (v5.13-rc7 .. v5.16)."""
    page = yield from migration_pte_lock(k, mm, address)
    if page is None:
        return False
    head = compound_head(page)
    if not (yield from migration_wait_get(k, mm, head, page if head is not page else None)):
        return False
    yield from k.fn.put_and_wait_on_page_locked(head)
    return True
