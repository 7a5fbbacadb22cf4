"""Name lookup for the explorer and the command line.

The package's scenario families (``foliolab.scenarios.FAMILY_MODULES``) plus
families from outside the package: a test suite's or a user's own family
module, named in the environment variable ``FOLIOLAB_FAMILIES`` (entries
separated by ``os.pathsep``; each a ``.py`` file or an importable module that
defines ``FAMILY`` or ``FAMILIES``) or registered in-process with
:func:`register_family`.

A variant's ``patches`` are patch names (``foliolab.patches.get_patch``); a
family defined outside the package may also list
:class:`~foliolab.engine.kernel.Patch` objects there directly.

A scenario that defines ``make_run(patches, settings)`` builds its own runs
(an engine-level litmus scenario that needs no mm state); every other
scenario is built by :func:`foliolab.scenarios.base.make_run`.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import pathlib

from ..engine.kernel import Patch, PatchError
from ..scenarios import FAMILY_MODULES, LookupFailure
from ..scenarios.base import make_run

ENV_FAMILIES = "FOLIOLAB_FAMILIES"

_registered = {}          # name -> Family, in registration order
_env_cache = {}           # env entry -> [Family]


def register_family(family):
    """Make ``family`` known to lookups in this process (tests, scripts)."""
    _registered[family.name] = family
    return family


def unregister_family(name):
    _registered.pop(name, None)


def _load_env_entry(entry):
    fams = _env_cache.get(entry)
    if fams is not None:
        return fams
    try:
        if entry.endswith(".py") or os.sep in entry:
            p = pathlib.Path(entry)
            if not p.is_file():
                raise LookupFailure(f"{ENV_FAMILIES}: {entry}: no such file")
            digest = hashlib.sha256(str(p.resolve()).encode()).hexdigest()[:12]
            name = f"foliolab_user_family_{p.stem}_{digest}"
            # any file name: read as Python source
            loader = importlib.machinery.SourceFileLoader(name, str(p))
            mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(name, loader))
            loader.exec_module(mod)
        else:
            mod = importlib.import_module(entry)
    except (LookupFailure, KeyboardInterrupt):
        raise
    except BaseException as e:  # a user's file (SystemExit too): one line, never a traceback
        raise LookupFailure(f"{ENV_FAMILIES}: {entry}: {type(e).__name__}: {e}") from None
    fams = list(getattr(mod, "FAMILIES", ()))
    if hasattr(mod, "FAMILY"):
        fams.append(mod.FAMILY)
    if not fams:
        raise LookupFailure(f"{ENV_FAMILIES}: {entry} defines no FAMILY")
    _env_cache[entry] = fams
    return fams


def families():
    """{name: Family}: the package's families, then external ones."""
    out = {}
    for name in FAMILY_MODULES:
        modname = f"foliolab.scenarios.{name}"
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as e:
            if e.name == modname:
                continue          # listed but not written yet
            raise
        out[mod.FAMILY.name] = mod.FAMILY
    env = os.environ.get(ENV_FAMILIES, "")
    for entry in env.split(os.pathsep):
        entry = entry.strip()
        if entry:
            for fam in _load_env_entry(entry):
                out[fam.name] = fam
    out.update(_registered)
    return out


def find_family(name):
    fams = families()
    if name in fams:
        return fams[name]
    raise LookupFailure(f"unknown family {name!r} (known: {', '.join(fams) or 'none'})")


def find_scenario(slug):
    """(family, scenario) for a scenario slug."""
    fams = families()
    for fam in fams.values():
        s = fam.scenario(slug)
        if s is not None:
            return fam, s
    known = ", ".join(s.slug for f in fams.values() for s in f.scenarios)
    raise LookupFailure(f"unknown scenario {slug!r} (known: {known or 'none'})")


def find_variant(family, name):
    if name in family.variants:
        return family.variants[name]
    raise LookupFailure(f"unknown variant {name!r} for family {family.name} "
                        f"(known: {', '.join(family.variants)})")


def default_variant(family):
    """The family's first variant (its baseline)."""
    for v in family.variants.values():
        return v
    raise LookupFailure(f"family {family.name} has no variants")


def variant_patches(variant):
    """The Patch objects of a variant, in order."""
    out = []
    for p in variant.patches:
        if isinstance(p, Patch):
            out.append(p)
        else:
            from ..patches import get_patch
            out.append(get_patch(p))
    return out


def patch_name(p):
    return p.name if isinstance(p, Patch) else str(p)


def variant_label(variant, patches=()):
    """How a run's kernel is named in reports: the variant's name, plus
    ``+name`` for every user patch on top, by the name its ``Patch`` gives
    itself (``v0+my-fix``), not by its file's name."""
    label = variant or "custom"
    for p in patches:
        if getattr(p, "source", None):
            label += "+" + p.name
    return label


def builder(scenario):
    """``build(patches, settings) -> k`` for a scenario."""
    own = getattr(scenario, "make_run", None)
    if own is not None:
        return own

    def build(patches, settings):
        return make_run(scenario, patches, settings)

    return build


__all__ = [
    "ENV_FAMILIES", "LookupFailure", "PatchError", "register_family",
    "unregister_family", "families", "find_family", "find_scenario",
    "find_variant", "default_variant", "variant_patches", "patch_name",
    "variant_label",
    "builder",
]
