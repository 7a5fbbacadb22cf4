"""Mutants: lru_add_drain_all() with one barrier of the generation shortcut
removed.

Not debated designs: deliberately broken kernels that check the model can
see why the barriers are there (the swap.c comment of 6446a5131e24, v5.10).

* no-mb-before-gen-load drops the smp_mb() at (A): CPU x's batch store may
  still sit in its store buffer when x loads lru_drain_gen, so a drainer z
  that bumped the generation may read x's counter as 0 and skip x, while x
  exits at the shortcut (C) -- x's folios stay batched.
* no-mb-after-gen-bump drops the smp_mb() at (D): z may read x's counter
  before its generation store is visible, so x loads the old generation,
  then finds it changed under the mutex and exits -- again undrained.

The model is x86-TSO, so the smp_load_acquire at (B) has no observable
role here (it matters on arm64).
"""

from __future__ import annotations

from ..engine.kernel import Patch
from ..mm.swap import do_lru_add_drain_all

NO_MB_A = Patch(
    "no-mb-before-gen-load", title="(mutant) lru_add_drain_all: drop smp_mb() before loading lru_drain_gen",
    summary="removes barrier (A) of the generation shortcut")
NO_MB_D = Patch(
    "no-mb-after-gen-bump", title="(mutant) lru_add_drain_all: drop smp_mb() after bumping lru_drain_gen",
    summary="removes barrier (D) of the generation shortcut")
PATCHES = (NO_MB_A, NO_MB_D)


@NO_MB_A.replaces("lru_add_drain_all")
def lru_add_drain_all_no_mb_a(k):
    yield from do_lru_add_drain_all(k, mb_before_gen_load=False)


@NO_MB_D.replaces("lru_add_drain_all")
def lru_add_drain_all_no_mb_d(k):
    yield from do_lru_add_drain_all(k, mb_after_gen_bump=False)
