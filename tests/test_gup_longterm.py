"""Family gup_longterm (seed 002): the fidelity table, the kernel eras and
the model's findings.

Every (scenario, variant) cell is a test, checked by the explorer against
the scenario's Expect (a buggy variant must be caught, a safe one certified
at the stated bound); no outcome is asserted by hand.  Removing a fix is
running the scenario under the variant without it: the same table checks
that the cell flips (g0 vs g1 on vm-start-activate, g1 vs g2/g3 on
mlock-batch-pin, g3 vs g4 on clean-pin-drains, g1 vs g1+mglru-fix on
mglru-oldest-batched ...).
"""

from __future__ import annotations

import re

import pytest

from foliolab.explore import explore
from foliolab.explore.registry import find_family, variant_patches
from foliolab.patches.eras import ERAS, get_era
from fidelity import applicable_cells, assert_cell

FAMILY = find_family("gup_longterm")
CELLS = applicable_cells(FAMILY)


@pytest.mark.parametrize("slug,variant", [pytest.param(s, v, id=f"{s}-{v}") for s, v in CELLS])
def test_fidelity(slug, variant):
    assert_cell(FAMILY, slug, variant)


def test_every_scenario_and_variant_of_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert {"vm-start-activate", "vm-start-activate-2cpu", "mlock-batch-pin",
            "mglru-oldest-batched", "mlock-count-miss", "concurrent-pinners",
            "activate-cost"} <= slugs
    for v in ("g0", "g1", "g1+mglru-fix", "g2", "g3", "g4", "h"):
        assert v in FAMILY.variants
    # one patch module per patch of Hugh's series, so they combine
    g3 = FAMILY.variants["g3"].patches
    for p in ("g3-gup-refcount", "g3-gup-local-drain", "g3-revert-clear-lru",
              "g3-revert-mglru-fix", "g3-may-be-lru-cached", "g3-drain-all-local-first"):
        assert p in g3


def test_the_family_is_searched_with_the_reduction():
    assert all(s.footprints for s in FAMILY.scenarios)


def test_each_family_names_its_era():
    assert find_family("lru_cache").era == "v5.12"
    assert FAMILY.era == "v6.10"
    assert all(s.era == "v6.10" for s in FAMILY.scenarios)
    assert set(ERAS) >= {"v5.12", "v6.10"}
    # the v6.10 era is the baseline plus its era patches, in order
    assert get_era("v6.10").patches[:3] == ("lru-cache-disable", "sync-rcu", "sync-rcu-expedited")


def _table_names(slug, variant, family):
    fam = find_family(family)
    sc = fam.scenario(slug)
    ex = explore(sc, variant, variant_patches(fam.variants[variant]), "portfolio", 200, 0,
                 trace_dir=None, progress=False, shrink=False, record=True, family=fam.name)
    rec = ex.recording
    names = set()
    for r in rec.steps:
        names.update(r.chain)
        names.update(re.findall(r"[a-z_][a-z0-9_.]*", r.label))
    return names, ex


def test_a_v5_12_table_speaks_v5_12():
    """The failing run of Race A under v0: activate_page, not folio_activate;
    lru_pvecs, not cpu_fbatches; try_to_unmap, not try_to_migrate (v5.15)."""
    names, ex = _table_names("readd-after-drain", "v0", "lru_cache")
    assert {"activate_page", "mark_page_accessed"} <= names
    assert "lru_pvecs.activate_page" in names or "lru_pvecs.lock" in names
    for modern in ("folio_activate", "folio_batch_add_and_move", "try_to_migrate",
                   "cpu_fbatches", "folio_mark_accessed", "folios_put"):
        assert modern not in names, modern
    assert "lru_pvecs.activate_page" in ex.failure.message


def test_a_v6_10_table_speaks_v6_10():
    names, ex = _table_names("vm-start-activate", "g0", "gup_longterm")
    assert "collect_longterm_unpinnable_pages" in names          # v6.11 renamed it _folios
    assert "cpu_fbatches.activate" in ex.failure.message         # v6.12 renamed it lru_activate
    assert "folio_activate" in names and "activate_page" not in names
