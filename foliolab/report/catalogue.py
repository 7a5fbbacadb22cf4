"""The scenario catalogue as Markdown (docs/scenarios.md), generated from the
families themselves -- titles, actors, properties, variants with their
patches and sources, the expected outcome of every cell, the fixes each
era's baseline contains -- so that it cannot drift from the code.
``foliolab list --markdown`` prints it; tests/test_docs.py checks that the
committed file is what the code generates."""

from __future__ import annotations

HEADER = """# Scenario catalogue

Generated from the code by `foliolab list --markdown > docs/scenarios.md`
(tests/test_docs.py checks that this file is current).  A cell says what the
test suite holds every (scenario, variant) pair to: `bug (kinds)` -- the
explorer must find a failure of one of these kinds; `safe k<=N` -- the
systematic search must certify that no schedule with at most N preemptions
fails; `hang` -- a hung task, deadlock or livelock must be found; `-` -- the
scenario does not apply to the variant.  docs/search.md says what a
certificate covers.
"""


def expect_text(e):
    """An expected outcome as tables print it: ``-``, ``safe k<=K``, ``bug (kinds)``."""
    from ..scenarios.base import NA, SAFE
    if e.outcome == NA:
        return "-"
    if e.outcome == SAFE:
        return f"safe k<={e.preemptions}"
    return e.outcome + (f" ({', '.join(e.kinds)})" if e.kinds else "")


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def catalogue_markdown(fams):
    from ..patches import get_patch
    from ..patches.eras import ERAS, get_era
    out = [HEADER]
    for fam in fams:
        out.append(f"## Family `{fam.name}`: {fam.title}\n")
        thread = getattr(fam, "thread", None)
        if thread:
            out.append(f"Seed thread: {thread}.\n")
        era = get_era(fam.era) if fam.era else None
        out.append(f"Kernel era: {era.describe() if era else 'none (the plain model)'}.\n")
        contains = (era or ERAS["v5.12"]).contains_lines()
        if contains:
            out.append("Fixes the baseline contains:\n")
            out += [f"* {_cell(c)}" for c in contains]
            out.append("")
        out.append("| variant | patches | summary |")
        out.append("|---|---|---|")
        for v in fam.variants.values():
            names = []
            for p in v.patches:
                name = p if isinstance(p, str) else p.name
                try:
                    pp = get_patch(name) if isinstance(p, str) else p
                    names.append(f"`{name}`" + (f" ({pp.commit})" if pp.commit else ""))
                except Exception:
                    names.append(f"`{name}`")
            out.append(f"| `{v.name}`{' (mutant)' if v.mutant else ''} | "
                       f"{', '.join(names) or 'baseline'} | {_cell(v.summary)} |")
        out.append("")
        for s in fam.scenarios:
            out.append(f"### `{s.slug}`: {_cell(s.title)}\n")
            if s.actors:
                out.append(f"* actors: {_cell(s.actors)}")
            if s.prop:
                out.append(f"* property: {_cell(s.prop)}")
            out.append("")
            out.append("| " + " | ".join(f"`{v}`" for v in fam.variants) + " |")
            out.append("|" + "---|" * len(fam.variants))
            out.append("| " + " | ".join(_cell(expect_text(s.expect(v))) for v in fam.variants)
                       + " |")
            out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
