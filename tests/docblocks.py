"""The indented blocks of a doc that a marker comment introduces: shared by
the README and tutorial tests, which run what the docs show."""

from __future__ import annotations

import re


def marked_blocks(path, marker):
    """[(match, lines)] for every line of ``path`` that matches ``marker``
    (a regex): the indented block right after it, unindented, without its
    trailing blank lines."""
    lines = path.read_text().splitlines()
    pat = re.compile(marker)
    out = []
    for i, ln in enumerate(lines):
        m = pat.match(ln)
        if not m:
            continue
        block = []
        for x in lines[i + 1:]:
            if x and not x.startswith("    "):
                break
            block.append(x[4:])
        while block and not block[-1]:
            block.pop()
        out.append((m, block))
    return out
