"""The machine layer: CPUs, tasks, preemption, synchronisation, oracles.

Knows nothing about memory management.
"""

from .machine import (  # noqa: F401
    BLOCKED, DONE, PREEMPT_FULL, PREEMPT_MODELS, PREEMPT_NONE,
    PREEMPT_VOLUNTARY, RUNNABLE, SPINNING, Machine, RunResult, Task,
)
from .oracles import KernelFailure  # noqa: F401
