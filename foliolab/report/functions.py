"""``foliolab list --functions [PATTERN]``: the hook points a patch can
replace or wrap -- every function of the model's table (``k.fn``) and every
function a catalogue patch adds -- with its signature, whether it yields (a
generator: ``yield from k.fn.x()``; a plain function: ``k.fn.x()``), the
kernel file it models, the kernel era its docstring names, and the module to
import its helpers from."""

from __future__ import annotations

import fnmatch
import inspect
import re

# model module -> the kernel file it follows
KERNEL_FILES = {
    "page": "include/linux/page-flags.h, include/linux/mm.h",
    "mm_inline": "include/linux/mm_inline.h",
    "mmzone": "include/linux/mmzone.h",
    "x86_fault": "arch/x86/mm/fault.c",
    "virtio_balloon": "drivers/virtio/virtio_balloon.c",
    "kernel": "(model plumbing)",
}
_VERSION = re.compile(r"\bv\d+\.\d+(?:\.\d+)?(?:-rc\d+)?\+?")


def kernel_file(module):
    short = module.rsplit(".", 1)[-1]
    if module.startswith("foliolab.mm."):
        return KERNEL_FILES.get(short, f"mm/{short}.c")
    return KERNEL_FILES.get(short, module)


def _era(doc, default):
    found = []
    for v in _VERSION.findall(doc or ""):
        if v not in found:
            found.append(v)
    return ", ".join(found[:3]) or default


def _signature(f):
    try:
        sig = inspect.signature(f)
    except (TypeError, ValueError):
        return "(...)"
    params = list(sig.parameters.values())[1:]          # k is the kernel
    return "(" + ", ".join(str(p) for p in params) + ")"


def _first_line(doc):
    text = " ".join((doc or "").split())
    m = re.match(r"(.+?\.)(\s|$)", text)
    return (m.group(1) if m else text)[:160]


def function_catalogue(pattern=None):
    """[{name, signature, yields, kernel_file, era, module, added_by, doc}]
    sorted by name; ``pattern``: a glob (``folio_batch*``) or a substring."""
    import foliolab.mm  # noqa: F401  (registers the kernel's functions)

    from ..engine.kernel import BASELINE
    from ..patches import all_patches
    rows = {}
    for name, f in BASELINE.items():
        rows[name] = (f, None)
    for p in all_patches().values():
        for name, f in p.added.items():
            rows.setdefault(name, (f, p))
    out = []
    for name in sorted(rows):
        if pattern and not (fnmatch.fnmatchcase(name, pattern) or
                            (not any(c in pattern for c in "*?[") and pattern in name)):
            continue
        f, p = rows[name]
        doc = inspect.getdoc(f) or ""
        out.append({
            "name": name,
            "signature": _signature(f),
            "yields": inspect.isgeneratorfunction(f),
            "kernel_file": kernel_file(f.__module__),
            "era": _era(doc, "v5.12" if p is None else (p.commit or p.name)),
            "module": f.__module__,
            "added_by": p.name if p is not None else None,
            "doc": _first_line(doc),
        })
    return out


def functions_text(rows):
    lines = []
    for r in rows:
        how = "generator: yield from k.fn.%s%s" if r["yields"] else "plain: k.fn.%s%s"
        lines.append(f"{r['name']}{r['signature']}")
        lines.append(f"    {how % (r['name'], r['signature'])}")
        where = f"{r['kernel_file']}; era {r['era']}; import from {r['module']}"
        if r["added_by"]:
            where += f"; added by patch {r['added_by']}"
        lines.append(f"    {where}")
        if r["doc"]:
            lines.append(f"    {r['doc']}")
    lines.append(f"{len(rows)} function{'s' if len(rows) != 1 else ''}: @PATCH.replaces(name) "
                 f"or @PATCH.wraps(name) in a patch file (docs/writing-a-family.md)")
    return "\n".join(lines) + "\n"
