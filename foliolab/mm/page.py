"""struct page / struct folio and their flags.

Models include/linux/mm_types.h and include/linux/page-flags.h (v5.10-v6.x;
folio names as in v5.16+).  A folio is its head page: ``Page`` serves as
both, as the kernel's overlay does.  Pages are created lazily by
``pfn_to_page()``; a free buddy block is represented by its head page only,
and the order-0 pages of a block split by split_map_pages() by a range
record until first accessed (kernel.MemMap).

Fields keep the kernel's names and conventions: ``_refcount`` (0 when free),
``_mapcount`` (-1 when unmapped), ``private`` (the buddy order while
PageBuddy), ``mapping``/``index``, ``memcg_data``.

Flag helpers are plain functions (no interleaving point): the model code
around them yields where another CPU could observe the change.  Atomic bit
operations (set_bit, test_and_clear_bit ...) drain the store buffer under TSO
as x86 locked instructions do.
"""

from __future__ import annotations

from ..engine.footprint import BLOCK_BASE, BLOCK_ORDER, pfns_read_keys, pfns_write_keys, summary_key
from ..engine.kernel import kfunc
from ..engine.memory import locked_op
from ..engine.oracles import BadPageState, KernelBug, RefcountUnderflow

# enum pageflags (order as in page-flags.h, v5.12)
PG_locked = 0
PG_referenced = 1
PG_uptodate = 2
PG_dirty = 3
PG_lru = 4
PG_active = 5
PG_workingset = 6
PG_waiters = 7
PG_error = 8
PG_slab = 9
PG_owner_priv_1 = 10
PG_arch_1 = 11
PG_reserved = 12
PG_private = 13
PG_private_2 = 14
PG_writeback = 15
PG_head = 16
PG_mappedtodisk = 17
PG_reclaim = 18
PG_swapbacked = 19
PG_unevictable = 20
PG_mlocked = 21
PG_isolated = 22
PG_reported = PG_uptodate      # free page reporting reuses PG_uptodate on buddy pages

PAGEFLAG_NAMES = {
    PG_locked: "locked", PG_referenced: "referenced", PG_uptodate: "uptodate",
    PG_dirty: "dirty", PG_lru: "lru", PG_active: "active",
    PG_workingset: "workingset", PG_waiters: "waiters", PG_error: "error",
    PG_slab: "slab", PG_owner_priv_1: "owner_priv_1", PG_arch_1: "arch_1",
    PG_reserved: "reserved", PG_private: "private", PG_private_2: "private_2",
    PG_writeback: "writeback", PG_head: "head", PG_mappedtodisk: "mappedtodisk",
    PG_reclaim: "reclaim", PG_swapbacked: "swapbacked",
    PG_unevictable: "unevictable", PG_mlocked: "mlocked", PG_isolated: "isolated",
}

# page_type (PageBuddy is a page type, not a flag, since v4.18)
PGTY_buddy = 1

# Flags that must be clear when a page is freed (PAGE_FLAGS_CHECK_AT_FREE)
PAGE_FLAGS_CHECK_AT_FREE = (
    (1 << PG_lru) | (1 << PG_locked) | (1 << PG_private) | (1 << PG_private_2)
    | (1 << PG_writeback) | (1 << PG_reserved) | (1 << PG_slab)
    | (1 << PG_active) | (1 << PG_unevictable) | (1 << PG_mlocked)
)
# Flags that must be clear when a page is allocated (PAGE_FLAGS_CHECK_AT_PREP)
PAGE_FLAGS_CHECK_AT_PREP = PAGE_FLAGS_CHECK_AT_FREE | (1 << PG_dirty) | (1 << PG_referenced)

GUP_PIN_COUNTING_BIAS = 1024


class Page:
    """struct page (and struct folio, its head-page view).

    Fields default at class level, so materialising a page (alloc_contig of
    a whole CMA area creates a thousand of them) costs two stores.
    """

    flags = 0
    _refcount = 0
    _mapcount = -1
    mapping = None
    index = 0
    private = 0               # the buddy order while PageBuddy
    page_type = 0
    lru = None                # the LRU or free list the page is on (list debugging)
    compound_head = None      # head page, for a tail page
    order = 0                 # folio order (head pages)
    memcg_data = None
    _pincount = 0
    mlock_count = 0           # folio->mlock_count (v5.18+), kept while PG_unevictable
    lru_gen = -1              # MGLRU generation (LRU_GEN_MASK bits - 1), -1: none
    name = None               # a scenario's name for the folio ("F")
    waitq = None              # page wait queue (lazily created)
    pvmw = ()                 # reverse map: [(mm, address)] mapping this folio

    def __init__(self, k, pfn):
        self.k = k
        self.pfn = pfn

    def __repr__(self):
        nm = f" {self.name}" if self.name else ""
        return f"<folio{nm} pfn=0x{self.pfn:x} ref={self._refcount} {dump_flags(self)}>"

    @property
    def label(self):
        return self.name or f"pfn 0x{self.pfn:x}"


Folio = Page


def dump_flags(page):
    names = [n for b, n in PAGEFLAG_NAMES.items() if page.flags >> b & 1]
    if page.page_type & PGTY_buddy:
        names.append("buddy")
    return "|".join(names) or "0"


# ----------------------------------------------------------- flag accessors
# Every accessor declares its footprint (engine/footprint.py) through
# page_fp_read / page_fp_write: one key per struct page, (pfn << 1) | 1, and
# its block's keys: a read reads the block key, a write writes the block's
# summary key and reads the block key.  (Called only while a systematic
# search records footprints: the test of m.fpr / m.fpw stays inline.)
_BLOCK = BLOCK_BASE
_ORDER = BLOCK_ORDER
_SUMW = summary_key(0)


def _test(page, bit):
    if page.k.m.fpr is not None:
        page_fp_read(page)
    return page.flags >> bit & 1 == 1


def _rmw(page):
    """An atomic bitop or refcount operation: a locked instruction."""
    m = page.k.m
    if m.tso:
        locked_op(m)
    if m.fpw is not None:
        page_fp_write(page)


def _set(page, bit):
    _rmw(page)
    page.flags |= 1 << bit


def _clear(page, bit):
    _rmw(page)
    page.flags &= ~(1 << bit)


def _test_and_set(page, bit):
    _rmw(page)
    old = page.flags >> bit & 1
    page.flags |= 1 << bit
    return old == 1


def _test_and_clear(page, bit):
    _rmw(page)
    old = page.flags >> bit & 1
    page.flags &= ~(1 << bit)
    return old == 1


def _nonatomic_set(page, bit):
    page_fp_write(page)
    page.flags |= 1 << bit


def _nonatomic_clear(page, bit):
    page_fp_write(page)
    page.flags &= ~(1 << bit)


# The non-atomic flag updates as a CPU runs them: __set_bit()/__clear_bit()
# on page->flags is a plain load of the word and a plain store of the
# modified word (page-flags.h __SETPAGEFLAG/__CLEARPAGEFLAG, __PAGEFLAG).
# Another CPU's atomic set_bit()/clear_bit() of *another* flag of the same
# word between the two is lost when the store lands: the kernel uses them
# only on pages no other CPU can reach, and a race is exactly a page that
# another CPU could reach after all.  (The instant _nonatomic_set/_clear
# above are kept for the paths of the model where that holds.)
@kfunc(name="__folio_set_flag")
def __folio_set_flag(k, folio, bit):
    """__SetPageX()/__folio_set_X() (v5.12 page-flags.h __SETPAGEFLAG):
    ``__set_bit(bit, &page->flags)`` -- a load step, then a store step."""
    yield from _flags_load_store(folio, f"__SetPage{_flag_title(bit)}",
                                 lambda old: old | 1 << bit)


@kfunc(name="__folio_clear_flag")
def __folio_clear_flag(k, folio, bit):
    """__ClearPageX()/__folio_clear_X() (v5.12 page-flags.h __CLEARPAGEFLAG):
    ``__clear_bit(bit, &page->flags)`` -- a load step, then a store step."""
    yield from _flags_load_store(folio, f"__ClearPage{_flag_title(bit)}",
                                 lambda old: old & ~(1 << bit))


def _flags_load_store(folio, what, update):
    """A non-atomic read-modify-write of page->flags: the load is one step,
    the store of ``update(old)`` the next."""
    page_fp_read(folio)
    old = folio.flags
    yield f"{what}({folio.label}): load {folio.label}->flags = {_flags_text(old)}"
    page_fp_write(folio)
    folio.flags = update(old)
    yield f"{what}({folio.label}): store {folio.label}->flags = {_flags_text(folio.flags)}"


@kfunc(name="__folio_set_swapbacked")
def __folio_set_swapbacked(k, folio):
    """__SetPageSwapBacked() (v5.12; __folio_set_swapbacked() since v5.16):
    non-atomic, for a page nobody else can see yet."""
    yield from k.fn.__folio_set_flag(folio, PG_swapbacked)


@kfunc(name="__folio_clear_swapbacked")
def __folio_clear_swapbacked(k, folio):
    """__ClearPageSwapBacked() (v5.12; __folio_clear_swapbacked() since v5.16)."""
    yield from k.fn.__folio_clear_flag(folio, PG_swapbacked)


def _flag_title(bit):
    name = PAGEFLAG_NAMES.get(bit, str(bit))
    return {"swapbacked": "SwapBacked", "lru": "LRU", "mappedtodisk": "MappedToDisk"}.get(
        name, name.replace("_", "").capitalize())


@kfunc(name="__folio_mark_uptodate")
def __folio_mark_uptodate(k, folio):
    """__SetPageUptodate() (v5.12; __folio_mark_uptodate() since v5.16):
    smp_wmb(), then the non-atomic __set_bit() of PG_uptodate -- for a page
    nobody else can see yet."""
    yield from k.fn.__folio_set_flag(folio, PG_uptodate)


def _flags_text(flags):
    return "|".join(n for b, n in PAGEFLAG_NAMES.items() if flags >> b & 1) or "0"


def folio_test_lru(f): return _test(f, PG_lru)
def folio_set_lru(f): _set(f, PG_lru)
def folio_clear_lru(f): _clear(f, PG_lru)
def folio_test_clear_lru(f): return _test_and_clear(f, PG_lru)
def folio_test_active(f): return _test(f, PG_active)
def folio_set_active(f): _set(f, PG_active)
def folio_clear_active(f): _clear(f, PG_active)
def folio_test_clear_active(f): return _test_and_clear(f, PG_active)
def folio_test_referenced(f): return _test(f, PG_referenced)
def folio_set_referenced(f): _set(f, PG_referenced)
def folio_clear_referenced(f): _clear(f, PG_referenced)
def folio_test_workingset(f): return _test(f, PG_workingset)
def folio_set_workingset(f): _set(f, PG_workingset)
def folio_test_unevictable(f): return _test(f, PG_unevictable)
def folio_set_unevictable(f): _set(f, PG_unevictable)
def folio_clear_unevictable(f): _clear(f, PG_unevictable)
def folio_test_mlocked(f): return _test(f, PG_mlocked)
def folio_test_locked(f): return _test(f, PG_locked)
def folio_test_set_locked(f): return _test_and_set(f, PG_locked)
def folio_test_dirty(f): return _test(f, PG_dirty)
def folio_test_writeback(f): return _test(f, PG_writeback)
def folio_test_swapbacked(f): return _test(f, PG_swapbacked)
def folio_set_swapbacked(f): _set(f, PG_swapbacked)
def folio_test_private(f): return _test(f, PG_private)
def folio_test_uptodate(f): return _test(f, PG_uptodate)
def folio_set_uptodate(f): _set(f, PG_uptodate)
def folio_test_reclaim(f): return _test(f, PG_reclaim)
def folio_test_head(f): return _test(f, PG_head)
def folio_test_large(f):
    page_fp_read(f)
    return f.order > 0


def folio_test_anon(f):
    page_fp_read(f)
    return f.mapping is not None and getattr(f.mapping, "anon", False)



def __folio_set_locked(f): _nonatomic_set(f, PG_locked)
def __folio_clear_locked(f): _nonatomic_clear(f, PG_locked)


def PageBuddy(page):
    page_fp_read(page)
    return page.page_type & PGTY_buddy != 0


def __SetPageBuddy(page):
    page_fp_write(page)
    page.page_type |= PGTY_buddy


def __ClearPageBuddy(page):
    page_fp_write(page)
    page.page_type &= ~PGTY_buddy



def PageReported(page): return PageBuddy(page) and _test(page, PG_reported)
def __SetPageReported(page): _nonatomic_set(page, PG_reported)
def __ClearPageReported(page): _nonatomic_clear(page, PG_reported)
def buddy_order(page):
    page_fp_read(page)
    return page.private


def set_buddy_order(page, order):
    page_fp_write(page)
    page.private = order


def folio_nr_pages(f):
    page_fp_read(f)
    return 1 << f.order


def page_folio(page):
    page_fp_read(page)
    return page.compound_head or page


def folio_page(f, n):
    return f.k.pfn_to_page(f.pfn + n)


def folio_pfn(f):
    return f.pfn


# ----------------------------------------------------------------- refcount
def folio_ref_count(f):
    page_fp_read(f)
    return f._refcount


def page_count(page):
    f = page_folio(page)
    page_fp_read(f)
    return f._refcount


def folio_get(f):
    """folio_get(): the caller must already hold a reference."""
    _rmw(f)
    if f._refcount <= 0:
        raise KernelBug(f"kernel BUG: VM_BUG_ON_FOLIO(folio_ref_zero_or_close_to_overflow) "
                        f"on {f.label}: folio_get() of a free folio")
    f._refcount += 1


def folio_ref_add(f, nr):
    _rmw(f)
    f._refcount += nr


def folio_try_get(f):
    """folio_try_get(): speculative reference; fails on a frozen/free folio."""
    _rmw(f)
    if f._refcount == 0:
        return False
    f._refcount += 1
    return True


def folio_ref_freeze(f, count):
    """folio_ref_freeze(): atomically 'count' -> 0, else fail."""
    _rmw(f)
    if f._refcount == count:
        f._refcount = 0
        return True
    return False


def folio_ref_unfreeze(f, count):
    page_fp_write(f)
    f._refcount = count


def folio_put_testzero(f):
    """put_page_testzero(): drop a reference, True when it was the last."""
    _rmw(f)
    if f._refcount <= 0:
        raise RefcountUnderflow(
            f"BUG: Bad page state: VM_BUG_ON_PAGE(page_ref_count(page) == 0) "
            f"on {f.label} (pfn 0x{f.pfn:x}): put of a page with refcount {f._refcount}")
    f._refcount -= 1
    return f._refcount == 0


def folio_mapcount(f):
    page_fp_read(f)
    return f._mapcount + 1


def folio_mapped(f):
    page_fp_read(f)
    return f._mapcount >= 0


def bad_page(page, reason):
    raise BadPageState(
        f"BUG: Bad page state in process: page:{page.label} pfn:0x{page.pfn:x} "
        f"refcount:{page._refcount} mapcount:{page._mapcount + 1} "
        f"flags: {dump_flags(page)} -- {reason}")


# -------------------------------------------------------------- footprints
def page_fp_read(page):
    """Declare a read of ``page``'s fields in the current step (footprints,
    engine/footprint.py)."""
    pfn_fp_read(page.k, page.pfn)


def page_fp_write(page):
    """Declare a write of ``page``'s fields in the current step."""
    m = page.k.m
    w = m.fpw
    if w is not None:
        pfn = page.pfn
        b = pfn >> _ORDER << 1
        w.append((pfn << 1) | 1)
        w.append(_SUMW + b)
        r = m.fpr
        if r is not None:
            r.append(_BLOCK + b)


def pfn_fp_read(k, pfn):
    """Declare a read of the struct page of ``pfn`` (materialised or not: a
    pristine pfn is a page in a free block all the same)."""
    r = k.m.fpr
    if r is not None:
        r.append((pfn << 1) | 1)
        r.append(_BLOCK + (pfn >> _ORDER << 1))


def pfns_fp_read(k, start, end):
    """Declare reads of the struct pages [start, end) (a pfn scan): a whole
    block (``1 << BLOCK_ORDER`` pages, aligned) by its scan key, the pages
    of a partial one one by one (engine/footprint.py)."""
    r = k.m.fpr
    if r is not None and end > start:
        pfns_read_keys(r, start, end)


def pfns_fp_write(k, start, end):
    """Declare writes of the struct pages [start, end): a whole block by its
    block key, scan key and summary write, a partial one page by page."""
    m = k.m
    w = m.fpw
    if w is not None and end > start:
        pfns_write_keys(m.fpr, w, start, end)
