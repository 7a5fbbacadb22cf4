"""The explorer: strategies (random walk, PCT, preemption-bounded DFS),
replay, counterexample shrinking, the nondeterminism check, traces and the
verdict of a scenario under a variant.

Python API (what the CLI uses)::

    from foliolab.explore import explore, replay, verdict, find_scenario
    fam, sc = find_scenario("readd-after-drain")
    ex = explore(sc, "v0", variant_patches(fam.variants["v0"]), "pct",
                 budget=500, seed=7)
    ex.outcome, ex.failure, ex.trace_path, ex.shrunk, ex.recording
"""

from .explorer import OUTCOMES, Exploration, explore, wilson  # noqa: F401
from .registry import (  # noqa: F401
    builder, default_variant, families, find_family, find_scenario,
    find_variant, register_family, unregister_family, variant_patches,
)
from .replay import Replay, replay  # noqa: F401
from .run import (  # noqa: F401
    HANG_KINDS, FailureInfo, ModelError, NondeterminismError, Recording, StepRecord,
    call_chain, failure_info, replay_schedule, run_schedule, strict_choose,
)
from .shrink import Shrunk, shrink  # noqa: F401
from .strategies import DFS, PCT, STRATEGIES, RandomWalk, Strategy, make_strategy  # noqa: F401
from .trace import SCHEMA, TraceError, load_trace, make_trace, write_trace  # noqa: F401
from .verdict import Verdict, verdict  # noqa: F401
