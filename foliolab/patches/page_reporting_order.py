"""The reporting order becomes a parameter (v5.14+): the page_reporting.
page_reporting_order module parameter and the driver's ``prdev->order``
(default pageblock_order; 0 means "use the default").  A smaller order means
more, smaller blocks in flight per report, which widens R1 for smaller
contiguous ranges.  Setting: ``page_reporting_order`` (when given).
"""

from __future__ import annotations

from ..engine.kernel import Patch

PATCH = Patch(
    "page-reporting-order",
    title="mm/page_reporting: allow driver to specify reporting order / "
          "page_reporting_order module parameter",
    commit=None, date="2021", version="v5.14",   # commit id not checked
    summary="reporting order from the driver or the page_reporting_order parameter",
)


@PATCH.wraps("page_reporting_register")
def page_reporting_register(k, orig, prdev):
    """page_reporting_register() (v5.14+): a driver order of 0 takes the
    module parameter, itself pageblock_order by default."""
    order = k.settings.get("page_reporting_order")
    if order is not None:
        prdev.order = order
    return orig(prdev)
