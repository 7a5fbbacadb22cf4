"""The litmus verdict table: tests x models beside herd7's verdict
(``foliolab litmus``, docs/memory-models.md, bench/lkmm.py)."""

from __future__ import annotations

import os
import time

from .reader import LitmusError, read
from .run import MODELS, classify, expected_verdict, run_test

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "litmus")


def parse_models(text):
    models = [m.strip() for m in text.split(",") if m.strip()]
    for m in models:
        if m not in MODELS:
            raise LitmusError(f"--model {m}: unknown memory model (one of {', '.join(MODELS)})")
    if not models:
        raise LitmusError("--model: no memory model")
    return models


def run_files(paths, models, *, clock=time.perf_counter):
    """Every test under every model: [(test, {model: Verdict}, seconds by
    model, problems)].  Every file is read first (a bad one: LitmusError)."""
    tests = [read(p) for p in paths]
    rows = []
    for t in tests:
        res, secs = {}, {}
        for mdl in models:
            t0 = clock()
            res[mdl] = run_test(t, mdl)
            secs[mdl] = clock() - t0
        rows.append((t, res, secs, classify(t, res)))
    return rows


def render(rows, models, *, markdown=False):
    head = ["test", "herd7"] + models + ["as herd7"]
    body = []
    for t, res, _secs, bad in rows:
        cells = [t.name, t.expected or "?"]
        cells += [res[m].text for m in models]
        cells.append("yes" if not bad else "NO: " + "; ".join(bad))
        body.append(cells)
    ok = sum(1 for r in rows if not r[3])
    foot = (f"{ok}/{len(rows)} classified as herd7 says (exhaustive DFS with "
            f"partial-order reduction; lkmm over every program order LKMM allows)")
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        out += ["| " + " | ".join(c) + " |" for c in body]
        return "\n".join(out) + "\n\n" + foot + "\n"
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    out = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in body]
    return "\n".join(out) + "\n" + foot + "\n"


def to_json(rows, models):
    return {"models": models, "tests": [
        {"test": t.name, "herd7": t.expected, "expected": expected_verdict(t),
         "as_herd7": not bad, "problems": bad,
         "results": {m: {"verdict": res[m].text, "schedules": res[m].runs,
                         "program_orders": res[m].orders, "outcome": res[m].outcome}
                     for m in models}}
        for t, res, _s, bad in rows]}


def manifest_paths():
    """The kernel's tests shipped in tests/data/litmus, in MANIFEST order."""
    out = []
    with open(os.path.join(DATA, "MANIFEST")) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                out.append(os.path.join(DATA, line.split("\t")[0]))
    return out
