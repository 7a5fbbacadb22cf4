"""The debated designs, one module per patch or series.

``get_patch(name)`` returns a registered :class:`~foliolab.engine.kernel.Patch`;
``load_patch_file(path)`` loads a user's patch file, which defines ``PATCH``
exactly as the modules here do.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import pathlib

from ..engine.kernel import Patch, PatchError  # noqa: F401

PATCH_MODULES = ("lru_cache_disable", "minchan_rfc", "mhocko_atomic", "nested_skip", "sync_rcu",
                 "drain_gen_barriers", "merge_nonfallback", "isolation_hygiene", "page_reporting_v5_2019",
                 "page_reporting_drain_all", "page_reporting_putback_5_7",
                 "page_reporting_order")


def all_patches():
    out = {}
    for modname in PATCH_MODULES:
        mod = importlib.import_module(f"{__name__}.{modname}")
        for p in getattr(mod, "PATCHES", (mod.PATCH,) if hasattr(mod, "PATCH") else ()):
            out[p.name] = p
    return out


def get_patch(name):
    pats = all_patches()
    if name not in pats:
        raise PatchError(f"unknown patch {name!r} (known: {', '.join(pats)})")
    return pats[name]


def load_patch_file(path):
    """Import a user's patch file; it must define ``PATCH = Patch(...)``."""
    p = pathlib.Path(path)
    if not p.is_file():
        raise PatchError(f"patch file {path}: no such file")
    data = p.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:16]
    spec = importlib.util.spec_from_file_location(f"foliolab_user_patch_{digest}", p)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:  # a user's file: report, never a traceback
        raise PatchError(f"patch file {path}: {type(e).__name__}: {e}") from None
    patch = getattr(mod, "PATCH", None)
    if not isinstance(patch, Patch):
        raise PatchError(f"patch file {path}: defines no PATCH = Patch(...)")
    patch.source = str(p)
    patch.digest = digest
    return patch
