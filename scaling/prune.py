"""Pruning LACS's (α, β, γ) grid with a latency predictor, before anything is measured.

The paper's neighbourhood (each of α, β, γ in 1.0-1.4 by 0.05) has 728 triples; measuring
and training each is out of the question. Only the *direction* of a triple matters for
LACS (φ absorbs its magnitude: (1.2, 1.1, 1.15) and (1.44, 1.21, 1.3225) grow the same
family), and the predictor says, for free, which scaled model each triple would use at the
first latency target. So:

1. each triple's φ for the first target is solved on the predictor; triples predicted not to
   reach the target within the multiplier limit are dropped;
2. triples predicted to land on the same architecture are merged into the one nearest the
   anchor's direction (ceiling depth rounding makes this common near the base: any α > 1
   adds a block to every stage at once);
3. when the predictor knows more than FLOPs (a lookup table), triples whose predicted model
   does fewer FLOPs per predicted ms than the median are dropped: at equal latency more
   work usually means more accuracy (EfficientNet-X's operational-intensity argument);
   with the FLOPs predictor this step keeps everything (FLOPs per ms is constant);
4. ``max_triples`` directions are chosen by farthest-point sampling on the unit sphere of
   (log α, log β, log γ), starting from the direction nearest to the anchor (EfficientNet's
   published coefficients), so the measured triples span depth-, width- and
   resolution-heavy scaling instead of crowding near one direction.

The predicted φ of every kept triple is returned too; LACS starts its φ bracket there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from accelsearch.arch import Arch

Triple = tuple[float, float, float]

EFFICIENTNET_COEFFICIENTS: Triple = (1.2, 1.1, 1.15)


@dataclass
class PrunedGrid:
    """What pruning kept, and why the rest went."""

    kept: list[Triple]
    predicted_phi: dict[Triple, float] = field(default_factory=dict)
    predicted_ms: dict[Triple, float] = field(default_factory=dict)
    considered: int = 0
    unreachable: list[Triple] = field(default_factory=list)
    merged: int = 0  # triples predicted to give an arch another triple already gives
    low_efficiency: int = 0
    predictor: str = ""

    def summary(self) -> dict:
        return {
            "considered": self.considered,
            "kept": [list(t) for t in self.kept],
            "predicted_unreachable": len(self.unreachable),
            "merged_same_arch": self.merged,
            "dropped_low_flops_per_ms": self.low_efficiency,
            "predictor": self.predictor,
            "predicted_phi": {
                str(t): round(self.predicted_phi[t], 4)
                for t in self.kept
                if t in self.predicted_phi
            },
        }


def direction(triple: Sequence[float]) -> tuple[float, float, float]:
    """Unit vector of (log α, log β, log γ): the family a triple grows, whatever its size."""
    logs = [math.log(v) for v in triple]
    norm = math.sqrt(sum(v * v for v in logs)) or 1.0
    return (logs[0] / norm, logs[1] / norm, logs[2] / norm)


def _angle(u: Sequence[float], v: Sequence[float]) -> float:
    dot = sum(a * b for a, b in zip(u, v))
    return math.acos(max(-1.0, min(1.0, dot)))


def spread(triples: Sequence[Triple], k: int, anchor: Triple = EFFICIENTNET_COEFFICIENTS):
    """``k`` triples by farthest-point sampling of directions, starting nearest ``anchor``."""
    if k >= len(triples):
        return list(triples)
    dirs = {t: direction(t) for t in triples}
    a = direction(anchor)
    chosen = [min(triples, key=lambda t: (_angle(dirs[t], a), t))]
    while len(chosen) < k:
        far = max(
            (t for t in triples if t not in chosen),
            key=lambda t: (min(_angle(dirs[t], dirs[c]) for c in chosen), t),
        )
        chosen.append(far)
    return chosen


def prune_grid(
    grid: Sequence[Triple],
    target: float,
    arch_at: Callable[[Triple, float], Arch],
    phi_max: Callable[[Triple], float],
    predict: Callable[[Arch], float] | None,
    max_triples: int,
    *,
    flops: Callable[[Arch], float] | None = None,
    anchor: Triple = EFFICIENTNET_COEFFICIENTS,
    predictor_name: str = "",
    reach: float | None = None,
) -> PrunedGrid:
    """Reduce ``grid`` to at most ``max_triples`` triples (module docstring).

    φ is predicted for ``target`` (the first target); reachability is judged against
    ``reach`` (the largest target; default ``target``): a triple that cannot grow that far
    cannot make the family. A grid no larger than ``max_triples`` is kept whole (only
    predicted φ are added): the user chose those triples.
    """
    from accelsearch.scaling.solve import solve_predicted

    out = PrunedGrid(kept=[], considered=len(grid), predictor=predictor_name)
    if predict is None:
        out.kept = list(grid) if len(grid) <= max_triples else spread(grid, max_triples, anchor)
        return out
    groups: dict[str, list[Triple]] = {}
    for t in grid:
        limit = phi_max(t)
        phi = solve_predicted(predict, lambda p, t=t: arch_at(t, p), target, 0.0, limit)
        arch = arch_at(t, phi)
        ms = predict(arch)
        out.predicted_phi[t], out.predicted_ms[t] = phi, ms
        if len(grid) <= max_triples:
            continue
        if predict(arch_at(t, limit)) < (reach or target) * 0.98:
            out.unreachable.append(t)  # even the largest allowed model is predicted too fast
            continue
        groups.setdefault(arch.hash(), []).append(t)
    if len(grid) <= max_triples:
        out.kept = list(grid)
        return out
    # one triple per predicted arch: the one whose direction is nearest the anchor's
    a = direction(anchor)
    candidates = [min(g, key=lambda t: (_angle(direction(t), a), t)) for g in groups.values()]
    out.merged = sum(len(g) - 1 for g in groups.values())
    if flops is not None and len(candidates) > max_triples:
        eff = {t: flops(arch_at(t, out.predicted_phi[t])) / out.predicted_ms[t] for t in candidates}
        values = sorted(eff.values())
        if values and values[-1] > 1.01 * values[0]:
            median = values[len(values) // 2]
            keep = [t for t in candidates if eff[t] >= median]
            out.low_efficiency = len(candidates) - len(keep)
            candidates = keep
    out.kept = spread(candidates, max_triples, anchor)
    return out
