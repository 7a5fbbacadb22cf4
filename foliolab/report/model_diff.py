"""``foliolab reproduce --lkmm``: the cells whose verdict changes when the
family runs under the Linux-kernel memory model instead of its own default
(tso for lru_cache), as a table of their own."""

from __future__ import annotations


def diff_rows(rows, rows_lkmm):
    """[(scenario slug, column, base Verdict, lkmm Verdict)] of the cells
    whose outcome differs (NA cells are left out)."""
    out = []
    for (s, row), (_s2, row2) in zip(rows, rows_lkmm):
        for col, v in row.items():
            w = row2.get(col)
            if w is None or v.outcome == "n/a":
                continue
            if v.outcome != w.outcome:
                out.append((s if isinstance(s, str) else s.slug, col, v, w))
    return out


def diff_table(family, diffs, ncells):
    """The table of differing cells (or one line when there is none)."""
    head = f"{family}: cells that differ under memory_model=lkmm ({len(diffs)} of {ncells})"
    if not diffs:
        return head + ": none\n"
    base = sorted({d[2].settings.get("memory_model", "?") for d in diffs})
    rows = [("scenario", "variant", "/".join(base), "lkmm")]
    for slug, col, v, w in diffs:
        rows.append((slug, col, v.cell, w.cell))
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = [head]
    lines += ["  ".join(str(c).ljust(wd) for c, wd in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines) + "\n"
