"""The fidelity table as tests, shared by every family's test module: one
test per applicable (scenario, variant) cell, computed by the explorer and
judged against the catalogue's expectation."""

from __future__ import annotations

from foliolab.explore.registry import variant_patches
from foliolab.explore.verdict import verdict
from foliolab.scenarios import NA


def applicable_cells(family):
    """[(scenario slug, variant)] of every cell that is not ``-``."""
    return [(s.slug, v) for s in family.scenarios for v in family.variants
            if s.expect(v).outcome != NA]


def assert_cell(family, slug, variant):
    v = verdict(family.scenario(slug), variant, variant_patches(family.variants[variant]),
                family=family.name, trace_dir=None, shrink=False)
    assert v.as_expected, f"{slug} under {variant}: {'; '.join(v.problems)}"
