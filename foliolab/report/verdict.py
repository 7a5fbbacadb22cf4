"""The verdict table of ``foliolab compare`` and ``foliolab reproduce``:
rows = scenarios, columns = variants.

Cells: ``BUG @N`` (N schedules to the first failure), ``HANG @N`` (a
hung-task, deadlock or livelock failure), ``safe k<=K`` (a preemption-bounded
DFS completed: a certificate; ``(weak)`` when K is 0: it rules out no race
that needs a preemption), ``safe?`` (no failure found, no certificate),
``-`` (the scenario does not apply), ``NONDET`` (a failure did not replay).
A cell that differs from the scenario's expectation is marked ``!`` and
explained under the table.
"""

from __future__ import annotations


def verdict_table(title, columns, rows, *, trace_dir=None, interrupted=False, era=None):
    """``rows``: [(scenario slug, {column: Verdict})].  ``interrupted``: the
    table is partial (Ctrl-C); the last line says so instead of claiming
    that every cell is as expected.  ``era``: the kernel era the family
    models, named under the table with the foliolab version and model hash."""
    from ..provenance import era_text, machine_text, tool_text
    first = max([len(title)] + [len(slug) for slug, _ in rows])
    widths = []
    for col in columns:
        w = len(col)
        for _, cells in rows:
            v = cells.get(col)
            if v is not None:
                w = max(w, len(_cell(v)))
        widths.append(w)
    out = ["  ".join([title.ljust(first)] + [c.ljust(w) for c, w in zip(columns, widths)]).rstrip()]
    for slug, cells in rows:
        parts = [slug.ljust(first)]
        for col, w in zip(columns, widths):
            v = cells.get(col)
            parts.append((_cell(v) if v is not None else "").ljust(w))
        out.append("  ".join(parts).rstrip())
    problems = []
    traces = False
    for slug, cells in rows:
        for col in columns:
            v = cells.get(col)
            if v is None:
                continue
            if v.trace_path:
                traces = True
            for p in v.problems:
                problems.append(f"UNEXPECTED: {slug} / {col}: {p}")
    machines = []
    for _, cells in rows:
        for v in cells.values():
            m = machine_text(v.settings) if getattr(v, "settings", None) else None
            if m and m not in machines:
                machines.append(m)
    out.append(f"{tool_text()}; models {era_text(era)}"
               + (f"; {' | '.join(machines)}" if machines else ""))
    out.extend(_scope_lines(rows, columns))
    out.extend(_shared_lines(rows, columns))
    out.extend(problems)
    tail = "" if not (traces and trace_dir) else f"; traces in {trace_dir.rstrip('/')}/"
    if interrupted:
        out.append("interrupted (Ctrl-C): only the cells shown were computed"
                   + ("; they are as expected" if not problems else "") + tail)
    elif not problems:
        unjudged = [col for col in columns
                    if any((v := cells.get(col)) is not None and not getattr(v, "judged", True)
                           for _, cells in rows)]
        if unjudged:
            # a user's patch has no expected outcome: its cells are results
            judged = [c for c in columns if c not in unjudged]
            out.append((f"{', '.join(judged)}: every cell as expected (the catalogue: "
                        f"foliolab list); " if judged else "")
                       + f"{', '.join(unjudged)}: no expected outcome (a patch of "
                         f"your own: the cells are its results)" + tail)
        else:
            out.append("every cell as expected (the catalogue: foliolab list)" + tail)
    elif tail:
        out.append(tail[2:])
    return "\n".join(out) + "\n"


def _cell(v):
    weak = " (weak)" if v.outcome == "safe" and v.expect.preemptions == 0 else ""
    return v.cell + weak + ("!" if v.problems else "")


def _shared_lines(rows, columns):
    """Cells that reused another variant's exploration: every function the
    scenario's runs called is the same code in both (explore/cellcache.py)."""
    shared = [f"{slug}/{col}={v.same_as}" for slug, cells in rows for col in columns
              if (v := cells.get(col)) is not None and getattr(v, "same_as", None)]
    if not shared:
        return []
    shown = ", ".join(shared[:4]) + (f" (+{len(shared) - 4})" if len(shared) > 4 else "")
    return [f"same exploration (the variants run the same code there): {shown}"]


def _scope_lines(rows, columns):
    """What the safe cells cover: a certificate holds for one memory model,
    CPU count and preemption model, within its bound."""
    from ..explore.dpor import scope_text
    scopes = {}
    weak = False
    for slug, cells in rows:
        for col in columns:
            v = cells.get(col)
            if v is not None and v.outcome == "safe" and v.settings:
                scopes.setdefault(scope_text(v.settings), []).append(f"{slug}/{col}")
                weak = weak or v.expect.preemptions == 0
    if not scopes:
        return []
    if len(scopes) == 1:
        note = " (weak: k<=0 rules out no race that needs a preemption)" if weak else ""
        return [f"safe cells: no failure within k preemptions under {next(iter(scopes))}"
                + note]
    out = ["safe cells: no failure within k preemptions, under:"]
    for text, cells in scopes.items():
        shown = ", ".join(cells[:4]) + (f" (+{len(cells) - 4})" if len(cells) > 4 else "")
        out.append(f"  {text}: {shown}")
    return out
