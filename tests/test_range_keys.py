"""Blocks of struct pages in footprints (engine/footprint.py: range scans).

A scan of a whole block of pfns declares the block's scan key, a write of a
whole block its block key, scan key and summary write, instead of one key
per page; every page access declares its block's keys beside the page's.
The reduction must see the same dependencies as with one key per page: the
generated tests here compare, on steps over the pages of two blocks, the
conflicts (Event.conflicts), the happens-before and races of the race
tracker (vector clocks, races, pending races, undo) and the retry watches
of the summarised footprints with those of the page-by-page ones.  The
footprint checker must catch a page write without its block's summary
write and a scan that drops its block keys (tests below, on a real cell).
"""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from foliolab.engine import footprint as F
from foliolab.engine.footprint import Event, page_key
from foliolab.engine.retry import RetryWatch, watch_step
from foliolab.explore.dpor import RaceTracker

B = 1 << F.BLOCK_ORDER
PFNS = [2 * B, 2 * B + 1, 3 * B - 1, 3 * B, 3 * B + 7, 4 * B - 1]
RANGES = [(2 * B, 3 * B), (3 * B, 4 * B), (2 * B, 4 * B),          # whole blocks
          (2 * B + 1, 3 * B), (3 * B - 1, 3 * B + 1), (2 * B, 3 * B + 8),
          (2 * B + 1, 4 * B - 1), (3 * B + 7, 3 * B + 8)]
OTHER = [2, 4]                    # ordinary keys of other objects

access = st.one_of(
    st.tuples(st.sampled_from("rw"), st.sampled_from(PFNS)),
    st.tuples(st.sampled_from("RW"), st.sampled_from(RANGES)).map(lambda a: (a[0], *a[1])),
    st.tuples(st.sampled_from("xy"), st.sampled_from(OTHER)),
)
step = st.tuples(st.integers(0, 2), st.lists(access, min_size=1, max_size=3))


def declared(accesses):
    """The raw (reads, writes) lists of a step, as the model declares them."""
    r, w = [], []
    for a in accesses:
        kind = a[0]
        if kind == "r":
            F.page_read_keys(r, a[1])
        elif kind == "w":
            F.page_write_keys(r, w, a[1])
        elif kind == "R":
            F.pfns_read_keys(r, a[1], a[2])
        elif kind == "W":
            F.pfns_write_keys(r, w, a[1], a[2])
        elif kind == "x":
            r.append(a[1])
        else:
            w.append(a[1])
    return r, w


def per_page(accesses):
    """The same step with one key per page."""
    r, w = [], []
    for a in accesses:
        kind = a[0]
        if kind in "rw":
            (r if kind == "r" else w).append(page_key(a[1]))
        elif kind in "RW":
            (r if kind == "R" else w).extend(page_key(p) for p in range(a[1], a[2]))
        else:
            (r if kind == "x" else w).append(a[1])
    return r, w


def event(tid, rw):
    """As Systematic._on_event builds it: reads exclude the keys written."""
    r, w = rw
    wset = set(w)
    return Event(tid, set(r) - wset, wset)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(step, step)
def test_summarised_steps_conflict_as_page_by_page(a, b):
    ea, eb = event(0, declared(a[1])), event(1, declared(b[1]))
    pa, pb = event(0, per_page(a[1])), event(1, per_page(b[1]))
    assert ea.conflicts(eb) == pa.conflicts(pb) == eb.conflicts(ea)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(step, min_size=1, max_size=8), st.integers(0, 8), step)
def test_the_race_tracker_sees_the_same_trace(steps, cut, pending):
    """Vector clocks, races and pending races of the summarised footprints
    are those of the page-by-page ones; undoing a suffix and running it
    again gives them back (the undo log of the summary writes)."""
    def run(expand):
        tr = RaceTracker(3)
        races = [sorted(tr.push(event(tid, expand(acc)), False, i))
                 for i, (tid, acc) in enumerate(steps)]
        vcs = [list(vc) for vc in tr.vc]
        if cut < len(steps):
            tr.truncate(cut)
            del races[cut:]
            for i, (tid, acc) in enumerate(steps[cut:], cut):
                races.append(sorted(tr.push(event(tid, expand(acc)), False, i)))
            assert tr.vc == vcs
        # event_races names each key's last steps; a scan's read stays
        # among them after a write of one page of its block (the summary
        # write cannot end it), where the page's key ends it: compare each
        # task's latest, the direct ones (no other's step after them), as
        # push's races are
        tid, acc = pending
        latest = {}
        for j in tr.event_races(tid, event(tid, expand(acc))):
            latest[tr.tid[j]] = max(j, latest.get(tr.tid[j], -1))
        direct = sorted(j for q, j in latest.items() if not any(
            q2 != q and tr.vc[j2][q] >= tr.seq[j] for q2, j2 in latest.items()))
        return tr.vc, races, direct

    assert run(declared) == run(per_page)


class _PagesOnly(RaceTracker):
    """The race tracker as it was before blocks: no weak candidates."""

    def _candidates(self, ev, p):
        cand, _weak = super()._candidates(ev, p)
        return cand, ()


LOCK = 6


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(st.tuples(step, st.booleans(), st.booleans(),
                          st.sampled_from([(), (0,), (1,), (2,)])), min_size=1, max_size=8))
@example([((1, [("w", 2 * B)]), True, False, ()),      # t1 takes the lock, writes a page
          ((2, [("R", 2 * B, 3 * B)]), False, False, ()),   # t2 scans the block
          ((1, [("w", 3 * B - 1)]), False, False, ()),      # t1 writes another page
          ((0, [("w", 3 * B - 1)]), True, False, ())])      # t0 takes the lock, writes it
def test_with_locks_and_wake_ups_no_race_is_lost(steps):
    """Steps that take and release a spinlock and wake tasks: the same vector
    clocks, and every race the page-by-page footprints find on the tracker
    without weak candidates is found (a read of a block that outlives a
    write of one of its pages must not hide a lock's acquisition)."""
    def run(tr, expand):
        out = []
        for i, ((tid, acc), acq, rel, woke) in enumerate(steps):
            r, w = expand(acc)
            if acq or rel:
                w = w + [LOCK]
            wset = set(w)
            ev = Event(tid, set(r) - wset, wset, False, LOCK if acq else None,
                       tuple(q for q in woke if q != tid))
            out.append({(j, p) for j, p, _vc in tr.push(ev, False, i)})
        return tr.vc, out

    vs, rs = run(RaceTracker(3), declared)
    vp, rp = run(_PagesOnly(3), per_page)
    assert vs == vp
    for mine, theirs in zip(rs, rp):
        assert mine >= theirs


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.lists(step, min_size=1, max_size=8))
def test_retry_watches_change_as_page_by_page(steps):
    """A watch of task 0's attempt (engine/retry.py) is changed by the same
    steps of other tasks, and its decision step (it reads the watch's keys)
    conflicts with the same steps."""
    class T:
        def __init__(self, tid):
            self.tid = tid

    ws = {(0, "s"): RetryWatch(0)}
    wp = {(0, "s"): RetryWatch(0)}
    for tid, acc in steps:
        r, w = declared(acc)
        watch_step(ws, T(tid), r, w, [], [])
        r, w = per_page(acc)
        watch_step(wp, T(tid), r, w, [], [])
        assert ws[(0, "s")].changed == wp[(0, "s")].changed
    ks = ws[(0, "s")].keys
    decide_s = Event(0, {k for k in ks if k < F.SUMMARY}, set())   # retry_unchanged
    decide_p = Event(0, set(wp[(0, "s")].keys), set())
    for tid, acc in steps:
        if tid:
            assert decide_s.conflicts(event(tid, declared(acc))) == \
                decide_p.conflicts(event(tid, per_page(acc)))


def test_a_whole_block_is_a_few_keys():
    r = []
    F.pfns_read_keys(r, 2 * B, 4 * B)
    assert r == [F.block_scan_key(2), F.block_scan_key(3)]
    r, w = [], []
    F.pfns_write_keys(r, w, 2 * B, 3 * B)
    assert sorted(w) == [F.block_key(2), F.summary_key(2)]
    assert r == [F.block_scan_key(2)]
    # a partial block: its pages, with the block key
    r = []
    F.pfns_read_keys(r, 2 * B + 1, 3 * B + 2)
    assert set(r) == {page_key(p) for p in range(2 * B + 1, 3 * B)} | {
        F.block_key(2), page_key(3 * B), page_key(3 * B + 1), F.block_key(3)}
    assert F.is_summary(F.summary_key(5)) and not F.is_summary(F.block_scan_key(5))
    assert F.summary_key(5) - F.SUMMARY == F.block_scan_key(5)


# ------------------------------------------------------ the footprint checker
def _check_cell(budget_random=5, budget_dfs=10):
    from foliolab.explore import explore
    from foliolab.explore.fpcheck import FootprintChecker
    from foliolab.explore.registry import find_family, variant_patches
    fam = find_family("lru_cache")
    sc = fam.scenario("readd-after-drain")
    patches = variant_patches(fam.variants["lru-cache-disable"])
    with FootprintChecker() as chk:
        for strategy, budget in (("random", budget_random), ("dfs", budget_dfs)):
            explore(sc, "lru-cache-disable", patches, strategy, budget, 1, trace_dir=None,
                    progress=False, shrink=False, record=False, setup=chk.prepare,
                    family=fam.name, preemptions=1)
    return chk


def test_the_cell_declares_its_pages_by_blocks():
    chk = _check_cell()
    assert chk.steps_checked > 100
    assert not chk.violations, chk.report()


def test_the_checker_catches_a_page_write_without_its_summary_write(monkeypatch):
    """An atomic page op that declares the page's key but not its block's
    summary write (and block key): a scan of the block would not see it."""
    from foliolab.mm import page as P

    def _rmw(page):
        w = page.k.m.fpw
        if w is not None:
            w.append(page_key(page.pfn))

    monkeypatch.setattr(P, "_rmw", _rmw)
    chk = _check_cell(2, 2)
    assert any(v.write and F.is_summary(v.key) and "without its block's summary write"
               in v.declared for v in chk.violations), chk.report()


def test_the_checker_catches_a_scan_without_its_scan_key(monkeypatch):
    """move_freepages() over a whole pageblock declaring only the partial
    blocks at its ends: its reads of the block's pages are undeclared."""
    from foliolab.mm import page as P

    def pfns_read_keys(r, start, end):
        lo, hi = -(-start >> F.BLOCK_ORDER), end >> F.BLOCK_ORDER
        if lo < hi:
            F.pfns_read_keys(r, start, lo << F.BLOCK_ORDER)
            F.pfns_read_keys(r, hi << F.BLOCK_ORDER, end)
        else:
            F.pfns_read_keys(r, start, end)

    monkeypatch.setattr(P, "pfns_read_keys", pfns_read_keys)
    chk = _check_cell()
    assert any(not v.write and "move_freepages" in v.what and "scan key" in v.declared
               for v in chk.violations), chk.report()


def test_the_checker_catches_a_block_write_without_its_summary_write(monkeypatch):
    """split_map_pages() writing whole pageblocks without their summary
    writes: a scan of the block would miss the pages it changed."""
    from foliolab.mm import page as P

    def pfns_write_keys(r, w, start, end):
        n = len(w)
        F.pfns_write_keys(r, w, start, end)
        w[n:] = [k for k in w[n:] if not F.is_summary(k)]

    monkeypatch.setattr(P, "pfns_write_keys", pfns_write_keys)
    chk = _check_cell()
    assert any(v.write and "split_map_pages" in v.what and F.is_summary(v.key)
               for v in chk.violations), chk.report()
