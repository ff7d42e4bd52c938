"""Solving φ: the compound coefficient at which a scaled model costs a target.

``PhiSolver`` finds φ ≥ 0 such that ``measure(arch_at(φ))`` is within ``tolerance`` of a
target (latency in ms for LACS, FLOPs for EfficientNet's budget). ``arch_at`` must be a
non-decreasing step function of φ (every dimension of :func:`~accelsearch.scaling.scale`
rounds monotonically), ``measure`` returns ``(value, fresh)`` where ``fresh`` says whether
it cost a real measurement (False when it came from a cache).

1. **Bracket.** From φ = 0 (the base) go up to a first guess (a predictor's, corrected by
   every measurement since; or latency ∝ FLOPs ∝ (αβ²γ²)^φ), then extrapolate on
   log-value until one probe is at or above the target. A probe that fails to measure
   (out of memory) lowers the upper limit of φ and the search goes on below it. Past the
   limit (``phi_max``, from the largest multiplier allowed) the target is unreachable:
   :class:`UnreachableTargetError` names the largest value measured.
2. **Refine.** Between the bracket's ends: the corrected predictor, or Illinois regula
   falsi on log-value (value roughly exponential in φ), falling back to bisection when two
   measured steps in a row did not halve the bracket.
3. **Plateaus.** Rounding makes the value a step function of φ. A candidate φ whose arch
   equals an end's arch moves that end without a measurement (monotone steps). When no
   other arch lies between the ends, the target falls on a rounding step: the closest
   measured end is returned, ``reason="plateau"``.
4. **Remainders.** A coarse step (resolution in multiples of 32) can leave a plateau far
   outside the tolerance. With ``remainders`` (a list of ``(name, make)``; ``make(φ_lo)``
   gives an ``arch_at`` that holds one dimension where the step's lower end has it and lets
   the others grow from there), the search goes on from the lower end with that dimension
   held, so the finer ones take up the remainder; ``reason`` becomes ``"held-<name>"``.

Every returned value was measured (or read from the cache of earlier measurements of the
same arch); predictions only place probes. Any probe within tolerance ends the search.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, MeasurementError
from accelsearch.scaling.solve_types import ArchAt as ArchAt
from accelsearch.scaling.solve_types import Measure as Measure
from accelsearch.scaling.solve_types import PhiSolution as PhiSolution
from accelsearch.scaling.solve_types import Predict as Predict
from accelsearch.scaling.solve_types import Probe as Probe
from accelsearch.scaling.solve_types import UnreachableTargetError as UnreachableTargetError
from accelsearch.scaling.solve_types import _Bracket

_PLATEAU_WIDTH = 1e-7  # φ bracket narrower than this holds no other arch
_MAX_FAILURES = 3
_MAX_UNMEASURED = 60  # interpolation steps on rounding plateaus before bisecting them


def solve_predicted(
    predict: Predict, arch_at: ArchAt, target: float, lo: float, hi: float, iters: int = 18
) -> float:
    """φ in [lo, hi] where ``predict(arch_at(φ))`` crosses ``target`` (bisection; no measuring).

    Returns ``hi`` when even ``hi`` predicts below the target and ``lo`` when ``lo`` predicts
    above it.
    """
    if predict(arch_at(hi)) < target:
        return hi
    if predict(arch_at(lo)) >= target:
        return lo
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if predict(arch_at(mid)) >= target:
            hi = mid
        else:
            lo = mid
    return hi


class PhiSolver:
    """Bracketing + (corrected-prediction | log-interpolation) + bisection on measurements."""

    def __init__(
        self,
        arch_at: ArchAt,
        measure: Measure,
        *,
        phi_max: float,
        tolerance: float = 0.02,
        max_measurements: int = 12,
        predict: Predict | None = None,
        growth: float | None = None,
        what: str = "latency",
        unit: str = "ms",
        remainders: list[tuple[str, Callable[[float], ArchAt]]] | None = None,
    ) -> None:
        if not 0 < tolerance < 1:
            raise ConfigError(f"φ solver tolerance must be in (0, 1), got {tolerance}")
        if max_measurements < 2:
            raise ConfigError(f"φ solver max_measurements must be >= 2, got {max_measurements}")
        if not phi_max > 0:
            raise ConfigError(f"φ solver phi_max must be > 0, got {phi_max}")
        self.arch_at = arch_at
        self.measure = measure
        self.phi_max = float(phi_max)
        self.tolerance = float(tolerance)
        self.max_measurements = int(max_measurements)
        self.predict = predict
        self.growth = growth  # d log(value) / dφ for the first guess without a predictor
        self.what = what
        self.unit = unit
        self.remainders = list(remainders or [])

    # -- helpers -------------------------------------------------------------------------------
    def _corrected(
        self, target: float, ref: Probe, lo: float, hi: float, probes: list[Probe] = ()
    ) -> float:
        """φ in [lo, hi] where the predictor, calibrated on the measurements, meets ``target``.

        Calibration is a power law through ``ref``: measured = c · predicted^b, with b the
        log-log slope between ``ref`` and the other measured probe nearest the target (1
        with a single probe). So a predictor that is off by a constant factor (fusion,
        overheads) or by an exponent (latency growing slower than FLOPs while a GPU is
        not yet full) still lands the next probe close to the target.
        """
        pred_ref = max(self.predict(ref.arch), 1e-30)
        b = 1.0
        others = [p for p in probes if p.arch != ref.arch and p.value > 0]
        # the base is the last resort: the first step from it is often a rounding jump
        others = [p for p in others if p.phi > 0] or others
        if others:
            other = min(others, key=lambda p: abs(math.log(p.value / target)))
            dp = math.log(max(self.predict(other.arch), 1e-30) / pred_ref)
            if abs(dp) > 1e-3:
                slope = math.log(other.value / ref.value) / dp
                # a bigger model measured faster (noise): trust the predictor's shape
                b = min(3.0, max(0.25, slope)) if slope > 0 else 1.0
        want = pred_ref * (target / ref.value) ** (1.0 / b)
        return solve_predicted(self.predict, self.arch_at, want, lo, hi)

    def _extrapolated(self, target: float, lo: Probe, prev: Probe | None, base: Probe) -> float:
        """φ where log-value, extrapolated linearly from ``lo``, meets ``target``.

        The slope is the recent one (``prev`` -> ``lo``) unless a rounding plateau made it
        small: then half the average slope since the base, so a flat step never sends the
        next probe to a huge model.
        """
        slopes = []
        if prev is not None and lo.phi > prev.phi:
            slopes.append((math.log(lo.value) - math.log(prev.value)) / (lo.phi - prev.phi))
        if lo.phi > 0:
            average = (math.log(lo.value) - math.log(base.value)) / lo.phi
            slopes = [max(s, 0.5 * average) for s in slopes] or [average]
        slope = slopes[0] if slopes else (self.growth or 0.0)
        if slope <= 1e-9:
            return 2 * lo.phi if lo.phi > 0 else 1.0
        return lo.phi + (math.log(target) - math.log(lo.value)) / slope

    def _within(self, value: float, target: float) -> bool:
        return abs(value / target - 1.0) <= self.tolerance + 1e-12

    # -- the search -----------------------------------------------------------------------------
    def solve(self, target: float, phi_guess: float | None = None) -> PhiSolution:
        """φ whose measured value is ``target`` within tolerance (see the module docstring)."""
        sol = self._solve(target, phi_guess)
        if sol.reason != "plateau" or sol.within_tolerance or not self.remainders:
            return sol
        return self._take_up_remainder(sol, target)

    def _take_up_remainder(self, sol: PhiSolution, target: float) -> PhiSolution:
        """Go on from the plateau's lower end with a dimension held (point 4 above); the
        remainders are tried in order until one lands within tolerance."""
        lo = max((p for p in sol.probes if p.value < target), key=lambda p: p.phi)
        best = sol
        for name, make in self.remainders:
            arch_at = make(lo.phi)
            sub = PhiSolver(
                lambda t, at=arch_at: at(lo.phi + t), self.measure,
                phi_max=max(self.phi_max - lo.phi, 1e-3), tolerance=self.tolerance,
                max_measurements=max(2, self.max_measurements - sol.n_measurements),
                predict=self.predict, growth=self.growth, what=self.what, unit=self.unit,
            )  # fmt: skip
            try:
                held = sub.solve(target)
            except (UnreachableTargetError, MeasurementError) as exc:
                best.notes.append(f"holding {name} did not reach the target: {exc}")
                continue
            if abs(held.error) >= abs(best.error):
                best.notes.append(f"holding {name} came no closer ({held.value:.4g} {self.unit})")
                continue
            best = PhiSolution(
                target, lo.phi + held.phi, held.arch, held.value, self.tolerance,
                sol.n_measurements + held.n_measurements,
                f"held-{name}" if held.within_tolerance else "plateau",
                sol.probes + held.probes,
                sol.notes + held.notes + [f"{name} held at the step below φ={lo.phi:.4g}"],
            )  # fmt: skip
            if best.within_tolerance:
                break
        return best

    def _solve(self, target: float, phi_guess: float | None = None) -> PhiSolution:
        if not (isinstance(target, (int, float)) and math.isfinite(target) and target > 0):
            raise ConfigError(f"{self.what} target must be a positive number, got {target!r}")
        run = _Search(self, target)
        base = run.probe(0.0)
        if target <= base.value:
            raise ConfigError(
                f"{self.what} target {target:.4g} {self.unit} is not above the base model's "
                f"{base.value:.4g} {self.unit}; family targets must be larger than the base"
            )
        bracket = self._bracket(run, base, phi_guess)
        if isinstance(bracket, PhiSolution):
            return bracket
        return self._refine(run, bracket)

    def _first_guess(self, target: float, base: Probe, phi_guess: float | None) -> float:
        if phi_guess is not None and math.isfinite(phi_guess) and phi_guess > 0:
            return phi_guess
        if self.predict is not None:
            return self._corrected(target, base, 0.0, self.phi_max)
        return self._extrapolated(target, base, None, base)

    def _bracket(self, run: _Search, base: Probe, phi_guess: float | None):
        """1. Walk up from the base until a probe is at or above the target: the bracket
        for refining, or a solution when a probe lands within tolerance (or the budget ends)."""
        target = run.target
        lo, prev = base, None
        guess = self._first_guess(target, base, phi_guess)
        while True:
            if run.over_budget():
                return run.finish("budget")
            phi, arch = self._past_plateau(run, lo, guess)
            try:
                p = run.probe(phi, arch)
            except MeasurementError as exc:
                if run.too_many_failures():
                    raise
                run.phi_max = phi - 1e-6  # e.g. out of memory: stay below this φ from now on
                guess = 0.5 * (lo.phi + phi)
                run.notes.append(f"φ={phi:.4f} failed to measure ({exc}); φ limit lowered below it")
                continue
            if self._within(p.value, target):
                return run.finish("converged")
            if p.value >= target:
                return _Bracket.around(lo, p, target)
            if phi >= run.phi_max:
                raise self._unreachable(target, run.probes, run.phi_max)
            prev, lo = lo, p
            guess = self._next_guess(run, lo, prev, base)

    def _past_plateau(self, run: _Search, lo: Probe, guess: float) -> tuple[float, Arch]:
        """The φ to probe next from ``guess``, moved past ``lo``'s rounding plateau without
        measuring; a φ limit reached on that plateau makes the target unreachable."""
        phi = min(run.phi_max, max(guess, lo.phi + 1e-6))
        arch = self.arch_at(phi)
        while arch == lo.arch and phi < run.phi_max:
            phi = min(run.phi_max, lo.phi + 2.0 * (phi - lo.phi) + 1e-3)
            arch = self.arch_at(phi)
        if arch == lo.arch:
            raise self._unreachable(run.target, run.probes, run.phi_max)
        return phi, arch

    def _next_guess(self, run: _Search, lo: Probe, prev: Probe, base: Probe) -> float:
        """The next bracketing φ above ``lo``: aimed a little above the target, so that an
        estimate that is slightly optimistic brackets the target instead of creeping up on
        it from below; at least some progress, at most about twice the target (a flat
        rounding step makes the local slope small, and a far jump would measure a huge
        model)."""
        target, step = run.target, lo.phi - prev.phi
        aim = target * (1.0 + 0.5 * self.tolerance)
        if self.predict is not None:
            guess = self._corrected(aim, lo, lo.phi, run.phi_max, run.probes)
            least = lo.phi + 0.1 * step
            most = self._corrected(2.0 * target, lo, lo.phi, run.phi_max, run.probes)
        else:
            guess = lo.phi + 1.2 * (self._extrapolated(aim, lo, prev, base) - lo.phi)
            least = lo.phi + 0.25 * step
            most = lo.phi + math.log(2.0 * target / lo.value) / max(self.growth or 0.0, 0.05)
        return min(max(guess, least), max(most, least))

    def _refine(self, run: _Search, br: _Bracket) -> PhiSolution:
        """2. Inside the bracket: Illinois regula falsi on log(value / target) (or the
        corrected predictor); bisection only when that stalls. 3. An end's rounding step
        moves that end without a measurement (the arch is monotone in φ)."""
        target = run.target
        while True:
            if run.over_budget():
                return run.finish("budget")
            if br.width < _PLATEAU_WIDTH:
                return run.finish("plateau")
            phi = self._refine_phi(br, target)
            arch = self.arch_at(phi)
            if br.moved_on_plateau(phi, arch):
                continue
            try:
                p = run.probe(phi, arch)
            except MeasurementError as exc:
                if run.too_many_failures():
                    raise
                run.notes.append(f"φ={phi:.4f} failed to measure ({exc}); treated as too large")
                br.hi_phi = phi
                continue
            if self._within(p.value, target):
                return run.finish("converged")
            br.take(p, target)

    def _refine_phi(self, br: _Bracket, target: float) -> float:
        width = br.width
        if br.stalls >= 2 or br.unmeasured > _MAX_UNMEASURED:
            phi = 0.5 * (br.lo_phi + br.hi_phi)
        elif self.predict is not None:
            ref = br.lo if -br.f_lo < br.f_hi else br.hi
            phi = self._corrected(target, ref, br.lo_phi, br.hi_phi, [br.lo, br.hi])
        else:
            phi = br.interpolated()
        return min(br.hi_phi - 0.01 * width, max(br.lo_phi + 0.01 * width, phi))

    def _unreachable(self, target: float, probes: list[Probe], phi_max: float):
        best = max(probes, key=lambda p: p.value)
        return UnreachableTargetError(
            f"{self.what} target {target:.4g} {self.unit} is unreachable: the largest "
            f"reachable {self.what} measured is {best.value:.4g} {self.unit} (φ={best.phi:.4g}, "
            f"limit φ={phi_max:.3f}); lower the target or raise max_multiplier",
            largest=best.value,
            largest_phi=best.phi,
        )


class _Search:
    """One solve's running state: the probes so far, the fresh measurements they cost, the
    failed probes and the notes, and the φ limit (lowered when a probe fails to measure)."""

    def __init__(self, solver: PhiSolver, target: float) -> None:
        self.solver = solver
        self.target = target
        self.phi_max = solver.phi_max
        self.probes: list[Probe] = []
        self.notes: list[str] = []
        self.used = 0
        self.failures = 0

    def probe(self, phi: float, arch: Arch | None = None) -> Probe:
        arch = self.solver.arch_at(phi) if arch is None else arch
        value, fresh = self.solver.measure(arch)
        p = Probe(phi, arch, float(value), bool(fresh))
        self.probes.append(p)
        self.used += int(fresh)
        return p

    def over_budget(self) -> bool:
        return self.used >= self.solver.max_measurements

    def too_many_failures(self) -> bool:
        """Count a probe that failed to measure; True when the search should give up."""
        self.failures += 1
        return self.failures >= _MAX_FAILURES

    def finish(self, reason: str) -> PhiSolution:
        """The measured probe (the base only when nothing else was) closest to the target."""
        target = self.target
        measured = [p for p in self.probes if p.phi > 0] or self.probes
        best = min(measured, key=lambda p: (abs(p.value / target - 1.0), p.phi))
        if self.solver._within(best.value, target):
            reason = "converged"
        return PhiSolution(
            target, best.phi, best.arch, best.value, self.solver.tolerance, self.used, reason,
            self.probes, self.notes,
        )  # fmt: skip
