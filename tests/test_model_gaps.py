"""Model gaps closed for issue 12 (6): non-atomic page-flag updates are a
load step and a store step (a lost update on page->flags is reachable), and
the folio lock follows the PG_waiters protocol (a lost wake-up is reachable
when a patch breaks it; the model's own unlock is certified)."""

from __future__ import annotations

from foliolab.engine.kernel import Patch
from foliolab.engine.oracles import PropertyViolation
from foliolab.explore import HANG_KINDS, explore
from foliolab.mm.filemap import folio_wake_bit
from foliolab.mm.page import (
    PG_locked, PG_referenced, PG_waiters, _clear, _nonatomic_set, _set, folio_test_locked,
    folio_test_referenced,
)
from foliolab.mm.page_alloc import setup_alloc_page_at
from foliolab.scenarios.base import Scenario


def _unlock_later(k, F):
    yield "A: works under the folio lock"
    yield from k.fn.folio_unlock(F)


def _lock_unlock(k, F):
    yield from k.fn.folio_lock(F)
    yield from k.fn.folio_unlock(F)


class LockWait(Scenario):
    slug = "lock-wait"
    defaults = {"memory_model": "sc"}
    sc_reason = "page flags and the wait queue are never buffered"

    def setup(self, k):
        F = setup_alloc_page_at(k, 0x800, name="F")
        _nonatomic_set(F, PG_locked)          # A holds the folio lock
        k.F = F
        k.m.spawn("A", 0, _unlock_later(k, F))
        k.m.spawn("B", 1, _lock_unlock(k, F))

    def check(self, k):
        if folio_test_locked(k.F) or k.F.flags >> PG_waiters & 1:
            raise PropertyViolation("unlocked, no waiters", f"flags {k.F.flags:#x}")


# A broken unlock: PG_waiters read before PG_locked is cleared, in two steps
BROKEN = Patch("broken-unlock", title="t", summary="test PG_waiters, then clear PG_locked")


@BROKEN.replaces("folio_unlock")
def folio_unlock(k, folio):
    waiters = folio.flags >> PG_waiters & 1
    yield f"folio_unlock: {folio.label} PG_waiters={waiters}"
    _clear(folio, PG_locked)
    if waiters:
        folio_wake_bit(k, folio)
    yield f"folio_unlock: {folio.label} PG_locked cleared"


def test_pg_waiters_protocol_is_certified_and_its_break_loses_a_wakeup():
    sc = LockWait()
    ok = explore(sc, None, [], "dfs", None, 0, trace_dir=None, progress=False)
    assert ok.outcome == "certified", ok.summary()
    bad = explore(sc, None, [BROKEN], "dfs", None, 0, trace_dir=None, progress=False)
    assert bad.outcome == "failure", bad.summary()
    assert bad.failure.kind in HANG_KINDS, bad.failure


def _set_referenced(k, F):
    yield from k.fn.__folio_set_flag(F, PG_referenced)


def _set_waiters_atomic(k, F):
    _set(F, PG_waiters)
    yield "SetPageWaiters(F)"


class FlagsLostUpdate(Scenario):
    slug = "flags-lost-update"
    defaults = {"memory_model": "sc"}
    sc_reason = "page flags are never buffered"

    def setup(self, k):
        F = setup_alloc_page_at(k, 0x800, name="F")
        k.F = F
        k.m.spawn("A", 0, _set_referenced(k, F))
        k.m.spawn("B", 1, _set_waiters_atomic(k, F))

    def check(self, k):
        if not (folio_test_referenced(k.F) and k.F.flags >> PG_waiters & 1):
            raise PropertyViolation("both flags set", f"flags {k.F.flags:#x}: an update lost")


def test_non_atomic_flag_update_can_lose_an_atomic_one():
    ex = explore(FlagsLostUpdate(), None, [], "dfs", None, 0, trace_dir=None, progress=False)
    assert ex.outcome == "failure", ex.summary()
    assert "an update lost" in ex.failure.message
    labels = [r.label for r in ex.recording.steps]
    assert any("load F->flags" in x for x in labels) and any("store F->flags" in x
                                                             for x in labels)
