"""The debated designs, one module per patch or series.

``get_patch(name)`` returns a registered :class:`~foliolab.engine.kernel.Patch`;
``load_patch_file(path)`` loads a user's patch file, which defines ``PATCH``
exactly as the modules here do.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import pathlib

from ..engine.kernel import Patch, PatchError  # noqa: F401

PATCH_MODULES = ("lru_cache_disable", "minchan_rfc", "mhocko_atomic", "nested_skip", "sync_rcu",
                 "drain_gen_barriers", "era_v6", "gup_clear_lru", "mglru_fix",
                 "gup_drain_if_mlocked", "hugh_gup_refcount", "hugh_gup_local_drain",
                 "hugh_revert_clear_lru", "hugh_revert_mglru_fix", "hugh_may_be_lru_cached",
                 "hugh_drain_all_local_first", "gup_pin_refs", "gup_empty_list_success",
                 "merge_nonfallback", "isolation_hygiene", "page_reporting_v5_2019",
                 "page_reporting_drain_all", "page_reporting_putback_5_7",
                 "page_reporting_order", "era_v5_11", "memcg_v11", "memcg_pgdat_lock",
                 "memcg_writer_lock", "memcg_lock_recheck", "memcg_lock_first", "memcg_folio",
                 "thp_cond_resched", "thp_compound_head", "thp_wait_on_locked", "reverts")


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
    """Import a user's patch file (any name, read as Python source); it must
    define ``PATCH = Patch(...)``.  Whatever the file raises while it is
    imported (SystemExit included) is a :class:`PatchError` naming the file
    and line; so is a patch of the wrong shape (:func:`check_patch_shape`)."""
    import importlib.machinery
    p = pathlib.Path(path)
    if not p.is_file():
        raise PatchError(f"patch file {path}: no such file")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise PatchError(f"patch file {path}: cannot read: {e.strerror or e}") from None
    digest = hashlib.sha256(data).hexdigest()[:16]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None                 # not embeddable in a trace (JSON is UTF-8)
    name = f"foliolab_user_patch_{digest}"
    # SourceFileLoader: a file without ".py" is Python source all the same
    loader = importlib.machinery.SourceFileLoader(name, str(p))
    spec = importlib.util.spec_from_loader(name, loader)
    mod = importlib.util.module_from_spec(spec)
    try:
        loader.exec_module(mod)
    except KeyboardInterrupt:
        raise
    except BaseException as e:  # a user's file: report, never a traceback, never an exit
        raise PatchError(f"patch file {path}: the patch raised {_exc_text(e)} at "
                         f"{_site(e, p)} while it was imported") from None
    return _user_patch(mod, f"patch file {path}", path, digest, text)


def _user_patch(mod, what, path, digest, text):
    """The PATCH of a user's module, checked for shape, with its source."""
    patch = getattr(mod, "PATCH", None)
    if not isinstance(patch, Patch):
        raise PatchError(f"{what}: defines no PATCH = Patch(...)")
    check_patch_shape(patch, path)
    patch.source = str(path)
    patch.digest = digest
    patch.text = text
    return patch


def load_patch_source(text, path):
    """A user's patch from its text (a trace embeds it): as
    :func:`load_patch_file`, with ``path`` naming it in messages and
    tracebacks."""
    data = text.encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()[:16]
    name = f"foliolab_user_patch_{digest}"
    mod = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None))
    mod.__file__ = str(path)
    try:
        exec(compile(text, str(path), "exec"), mod.__dict__)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise PatchError(f"patch {path} (embedded in the trace): the patch raised "
                         f"{_exc_text(e)} at {_site(e, path)} while it was imported") from None
    return _user_patch(mod, f"patch {path} (embedded in the trace)", path, digest, text)


def _exc_text(e):
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _site(e, p):
    """file:line of the innermost frame of ``e`` in the file ``p``."""
    import os
    import traceback
    if isinstance(e, SyntaxError) and e.lineno:
        return f"{e.filename or p}:{e.lineno}"
    want = os.path.realpath(p)
    where = None
    for f in traceback.extract_tb(e.__traceback__):
        if os.path.realpath(f.filename) == want:
            where = f"{f.filename}:{f.lineno}"
    return where or str(p)


def _func_site(path, f):
    code = getattr(f, "__code__", None)
    return f"{path}:{code.co_firstlineno}" if code is not None else str(path)


def _positional_capacity(f):
    """How many positional arguments ``f`` takes (None: any number), and
    how many it requires; or None if it has no signature."""
    import inspect
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return None
    n = req = 0
    for prm in sig.parameters.values():
        if prm.kind is prm.VAR_POSITIONAL:
            n = None
        elif prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
            if n is not None:
                n += 1
            if prm.default is prm.empty:
                req += 1
        elif prm.kind is prm.KEYWORD_ONLY and prm.default is prm.empty:
            return (n, req, True)      # a required keyword-only argument
    return (n, req, False)


def check_patch_shape(patch, path):
    """The checks a patch passes before it runs, each naming the user's
    file and line: a string name, callables with the kernel's signatures,
    generators where the kernel's function is one."""
    import inspect

    from ..engine.kernel import BASELINE
    if not isinstance(patch.name, str) or not patch.name.strip() \
            or any(c in patch.name for c in "\n\r\0"):
        raise PatchError(f"patch file {path}: Patch({patch.name!r}): the name must be a "
                         f"non-empty string on one line")
    for attr in ("title", "summary"):
        if not isinstance(getattr(patch, attr), str):
            raise PatchError(f"patch file {path}: Patch {patch.name}: {attr} must be a string, "
                             f"not {type(getattr(patch, attr)).__name__}")
    try:
        import foliolab.mm  # noqa: F401  (registers the kernel's functions)
    except Exception:          # pragma: no cover - a model that does not import
        pass
    groups = (("replaces", patch.replaced, 1), ("adds", patch.added, 1),
              ("wraps", patch.wrapped, 2))
    for how, table, least in groups:
        for key, f in table.items():
            if not isinstance(key, str) or not key.isidentifier():
                raise PatchError(f"patch file {path}: {how}({key!r}): not a function name")
            if not callable(f):
                raise PatchError(f"patch file {path}: {how}({key!r}) is given {f!r} "
                                 f"({type(f).__name__}), not a function")
            cap = _positional_capacity(f)
            site = _func_site(path, f)
            if cap is not None:
                n, req, kwonly = cap
                if kwonly or (n is not None and n < least):
                    want = "(k, ...)" if least == 1 else "(k, orig, ...)"
                    raise PatchError(f"{site}: {how}({key!r}): {getattr(f, '__name__', f)} must "
                                     f"take {want}")
            orig = BASELINE.get(key)
            if how == "adds" and orig is not None:
                raise PatchError(f"{site}: adds({key!r}): the kernel already has {key} "
                                 f"(use replaces or wraps)")
            if orig is None or how == "adds":
                continue
            gen = inspect.isgeneratorfunction(orig)
            if how == "replaces" and inspect.isfunction(f) \
                    and inspect.isgeneratorfunction(f) != gen:
                kind = "a generator (it yields)" if gen else "a plain function (it does not yield)"
                raise PatchError(f"{site}: replaces({key!r}): must be {kind}, like the "
                                 f"kernel's {key}")
            if how == "wraps" and gen and inspect.isfunction(f) \
                    and not inspect.isgeneratorfunction(f):
                raise PatchError(f"{site}: wraps({key!r}): must be a generator (yield from "
                                 f"orig(...)), like the kernel's {key}")
            ocap = _positional_capacity(orig)
            if cap is None or ocap is None:
                continue
            on, oreq, _ = ocap
            n, req, _ = cap
            shift = 0 if how == "replaces" else 1      # orig comes second
            # every call the kernel's function takes, the patch's must take
            if req > oreq + shift or (n is not None and (on is None or n < on + shift)):
                sig = inspect.signature(orig)
                raise PatchError(f"{site}: {how}({key!r}): {f.__name__}"
                                 f"{inspect.signature(f)} does not take the arguments of "
                                 f"the kernel's {key}{sig}")
    for f in patch.init_hooks:
        if not callable(f):
            raise PatchError(f"patch file {path}: init is given {f!r}, not a function")
        cap = _positional_capacity(f)
        if cap is not None and ((cap[0] is not None and cap[0] < 1) or cap[1] > 1 or cap[2]):
            raise PatchError(f"{_func_site(path, f)}: init hook {f.__name__} must take (k)")
