"""The roofline plot: points (intensity, achieved rate) under a device's roof, as a PNG.

Part of :mod:`accelsearch.objectives.roofline`, which re-exports :func:`plot_roofline`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from accelsearch.objectives.roofline_peaks import TERA, Peaks


def plot_roofline(
    points: Sequence[tuple[str, float, float]],
    peaks: Peaks,
    path: str | Path,
    title: str = "",
    color_values: Sequence[float] | None = None,
    color_label: str = "",
) -> Path:
    """Log-log roofline with ``(label, intensity FLOP/B, achieved FLOP/s)`` points; PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    xs = np.array([p[1] for p in points], dtype=float)
    ys = np.array([p[2] for p in points], dtype=float) / TERA
    lo = max(min(xs.min() if len(xs) else 1, peaks.ridge) / 4, 1e-2)
    hi = max(xs.max() if len(xs) else 1, peaks.ridge) * 4
    grid = np.logspace(math.log10(lo), math.log10(hi), 200)
    ax.loglog(grid, np.minimum(peaks.flops, grid * peaks.bandwidth) / TERA, "k-", lw=1.5)
    ax.axvline(peaks.ridge, color="grey", ls=":", lw=1)
    sc = ax.scatter(xs, ys, c=color_values if color_values is not None else "tab:blue", s=18)
    if color_values is not None:
        fig.colorbar(sc, ax=ax, label=color_label)
    if len(points) <= 40:
        for label, x, y in points:
            ax.annotate(label, (x, y / TERA), fontsize=6, alpha=0.8)
    ax.set_xlabel("arithmetic intensity (FLOP/byte)")
    ax.set_ylabel("achieved TFLOP/s")
    ax.set_title(
        title
        or f"{peaks.device_name}, {peaks.precision}: peak {peaks.flops / TERA:.0f} TFLOP/s, "
        f"{peaks.bandwidth / TERA:.2f} TB/s ({peaks.source})",
        fontsize=8,
    )
    ax.grid(True, which="both", alpha=0.2)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
