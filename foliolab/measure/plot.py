"""Plots of a sweep: the plotted row against the swept parameter, one line
per variant with its 95% interval as a band (matplotlib, PNG and SVG)."""

from __future__ import annotations

import os


def plot_sweep(summary, directory):
    """Write <experiment>-<row>-vs-<param>.png and .svg; return the paths."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = summary.get("sweep") or {}
    if not sweep:
        return []
    param = summary["sweep_param"]
    os.makedirs(directory, exist_ok=True)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for variant, pts in sweep.items():
        xs = [p[param] for p in pts]
        ys = [p["mean"] for p in pts]
        lo = [p["low"] for p in pts]
        hi = [p["high"] for p in pts]
        line, = ax.plot(xs, ys, marker="o", label=variant)
        ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
    ax.set_xlabel(param)
    ax.set_ylabel(f"{summary['sweep_row']} per run")
    ax.set_title(f"{summary['experiment']}: {summary['sweep_row']} vs {param}")
    ax.set_xticks(sorted({p[param] for pts in sweep.values() for p in pts}))
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.text(0.01, 0.01, f"{summary['seeds']} seeds per point, 95% bootstrap band; "
             f"foliolab measure (simulated, cost model {'defaults' if not summary.get('cost_overrides') else 'overridden'})",
             fontsize=7, alpha=0.7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    stem = os.path.join(directory, f"{summary['experiment']}-{summary['sweep_row'].split()[0]}"
                                   f"-vs-{param}".replace(" ", "_"))
    out = []
    for ext in ("png", "svg"):
        path = f"{stem}.{ext}"
        fig.savefig(path)
        out.append(path)
    plt.close(fig)
    return out
