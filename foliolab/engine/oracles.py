"""Failure oracles: what the machine reports when the model misbehaves.

Every oracle raises a subclass of :class:`KernelFailure`.  The engine catches
it at the step that raised it, stops the run and records it; explorers never
see a Python traceback for a kernel failure.  ``kind`` is a stable short name
used in traces and tests, ``message`` reads like the kernel's own report.
"""

from __future__ import annotations


class KernelFailure(Exception):
    """Base class: a failure of the modelled kernel (not of foliolab)."""

    kind = "failure"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class KernelBug(KernelFailure):
    """BUG_ON() / VM_BUG_ON*() fired."""

    kind = "BUG"


class BadPageState(KernelFailure):
    """bad_page(): a page freed or allocated in an impossible state."""

    kind = "bad-page"


class ListCorruption(KernelFailure):
    """CONFIG_DEBUG_LIST: list_add/list_del on an inconsistent list."""

    kind = "list-corruption"


class LockdepSplat(KernelFailure):
    """lockdep: lock not held, recursive locking or an order cycle."""

    kind = "lockdep"


class RefcountUnderflow(KernelFailure):
    """A reference count dropped below zero (or a put on a free page)."""

    kind = "refcount"


class SchedulingWhileAtomic(KernelFailure):
    """A task slept inside a preempt- or irq-disabled region."""

    kind = "sleep-in-atomic"


class ObjectDebug(KernelFailure):
    """CONFIG_DEBUG_OBJECTS: e.g. INIT_WORK on an active work item."""

    kind = "debugobjects"


class Deadlock(KernelFailure):
    """Every task that must finish is blocked and nothing can run."""

    kind = "deadlock"


class HungTask(KernelFailure):
    """khungtaskd: a task blocked uninterruptibly for too long."""

    kind = "hung-task"


class Livelock(KernelFailure):
    """Tasks keep running but the run never completes within the step bound."""

    kind = "livelock"


class PropertyViolation(KernelFailure):
    """A scenario-level property failed (the allocation failed, ...)."""

    kind = "property"

    def __init__(self, prop: str, message: str):
        super().__init__(message)
        self.prop = prop


class InvariantViolation(KernelFailure):
    """A per-step invariant (Machine.add_step_check) does not hold between
    two steps: the state another CPU could observe is inconsistent."""

    kind = "invariant"

    def __init__(self, invariant: str, message: str):
        super().__init__(message)
        self.invariant = invariant


def BUG_ON(cond, msg: str = "BUG_ON") -> None:
    if cond:
        raise KernelBug(f"kernel BUG: {msg}")


def VM_BUG_ON(cond, msg: str = "VM_BUG_ON") -> None:
    if cond:
        raise KernelBug(f"kernel BUG: {msg}")


def WARN_ON(cond, msg: str = "WARN_ON") -> None:
    """Warnings are failures too in a model: nothing should ever warn."""
    if cond:
        raise KernelBug(f"WARNING: {msg}")


class StateLeak(KernelFailure):
    """State that must return to its resting value did not (a disable
    without its enable, a reference never dropped)."""

    kind = "leak"
