"""An example family of your own: a lost update on page->flags.

The race (the pattern of several historical mm fixes): a path that believes
it owns a folio updates its flags with a *non-atomic* __SetPageUptodate()
-- a load of page->flags and a store of the modified word -- while another
CPU, which can reach the folio through the LRU, isolates it with an atomic
TestClearPageLRU().  When the isolation lands between the load and the
store, the store writes the stale PG_lru back: the folio is off every LRU
list with PG_lru set, and the next isolation "wins" a folio that is not on
a list (list corruption in the kernel).

Run it (no environment variable needed):

    foliolab explore uptodate-vs-isolate --family examples/flags_race/family.py
    foliolab compare flags_race --family examples/flags_race/family.py \\
        --patch examples/flags_race/atomic_uptodate.py

docs/writing-a-family.md explains every line.
"""

from foliolab.engine.oracles import PropertyViolation
from foliolab.mm.mm_inline import setup_lru_folio
from foliolab.mm.page import folio_test_lru, folio_test_uptodate
from foliolab.mm.page_alloc import setup_alloc_page_at
from foliolab.scenarios import BUG, Expect, Family, Scenario, Variant

F_PFN = 0x800


def owner(k, F):
    """cpu0: marks F uptodate with the non-atomic helper, believing that
    nobody else can see F yet."""
    yield from k.fn.__folio_mark_uptodate(F)


def isolator(k, F):
    """cpu1: reclaim or compaction isolates F from its LRU list."""
    k.isolated = yield from k.fn.folio_isolate_lru(F)


class UptodateVsIsolate(Scenario):
    slug = "uptodate-vs-isolate"
    family = "flags_race"
    title = "non-atomic __SetPageUptodate() races with folio_isolate_lru()"
    actors = "A __SetPageUptodate(F) on cpu0; I folio_isolate_lru(F) on cpu1"
    prop = "an isolated folio has PG_lru clear"
    sc_reason = "page->flags is updated by plain or locked accesses, never buffered"
    defaults = {"memory_model": "sc"}
    needs = {"ncpus": 2}
    expected = {"v0": Expect(BUG, kinds=("property",))}

    def setup(self, k):
        F = setup_alloc_page_at(k, F_PFN, name="F")
        setup_lru_folio(k, F)
        k.F = F
        k.isolated = False
        k.m.spawn("A", 0, owner(k, F))
        k.m.spawn("I", 1, isolator(k, F))

    def check(self, k):
        F = k.F
        if not folio_test_uptodate(F):
            raise PropertyViolation("PG_uptodate is set", f"{F.label}: PG_uptodate lost")
        if k.isolated and folio_test_lru(F):
            raise PropertyViolation(self.prop,
                                    f"{F.label} isolated by I, but PG_lru is set again: "
                                    f"A's non-atomic store wrote back the flags it had "
                                    f"loaded before the isolation")

    def watch(self, k):
        return {"F flags": "|".join(n for n, t in (("lru", folio_test_lru(k.F)),
                                                    ("uptodate", folio_test_uptodate(k.F)))
                                   if t) or "0"}


FAMILY = Family(
    name="flags_race",
    title="example: a lost update on page->flags",
    seed="example",
    variants={"v0": Variant("v0", (), "the plain model: __SetPageUptodate is non-atomic")},
    scenarios=[UptodateVsIsolate()],
)
