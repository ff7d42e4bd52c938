"""EfficientNet's compound scaling (Tan & Le, 2019): the accuracy-only baseline of LACS.

Depth α^φ, width β^φ, resolution γ^φ with α·β²·γ² ≈ 2, so FLOPs grow by about 2^φ: φ is a
FLOPs budget. α, β, γ are grid-searched once at φ = 1 for the best accuracy (no latency in
the objective), then φ sets each member's size. The published coefficients (α = 1.2,
β = 1.1, γ = 1.15) are :data:`EFFICIENTNET_COEFFICIENTS`.

>>> from accelsearch.scaling import efficientnet as cs
>>> cs.constraint_grid()[:2]                 # triples with α·β²·γ² within 10 % of 2
>>> cs.phi_for_flops(4.0)                    # φ for 4× FLOPs with the published coefficients
>>> cs.CompoundScaling(accuracy=evaluate).run(base, flops_ratios=[2, 4])   # the whole method
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError
from accelsearch.scaling.evaluations import Evaluations
from accelsearch.scaling.family import Family, FamilyMember, GridPoint
from accelsearch.scaling.grid import Triple, default_grid, validate_grid
from accelsearch.scaling.predict import count_flops
from accelsearch.scaling.prune import EFFICIENTNET_COEFFICIENTS
from accelsearch.scaling.rules import compound, space_rounding
from accelsearch.scaling.solve import PhiSolution, PhiSolver

__all__ = [
    "EFFICIENTNET_COEFFICIENTS",
    "CompoundScaling",
    "constraint_grid",
    "flops_growth",
    "phi_for_flops",
    "solve_flops_budget",
]


def flops_growth(triple: Sequence[float] = EFFICIENTNET_COEFFICIENTS) -> float:
    """α·β²·γ²: the factor by which FLOPs grow per unit of φ (≈ 2 under the constraint)."""
    a, b, g = triple
    return a * b * b * g * g


def constraint_grid(
    low: float = 1.0,
    high: float = 1.4,
    step: float = 0.05,
    target: float = 2.0,
    rel_tolerance: float = 0.1,
) -> list[Triple]:
    """Triples of the grid with α·β²·γ² within ``rel_tolerance`` of ``target`` (EfficientNet)."""
    return [
        t
        for t in default_grid(low, high, step)
        if abs(flops_growth(t) / target - 1) <= rel_tolerance
    ]


def phi_for_flops(flops_ratio: float, triple: Sequence[float] = EFFICIENTNET_COEFFICIENTS) -> float:
    """φ such that (α·β²·γ²)^φ = ``flops_ratio`` (EfficientNet's rule, before rounding)."""
    if not flops_ratio > 0:
        raise ConfigError(f"FLOPs ratio must be positive, got {flops_ratio}")
    growth = flops_growth(triple)
    if growth <= 1:
        raise ConfigError(f"(alpha, beta, gamma)={tuple(triple)} does not grow FLOPs")
    return math.log(flops_ratio) / math.log(growth)


class ExactFlops:
    """FLOPs per image counted once per arch (meta device), as a φ-solver measure."""

    def __init__(self, build=None) -> None:
        self.build = build
        self._cache: dict[str, float] = {}

    def __call__(self, arch: Arch) -> tuple[float, bool]:
        key = arch.hash()
        fresh = key not in self._cache
        if fresh:
            self._cache[key] = float(count_flops(arch, self.build)["Global"])
        return self._cache[key], fresh


def solve_flops_budget(
    base: Arch,
    triple: Sequence[float],
    flops_ratio: float,
    *,
    measure_latency: Callable[[Arch], tuple[float, bool]],
    arch_at: Callable[[float], Arch],
    phi_max: float,
    target_ms: float,
    build: Callable[..., Any] | None = None,
    tolerance: float = 0.02,
    counter: ExactFlops | None = None,
) -> PhiSolution:
    """φ whose model does ``flops_ratio`` × the base's FLOPs (counted, rounding included),
    then that model's latency measured; returned against ``target_ms`` (``reason="flops"``)."""
    counter = counter or ExactFlops(build)
    base_flops, _ = counter(base)
    solver = PhiSolver(
        arch_at,
        counter,
        phi_max=phi_max,
        tolerance=0.01,
        max_measurements=40,
        growth=math.log(flops_growth(triple)),
        what="FLOPs",
        unit="FLOPs",
    )
    sol = solver.solve(base_flops * flops_ratio)
    ms, fresh = measure_latency(sol.arch)
    return PhiSolution(
        target=target_ms,
        phi=sol.phi,
        arch=sol.arch,
        value=ms,
        tolerance=tolerance,
        n_measurements=int(fresh),
        reason="flops",
        probes=[],
        notes=[
            f"FLOPs {sol.value:.4g} for a budget of {base_flops * flops_ratio:.4g} ({sol.reason})"
        ],
    )


class CompoundScaling:
    """EfficientNet's accuracy-only compound scaling.

    :meth:`choose` grid-searches (α, β, γ) under α·β²·γ² ≈ 2 at φ = 1 for the best
    accuracy; :meth:`run` then grows a family with φ = log(FLOPs ratio) / log(α·β²·γ²)
    for each FLOPs budget (``coefficients=`` skips the grid search, e.g. with
    :data:`EFFICIENTNET_COEFFICIENTS`). Latency, when a function is given, is measured for
    the record only; it plays no part in the choices.
    """

    def __init__(
        self,
        grid: Sequence[Sequence[float]] | None = None,
        accuracy: Callable[[Arch], float] | None = None,
        latency: Callable[[Arch], Any] | None = None,
        *,
        space: Any = None,
        evaluations: Evaluations | None = None,
        printer: Callable[[str], None] = print,
    ) -> None:
        self.grid = validate_grid(constraint_grid() if grid is None else grid)
        self.evals = evaluations or Evaluations(latency, accuracy)
        if accuracy is not None:
            self.evals.accuracy_fn = accuracy
        if latency is not None:
            self.evals.latency_fn = latency
        self.divisor, self.multiple = space_rounding(space)
        self.print = printer

    def scaled(self, base: Arch, triple: Sequence[float], phi: float) -> Arch:
        return compound(
            base, *triple, phi, channel_divisor=self.divisor, resolution_multiple=self.multiple
        )

    def choose(self, base: Arch) -> tuple[Triple, list[GridPoint]]:
        """The triple whose φ = 1 model is most accurate, and every triple's score."""
        points = []
        for t in self.grid:
            acc = self.evals.accuracy(self.scaled(base, t, 1.0))
            points.append(GridPoint(*t, phi=1.0, accuracy=acc, reward=acc))
            self.print(f"[compound] (α,β,γ)={t}: accuracy {acc:.2f} at φ=1")
        best = max(points, key=lambda g: g.accuracy)
        return (best.alpha, best.beta, best.gamma), points

    def run(
        self,
        base: Arch,
        flops_ratios: Sequence[float],
        name: str = "efficientnet",
        coefficients: Sequence[float] | None = None,
    ) -> Family:
        t0 = time.perf_counter()
        ratios = sorted(float(r) for r in flops_ratios)
        if not ratios or ratios[0] <= 1:
            raise ConfigError(
                f"FLOPs ratios must be > 1 (the base has 1), got {list(flops_ratios)}"
            )
        if coefficients is not None:
            triple, points = validate_grid([coefficients])[0], []
        else:
            triple, points = self.choose(base)
        has_latency = self.evals.latency_fn is not None
        base_ms = self.evals.latency(base)[0] if has_latency else math.nan
        members = []
        for k, r in enumerate([1.0, *ratios]):
            phi = phi_for_flops(r, triple) if r > 1 else 0.0
            arch = self.scaled(base, triple, phi)
            ms, _, fresh = self.evals.latency(arch) if has_latency else (math.nan, None, False)
            acc = self.evals.accuracy(arch) if self.evals.accuracy_fn is not None else None
            target = base_ms * r
            members.append(
                FamilyMember(
                    name=f"{name}-{k}",
                    arch=arch,
                    target_ms=target,
                    alpha=triple[0],
                    beta=triple[1],
                    gamma=triple[2],
                    phi=phi,
                    latency_ms=ms,
                    latency_error=ms / target - 1 if has_latency else math.nan,
                    within_tolerance=False,
                    accuracy=acc,
                    n_measurements=int(fresh),
                    solve="base" if k == 0 else "flops",
                    latency=self.evals.measured(arch).to_dict()
                    if has_latency
                    else {"median_ms": ms},
                )
            )
        return Family.grown(
            name, base, base_ms, triple, members, method="efficientnet", grid=points,
            settings={"flops_ratios": ratios, "phi_from": "flops", **self.evals.stats()},
            wall_s=time.perf_counter() - t0,
        )  # fmt: skip
