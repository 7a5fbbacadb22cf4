"""Scenario families, one per seed thread."""

from __future__ import annotations

from .base import BUG, HANG, NA, SAFE, Expect, Family, Scenario, Variant  # noqa: F401

FAMILY_MODULES = ("lru_cache", "gup_longterm", "page_reporting", "thp_split",
                  "memcg_lru_lock")


class LookupFailure(LookupError):
    """Unknown scenario, family or variant name (a one-line message)."""


# Lookup by name (families(), find_scenario(), variant_patches() ...) lives in
# foliolab.explore.registry, which also knows families from outside the package.
