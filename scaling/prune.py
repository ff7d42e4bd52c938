"""Pruning LACS's (α, β, γ) grid with a latency predictor, before anything is measured.

The paper's neighbourhood (each of α, β, γ in 1.0-1.4 by 0.05) has 728 triples; measuring
and training each is out of the question. Only the *direction* of a triple matters for
LACS (φ absorbs its magnitude: (1.2, 1.1, 1.15) and (1.44, 1.21, 1.3225) grow the same
family), and the predictor says, for free, which scaled model each triple would use at the
first latency target. So:

1. each triple's φ for the first target is solved on the predictor; triples predicted not to
   reach the target within the multiplier limit are dropped;
2. a triple predicted to land on an architecture that an earlier one already gives is
   skipped (ceiling depth rounding makes this common near the base: any α > 1 adds a block
   to every stage at once);
3. when the predictor knows more than FLOPs (a lookup table), triples whose predicted model
   does fewer FLOPs per predicted ms than the median are dropped: at equal latency more
   work usually means more accuracy (EfficientNet-X's operational-intensity argument);
   with the FLOPs predictor this step keeps everything (FLOPs per ms is constant);
4. triples are examined in farthest-point order on the unit sphere of (log α, log β,
   log γ), starting from the direction nearest to the anchor (EfficientNet's published
   coefficients), and the first ``max_triples`` that survive are kept: they span depth-,
   width- and resolution-heavy scaling instead of crowding near one direction, and the
   predictor is asked about a few dozen triples, not all 728.

The predicted φ of every kept triple is returned too; LACS starts its φ bracket there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from accelsearch.core.arch import Arch
from accelsearch.scaling.solve import solve_predicted

Triple = tuple[float, float, float]

EFFICIENTNET_COEFFICIENTS: Triple = (1.2, 1.1, 1.15)


@dataclass
class PrunedGrid:
    """What pruning kept, and why the rest went."""

    kept: list[Triple]
    predicted_phi: dict[Triple, float] = field(default_factory=dict)
    predicted_ms: dict[Triple, float] = field(default_factory=dict)
    considered: int = 0  # triples in the grid
    examined: int = 0  # triples whose φ the predictor solved
    unreachable: list[Triple] = field(default_factory=list)
    merged: int = 0  # triples predicted to give an arch another triple already gives
    low_efficiency: int = 0
    predictor: str = ""

    def summary(self) -> dict:
        return {
            "considered": self.considered,
            "examined": self.examined,
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


def farthest_order(triples: Sequence[Triple], anchor: Triple = EFFICIENTNET_COEFFICIENTS):
    """Triples in farthest-point order of their directions, starting nearest ``anchor``.

    Each next triple is the one whose direction is farthest from every earlier one (ties:
    the larger triple), so any prefix spans the directions as evenly as it can; triples
    with a direction already taken come last.
    """
    if not triples:
        return
    dirs = [direction(t) for t in triples]
    a = direction(anchor)
    start = min(range(len(triples)), key=lambda i: (_angle(dirs[i], a), triples[i]))
    nearest = [_angle(d, dirs[start]) for d in dirs]
    taken = [False] * len(triples)
    i = start
    while True:
        taken[i] = True
        yield triples[i]
        free = [j for j in range(len(triples)) if not taken[j]]
        if not free:
            return
        i = max(free, key=lambda j: (round(nearest[j], 12), triples[j]))
        nearest = [min(nearest[j], _angle(dirs[j], dirs[i])) for j in range(len(triples))]


def spread(triples: Sequence[Triple], k: int, anchor: Triple = EFFICIENTNET_COEFFICIENTS):
    """The first ``k`` triples of :func:`farthest_order`."""
    out = []
    for t in farthest_order(triples, anchor):
        if len(out) >= k:
            break
        out.append(t)
    return out


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
    pool: int | None = None,
) -> PrunedGrid:
    """Reduce ``grid`` to at most ``max_triples`` triples (module docstring).

    Triples are examined in :func:`farthest_order`; each costs one φ solve on the predictor
    (no measurement). φ is predicted for ``target`` (the grid search's target);
    reachability is judged against ``reach`` (the largest target; default ``target``): a
    triple that cannot grow that far cannot make the family. With ``flops``, ``pool``
    distinct candidates (default 3 × ``max_triples``) are collected before the FLOPs-per-ms
    filter; without, the first ``max_triples`` distinct ones are kept. A grid no larger
    than ``max_triples`` is kept whole (only predicted φ are added): the user chose it.
    """
    out = PrunedGrid(kept=[], considered=len(grid), predictor=predictor_name)
    small = len(grid) <= max_triples
    if predict is None:
        out.kept = list(grid) if small else spread(grid, max_triples, anchor)
        return out
    want = len(grid) if small else (pool or (3 * max_triples if flops else max_triples))
    candidates: list[Triple] = []
    seen: set[str] = set()
    for t in grid if small else farthest_order(grid, anchor):
        if len(candidates) >= want:
            break
        limit = phi_max(t)
        phi = solve_predicted(predict, lambda p, t=t: arch_at(t, p), target, 0.0, limit)
        arch = arch_at(t, phi)
        out.predicted_phi[t], out.predicted_ms[t] = phi, predict(arch)
        out.examined += 1
        if small:
            candidates.append(t)
            continue
        if predict(arch_at(t, limit)) < (reach or target) * 0.98:
            out.unreachable.append(t)  # even the largest allowed model is predicted too fast
            continue
        key = arch.hash()
        if key in seen:
            out.merged += 1
            continue
        seen.add(key)
        candidates.append(t)
    if small:
        out.kept = list(grid)
        return out
    if flops is not None and len(candidates) > max_triples:
        eff = {t: flops(arch_at(t, out.predicted_phi[t])) / out.predicted_ms[t] for t in candidates}
        values = sorted(eff.values())
        if values[-1] > 1.01 * values[0]:  # the predictor knows more than FLOPs
            median = values[len(values) // 2]
            keep = [t for t in candidates if eff[t] >= median]
            out.low_efficiency = len(candidates) - len(keep)
            candidates = keep
    out.kept = candidates[:max_triples]
    return out
