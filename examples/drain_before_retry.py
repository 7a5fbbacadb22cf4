"""Example of a user's patch: drain every CPU's LRU batches before each
migration retry.

A naive answer to seed 000: when unmap_and_move() returns -EAGAIN, call
lru_add_drain_all() so that the next pass no longer finds a batch
reference.  Try it against the whole family:

    foliolab compare lru_cache --variant v0 --patch examples/drain_before_retry.py

It closes Race A (readd-after-drain) at the price of one drain_all per
failed pass, but not Race B (add-after-drain): a folio skipped by the
isolation scan is never retried, so no migration pass runs for it.
"""

from foliolab.engine.kernel import Patch
from foliolab.mm.errno import EAGAIN

PATCH = Patch(
    "drain-before-retry",
    title="mm/migrate: drain the per-CPU LRU batches before retrying a busy folio",
    summary="lru_add_drain_all() after every -EAGAIN of unmap_and_move()",
)


@PATCH.wraps("unmap_and_move")
def unmap_and_move(k, orig, *args):
    rc = yield from orig(*args)
    if rc == -EAGAIN:
        yield from k.fn.lru_add_drain_all()
    return rc
