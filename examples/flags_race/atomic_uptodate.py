"""The fix for examples/flags_race: mark the folio uptodate with the atomic
bitop (SetPageUptodate: smp_wmb() and set_bit(), a locked instruction, one
step), as a folio another CPU can reach requires.

    foliolab compare flags_race --family examples/flags_race/family.py \\
        --patch examples/flags_race/atomic_uptodate.py
"""

from foliolab.engine.kernel import Patch
from foliolab.mm.page import folio_set_uptodate

PATCH = Patch("atomic-uptodate",
              title="mm: use SetPageUptodate() on a folio other CPUs can reach",
              summary="the atomic set_bit() instead of __set_bit() on page->flags")


@PATCH.replaces("__folio_mark_uptodate")
def __folio_mark_uptodate(k, folio):
    folio_set_uptodate(folio)
    yield f"SetPageUptodate({folio.label})"
