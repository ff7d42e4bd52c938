"""The comparison maths: a baseline model against the found family's accuracy-latency curve.

The family's curve is its members' (latency, proxy accuracy) points joined piecewise-linearly
in log latency. For a baseline at (L_b, A_b):

* **accuracy gain at equal latency**: the curve's accuracy at L_b minus A_b; only when L_b
  lies inside the family's latency range (no extrapolation);
* **speed-up at equal proxy accuracy**: L_b ÷ the lowest latency at which the curve reaches
  A_b; only when the curve crosses A_b. Where the family's fastest member is already at
  least as accurate, the speed-up is only bounded (``speedup_at_least`` = L_b ÷ its
  latency); where no member reaches A_b there is none.

Per line of baselines (e.g. EfficientNet-B0…B3), the in-range values are summarised (mean
accuracy gain, geometric-mean speed-up) and the models outside the range are named.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

IN_RANGE = "in_range"
#: latency positions outside the family's range
FASTER, SLOWER = "faster_than_family", "slower_than_family"
#: accuracy positions outside the family's range
BELOW, ABOVE = "below_family", "above_family"


@dataclass(frozen=True)
class Curve:
    """(latency_ms, accuracy) points, latency ascending; equal latencies are averaged."""

    points: tuple[tuple[float, float], ...]

    @classmethod
    def of(cls, pairs: Iterable[tuple[float | None, float | None]]) -> Curve:
        by_latency: dict[float, list[float]] = {}
        for lat, acc in pairs:
            if _usable(lat) and lat > 0 and _usable(acc):
                by_latency.setdefault(float(lat), []).append(float(acc))
        pts = tuple((lat, sum(a) / len(a)) for lat, a in sorted(by_latency.items()))
        return cls(pts)

    def __bool__(self) -> bool:
        return bool(self.points)

    @property
    def latency_range(self) -> tuple[float, float]:
        return self.points[0][0], self.points[-1][0]

    def accuracy_at(self, latency_ms: float) -> float | None:
        """The curve's accuracy at ``latency_ms`` (log-linear); None outside its range."""
        lo, hi = self.latency_range
        if not (lo * (1 - 1e-9) <= latency_ms <= hi * (1 + 1e-9)):
            return None
        if len(self.points) == 1:
            return self.points[0][1]
        x = math.log(min(max(latency_ms, lo), hi))
        for (l0, a0), (l1, a1) in zip(self.points, self.points[1:]):
            x0, x1 = math.log(l0), math.log(l1)
            if x <= x1:
                return a0 + (a1 - a0) * (x - x0) / (x1 - x0)
        return self.points[-1][1]

    def latency_for(self, accuracy: float) -> tuple[float | None, str]:
        """(lowest latency at which the curve reaches ``accuracy``, position).

        ``IN_RANGE`` with the interpolated latency; ``BELOW`` with the fastest member's
        latency when that member is already at least as accurate (the true equal-accuracy
        latency is lower, unknown); ``ABOVE`` with None when no member reaches it.
        """
        first_lat, first_acc = self.points[0]
        if first_acc >= accuracy:
            return first_lat, BELOW
        for (l0, a0), (l1, a1) in zip(self.points, self.points[1:]):
            if a0 < accuracy <= a1:
                x0, x1 = math.log(l0), math.log(l1)
                return math.exp(x0 + (x1 - x0) * (accuracy - a0) / (a1 - a0)), IN_RANGE
        return None, ABOVE


@dataclass
class PointComparison:
    """One baseline model against the family's curve."""

    model: str
    line: str
    latency_ms: float
    accuracy: float | None
    family_accuracy: float | None = None  # the curve at the baseline's latency
    accuracy_gain: float | None = None  # family − baseline, points, at equal latency
    latency_position: str = IN_RANGE
    family_latency_ms: float | None = None  # the curve's latency at the baseline's accuracy
    speedup: float | None = None  # baseline latency ÷ family latency, at equal accuracy
    speedup_at_least: float | None = None  # bound when the fastest member is as accurate
    accuracy_position: str = IN_RANGE

    def notes(self, curve: Curve) -> list[str]:
        """Why a value is missing or only a bound (no extrapolation without saying so)."""
        lo, hi = curve.latency_range
        out = []
        if self.latency_position == FASTER:
            out.append(
                f"{self.model} ({self.latency_ms:.3g} ms) is faster than the family's fastest "
                f"member ({lo:.3g} ms): no accuracy at equal latency"
            )
        elif self.latency_position == SLOWER:
            out.append(
                f"{self.model} ({self.latency_ms:.3g} ms) is slower than the family's slowest "
                f"member ({hi:.3g} ms): no accuracy at equal latency"
            )
        if self.accuracy_position == BELOW and self.speedup_at_least is not None:
            out.append(
                f"the family's fastest member ({lo:.3g} ms) is already at least as accurate as "
                f"{self.model} ({self.accuracy:.2f} %): speed-up at least "
                f"{self.speedup_at_least:.2f}x, not interpolated"
            )
        elif self.accuracy_position == ABOVE:
            best = max(a for _, a in curve.points)
            out.append(
                f"{self.model} ({self.accuracy:.2f} %) is more accurate than every member "
                f"(best {best:.2f} %): no latency at equal accuracy"
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_point(
    curve: Curve, model: str, line: str, latency_ms: float, accuracy
) -> PointComparison:
    """``model`` (at ``latency_ms``, ``accuracy`` or None) against ``curve``."""
    p = PointComparison(model, line, float(latency_ms), accuracy)
    lo, hi = curve.latency_range
    p.family_accuracy = curve.accuracy_at(latency_ms)
    if p.family_accuracy is None:
        p.latency_position = FASTER if latency_ms < lo else SLOWER
    elif _usable(accuracy):
        p.accuracy_gain = p.family_accuracy - accuracy
    if not _usable(accuracy):
        p.accuracy_position = ""
        return p
    lat, p.accuracy_position = curve.latency_for(accuracy)
    if p.accuracy_position == IN_RANGE:
        p.family_latency_ms = lat
        p.speedup = latency_ms / lat
    elif p.accuracy_position == BELOW:
        p.speedup_at_least = latency_ms / lat
    return p


@dataclass
class LineSummary:
    """A line of baselines (e.g. EfficientNet-B0…B3) against the family, in a sentence."""

    line: str
    models: list[str]
    n_gain: int = 0
    accuracy_gain_mean: float | None = None
    accuracy_gain_min: float | None = None
    accuracy_gain_max: float | None = None
    n_speedup: int = 0
    speedup_geomean: float | None = None
    speedup_min: float | None = None
    speedup_max: float | None = None
    outside: list[str] = field(default_factory=list)
    statement: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise_line(line: str, points: Sequence[PointComparison], curve: Curve) -> LineSummary:
    s = LineSummary(line, [p.model for p in points])
    gains = [p.accuracy_gain for p in points if p.accuracy_gain is not None]
    speedups = [p.speedup for p in points if p.speedup is not None]
    if gains:
        s.n_gain = len(gains)
        s.accuracy_gain_mean = sum(gains) / len(gains)
        s.accuracy_gain_min, s.accuracy_gain_max = min(gains), max(gains)
    if speedups:
        s.n_speedup = len(speedups)
        s.speedup_geomean = math.exp(sum(math.log(v) for v in speedups) / len(speedups))
        s.speedup_min, s.speedup_max = min(speedups), max(speedups)
    for p in points:
        s.outside += p.notes(curve)
    if all(not _usable(p.accuracy) for p in points):
        s.statement = (
            f"{line}: measured for latency only (no proxy accuracy): no comparison at equal "
            "accuracy or latency."
        )
    else:
        s.statement = _statement(s, len(points))
    return s


def _statement(s: LineSummary, n: int) -> str:
    parts = []
    if s.speedup_geomean is not None:
        spread = f": {s.speedup_min:.2f}-{s.speedup_max:.2f}x" if s.n_speedup > 1 else ""
        parts.append(
            f"at equal proxy accuracy the family is {s.speedup_geomean:.2f}x as fast "
            f"(geometric mean over {s.n_speedup} of {n} models{spread})"
        )
    else:
        parts.append("no model lies inside the family's accuracy range: no speed-up")
    if s.accuracy_gain_mean is not None:
        spread = (
            f": {s.accuracy_gain_min:+.2f} to {s.accuracy_gain_max:+.2f}" if s.n_gain > 1 else ""
        )
        parts.append(
            f"at equal latency it is {s.accuracy_gain_mean:+.2f} points of proxy accuracy "
            f"(mean over {s.n_gain} of {n} models{spread})"
        )
    else:
        parts.append("no model lies inside the family's latency range: no accuracy gain")
    text = f"{s.line}: " + "; ".join(parts) + "."
    if s.outside:
        text += " Outside the family's range, not extrapolated: " + "; ".join(s.outside) + "."
    return text


def compare_lines(
    curve: Curve, rows: Sequence[dict[str, Any]]
) -> tuple[list[PointComparison], list[LineSummary]]:
    """Every measured baseline (``{"model", "line", "latency_ms", "accuracy"}``) against
    ``curve``, and one summary per line (in the order the lines first appear)."""
    if not curve:
        return [], []
    points = [
        compare_point(curve, r["model"], r["line"], r["latency_ms"], r.get("accuracy"))
        for r in rows
        if _usable(r.get("latency_ms"))
    ]
    lines: dict[str, list[PointComparison]] = {}
    for p in points:
        lines.setdefault(p.line, []).append(p)
    return points, [summarise_line(line, pts, curve) for line, pts in lines.items()]


def _usable(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
