"""Family page_reporting (seed 001): the fidelity table and the model's findings.

Every (scenario, variant) cell is a test: the explorer must find the failure
the catalogue expects (BUG) or certify the scenario (SAFE) at the bound the
scenario's Expect states, with its witnesses reached.  No outcome is
asserted by hand.
"""

from __future__ import annotations

import pytest

from foliolab.explore.registry import find_family, variant_patches
from fidelity import applicable_cells, assert_cell

FAMILY = find_family("page_reporting")
CELLS = applicable_cells(FAMILY)


@pytest.mark.parametrize("slug,variant", CELLS, ids=[f"{s}-{v}" for s, v in CELLS])
def test_fidelity(slug, variant):
    assert_cell(FAMILY, slug, variant)


def test_every_variant_and_scenario_of_the_catalogue_is_present():
    slugs = {s.slug for s in FAMILY.scenarios}
    assert {"report-vs-contig", "report-returns-during-isolation", "merge-while-reported",
            "report-converts-block", "undo-isolation-split"} <= slugs
    for v in ("v0-v5", "v1-reread-mt", "v2-drain-reports", "v3-skip-isolate", "v4-merged",
              "v5-to-tail", "v6-order-param", "v5.12", "hygiene-6.10"):
        assert v in FAMILY.variants


def test_every_patch_names_its_source():
    for var in FAMILY.variants.values():
        for p in variant_patches(var):
            assert p.version and (p.commit or p.link or p.date), p.name


def test_the_family_is_searched_with_the_reduction():
    assert all(s.footprints for s in FAMILY.scenarios)


@pytest.mark.parametrize("slug,variant", CELLS, ids=[f"{s}-{v}" for s, v in CELLS])
def test_every_step_declares_what_it_touches(slug, variant):
    """The footprint checker (explore/fpcheck.py) over the random walk, the
    sticky walk and the first schedules of the systematic search."""
    from foliolab.explore import explore
    from foliolab.explore.fpcheck import FootprintChecker
    sc = FAMILY.scenario(slug)
    patches = variant_patches(FAMILY.variants[variant])
    from foliolab.mm.page_reporting import page_reporting_dev_info
    from foliolab.mm.virtio_balloon import virtio_balloon
    extra = ((page_reporting_dev_info, ("work_pending", "sgl")),
             (virtio_balloon, ("avail", "used")))
    with FootprintChecker(extra=extra) as chk:
        for strategy, budget in (("random", 6), ("sticky", 6), ("dfs", 20)):
            explore(sc, variant, patches, strategy, budget, 1, trace_dir=None,
                    progress=False, shrink=False, record=False, setup=chk.prepare,
                    family=FAMILY.name, preemptions=1)
    assert not chk.violations, chk.report()


@pytest.mark.parametrize("setting", ["page_reporting_capacity=0", "host_latency=-1"])
def test_impossible_reporting_settings_are_one_line_errors(setting):
    import pathlib
    import subprocess
    import sys
    root = pathlib.Path(__file__).resolve().parent.parent
    p = subprocess.run([sys.executable, "-m", "foliolab.cli", "explore", "report-vs-contig",
                        "--set", setting, "--no-progress"],
                       capture_output=True, text=True, cwd=root, timeout=120)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert p.stderr.strip().count("\n") == 0 and "Traceback" not in p.stderr
    assert setting.split("=")[0] in p.stderr
