"""What a piece of output was made with: the foliolab version, a content
hash of the model, the kernel era a scenario models, and the machine it ran
on in Kconfig terms.  Every header (tables, traces, ``--json``, verdicts,
``--mail``) takes its words from here, so they all say the same thing.

The model hash is the SHA-256 of every ``.py`` file of the installed
package (path and contents, in path order), cut to 12 hex digits: two runs
print the same hash exactly when they ran the same model code, whether or
not the tree is a git checkout.
"""

from __future__ import annotations

import hashlib
import os

_HASH = None
_VERSION = None
_ROOT = os.path.dirname(os.path.abspath(__file__))      # the installed package


def version():
    """The installed distribution's version (importlib.metadata), so that a
    folder named ``foliolab`` in the current directory cannot change it;
    the package's ``__version__`` when foliolab is not installed."""
    global _VERSION
    if _VERSION is None:
        try:
            from importlib.metadata import PackageNotFoundError, version as _v
            try:
                _VERSION = _v("foliolab")
            except PackageNotFoundError:
                _VERSION = None
        except ImportError:                 # pragma: no cover
            _VERSION = None
        if _VERSION is None:
            import importlib.util
            spec = importlib.util.spec_from_file_location(
                "_foliolab_version", os.path.join(_ROOT, "__init__.py"))
            mod = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(mod)
            _VERSION = mod.__version__
    return _VERSION

MEMORY_MODEL_NAMES = {"sc": "SC", "tso": "x86-TSO", "lkmm": "LKMM"}


def model_hash():
    """12 hex digits of the SHA-256 of the package's Python sources."""
    global _HASH
    if _HASH is None:
        root = _ROOT
        h = hashlib.sha256()
        files = []
        for d, dirs, names in os.walk(root):
            dirs[:] = sorted(x for x in dirs if x != "__pycache__")
            files += [os.path.join(d, n) for n in names if n.endswith(".py")]
        for path in sorted(files):
            h.update(os.path.relpath(path, root).encode() + b"\0")
            with open(path, "rb") as f:
                h.update(f.read())
            h.update(b"\0")
        _HASH = h.hexdigest()[:12]
    return _HASH


def tool_text():
    """``foliolab 0.1.0 (model 1a2b3c4d5e6f)``."""
    return f"foliolab {version()} (model {model_hash()})"


def kconfig_preempt(preempt):
    """The Kconfig name of a preemption model (``full`` -> CONFIG_PREEMPT)."""
    from .engine.machine import PREEMPT_KCONFIG
    return PREEMPT_KCONFIG.get(preempt, str(preempt))


def era_text(era):
    """``Linux v5.12 (era v5.12)``, or what the plain model stands for."""
    if not era:
        return "plain model (model names, no kernel era)"
    from .patches.eras import get_era
    e = get_era(era)
    return f"Linux {e.kernel} (era {e.name})"


def machine_text(settings):
    """``2 CPUs, CONFIG_PREEMPT, x86-TSO``."""
    n = settings.get("ncpus", "?")
    mm = settings.get("memory_model", "sc")
    return (f"{n} CPU{'s' if n != 1 else ''}, {kconfig_preempt(settings.get('preempt'))}, "
            f"{MEMORY_MODEL_NAMES.get(mm, mm)}")


def provenance(settings=None, era=None):
    """The same facts as a dict, for ``--json`` and traces."""
    d = {"foliolab": version(), "model_hash": model_hash(),
         "era": era, "kernel": None}
    if era:
        from .patches.eras import get_era
        d["kernel"] = get_era(era).kernel
    if settings is not None:
        d["ncpus"] = settings.get("ncpus")
        d["preempt_kconfig"] = kconfig_preempt(settings.get("preempt"))
        d["memory_model"] = settings.get("memory_model", "sc")
    return d


def header_lines(settings, era):
    """Two lines for the top of a text report."""
    return [f"{tool_text()}  models {era_text(era)}", machine_text(settings)]
