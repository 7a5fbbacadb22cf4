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

* no-acquire-gen-load loads lru_drain_gen at (B) with READ_ONCE() instead
  of smp_load_acquire().  Under TSO the two are the same instruction.  LKMM
  does not need (B) for the drain guarantee either, and the lkmm model
  agrees (the mutant stays safe; tests/test_lkmm.py runs it beside the (A)
  mutant, which fails within the same budget): without the acquire the
  load of this_gen may be satisfied *after* mutex_lock(), never before
  smp_mb() (A); a later load of the same word can only return the same or
  a newer generation (coherence: CoRR against the load at (C)), and a newer
  this_gen makes x take the mutex and drain every CPU itself.  What (B)
  orders is the load against the critical section -- useful for the
  comment's reasoning, not for the outcome.  (The model runs model code
  in program order, so it could not show a failure that needs the load to
  move; the argument above is why there is none to show.)
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
NO_ACQ_B = Patch(
    "no-acquire-gen-load", title="(mutant) lru_add_drain_all: READ_ONCE() instead of smp_load_acquire() at (B)",
    summary="removes barrier (B) of the generation shortcut")
PATCHES = (NO_MB_A, NO_MB_D, NO_ACQ_B)


@NO_MB_A.replaces("lru_add_drain_all")
def lru_add_drain_all_no_mb_a(k):
    yield from do_lru_add_drain_all(k, mb_before_gen_load=False)


@NO_MB_D.replaces("lru_add_drain_all")
def lru_add_drain_all_no_mb_d(k):
    yield from do_lru_add_drain_all(k, mb_after_gen_bump=False)


@NO_ACQ_B.replaces("lru_add_drain_all")
def lru_add_drain_all_no_acq_b(k):
    yield from do_lru_add_drain_all(k, acquire_gen_load=False)
