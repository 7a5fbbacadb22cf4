"""What a scenario and a scenario family are.

A :class:`Scenario` builds a fresh kernel state and the tasks that race, states
the property it checks, and gives its expected outcome under every variant of
its family (the fidelity table that the test suite checks).  A
:class:`Family` groups the scenarios of one seed thread with the variants
(baseline + ordered patch lists) debated in it.

``make_run(scenario, variant, settings)`` is the single place where a run is
put together: machine, kernel (baseline + the variant's patches), then the
scenario's ``setup``.  Explorers call it once per schedule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..engine.machine import Machine

# Machine settings every scenario accepts (defaults; scenarios override).
MACHINE_DEFAULTS = {
    "ncpus": 2,
    "preempt": "full",
    # TSO, the strongest memory model the engine has: a certificate under
    # SC would silently assume that no store ever waits in a store buffer.
    "memory_model": "tso",
    "fair_bound": 64,
    "max_steps": 20_000,
    "hung_task_steps": 3_000,
}

SETTING_TYPES = {
    "ncpus": int, "preempt": str, "memory_model": str, "fair_bound": int,
    "max_steps": int, "hung_task_steps": int, "pagevec_size": int,
    "pageblock_order": int, "zone_pages": int,
}

BUG, SAFE, HANG, NA = "bug", "safe", "hang", "n/a"


class SettingsError(ValueError):
    """Impossible or unknown settings."""


@dataclass(frozen=True)
class Expect:
    """The expected outcome of a scenario under one variant.

    ``outcome``: BUG (the explorer must find a failure whose kind is in
    ``kinds``), HANG (a hung-task/deadlock/livelock failure), SAFE (no failure
    within the bound: ``preemptions`` for the DFS certificate), NA (the
    scenario does not apply).  ``witness``: names of scenario witnesses that
    some explored schedule must reach (e.g. a transient -EAGAIN).
    ``budget``: a larger search budget for a rare failure (the failure rate
    the model measured is in the scenario's docstring).
    """

    outcome: str
    kinds: tuple = ()
    preemptions: int = 2
    witness: tuple = ()
    note: str = ""
    budget: int = 0         # schedules per search strategy, if more than the default


@dataclass
class Variant:
    name: str
    patches: tuple          # patch names, in order
    summary: str = ""
    mutant: bool = False    # a deliberately broken kernel (a barrier removed ...)


class Scenario:
    """Subclass and fill in.  ``setup(k)`` builds the state and spawns the
    tasks on ``k.m``; ``check(k)`` runs once every actor has finished and
    raises PropertyViolation if the property fails; ``watch(k)`` returns the
    key state shown in the interleaving table ({column: text});
    ``witnesses`` maps a name to a predicate ``f(k) -> bool`` evaluated at the
    end of a run (coverage: did this schedule show the interesting event?)."""

    slug = ""
    family = ""
    title = ""
    actors = ""             # one line: who runs where
    prop = ""               # the property, in words
    defaults: dict = {}
    expected: dict = {}     # variant name -> Expect
    witnesses: dict = {}
    # The model code this scenario runs declares complete footprints (checked
    # by explore/fpcheck.py in the tests): partial-order reduction may prune
    # its schedules.  False (a user's family, by default): every step is
    # treated as dependent on every other one.
    footprints = False
    # A scenario that defaults to memory_model=sc says why SC is enough (or
    # that SC is the point, as in a litmus test's SC column); checked by the
    # tests for every scenario of every family.
    sc_reason = ""
    # The kernel era the scenario runs (foliolab/patches/eras.py): set from
    # its family's ``era``; None runs the plain baseline with model names.
    era = None

    def setup(self, k):
        raise NotImplementedError

    def check(self, k):
        pass

    def watch(self, k):
        return {}

    def expect(self, variant):
        return self.expected.get(variant, Expect(NA))

    def settings(self, overrides=None):
        s = dict(MACHINE_DEFAULTS)
        s.update(self.defaults)
        if overrides:
            s.update(overrides)
        return s

    def __repr__(self):
        return f"<Scenario {self.slug}>"


@dataclass
class Family:
    name: str
    title: str
    seed: str
    variants: dict          # name -> Variant, in table order
    scenarios: list = field(default_factory=list)
    era: str = None         # the baseline's kernel era (patches/eras.py)

    def __post_init__(self):
        for s in self.scenarios:
            if s.era is None and self.era is not None:
                s.era = self.era

    def scenario(self, slug):
        for s in self.scenarios:
            if s.slug == slug:
                return s
        return None


def validate_settings(s):
    for key, val in s.items():
        typ = SETTING_TYPES.get(key)
        if typ is not None and not isinstance(val, typ):
            raise SettingsError(f"setting {key}={val!r}: expected {typ.__name__}")
    if s["ncpus"] < 1 or s["ncpus"] > 64:
        raise SettingsError(f"ncpus={s['ncpus']}: must be 1..64")
    if s.get("pagevec_size", 15) < 1:
        raise SettingsError(f"pagevec_size={s['pagevec_size']}: must be at least 1")
    if s["fair_bound"] < 0:
        raise SettingsError(f"fair_bound={s['fair_bound']}: must be 0 (off) or more")
    for key in ("max_steps", "hung_task_steps"):
        if s[key] < 1:
            raise SettingsError(f"{key}={s[key]}: must be positive")


def make_machine(settings):
    """The machine a scenario's settings describe (validated)."""
    validate_settings(settings)
    try:
        return Machine(settings["ncpus"], preempt=settings["preempt"],
                       memory_model=settings["memory_model"],
                       fair_bound=settings["fair_bound"],
                       max_steps=settings["max_steps"],
                       hung_task_steps=settings["hung_task_steps"])
    except ValueError as e:
        raise SettingsError(str(e)) from None


def start_scenario(scenario, k):
    """Build the scenario's state on a booted kernel; its check runs once
    every task has finished."""
    k.scenario = scenario
    scenario.setup(k)
    k.m.quiesce_checks.append(lambda: scenario.check(k))
    return k


def make_run(scenario, patches, settings):
    """A fresh machine + kernel + scenario state, ready to run.

    ``patches``: Patch objects in order (the variant's, then any user patch).
    The scenario's era patches come first (``k.era`` names the era).
    Returns the kernel ``k``; ``k.m`` is the machine.
    """
    from ..mm.kernel import build_kernel
    m = make_machine(settings)
    era = None
    if scenario.era is not None:
        from ..patches.eras import get_era
        era = get_era(scenario.era)
        patches = era.patch_objects() + list(patches)
    k = build_kernel(m, settings, patches)
    k.era = era
    return start_scenario(scenario, k)
