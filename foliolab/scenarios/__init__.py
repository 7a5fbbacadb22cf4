"""Scenario families, one per seed thread, and name lookup for the CLI."""

from __future__ import annotations

import importlib

from .base import BUG, HANG, NA, SAFE, Expect, Family, Scenario, Variant  # noqa: F401

FAMILY_MODULES = ("lru_cache",)


class LookupFailure(LookupError):
    """Unknown scenario, family or variant name (a one-line message)."""


def families():
    out = {}
    for name in FAMILY_MODULES:
        mod = importlib.import_module(f"{__name__}.{name}")
        out[mod.FAMILY.name] = mod.FAMILY
    return out


def find_family(name):
    fams = families()
    if name in fams:
        return fams[name]
    raise LookupFailure(f"unknown family {name!r} (known: {', '.join(fams)})")


def find_scenario(slug):
    """(family, scenario) for a scenario slug."""
    fams = families()
    for fam in fams.values():
        s = fam.scenario(slug)
        if s is not None:
            return fam, s
    known = ", ".join(s.slug for f in fams.values() for s in f.scenarios)
    raise LookupFailure(f"unknown scenario {slug!r} (known: {known})")


def find_variant(family, name):
    if name in family.variants:
        return family.variants[name]
    raise LookupFailure(f"unknown variant {name!r} for family {family.name} "
                        f"(known: {', '.join(family.variants)})")


def variant_patches(variant):
    """The Patch objects of a variant, in order."""
    from ..patches import get_patch
    return [get_patch(p) for p in variant.patches]
