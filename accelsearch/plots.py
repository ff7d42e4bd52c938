"""The family's accuracy-latency plot (``family.png``): trials, Pareto set, family, targets.

Latency is drawn on a log axis, limited to the family's range (its members and targets,
and the trials near them): a trial far outside it, such as one measured while the machine
was busy, is drawn at the edge as a marker with its latency written next to it, so that one
outlier cannot squash the family against an edge. Each target is a dotted vertical line;
each member is labelled with its index and its measured latency's error against its target.
"""

from __future__ import annotations

from accelsearch.scaling.family import Family
from accelsearch.search.result import SearchResult

#: trials more than this factor outside the family's latency range are outliers
OUTLIER_FACTOR = 8.0
#: room left on each side of the plotted points (a factor, on the log axis)
MARGIN = 1.25


def latency_range(family: Family, latencies: list[float]) -> tuple[float, float]:
    """The latency axis' limits: the family's members and targets, and the latencies that
    lie within :data:`OUTLIER_FACTOR` of them."""
    core = [m.latency_ms for m in family.members] + [m.target_ms for m in family.members]
    if family.baseline is not None:
        core += [m.latency_ms for m in family.baseline.members]
    core = [v for v in core if v and v > 0]
    lo, hi = min(core), max(core)
    near = [v for v in latencies if lo / OUTLIER_FACTOR <= v <= hi * OUTLIER_FACTOR]
    return min([lo, *near]) / MARGIN, max([hi, *near]) * MARGIN


def _clip(points, lo: float, hi: float):
    """(inside, outside): points within [lo, hi] and those beyond it."""
    inside = [(x, y) for x, y in points if lo <= x <= hi]
    outside = [(x, y) for x, y in points if not lo <= x <= hi]
    return inside, outside


def _mark_outliers(ax, outside, lo: float, hi: float) -> None:
    """Each outlier as a triangle at the edge it lies beyond, its latency written by it."""
    for x, y in outside:
        right = x > hi
        edge = hi / 1.02 if right else lo * 1.02
        ax.scatter([edge], [y], marker=">" if right else "<", s=40, c="tab:orange", zorder=3)
        ax.annotate(
            f"{x:.4g} ms",
            (edge, y),
            textcoords="offset points",
            xytext=(-6 if right else 6, 6),
            ha="right" if right else "left",
            fontsize=7,
            color="tab:orange",
        )


def _search(ax, result: SearchResult, lo: float, hi: float) -> int:
    pts = [(t.metrics["latency_ms"], t.metrics["accuracy"]) for t in result.completed]
    inside, outside = _clip(pts, lo, hi)
    if inside:
        ax.scatter(*zip(*inside), s=14, c="0.7", label="search trials")
    front = [(t.metrics["latency_ms"], t.metrics["accuracy"]) for t in result.pareto()]
    front_in, _ = _clip(front, lo, hi)
    if front_in:
        ax.plot(*zip(*front_in), "o--", c="tab:blue", ms=5, label="search Pareto set")
    _mark_outliers(ax, outside, lo, hi)
    return len(outside)


def _family(ax, family: Family) -> None:
    for i, t in enumerate(sorted({m.target_ms for m in family.members if m.phi != 0})):
        ax.axvline(
            t, ls=":", lw=1, c="tab:red", alpha=0.6, label="latency targets" if not i else None
        )
    fam = [(m.latency_ms, m.accuracy) for m in family.members if m.accuracy is not None]
    if not fam:
        return
    ax.plot(*zip(*fam), "s-", c="tab:red", label=f"{family.method} {family.name}")
    for k, m in enumerate(family.members):
        if m.accuracy is None:
            continue
        mark = "" if m.within_tolerance or m.phi == 0 else " !"
        text = "base" if m.phi == 0 else f"{k}: {100 * m.latency_error:+.1f} %{mark}"
        ax.annotate(
            text, (m.latency_ms, m.accuracy), textcoords="offset points", xytext=(4, 4), fontsize=8
        )


def family_plot(family: Family, result: SearchResult | None = None):
    """Accuracy vs latency: the search's trials and Pareto set, and the family's curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator

    fig, ax = plt.subplots(figsize=(7, 4.5))
    searched = [t.metrics["latency_ms"] for t in result.completed] if result is not None else []
    lo, hi = latency_range(family, searched)
    outliers = _search(ax, result, lo, hi) if result is not None and result.completed else 0
    if family.baseline is not None:
        b = family.baseline
        pts = [(m.latency_ms, m.accuracy) for m in b.members if m.accuracy is not None]
        if pts:
            ax.plot(
                *zip(*pts),
                "^--",
                c="tab:green",
                label=f"{b.method} ({b.alpha}, {b.beta}, {b.gamma})",
            )
    _family(ax, family)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    note = f"; {outliers} trial(s) off the axis, at its edge" if outliers else ""
    ax.set_xlabel(f"latency (ms, log scale){note}")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(
        f"(α, β, γ) = ({family.alpha}, {family.beta}, {family.gamma}); "
        "members: index, latency error vs target",
        fontsize=9,
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
