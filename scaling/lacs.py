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
records how many new measurements it cost. :meth:`LACS.grow_fixed` grows a family with given
coefficients (EfficientNet's accuracy-only ones for the built-in comparison), φ solved on
latency (equal latency, as in EfficientNet-X's ablation) or on the FLOPs budget the latency
targets imply.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError
from accelsearch.scaling.evaluations import Evaluations
from accelsearch.scaling.family import Family, FamilyMember, GridPoint
from accelsearch.scaling.predict import LatencyPredictor, make_predictor
from accelsearch.scaling.prune import EFFICIENTNET_COEFFICIENTS, PrunedGrid, prune_grid
from accelsearch.scaling.rules import compound, scale, space_rounding
from accelsearch.scaling.solve import PhiSolution, PhiSolver, UnreachableTargetError

LatencyFn = Callable[[Arch], object]  # returns a LatencyResult or a float (ms)
Triple = tuple[float, float, float]
PHI_FROM = ("latency", "flops")

__all__ = [
    "LACS",
    "UnreachableTargetError",
    "default_grid",
    "parse_targets",
    "resolve_targets",
    "validate_grid",
]


def validate_grid(grid: Sequence[Sequence[float]]) -> list[Triple]:
    """The grid as float triples; raises :class:`ConfigError` naming a bad value."""
    if grid is None or isinstance(grid, (str, bytes)) or len(grid) == 0:
        raise ConfigError("LACS grid is empty; give at least one (alpha, beta, gamma)")
    out: list[Triple] = []
    for entry in grid:
        if isinstance(entry, (str, bytes)) or not hasattr(entry, "__len__") or len(entry) != 3:
            raise ConfigError(
                f"LACS grid entry {entry!r} must be three numbers (alpha, beta, gamma)"
            )
        values = []
        for name, v in zip(("alpha", "beta", "gamma"), entry):
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"LACS grid entry {tuple(entry)}: {name}={v!r} is not a number"
                ) from None
            if not math.isfinite(f):
                raise ConfigError(f"LACS grid entry {tuple(entry)}: {name}={v!r} is not finite")
            if f < 1.0:
                raise ConfigError(
                    f"LACS grid entry {tuple(entry)}: {name}={v} is below 1; alpha, beta and "
                    "gamma must be >= 1 (scaling grows a model; phi spends the budget)"
                )
            values.append(f)
        if values == [1.0, 1.0, 1.0]:
            raise ConfigError(
                f"LACS grid entry {tuple(entry)} does not grow the model; one of alpha, beta, "
                "gamma must be > 1"
            )
        out.append((values[0], values[1], values[2]))
    return out


def default_grid(low: float = 1.0, high: float = 1.4, step: float = 0.05) -> list[Triple]:
    """The paper's neighbourhood: each of α, β, γ in [low, high] by ``step`` (9³ − 1 triples)."""
    if not (1.0 <= low < high) or step <= 0:
        raise ConfigError(
            f"default_grid needs 1 <= low < high and step > 0, got {low}, {high}, {step}"
        )
    n = int(round((high - low) / step)) + 1
    vals = [round(low + i * step, 6) for i in range(n)]
    return [(a, b, g) for a in vals for b in vals for g in vals if not a == b == g == 1.0]


_TARGET_RE = re.compile(r"^\s*(x|×)?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms)?\s*$")


def parse_targets(text: str | Sequence[Any]) -> list[tuple[float, bool]]:
    """``"1.0,2ms,x1.5"`` -> [(1.0, False), (2.0, False), (1.5, True)]: ms or × base latency."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append((float(item), False))
            continue
        m = _TARGET_RE.match(str(item))
        if not m:
            raise ConfigError(
                f"latency target {item!r} is neither milliseconds ('2.5', '2.5ms') nor a "
                "multiple of the base latency ('x1.5')"
            )
        out.append((float(m.group(2)), bool(m.group(1))))
    if not out:
        raise ConfigError("no latency targets given; e.g. --targets x1.5,x2 or 2.0,4.0")
    return out


def resolve_targets(targets: Sequence[tuple[float, bool]], base_ms: float) -> list[float]:
    """Targets in ms, sorted; each must lie above the base model's latency."""
    out = []
    for value, multiple in targets:
        if multiple and value <= 1.0:
            raise ConfigError(
                f"latency target x{value:g} is not above the base latency; multiples of the "
                "base latency must be > 1 (e.g. x1.5)"
            )
        ms = value * base_ms if multiple else value
        if not ms > base_ms:
            raise ConfigError(
                f"latency target {ms:.4g} ms is not above the base model's {base_ms:.4g} ms; "
                "family targets must be larger than the base latency (or give multiples such "
                "as x1.5)"
            )
        out.append(ms)
    return sorted(set(out))


class LACS:
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
        if reward is None:
            from accelsearch.objectives.reward import mnas_reward

            reward = mnas_reward
        self.reward_fn = reward
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
        from accelsearch.scaling.predict import StageFlops

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

    def _check_targets(self, targets_ms: Sequence[float], base_ms: float) -> list[float]:
        if targets_ms is None or len(targets_ms) == 0:
            raise ConfigError("LACS needs at least one latency target")
        targets = []
        for t in targets_ms:
            t = float(t)
            if not math.isfinite(t) or t <= base_ms:
                raise ConfigError(
                    f"latency target {t:.4g} ms is not above the base model's {base_ms:.4g} ms; "
                    "family targets must be larger than the base latency"
                )
            targets.append(t)
        return sorted(set(targets))

    # -- the whole method ------------------------------------------------------------------------
    def run(
        self,
        base: Arch,
        targets_ms: Sequence[float] | None = None,
        name: str = "family",
        base_accuracy: float | None = None,
        cost: Callable[[Arch], object] | None = None,
        efficiency: Callable[[Arch, object], dict] | None = None,
        *,
        targets_x: Sequence[float] | None = None,
    ) -> Family:
        """Grid-search (α, β, γ) on the first target, then solve φ for every target.

        Targets are absolute (``targets_ms``) or multiples of the base model's latency as
        measured here (``targets_x``, e.g. ``[1.5, 2, 3]``). ``cost(arch)`` gives params and
        FLOPs, ``efficiency(arch, latency_result)`` intensity and utilisation (both optional).
        """
        if (targets_ms is None) == (targets_x is None):
            raise ConfigError("LACS.run needs latency targets: give targets_ms or targets_x")
        if self.evals.accuracy_fn is None and not self.evals._accuracy:
            raise ConfigError("LACS needs an accuracy function to choose (alpha, beta, gamma)")
        t0 = time.perf_counter()
        m0 = self.evals.measurements
        if any(self.evals.restored):
            self.print(
                f"[lacs] going on from the checkpoint {self.evals.path}: "
                f"{self.evals.restored[0]} latencies and {self.evals.restored[1]} accuracies "
                "are known and will not be measured or evaluated again"
            )
        base_ms = self._prepare(base)
        if targets_x is not None:
            if len(targets_x) == 0:
                raise ConfigError("LACS needs at least one latency target")
            targets_ms = resolve_targets([(float(x), True) for x in targets_x], base_ms)
        targets = self._check_targets(targets_ms, base_ms)
        try:
            first = targets[self.grid_target]
        except IndexError:
            raise ConfigError(
                f"LACS grid_target={self.grid_target} but there are {len(targets)} targets"
            ) from None
        if base_accuracy is not None:
            self.evals.set_accuracy(base, base_accuracy)
        pruned = self.prune(base, first, targets[-1])
        self.print(
            f"[lacs] base {base_ms:.3f} ms; targets {', '.join(f'{t:.3f}' for t in targets)} ms; "
            f"grid {pruned.considered} -> {len(pruned.kept)} triples "
            f"(predictor {pruned.predictor})"
        )
        grid_points: list[GridPoint] = []
        solutions: dict[Triple, PhiSolution] = {}
        for i, triple in enumerate(pruned.kept):
            gp = GridPoint(*triple, predicted_phi=pruned.predicted_phi.get(triple))
            try:
                sol = self.solver(base, triple).solve(first, pruned.predicted_phi.get(triple))
                acc = self.evals.accuracy(sol.arch)
                gp.phi, gp.latency_ms, gp.accuracy = sol.phi, sol.value, acc
                gp.reward = float(self.reward_fn(acc, sol.value, first))
                gp.n_measurements = sol.n_measurements
                solutions[triple] = sol
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
        scored = [g for g in grid_points if g.reward is not None]
        if not scored:
            largest = max((self.evals.latency(s.arch)[0] for s in solutions.values()), default=None)
            raise UnreachableTargetError(
                f"no (alpha, beta, gamma) of the grid reaches the target {first:.4g} ms: "
                + "; ".join(g.error or "" for g in grid_points[:3]),
                largest=largest,
            )
        best = max(scored, key=lambda g: g.reward)
        triple = (best.alpha, best.beta, best.gamma)
        self.print(f"[lacs] chosen (α,β,γ)={triple}")
        members = self._members(
            base, base_ms, triple, targets, name, {first: solutions[triple]}, cost, efficiency
        )
        return Family(
            name=name,
            base=base,
            base_latency_ms=base_ms,
            members=members,
            alpha=triple[0],
            beta=triple[1],
            gamma=triple[2],
            grid=grid_points,
            settings=self._settings(targets, m0, pruned),
            wall_s=time.perf_counter() - t0,
            method="lacs",
        )

    def grow_fixed(
        self,
        base: Arch,
        triple: Sequence[float],
        targets_ms: Sequence[float],
        name: str = "family",
        method: str = "fixed",
        phi_from: str = "latency",
        base_accuracy: float | None = None,
        cost: Callable[[Arch], object] | None = None,
        efficiency: Callable[[Arch, object], dict] | None = None,
    ) -> Family:
        """A family with given coefficients: φ on measured latency (``phi_from="latency"``,
        equal latency) or on the FLOPs budget the latency targets imply (``"flops"``:
        FLOPs(member) = FLOPs(base) × target / base latency, EfficientNet's rule)."""
        if phi_from not in PHI_FROM:
            raise ConfigError(f"phi_from is {phi_from!r}; valid choices: {', '.join(PHI_FROM)}")
        triple = validate_grid([triple])[0]
        t0 = time.perf_counter()
        m0 = self.evals.measurements
        base_ms = self._prepare(base)
        targets = self._check_targets(targets_ms, base_ms)
        if base_accuracy is not None:
            self.evals.set_accuracy(base, base_accuracy)
        solved = {}
        notes: list[str] = []
        if phi_from == "flops":
            from accelsearch.scaling.efficientnet import _ExactFlops, solve_flops_budget

            counter = _ExactFlops(self.build)
            for t in targets:
                try:
                    solved[t] = solve_flops_budget(
                        base,
                        triple,
                        t / base_ms,
                        measure_latency=self.evals.measure,
                        arch_at=lambda phi: self.scaled(base, triple, phi),
                        phi_max=self.phi_max(triple),
                        build=self.build,
                        target_ms=t,
                        tolerance=self.tolerance,
                        counter=counter,
                    )
                except UnreachableTargetError as exc:
                    notes.append(str(exc))
                    self.print(f"[lacs] {name}: target {t:.3f} ms skipped: {exc}")
        if phi_from == "flops":
            targets = [t for t in targets if t in solved]
        members = self._members(
            base, base_ms, triple, targets, name, solved, cost, efficiency, skipped=notes
        )
        settings = self._settings(targets, m0, None)
        if notes:
            settings["unreachable"] = notes
        settings["phi_from"] = phi_from
        return Family(
            name=name,
            base=base,
            base_latency_ms=base_ms,
            members=members,
            alpha=triple[0],
            beta=triple[1],
            gamma=triple[2],
            settings=settings,
            wall_s=time.perf_counter() - t0,
            method=method,
        )

    def compare(
        self,
        family: Family,
        method: str = "efficientnet",
        phi_from: str = "latency",
        cost: Callable[[Arch], object] | None = None,
        efficiency: Callable[[Arch, object], dict] | None = None,
    ) -> Family:
        """Grow ``family``'s base with another method to the same targets; sets
        ``family.baseline`` and returns it. ``method="efficientnet"``: α=1.2, β=1.1, γ=1.15."""
        if method != "efficientnet":
            raise ConfigError(f"unknown comparison {method!r}; valid choices: 'efficientnet'")
        targets = [m.target_ms for m in family.members if m.phi > 0]
        base_member = next((m for m in family.members if m.phi == 0), None)
        self.print(
            f"[lacs] comparison: EfficientNet coefficients {EFFICIENTNET_COEFFICIENTS}, "
            f"φ from {phi_from}"
        )
        if (family.alpha, family.beta, family.gamma) == EFFICIENTNET_COEFFICIENTS and (
            phi_from == "latency"
        ):
            # LACS chose EfficientNet's coefficients: at equal latency the families coincide
            other = copy.deepcopy(family)
            other.name, other.method, other.baseline, other.grid = (
                f"{family.name}-efficientnet",
                "efficientnet",
                None,
                [],
            )
            for m in other.members:
                m.name = m.name.replace(family.name, other.name, 1)
                m.n_measurements = 0
            other.settings = {**family.settings, "phi_from": "latency", "same_as": family.name}
            other.settings.pop("pruning", None)
            other.settings["total_measurements"] = 0
            family.baseline = other
            self.print(
                "[lacs] LACS chose EfficientNet's coefficients: the comparison is the family"
            )
            return other
        other = self.grow_fixed(
            family.base,
            EFFICIENTNET_COEFFICIENTS,
            targets,
            name=f"{family.name}-efficientnet",
            method="efficientnet",
            phi_from=phi_from,
            base_accuracy=base_member.accuracy if base_member is not None else None,
            cost=cost,
            efficiency=efficiency,
        )
        family.baseline = other
        family.settings["total_measurements_with_comparison"] = self.evals.measurements
        return other

    # -- members ---------------------------------------------------------------------------------
    def _members(
        self, base, base_ms, triple, targets, name, solved, cost, efficiency, skipped=None
    ):
        """Member 0 (the base) and one member per target. With ``skipped`` (a list), an
        unreachable target is noted there and left out instead of raising."""
        base_acc = self.evals.known_accuracy(base)
        if base_acc is None and self.evals.accuracy_fn is not None:
            base_acc = self.evals.accuracy(base)
        members = [
            self._member(
                f"{name}-0",
                base,
                base_ms,
                base_ms,
                triple,
                0.0,
                True,
                0,
                "base",
                base_acc,
                cost,
                efficiency,
            )
        ]
        for k, t in enumerate(targets, start=1):
            sol = solved.get(t)
            if sol is None:
                try:
                    sol = self.solver(base, triple).solve(t)
                except UnreachableTargetError as exc:
                    if skipped is None:
                        raise
                    skipped.append(str(exc))
                    self.print(f"[lacs] {name}: target {t:.3f} ms skipped: {exc}")
                    continue
            acc = self.evals.known_accuracy(sol.arch)
            if acc is None and self.evals.accuracy_fn is not None:
                acc = self.evals.accuracy(sol.arch)
            members.append(
                self._member(
                    f"{name}-{k}",
                    sol.arch,
                    t,
                    sol.value,
                    triple,
                    sol.phi,
                    sol.within_tolerance,
                    sol.n_measurements,
                    sol.reason,
                    acc,
                    cost,
                    efficiency,
                )
            )
            self.print(
                f"[lacs] {name}-{k}: target {t:.3f} ms -> {sol.value:.3f} ms "
                f"({100 * sol.error:+.1f} %, {sol.reason}), φ={sol.phi:.4g}, "
                + (f"acc {acc:.2f}, " if acc is not None else "")
                + f"{sol.n_measurements} measurements"
            )
        return members

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

    def _member(
        self, name, arch, target, lat_ms, triple, phi, within, n, how, acc, cost, efficiency
    ):
        reward = float(self.reward_fn(acc, lat_ms, target)) if acc is not None else None
        c = cost(arch) if cost is not None else None
        result = self.evals.result(arch)
        lat_dict = result.to_dict() if hasattr(result, "to_dict") else {"median_ms": lat_ms}
        eff = efficiency(arch, result) if efficiency is not None else None
        eff = eff or {}
        return FamilyMember(
            name=name,
            arch=arch,
            target_ms=target,
            alpha=triple[0],
            beta=triple[1],
            gamma=triple[2],
            phi=phi,
            latency_ms=lat_ms,
            latency_error=lat_ms / target - 1.0,
            within_tolerance=within,
            accuracy=acc,
            reward=reward,
            params_m=getattr(c, "params_m", None),
            gflops=getattr(c, "gflops", None),
            gmacs=getattr(c, "gmacs", None),
            intensity=eff.get("intensity"),
            utilisation=eff.get("utilisation", eff.get("utilization")),
            n_measurements=n,
            solve=how,
            latency=lat_dict,
        )
