"""The text of a measurement: an mmtests compare-kernels style table.

One column per variant, the first is the baseline.  A counter row shows the
Amean per run with the half-width of its 95% bootstrap interval; each later
column adds its percentage change against the first and the significance
mark of Welch's t-test.  A latency row shows p50 and p99 over
every sample of every run."""

from __future__ import annotations

import math


def _fmt_ns(ns):
    if ns != ns:            # NaN
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} us"
    return f"{ns:.0f} ns"


def _counter_cell(s):
    if not s:
        return "-"
    half = (s["high"] - s["low"]) / 2 if not math.isnan(s["high"]) else 0.0
    return f"{s['mean']:.1f} (±{half:.1f})"


def _latency_cell(s):
    if not s or not s.get("n"):
        return "-"
    return f"p50 {_fmt_ns(s['p50']['value'])}  p99 {_fmt_ns(s['p99']['value'])}"


def render(summary, experiment, plot_files=()):
    variants = list(summary["variants"])
    p = summary["params"]
    lines = []
    runs = summary["runs_done"]
    per_run = next((f" ({p[key]} {what} per run)" for key, what in
                    (("cma_allocs", "cma_allocs"), ("contig_attempts", "alloc_contig_range calls"))
                    if key in p), "")
    head = f"{experiment.name}   {experiment.title}; {summary['seeds']} seeds{per_run}"
    lines.append(head)
    if summary["interrupted"]:
        lines.append(f"interrupted: {runs} of {summary['runs_total']} runs finished; "
                     f"the figures below cover those")
    rows = experiment.rows
    w0 = max(len(r.title) for r in rows) + 2
    cells = {}
    for r in rows:
        for v in variants:
            s = summary["variants"][v]["rows"].get(r.key)
            if r.kind != "counter":
                cells[(r.key, v)] = _latency_cell(s)
                continue
            cell = _counter_cell(s)
            c = summary["comparisons"].get(v, {}).get(r.key)
            if c:
                # compare-kernels: the change against the first column, and
                # its significance mark
                pct = c["pct_change"]
                cell += "     inf%" if pct == math.inf else f" {pct:+7.1f}%"
                cell += c["mark"]
            cells[(r.key, v)] = cell
    widths = {v: max([len(v)] + [len(cells[(r.key, v)]) for r in rows]) + 3 for v in variants}
    lines.append(" " * w0 + "".join(v.ljust(widths[v]) for v in variants))
    for r in rows:
        line = r.title.ljust(w0) + "".join(cells[(r.key, v)].ljust(widths[v]) for v in variants)
        lines.append(line.rstrip())
    # the anchor's own unit: totals over every run
    first = rows[0]
    if first.kind == "counter" and len(variants) > 1:
        tot = {v: (summary["variants"][v]["rows"].get(first.key) or {}).get("total", 0)
               for v in variants}
        parts = ", ".join(f"{v} {tot[v]}" for v in variants)
        base = tot[variants[0]]
        ratio = ""
        other = tot[variants[1]]
        if other:
            ratio = f"; ratio {variants[0]}/{variants[1]} {base / other:.1f}"
        elif base:
            n = summary["variants"][variants[1]]["runs"] * p.get("cma_allocs", 1)
            ratio = (f"; {variants[1]} none (rule of three: < 3/{n} per cma_alloc)"
                     if "cma_allocs" in p else f"; {variants[1]} none")
        lines.append(f"{first.title}, total over all runs: {parts}{ratio}")
    for v in variants:
        fails = summary["variants"][v]["failures"]
        if fails:
            lines.append(f"{v}: {len(fails)} run(s) ended in a kernel failure: {fails[0]}")
    sim = {v: summary["variants"][v]["sim_ms"] for v in variants}
    lines.append("simulated time per run: " + ", ".join(
        f"{v} {sum(s) / len(s):.1f} ms" for v, s in sim.items() if s))
    lines.append("cost model: " + ("defaults" if not summary.get("cost_overrides") else
                                   ", ".join(f"{k}={v:g}" for k, v in
                                             summary["cost_overrides"].items()))
                 + f"; {summary['params'].get('ncpus')} CPUs, memory model "
                 f"{summary['params'].get('memory_model', 'sc')}, Amean per run (±95% bootstrap), "
                 f"* p<0.05 ** p<0.01 *** p<0.001 (Welch)")
    if any(r.key == "lru_cache_disable" for r in rows):
        lines.append("drain latency: lru_cache_disable(), or migrate_prep()'s "
                     "lru_add_drain_all() in a variant without it (v5.12)")
    lines.append(f"shape expected: {experiment.expect}")
    for f in plot_files:
        lines.append(f"plot: {f}")
    return "\n".join(lines)
