"""LACS: latency-aware compound scaling (EfficientNet-X §4, §5.2).

A family grows from one base model m1 by ``d = α^φ, w = β^φ, r = γ^φ`` (α, β, γ ≥ 1) with φ
spending a *latency* budget:

1. the grid of (α, β, γ) (default: the paper's neighbourhood, 1.0-1.4 by 0.05) is pruned
   with a latency predictor to ``max_triples`` (:mod:`.prune`);
2. for each kept triple, φ is solved on *measured* latency so that the scaled model hits the
   first (smallest) target within ``tolerance`` (:mod:`.solve`: bracketing, corrected
   prediction or log-interpolation, bisection; plateaus from rounding handled);
3. each such model's accuracy is evaluated and scored with the search's reward; the triple
   with the best reward wins;
4. φ is solved for every target with that triple; each member's latency is measured.

Every latency and accuracy is cached by arch (:class:`.Evaluations`), and each member
records how many new measurements it cost. :meth:`LACS.grow_fixed` (:mod:`.fixed`) grows a
family with given coefficients (EfficientNet's accuracy-only ones for the built-in
comparison), φ solved on latency (equal latency, as in EfficientNet-X's ablation) or on the
FLOPs budget the latency targets imply.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError
from accelsearch.objectives.reward import mnas_reward
from accelsearch.scaling.efficientnet import ExactFlops as ExactFlops
from accelsearch.scaling.efficientnet import solve_flops_budget as solve_flops_budget
from accelsearch.scaling.evaluations import Evaluations
from accelsearch.scaling.family import Family, GridPoint
from accelsearch.scaling.fixed import PHI_FROM as PHI_FROM
from accelsearch.scaling.fixed import FixedCoefficientGrowth
from accelsearch.scaling.grid import (
    Triple,
    check_targets,
    default_grid,
    resolve_targets,
    validate_grid,
)
from accelsearch.scaling.members import CostFn, EfficiencyFn, MemberMaker
from accelsearch.scaling.members import same_family_as as same_family_as
from accelsearch.scaling.predict import LatencyPredictor, StageFlops, make_predictor
from accelsearch.scaling.prune import EFFICIENTNET_COEFFICIENTS as EFFICIENTNET_COEFFICIENTS
from accelsearch.scaling.prune import PrunedGrid, prune_grid
from accelsearch.scaling.rules import compound, scale, space_rounding
from accelsearch.scaling.solve import PhiSolution, PhiSolver, UnreachableTargetError

# the `X as X` imports re-export names importable from here before .fixed was split off

LatencyFn = Callable[[Arch], object]  # returns a LatencyResult or a float (ms)

__all__ = ["LACS", "UnreachableTargetError"]


class LACS(FixedCoefficientGrowth):
    """Latency-aware compound scaling.

    ``latency(arch)`` measures an arch (a LatencyResult or ms); ``accuracy(arch)`` estimates
    its accuracy in percent; ``reward(acc, lat, target)`` scores it (default: MnasNet reward
    with w = −0.09, the search's reward). ``predictor`` ("flops", "lut", "none", a
    :class:`~.predict.LatencyPredictor` or a function arch -> ms; ``predictor_options`` go
    to its constructor, e.g. the lookup table's batch size and precision) prunes the grid to
    ``max_triples`` and places φ's first probe. ``max_multiplier`` bounds α^φ, β^φ and γ^φ.
    ``grid_target`` is the index (in ascending order) of the target the grid search scales
    to: 0, the first (smallest) target, as in the paper; -1 the largest.
    Rounding follows ``space`` (its ``resolution_multiple``) unless given explicitly.
    """

    def __init__(
        self,
        grid: Sequence[Sequence[float]] | None = None,
        latency: LatencyFn | None = None,
        accuracy: Callable[[Arch], float] | None = None,
        reward: Callable[[float, float, float], float] | None = None,
        *,
        predictor: Any = "flops",
        predictor_options: dict[str, Any] | None = None,
        max_triples: int = 6,
        grid_target: int = 0,
        tolerance: float = 0.02,
        max_measurements: int = 12,
        max_multiplier: float = 8.0,
        space: Any = None,
        resolution_multiple: int | None = None,
        channel_divisor: int | None = None,
        evaluations: Evaluations | None = None,
        build: Callable[..., Any] | None = None,
        printer: Callable[[str], None] = print,
    ) -> None:
        self.grid = validate_grid(default_grid() if grid is None else grid)
        if not 0 < tolerance < 1:
            raise ConfigError(f"LACS tolerance must be in (0, 1), got {tolerance}")
        if max_measurements < 2:
            raise ConfigError(f"LACS max_measurements must be >= 2, got {max_measurements}")
        if max_triples < 1:
            raise ConfigError(f"LACS max_triples must be >= 1, got {max_triples}")
        if not max_multiplier > 1:
            raise ConfigError(f"LACS max_multiplier must be > 1, got {max_multiplier}")
        self.evals = evaluations or Evaluations(latency, accuracy)
        if latency is not None:
            self.evals.latency_fn = latency
        if accuracy is not None:
            self.evals.accuracy_fn = accuracy
        self.reward_fn = reward if reward is not None else mnas_reward
        if build is None and space is not None and hasattr(space, "build"):
            build = space.build
        self.build = build
        self.predictor_spec = predictor
        self.predictor_options = dict(predictor_options or {})
        self.predictor: LatencyPredictor | None = None
        self.max_triples = int(max_triples)
        self.grid_target = int(grid_target)
        self.tolerance = float(tolerance)
        self.max_measurements = int(max_measurements)
        self.max_multiplier = float(max_multiplier)
        divisor, multiple = space_rounding(space)
        self.channel_divisor = int(channel_divisor or divisor)
        self.resolution_multiple = int(resolution_multiple or multiple)
        self.print = printer
        self._flops = None

    # -- shared pieces ---------------------------------------------------------------------------
    @property
    def measurements(self) -> int:
        return self.evals.measurements

    def latency(self, arch: Arch) -> tuple[float, object, bool]:
        """(ms, result, fresh) for ``arch``, from the cache when it was measured before."""
        return self.evals.latency(arch)

    def scaled(self, base: Arch, triple: Sequence[float], phi: float) -> Arch:
        a, b, g = triple
        return compound(
            base,
            a,
            b,
            g,
            phi,
            channel_divisor=self.channel_divisor,
            resolution_multiple=self.resolution_multiple,
        )

    def phi_max(self, triple: Sequence[float]) -> float:
        """Largest φ keeping every multiplier within ``max_multiplier``."""
        growth = max(math.log(v) for v in triple)
        return math.log(self.max_multiplier) / growth

    def _prepare(self, base: Arch) -> float:
        base_ms, _, _ = self.evals.latency(base)
        if self.predictor is None and self.predictor_spec not in (None, "none"):
            options = {"build": self.build} if self.predictor_spec == "flops" else {}
            self.predictor = make_predictor(
                self.predictor_spec, **{**options, **self.predictor_options}
            )
            self.predictor.calibrate(base, base_ms)
        return base_ms

    def _flops_of(self, base: Arch):
        """FLOPs per image of archs scaled from ``base`` (estimated per stage; microseconds)."""
        if self._flops is None or self._flops.base != base:
            model = getattr(self.predictor, "model", None)
            self._flops = model if isinstance(model, StageFlops) and model.base == base else None
            if self._flops is None:
                self._flops = StageFlops(base, self.build)
        return self._flops.flops

    def solver(self, base: Arch, triple: Sequence[float]) -> PhiSolver:
        a, b, g = triple
        predict = self.predictor.predict_ms if self.predictor is not None else None
        return PhiSolver(
            lambda phi: self.scaled(base, triple, phi),
            self.evals.measure,
            phi_max=self.phi_max(triple),
            tolerance=self.tolerance,
            max_measurements=self.max_measurements,
            predict=predict,
            growth=math.log(a * b * b * g * g),
            remainders=[
                ("resolution", self._holding(base, triple, ("resolution",))),
                ("resolution+depth", self._holding(base, triple, ("resolution", "depth"))),
            ],
        )

    def _holding(self, base: Arch, triple: Sequence[float], held: tuple[str, ...]):
        """``make(φ_lo)``: an ``arch_at(φ)`` that keeps the ``held`` dimensions where the
        family is at ``φ_lo`` and scales the others with φ (resolution moves in coarse steps,
        so on a plateau depth and width can take up the rest of the latency budget). A
        triple that grows resolution alone (α = β = 1) lets width grow at γ's rate instead:
        width² and resolution² cost about the same."""
        a, b, g = triple

        def make(phi_lo: float):
            lo = self.scaled(base, triple, phi_lo)

            def width(phi: float) -> float:
                if "width" in held:
                    return b**phi_lo
                return g ** (phi - phi_lo) if a == b == 1.0 else b**phi

            def arch_at(phi: float) -> Arch:
                return scale(
                    base,
                    depth=a ** (phi_lo if "depth" in held else phi),
                    width=width(phi),
                    resolution=lo.resolution / base.resolution if "resolution" in held
                    else g**phi,
                    channel_divisor=self.channel_divisor,
                    resolution_multiple=self.resolution_multiple,
                )  # fmt: skip

            return arch_at

        return make

    def solve(
        self, base: Arch, triple: Sequence[float], target_ms: float, phi_guess: float | None = None
    ) -> PhiSolution:
        """φ such that the scaled base's measured latency is ``target_ms`` (within tolerance)."""
        triple = validate_grid([triple])[0]
        self._prepare(base)
        return self.solver(base, triple).solve(float(target_ms), phi_guess)

    def prune(self, base: Arch, target_ms: float, reach_ms: float | None = None) -> PrunedGrid:
        """The grid reduced to ``max_triples`` with the predictor (see :mod:`.prune`)."""
        self._prepare(base)
        predict = self.predictor.predict_ms if self.predictor is not None else None
        # FLOPs per predicted ms says something only when the predictor is not FLOPs itself
        knows_more = self.predictor is not None and self.predictor.name != "flops"
        flops = self._flops_of(base) if knows_more else None
        return prune_grid(
            self.grid,
            target_ms,
            lambda t, phi: self.scaled(base, t, phi),
            self.phi_max,
            predict,
            self.max_triples,
            flops=flops,
            predictor_name=self.predictor.describe() if self.predictor is not None else "none",
            reach=reach_ms,
        )

    # -- the whole method ------------------------------------------------------------------------
    def run(
        self,
        base: Arch,
        targets_ms: Sequence[float] | None = None,
        name: str = "family",
        base_accuracy: float | None = None,
        cost: CostFn | None = None,
        efficiency: EfficiencyFn | None = None,
        *,
        targets_x: Sequence[float] | None = None,
    ) -> Family:
        """Grid-search (α, β, γ) on the first target, then solve φ for every target.

        Targets are absolute (``targets_ms``) or multiples of the base model's latency as
        measured here (``targets_x``, e.g. ``[1.5, 2, 3]``). ``cost(arch)`` gives params and
        FLOPs, ``efficiency(arch, latency_result)`` intensity and utilisation (both optional;
        ``latency_result`` is None when the latency function gives bare milliseconds).
        """
        if (targets_ms is None) == (targets_x is None):
            raise ConfigError("LACS.run needs latency targets: give targets_ms or targets_x")
        if self.evals.accuracy_fn is None and not self.evals._accuracy:
            raise ConfigError("LACS needs an accuracy function to choose (alpha, beta, gamma)")
        t0 = time.perf_counter()
        m0 = self.evals.measurements
        self._say_restored()
        base_ms = self._prepare(base)
        targets = self._run_targets(targets_ms, targets_x, base_ms)
        first = self._grid_target_of(targets)
        if base_accuracy is not None:
            self.evals.set_accuracy(base, base_accuracy)
        pruned = self.prune(base, first, targets[-1])
        self.print(
            f"[lacs] base {base_ms:.3f} ms; targets {', '.join(f'{t:.3f}' for t in targets)} ms; "
            f"grid {pruned.considered} -> {len(pruned.kept)} triples "
            f"(predictor {pruned.predictor})"
        )
        grid_points, solutions = self._grid_search(base, pruned, first)
        triple = self._best_triple(grid_points, solutions, first)
        self.print(f"[lacs] chosen (α,β,γ)={triple}")
        members = MemberMaker(self.evals, self.reward_fn, self.print, cost, efficiency).members(
            base, base_ms, triple, targets, name, self.solver(base, triple).solve,
            {first: solutions[triple]},
        )  # fmt: skip
        return Family.grown(
            name, base, base_ms, triple, members, method="lacs", grid=grid_points,
            settings=self._settings(targets, m0, pruned), wall_s=time.perf_counter() - t0,
        )  # fmt: skip

    def _say_restored(self) -> None:
        if any(self.evals.restored):
            self.print(
                f"[lacs] going on from the checkpoint {self.evals.path}: "
                f"{self.evals.restored[0]} latencies and {self.evals.restored[1]} accuracies "
                "are known and will not be measured or evaluated again"
            )

    @staticmethod
    def _run_targets(
        targets_ms: Sequence[float] | None, targets_x: Sequence[float] | None, base_ms: float
    ) -> list[float]:
        """The run's targets in ms, sorted: ``targets_ms``, or ``targets_x`` × ``base_ms``."""
        if targets_x is not None:
            if len(targets_x) == 0:
                raise ConfigError("LACS needs at least one latency target")
            targets_ms = resolve_targets([(float(x), True) for x in targets_x], base_ms)
        return check_targets(targets_ms, base_ms)

    def _grid_target_of(self, targets: list[float]) -> float:
        try:
            return targets[self.grid_target]
        except IndexError:
            raise ConfigError(
                f"LACS grid_target={self.grid_target} but there are {len(targets)} targets"
            ) from None

    def _grid_search(
        self, base: Arch, pruned: PrunedGrid, target: float
    ) -> tuple[list[GridPoint], dict[Triple, PhiSolution]]:
        """Each kept triple scaled to ``target`` on measured latency and scored (step 3)."""
        grid_points: list[GridPoint] = []
        solutions: dict[Triple, PhiSolution] = {}
        for i, triple in enumerate(pruned.kept):
            gp = GridPoint(*triple, predicted_phi=pruned.predicted_phi.get(triple))
            try:
                solutions[triple] = self._score(gp, base, triple, target)
            except UnreachableTargetError as exc:
                gp.error = str(exc)
            grid_points.append(gp)
            self.print(
                f"[lacs] grid {i + 1}/{len(pruned.kept)} (α,β,γ)={triple}: "
                + (
                    f"φ={gp.phi:.4g}, {gp.latency_ms:.3f} ms, acc {gp.accuracy:.2f}, "
                    f"reward {gp.reward:.3f}, {gp.n_measurements} measurements"
                    if gp.error is None
                    else f"skipped: {gp.error}"
                )
            )
        return grid_points, solutions

    def _score(self, gp: GridPoint, base: Arch, triple: Triple, target: float) -> PhiSolution:
        """φ of ``triple`` for ``target``, its model's accuracy and reward, written to ``gp``."""
        sol = self.solver(base, triple).solve(target, gp.predicted_phi)
        acc = self.evals.accuracy(sol.arch)
        gp.phi, gp.latency_ms, gp.accuracy = sol.phi, sol.value, acc
        gp.reward = float(self.reward_fn(acc, sol.value, target))
        gp.n_measurements = sol.n_measurements
        return sol

    def _best_triple(
        self, grid_points: list[GridPoint], solutions: dict[Triple, PhiSolution], target: float
    ) -> Triple:
        scored = [g for g in grid_points if g.reward is not None]
        if not scored:
            largest = max((self.evals.latency(s.arch)[0] for s in solutions.values()), default=None)
            raise UnreachableTargetError(
                f"no (alpha, beta, gamma) of the grid reaches the target {target:.4g} ms: "
                + "; ".join(g.error or "" for g in grid_points[:3]),
                largest=largest,
            )
        best = max(scored, key=lambda g: g.reward)
        return (best.alpha, best.beta, best.gamma)

    def _settings(self, targets, m0, pruned: PrunedGrid | None) -> dict[str, Any]:
        s: dict[str, Any] = {
            "tolerance": self.tolerance,
            "max_measurements": self.max_measurements,
            "max_multiplier": self.max_multiplier,
            "max_triples": self.max_triples,
            "grid_target": self.grid_target,
            "resolution_multiple": self.resolution_multiple,
            "channel_divisor": self.channel_divisor,
            "targets_ms": targets,
            "predictor": self.predictor.describe() if self.predictor is not None else "none",
            "total_measurements": self.evals.measurements - m0,
            **self.evals.stats(),
        }
        if pruned is not None:
            s["pruning"] = pruned.summary()
        return s
