"""Plots written to PNG files (matplotlib's Agg backend: no display needed)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: servers, CI, SSH sessions
import matplotlib.pyplot as plt  # noqa: E402

from analognas.io import atomic_write_bytes  # noqa: E402

_TIME_LABELS = {1.0: "1 s", 60.0: "1 min", 3600.0: "1 h", 86400.0: "1 day", 2592000.0: "1 month"}


def _save(fig: Any, path: str | os.PathLike) -> Path:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return atomic_write_bytes(path, buf.getvalue())


def plot_pareto(result: Any, path: str | os.PathLike) -> Path:
    """Scatter every scored architecture of a search (predicted acc_1d vs AVM), Pareto front on top.

    Example:
        >>> plot_pareto(search.run(), "pareto.png")  # doctest: +SKIP
    """
    hist, front = result.history, result.pareto_front
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    feasible = hist[hist["feasible"]]
    infeasible = hist[~hist["feasible"]]
    if len(infeasible):
        ax.scatter(infeasible["avm"], infeasible["acc_1d"], s=6, c="lightgrey", label="infeasible")
    if len(feasible):
        sc = ax.scatter(feasible["avm"], feasible["acc_1d"], s=8, c=feasible["params"], cmap="viridis",
                        label="feasible")
        fig.colorbar(sc, ax=ax, label="parameters")
    if len(front):
        # The front is over acc_1d, AVM and parameters: in this 2-D view it is a point set.
        ax.scatter(front["avm"], front["acc_1d"], s=28, facecolors="none", edgecolors="red",
                   label="Pareto front (acc_1d, AVM, params)")
    best = result.best_prediction
    ax.scatter([best["avm"]], [best["acc_1d"]], marker="*", s=200, c="red", edgecolors="k",
               label="best", zorder=5)
    ax.set_xlabel("predicted AVM (accuracy points lost over one month)")
    ax.set_ylabel("predicted acc_1d (ranking score)")
    ax.set_title(f"{len(hist):,} architectures scored")
    ax.legend(loc="best", fontsize=8)
    return _save(fig, path)


def plot_drift(curves: Mapping[str, Mapping[float, tuple[float, float]]], path: str | os.PathLike,
               title: str = "Accuracy under conductance drift") -> Path:
    """Accuracy (mean ± std over programmings) against time for one or more networks.

    ``curves`` maps a label to an ``acc_by_time`` dict (seconds -> (mean %, std %)).

    Example:
        >>> plot_drift({"resnet": result.acc_by_time}, "drift.png")  # doctest: +SKIP
    """
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for label, acc in curves.items():
        times = sorted(acc)
        mean = [acc[t][0] for t in times]
        std = [acc[t][1] for t in times]
        ax.errorbar(times, mean, yerr=std, marker="o", capsize=3, label=label)
    ax.set_xscale("log")
    all_times = sorted({t for acc in curves.values() for t in acc})
    ax.set_xticks(all_times, [_TIME_LABELS.get(float(t), f"{t:g} s") for t in all_times])
    ax.set_xlabel("time after programming")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_xy(x: Any, y: Any, path: str | os.PathLike, xlabel: str, ylabel: str, title: str = "",
            labels: Any = None, line: bool = True) -> Path:
    """A labelled line plot for sweeps (e.g. acc_1d against ADC bits); ``line=False``: a
    scatter, for points that are not a series (joining them would draw a zigzag)."""
    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    if line:
        ax.plot(x, y, "o-")
    else:
        ax.scatter(x, y, s=12, alpha=0.6)
    if labels is not None:
        for xi, yi, li in zip(x, y, labels):
            ax.annotate(str(li), (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    return _save(fig, path)
