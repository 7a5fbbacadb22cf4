"""Name lookup for the explorer and the command line.

The package's scenario families (``foliolab.scenarios.FAMILY_MODULES``) plus
families from outside the package (docs/writing-a-family.md), found four
ways, each a ``.py`` file or an importable module that defines ``FAMILY`` or
``FAMILIES``:

* ``--family FILE`` on the command line (:func:`load_family_file`);
* installed plugins: the entry-point group ``foliolab.families``
  (``[project.entry-points."foliolab.families"] mine = "my_pkg.family"``);
* the environment variable ``FOLIOLAB_FAMILIES`` (entries separated by
  ``os.pathsep``);
* in-process, :func:`register_family` (tests, scripts).

A family from outside the package remembers the file it was defined in
(:func:`family_source`): a trace embeds that file's text and hash, so that it
replays anywhere (explore/trace.py).

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

from ..engine.kernel import Patch, PatchError, did_you_mean
from ..scenarios import FAMILY_MODULES, LookupFailure
from ..scenarios.base import make_run

ENV_FAMILIES = "FOLIOLAB_FAMILIES"
ENTRY_POINT_GROUP = "foliolab.families"

_registered = {}          # name -> Family, in registration order
_env_cache = {}           # env entry -> [Family]
_files = {}               # name -> Family, loaded with --family FILE
_entry_points = None      # [Family] from installed plugins


def register_family(family):
    """Make ``family`` known to lookups in this process (tests, scripts)."""
    _registered[family.name] = family
    return family


def unregister_family(name):
    _registered.pop(name, None)


def _module_families(mod, where):
    from ..scenarios.base import Family
    fams = list(getattr(mod, "FAMILIES", ()))
    if hasattr(mod, "FAMILY"):
        fams.append(mod.FAMILY)
    if not fams:
        raise LookupFailure(f"{where} defines no FAMILY")
    for f in fams:
        if not isinstance(f, Family):
            raise LookupFailure(f"{where}: FAMILY is a {type(f).__name__}, not a "
                                f"foliolab.scenarios.Family")
    return fams


def _exec_family_source(text, label, digest):
    """A module made from a family file's text (``label``: the file's path,
    for tracebacks)."""
    name = f"foliolab_user_family_{digest}"
    mod = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None))
    mod.__file__ = label
    code = compile(text, label, "exec")
    import sys
    sys.modules[name] = mod          # dataclasses and pickling look modules up
    try:
        exec(code, mod.__dict__)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def _load_file(entry, where):
    p = pathlib.Path(entry)
    if not p.is_file():
        raise LookupFailure(f"{where}: {entry}: no such file")
    try:
        data = p.read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LookupFailure(f"{where}: {entry}: cannot read: {e}") from None
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        mod = _exec_family_source(text, str(p), digest)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a user's file (SystemExit too): one line, never a traceback
        raise LookupFailure(f"{where}: {entry}: {_exc_site(e, p)}") from None
    fams = _module_families(mod, f"{where}: {entry}")
    for f in fams:
        _remember_source(f, str(p), text, digest)
    return fams


def _exc_site(e, p):
    import traceback
    if isinstance(e, SyntaxError):
        return f"SyntaxError: {e.msg} at {p}:{e.lineno}"
    line = None
    for fr in traceback.extract_tb(e.__traceback__):
        if fr.filename == str(p):
            line = fr.lineno
    text = " ".join(str(e).split())
    where = f" at {p}:{line}" if line else ""
    return f"{type(e).__name__}: {text}{where}" if text else f"{type(e).__name__}{where}"


def _remember_source(fam, path, text, digest):
    fam._source = {"file": path, "sha256": digest, "text": text}


def family_source(fam):
    """{"file", "sha256", "text"} of the file a family from outside the
    package was defined in, or None for the package's own families (their
    code is the model: the model hash covers them)."""
    src = getattr(fam, "_source", None)
    if src is not None:
        return src
    mod = None
    for s in fam.scenarios:
        mod = type(s).__module__
        break
    if mod is None or mod.startswith("foliolab."):
        return None
    import sys
    m = sys.modules.get(mod)
    path = getattr(m, "__file__", None)
    if not path or not os.path.isfile(path):
        return None
    try:
        data = pathlib.Path(path).read_bytes()
        text = data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    _remember_source(fam, path, text, hashlib.sha256(data).hexdigest()[:16])
    return fam._source


def families_from_source(text, label):
    """The families a trace's embedded family file defines (replay)."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    mod = _exec_family_source(text, label, digest)
    fams = _module_families(mod, f"the trace's family file {label}")
    for f in fams:
        _remember_source(f, label, text, digest)
    return fams


def load_family_file(entry):
    """``--family FILE`` (or a module name): load it, make its families
    known in this process and return them."""
    if entry.endswith(".py") or os.sep in entry or os.path.isfile(entry):
        fams = _load_file(entry, "--family")
    else:
        fams = _import_families(entry, f"--family {entry}", lambda e: (
            f"--family {entry}: not a file, and not an importable module "
            f"({type(e).__name__}: {e})"))
    for f in fams:
        _files[f.name] = f
    return fams


def _load_env_entry(entry):
    fams = _env_cache.get(entry)
    if fams is not None:
        return fams
    if entry.endswith(".py") or os.sep in entry:
        fams = _load_file(entry, ENV_FAMILIES)
    else:
        fams = _import_families(entry, f"{ENV_FAMILIES}: {entry}", lambda e: (
            f"{ENV_FAMILIES}: {entry}: {type(e).__name__}: {e}"))
    _env_cache[entry] = fams
    return fams


def _import_families(entry, where, failed):
    """The families of module ``entry``; ``failed(e)``: the one-line error
    when importing it raises ``e``."""
    try:
        mod = importlib.import_module(entry)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a user's module: one line, never a traceback
        raise LookupFailure(failed(e)) from None
    return _module_families(mod, where)


def _plugin_families():
    """Families of installed plugins (entry-point group ``foliolab.families``):
    each entry point names a module defining FAMILY/FAMILIES, or a Family."""
    global _entry_points
    if _entry_points is not None:
        return _entry_points
    from importlib.metadata import entry_points

    from ..scenarios.base import Family
    out = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        where = f"entry point {ep.name} = {ep.value} ({ENTRY_POINT_GROUP})"
        try:
            obj = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as e:
            raise LookupFailure(f"{where}: {type(e).__name__}: {e}") from None
        if isinstance(obj, Family):
            out.append(obj)
        else:
            out += _module_families(obj, where)
    _entry_points = out
    return out


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
    for fam in _plugin_families():
        out[fam.name] = fam
    env = os.environ.get(ENV_FAMILIES, "")
    for entry in env.split(os.pathsep):
        entry = entry.strip()
        if entry:
            for fam in _load_env_entry(entry):
                out[fam.name] = fam
    out.update(_files)
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
    slugs = [s.slug for f in fams.values() for s in f.scenarios]
    known = ", ".join(slugs)
    raise LookupFailure(f"unknown scenario {slug!r}{did_you_mean(slug, slugs)} "
                        f"(known: {known or 'none'}; a scenario of your own: --family FILE)")


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
        if getattr(p, "source", None) or getattr(p, "revert_of", None):
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
    "ENV_FAMILIES", "ENTRY_POINT_GROUP", "load_family_file", "family_source",
    "families_from_source", "did_you_mean", "LookupFailure", "PatchError", "register_family",
    "unregister_family", "families", "find_family", "find_scenario",
    "find_variant", "default_variant", "variant_patches", "patch_name",
    "variant_label",
    "builder",
]
