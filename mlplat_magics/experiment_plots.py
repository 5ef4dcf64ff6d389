"""Plots of an experiment's results object: lift over time with intervals, posteriors, bandit weights over time.

Each takes the JSON ``client.experiments.results`` gives and returns a
matplotlib Figure (or None when there is nothing to draw yet), so the panel,
the magics and a notebook cell draw the same pictures. ``png`` turns a figure
into an inline image that survives in a saved notebook without a kernel.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np


def _figure(rows: int = 1, width: float = 7.0, height: float = 2.6) -> tuple[Any, Any]:
    # A bare Figure, not pyplot: the plots go out as inline images, and switching pyplot's backend here would
    # leave the notebook's later figures unshown.
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height * rows))
    axes = fig.subplots(rows, 1, squeeze=False)
    return fig, [a[0] for a in axes]


def lift_over_time(results: dict[str, Any]) -> Any:
    """Cumulative absolute lift of each treatment arm per day and metric, with its confidence interval."""
    points = results.get("timeline") or []
    metrics = list(dict.fromkeys(p["metric"] for p in points))
    if not metrics:
        return None
    fig, axes = _figure(len(metrics))
    for ax, metric in zip(axes, metrics):
        for arm in dict.fromkeys(p["arm"] for p in points if p["metric"] == metric):
            mine = [p for p in points if p["metric"] == metric and p["arm"] == arm and p["diff"] is not None]
            days = [p["day"][5:] for p in mine]
            diff = np.array([p["diff"] for p in mine], dtype=float)
            lo = np.array([p["diff_ci"][0] if p["diff_ci"] else np.nan for p in mine], dtype=float)
            hi = np.array([p["diff_ci"][1] if p["diff_ci"] else np.nan for p in mine], dtype=float)
            ax.plot(days, diff, marker="o", label=f"{arm} - control")
            ax.fill_between(days, lo, hi, alpha=0.2)
        ax.axhline(0.0, color="grey", lw=0.8)
        ax.set_title(f"{metric}: cumulative lift with {1 - float(results.get('alpha', 0.05)):.0%} interval",
                     fontsize=9)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def sequential_bounds(results: dict[str, Any]) -> Any:
    """The confidence sequence of each comparison, look by look (it only narrows)."""
    found = [s for s in results.get("sequential") or [] if s.get("looks")]
    if not found:
        return None
    fig, axes = _figure(1)
    ax = axes[0]
    days = [d[5:] for d in results.get("days", [])]
    for s in found:
        ci = [look["ci"] or [np.nan, np.nan] for look in s["looks"]]
        x = days[:len(ci)] if len(days) >= len(ci) else list(range(len(ci)))
        est = [look["estimate"] if look["estimate"] is not None else np.nan for look in s["looks"]]
        ax.plot(x, est, marker="o", label=f"{s['metric']}: {s['arm']}")
        ax.fill_between(x, [c[0] for c in ci], [c[1] for c in ci], alpha=0.2)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_title("always-valid confidence sequences", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def posteriors(results: dict[str, Any]) -> Any:
    """Beta posteriors of each arm's conversion rate (the Bayesian and bandit analyses)."""
    from scipy import stats

    found = [b for b in results.get("bayesian") or [] if b.get("model") == "beta_binomial"]
    if not found:
        return None
    fig, axes = _figure(len(found))
    for ax, b in zip(axes, found):
        shapes = [arm["posterior"] for arm in b["arms"]]
        lo = min(stats.beta.ppf(0.0005, *s) for s in shapes)
        hi = max(stats.beta.ppf(0.9995, *s) for s in shapes)
        grid = np.linspace(lo, hi, 400)
        for arm in b["arms"]:
            ax.plot(grid, stats.beta.pdf(grid, *arm["posterior"]), label=f"{arm['name']} ({arm['mean']:.4f})")
        ax.set_title(f"{b['metric']}: posterior conversion rate", fontsize=9)
        ax.legend(fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig


def bandit_weights(results: dict[str, Any]) -> Any:
    """The bandit's weights at each update (stacked), as its job set them."""
    history = ((results.get("bandit") or {}).get("history")) or []
    if not history:
        return None
    fig, axes = _figure(1)
    ax = axes[0]
    weights = np.array([h["weights"] for h in history], dtype=float).T
    x = list(range(1, len(history) + 1))
    ax.stackplot(x, weights, labels=[a["name"] for a in results["arms"]])
    ax.set_ylim(0, 1)
    ax.set_xlabel("update", fontsize=8)
    ax.set_title("bandit weights over time", fontsize=9)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def figures(results: dict[str, Any]) -> list[Any]:
    """Every plot that has something to show for these results."""
    drawn = [lift_over_time(results), sequential_bounds(results), posteriors(results), bandit_weights(results)]
    return [f for f in drawn if f is not None]


def png(fig: Any) -> str:
    """An <img> of the figure (inline, so a saved notebook keeps it); pyplot never held it, so nothing to close."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return f"<img src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}'/>"


__all__ = ["bandit_weights", "figures", "lift_over_time", "png", "posteriors", "sequential_bounds"]
