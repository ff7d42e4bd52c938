"""Utilisation-based approximate filtering (Kosaian & Phanishayee).

Accuracy is the expensive objective; throughput and FLOPs are cheap. The filter measures
the cheap ones on many candidates, keeps those that are Pareto-optimal for

* ``(throughput ↑, GPU utilisation ↑)`` (``by="utilization"``), where utilisation =
  achieved FLOP/s ÷ peak FLOP/s = FLOPs per image × images/s ÷ peak; or
* ``(throughput ↑, FLOPs ↑)`` (``by="flops"``, the FLOPs-as-accuracy-proxy baseline),

and evaluates accuracy only on those. The reasoning: at equal throughput a candidate that
keeps the GPU busier does more arithmetic per image, which tends to buy accuracy; one that
is both slower and less busy than another is unlikely to be on the final
accuracy-throughput front. The peak only scales utilisation, so it does not change which
candidates are kept (pass it to report utilisation in [0, 1]).

``fronts`` keeps more than the first non-dominated front (the 2nd, 3rd, ... fronts), trading
accuracy evaluations for a better final front; ``max_keep`` caps the count.

>>> f = UtilizationFilter(by="utilization", fronts=2)
>>> run = f.run(candidates, cheap=lambda c: CheapMetrics(thr, flops), accuracy=train)
>>> run.kept, run.evaluations, run.front
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from accelsearch.core.errors import AccelSearchError, ConfigError, choices_text
from accelsearch.objectives.reward import non_dominated_sort, pareto_front

T = TypeVar("T")
FILTER_BY = ("utilization", "flops")


def utilization(flops_per_image: float, throughput: float, peak_flops: float) -> float:
    """Achieved FLOP/s ÷ peak FLOP/s (``throughput`` in images/s, ``peak_flops`` FLOP/s)."""
    if peak_flops <= 0:
        raise ConfigError(f"peak FLOP/s must be positive, got {peak_flops}")
    return float(flops_per_image) * float(throughput) / float(peak_flops)


def throughput_from_latency(latency_ms: float, batch_size: int) -> float:
    """Images per second of a batch of ``batch_size`` that takes ``latency_ms``."""
    if latency_ms <= 0:
        raise ConfigError(f"latency must be positive, got {latency_ms} ms")
    return float(batch_size) * 1000.0 / float(latency_ms)


@dataclass(frozen=True)
class CheapMetrics:
    """What the filter needs of one candidate: images/s and FLOPs per image."""

    throughput: float
    flops: float
    latency_ms: float | None = None
    batch_size: int | None = None

    @property
    def achieved_flops(self) -> float:
        """FLOP/s the candidate sustains."""
        return self.flops * self.throughput


@dataclass
class FilterRun(Generic[T]):
    """Everything one filtering run saw and chose."""

    candidates: list[T]
    cheap: list[CheapMetrics]
    kept: list[int]  # indices into candidates, in evaluation order
    accuracy: dict[int, float] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    by: str = "utilization"

    @property
    def evaluations(self) -> int:
        return len(self.accuracy) + len(self.failed)

    @property
    def front(self) -> list[int]:
        """Indices on the accuracy ↑ / throughput ↑ front of the evaluated candidates."""
        idx = sorted(self.accuracy)
        if not idx:
            return []
        pts = [[self.accuracy[i], self.cheap[i].throughput] for i in idx]
        return [idx[j] for j in pareto_front(pts, ["max", "max"])]

    def points(self) -> np.ndarray:
        """(accuracy, throughput) of every evaluated candidate."""
        idx = sorted(self.accuracy)
        return np.asarray([[self.accuracy[i], self.cheap[i].throughput] for i in idx], float)


class UtilizationFilter:
    """Keeps the candidates on the first ``fronts`` fronts of (throughput, ``by``)."""

    def __init__(
        self,
        by: str = "utilization",
        fronts: int = 1,
        max_keep: int | None = None,
        min_keep: int = 1,
    ) -> None:
        if by not in FILTER_BY:
            raise ConfigError(f"filter by {by!r}; valid choices: {choices_text(FILTER_BY)}")
        if fronts < 1:
            raise ConfigError(f"fronts must be >= 1, got {fronts}")
        if max_keep is not None and max_keep < 1:
            raise ConfigError(f"max_keep must be >= 1 or None, got {max_keep}")
        if min_keep < 1:
            raise ConfigError(f"min_keep must be >= 1, got {min_keep}")
        self.by = by
        self.fronts = fronts
        self.max_keep = max_keep
        self.min_keep = min_keep

    def describe(self) -> str:
        cap = f", at most {self.max_keep}" if self.max_keep else ""
        return f"utilization-filter(throughput × {self.by}, {self.fronts} front(s){cap})"

    def objectives(self, cheap: Sequence[CheapMetrics]) -> np.ndarray:
        """The n×2 array the filter sorts: (throughput, utilisation or FLOPs), both max."""
        thr = np.asarray([c.throughput for c in cheap], dtype=float)
        flops = np.asarray([c.flops for c in cheap], dtype=float)
        second = thr * flops if self.by == "utilization" else flops
        return np.column_stack([thr, second])

    def select(self, cheap: Sequence[CheapMetrics]) -> list[int]:
        """Indices to evaluate: whole fronts, best first, until ``fronts`` fronts and at
        least ``min_keep`` candidates are taken; capped at ``max_keep`` (spread evenly
        along throughput within the last front taken). Fastest first within a front."""
        if not cheap:
            return []
        pts = self.objectives(cheap)
        chosen: list[int] = []
        for k, front in enumerate(non_dominated_sort(pts, ["max", "max"])):
            if k >= self.fronts and len(chosen) >= self.min_keep:
                break
            order = sorted(front.tolist(), key=lambda i: -pts[i, 0])
            room = None if self.max_keep is None else self.max_keep - len(chosen)
            if room is not None and len(order) > room:
                picks = np.unique(np.linspace(0, len(order) - 1, room).round().astype(int))
                order = [order[p] for p in picks]
            chosen.extend(order)
            if self.max_keep is not None and len(chosen) >= self.max_keep:
                break
        return chosen

    def run(
        self,
        candidates: Sequence[T],
        cheap: Callable[[T], CheapMetrics] | Sequence[CheapMetrics],
        accuracy: Callable[[T], float],
        on_error: Callable[[T, Exception], Any] | None = None,
    ) -> FilterRun[T]:
        """Screen ``candidates`` with ``cheap`` (a function or the metrics, one per
        candidate), then call ``accuracy`` on the kept ones.

        An :class:`~accelsearch.errors.AccelSearchError` from ``accuracy`` (a diverging
        candidate, ...) is recorded in ``FilterRun.failed`` and the run goes on.
        """
        cands = list(candidates)
        metrics = list(cheap) if not callable(cheap) else [cheap(c) for c in cands]
        if len(metrics) != len(cands):
            raise ConfigError(f"{len(metrics)} cheap metrics for {len(cands)} candidates")
        run = FilterRun(cands, metrics, self.select(metrics), by=self.by)
        for i in run.kept:
            try:
                run.accuracy[i] = float(accuracy(cands[i]))
            except AccelSearchError as exc:
                run.failed[i] = str(exc)
                if on_error is not None:
                    on_error(cands[i], exc)
        return run
