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
    # A retry that would repeat its last attempt is skipped (engine/retry.py):
    # the same behaviours, for every property that does not count attempts.
    # The systematic search turns it on; random walks keep it off.
    "retry_collapse": False,
}

SETTING_TYPES = {
    "ncpus": int, "preempt": str, "memory_model": str, "fair_bound": int,
    "max_steps": int, "hung_task_steps": int, "pagevec_size": int,
    "pageblock_order": int, "zone_pages": int, "retry_collapse": bool,
    "debug_vm": bool,       # CONFIG_DEBUG_VM's lruvec_memcg_debug checks (memcg_lru_lock)
    # thp_split (scenarios/thp_split.py)
    "thp_order": int, "tail_faulters": int, "accesses": int, "head_hold": int,
    "soft_lockup_steps": int, "fault_mode": str,
}

# The valid range of every integer setting, inclusive.  A value outside is
# refused up front (exit 2) rather than found impossible by the model or
# paid for in memory: ``zone_pages`` is bounded by a stated maximum (4 GiB
# of 4 KiB pages), ``pagevec_size`` by the u8 count of a folio_batch, the
# step budgets by what a run can take.
SETTING_RANGES = {
    "ncpus": (1, 64),
    "fair_bound": (0, 1_000_000),          # 0: off
    "max_steps": (1, 1_000_000_000),
    "hung_task_steps": (1, 1_000_000_000),
    "pagevec_size": (1, 255),
    "pageblock_order": (1, 10),            # MAX_ORDER - 1
    "zone_pages": (1024, 1 << 20),         # a multiple of MAX_ORDER_NR_PAGES
    "thp_order": (1, 9),                   # a head and at least one tail .. HPAGE_PMD_ORDER
    "tail_faulters": (0, 62),
    "accesses": (1, 1000),
    "head_hold": (0, 1_000_000),
    "soft_lockup_steps": (1, 1_000_000_000),
}
SETTING_MULTIPLE = {"zone_pages": 1024}    # MAX_ORDER_NR_PAGES
SETTING_CHOICES = {
    "preempt": ("none", "voluntary", "full"),
    "memory_model": ("sc", "tso", "lkmm"),
    "fault_mode": ("kernel", "user", "gup", "foll_migration"),
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
    # what the table's state columns mean (their values), for its legend
    legend = None
    # A scenario that defaults to memory_model=sc says why SC is enough (or
    # that SC is the point, as in a litmus test's SC column); checked by the
    # tests for every scenario of every family.
    sc_reason = ""
    # The least value of each setting the scenario can be built with (the
    # CPUs its tasks run on, the pfns its state lives at): {"ncpus": 3}.
    # Checked up front with the other settings (validate_settings).
    needs: dict = {}
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
    thread: str = None      # the seed thread by author and subject (foliolab list)

    def __post_init__(self):
        for s in self.scenarios:
            if s.era is None and self.era is not None:
                s.era = self.era

    def scenario(self, slug):
        for s in self.scenarios:
            if s.slug == slug:
                return s
        return None


def _range_text(key, lo=None):
    least, hi = SETTING_RANGES[key]
    text = f"{least if lo is None else lo}..{hi}"
    if key in SETTING_MULTIPLE:
        text += f", a multiple of {SETTING_MULTIPLE[key]}"
    return text


def validate_settings(s, scenario=None):
    """Refuse impossible settings with a one-line :class:`SettingsError`
    naming the setting and its valid range: wrong types, values outside
    ``SETTING_RANGES`` or ``SETTING_CHOICES``, less than the scenario
    ``needs``.  With ``scenario``, a key it does not know is refused too."""
    if scenario is not None:
        known = scenario.settings()
        for key in s:
            if key not in known and key not in SETTING_TYPES:
                raise SettingsError(f"unknown setting {key!r} for {scenario.slug} "
                                    f"(known: {', '.join(sorted(set(known) | set(SETTING_TYPES)))})")
    for key, val in s.items():
        typ = SETTING_TYPES.get(key)
        if typ is None:
            continue
        if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            raise SettingsError(f"setting {key}={val!r}: expected {typ.__name__}")
        if key in SETTING_CHOICES and val not in SETTING_CHOICES[key]:
            raise SettingsError(f"setting {key}={val}: expected one of "
                                f"{', '.join(SETTING_CHOICES[key])}")
        if key in SETTING_RANGES:
            lo, hi = SETTING_RANGES[key]
            mult = SETTING_MULTIPLE.get(key)
            if not lo <= val <= hi or (mult and val % mult):
                raise SettingsError(f"setting {key}={val}: must be {_range_text(key)}")
    for key in ("ncpus", "preempt", "memory_model", "fair_bound", "max_steps",
                "hung_task_steps"):
        if key not in s:
            raise SettingsError(f"setting {key} missing")
    if scenario is not None:
        for key, least in getattr(scenario, "needs", {}).items():
            val = s.get(key)
            if isinstance(val, int) and val < least:
                valid = f" (valid: {_range_text(key, least)})" if key in SETTING_RANGES else ""
                raise SettingsError(f"setting {key}={val}: {scenario.slug} needs at least "
                                    f"{least}{valid}")


def make_machine(settings, footprints=False):
    """The machine a scenario's settings describe (validated).
    ``footprints``: the scenario declares them (retry collapse needs them)."""
    validate_settings(settings)
    try:
        m = Machine(settings["ncpus"], preempt=settings["preempt"],
                    memory_model=settings["memory_model"],
                    fair_bound=settings["fair_bound"],
                    max_steps=settings["max_steps"],
                    hung_task_steps=settings["hung_task_steps"])
    except ValueError as e:
        raise SettingsError(str(e)) from None
    if settings.get("retry_collapse") and footprints:
        # the watches need every step's footprint
        m.retry_collapse = True
        if m.on_event is None:
            m.on_event = _no_event
    return m


def start_scenario(scenario, k):
    """Build the scenario's state on a booted kernel; its check runs once
    every task has finished."""
    k.scenario = scenario
    try:
        scenario.setup(k)
    except ValueError as e:
        # a task spawned on a CPU the settings do not have: the scenario did
        # not state it in ``needs``, but the settings are still the user's
        cpu = _spawned_on_missing_cpu(e)
        if cpu is None:
            raise
        raise SettingsError(f"setting ncpus={k.m.ncpus}: {scenario.slug} runs a task on "
                            f"cpu{cpu}, it needs at least {cpu + 1}") from None
    k.m.quiesce_checks.append(lambda: scenario.check(k))
    return k


def _spawned_on_missing_cpu(exc):
    """The CPU of ``Machine.spawn``'s "cpu N does not exist", or None."""
    import re
    import traceback
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames or frames[-1].name != "spawn" or not frames[-1].filename.endswith("machine.py"):
        return None
    m = re.search(r"cpu (\d+) does not exist", str(exc))
    return int(m.group(1)) if m else None


def make_run(scenario, patches, settings):
    """A fresh machine + kernel + scenario state, ready to run.

    ``patches``: Patch objects in order (the variant's, then any user patch).
    The scenario's era patches come first (``k.era`` names the era).
    Returns the kernel ``k``; ``k.m`` is the machine.
    """
    from ..mm.kernel import build_kernel
    m = make_machine(settings, scenario.footprints)
    era = None
    if scenario.era is not None:
        from ..patches.eras import get_era
        era = get_era(scenario.era)
        patches = era.patch_objects() + list(patches)
    k = build_kernel(m, settings, patches)
    k.era = era
    return start_scenario(scenario, k)


def _no_event(m, t, en, reads, writes, woke, acquired, drained):
    pass
