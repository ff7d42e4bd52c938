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
from dataclasses import dataclass, field

from accelsearch.arch import Arch
from accelsearch.errors import AccelSearchError, ConfigError, MeasurementError

Measure = Callable[[Arch], tuple[float, bool]]
ArchAt = Callable[[float], Arch]
Predict = Callable[[Arch], float]

_PLATEAU_WIDTH = 1e-7  # φ bracket narrower than this holds no other arch
_MAX_FAILURES = 3
_MAX_UNMEASURED = 60  # interpolation steps on rounding plateaus before bisecting them


class UnreachableTargetError(AccelSearchError):
    """A target cannot be reached within the scaling limits; ``largest`` is the largest
    value measured (at ``largest_phi``)."""

    def __init__(self, message: str, largest: float | None = None, largest_phi: float = 0.0):
        super().__init__(message)
        self.largest = largest
        self.largest_phi = largest_phi


@dataclass(frozen=True)
class Probe:
    """One point of φ that was measured (``fresh``) or read from the cache."""

    phi: float
    arch: Arch
    value: float
    fresh: bool


@dataclass
class PhiSolution:
    target: float
    phi: float
    arch: Arch
    value: float
    tolerance: float
    n_measurements: int  # fresh measurements this solve cost
    reason: str  # "converged" | "plateau" | "budget"
    probes: list[Probe] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. probes that failed to measure

    @property
    def error(self) -> float:
        """Measured / target − 1."""
        return self.value / self.target - 1.0

    @property
    def within_tolerance(self) -> bool:
        return abs(self.error) <= self.tolerance + 1e-12


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
        probes: list[Probe] = []
        notes: list[str] = []
        used = 0

        def probe(phi: float) -> Probe:
            nonlocal used
            arch = self.arch_at(phi)
            value, fresh = self.measure(arch)
            p = Probe(phi, arch, float(value), bool(fresh))
            probes.append(p)
            used += int(fresh)
            return p

        def finish(reason: str) -> PhiSolution:
            measured = [p for p in probes if p.phi > 0] or probes
            best = min(measured, key=lambda p: (abs(p.value / target - 1.0), p.phi))
            if self._within(best.value, target):
                reason = "converged"
            return PhiSolution(
                target, best.phi, best.arch, best.value, self.tolerance, used, reason, probes, notes
            )

        base = probe(0.0)
        if target <= base.value:
            raise ConfigError(
                f"{self.what} target {target:.4g} {self.unit} is not above the base model's "
                f"{base.value:.4g} {self.unit}; family targets must be larger than the base"
            )
        phi_max = self.phi_max
        failures = 0
        lo, lo_phi, prev = base, 0.0, None
        guess = phi_guess
        if guess is None or not math.isfinite(guess) or guess <= 0:
            if self.predict is not None:
                guess = self._corrected(target, base, 0.0, phi_max)
            else:
                guess = self._extrapolated(target, base, None, base)

        # 1. bracket: walk up until a probe is at or above the target
        while True:
            if used >= self.max_measurements:
                return finish("budget")
            phi = min(phi_max, max(guess, lo_phi + 1e-6))
            arch = self.arch_at(phi)
            while arch == lo.arch and phi < phi_max:  # skip a plateau without measuring
                phi = min(phi_max, lo_phi + 2.0 * (phi - lo_phi) + 1e-3)
                arch = self.arch_at(phi)
            if arch == lo.arch:
                raise self._unreachable(target, probes, phi_max)
            try:
                p = probe(phi)
            except MeasurementError as exc:
                failures += 1
                if failures >= _MAX_FAILURES:
                    raise
                phi_max = phi - 1e-6  # e.g. out of memory: stay below this φ from now on
                guess = 0.5 * (lo_phi + phi)
                notes.append(f"φ={phi:.4f} failed to measure ({exc}); φ limit lowered below it")
                continue
            if self._within(p.value, target):
                return finish("converged")
            if p.value >= target:
                hi, hi_phi = p, phi
                break
            if phi >= phi_max:
                raise self._unreachable(target, probes, phi_max)
            prev, lo, lo_phi = lo, p, phi
            # aim a little above the target, so that an estimate that is slightly optimistic
            # brackets the target instead of creeping up on it from below
            aim = target * (1.0 + 0.5 * self.tolerance)
            if self.predict is not None:
                guess = self._corrected(aim, lo, lo_phi, phi_max, probes)
                least = lo_phi + 0.1 * (lo_phi - prev.phi)
            else:
                guess = lo_phi + 1.2 * (self._extrapolated(aim, lo, prev, base) - lo_phi)
                least = lo_phi + 0.25 * (lo_phi - prev.phi)
            # at least some progress; at most about twice the target (a flat rounding step
            # makes the local slope small, and a far jump would measure a huge model)
            if self.predict is not None:
                most = self._corrected(2.0 * target, lo, lo_phi, phi_max, probes)
            else:
                most = lo_phi + math.log(2.0 * target / lo.value) / max(self.growth or 0.0, 0.05)
            guess = min(max(guess, least), max(most, least))

        # 2. refine inside [lo_phi, hi_phi]: Illinois regula falsi on log(value / target)
        # (or the corrected predictor); bisection only when that stalls
        f_lo, f_hi = math.log(lo.value / target), math.log(hi.value / target)
        w_lo = w_hi = 1.0
        last_side, stalls, unmeasured = "", 0, 0
        while True:
            if used >= self.max_measurements:
                return finish("budget")
            width = hi_phi - lo_phi
            if width < _PLATEAU_WIDTH:
                return finish("plateau")
            if stalls >= 2 or unmeasured > _MAX_UNMEASURED:
                phi = 0.5 * (lo_phi + hi_phi)
            elif self.predict is not None:
                ref = lo if -f_lo < f_hi else hi
                phi = self._corrected(target, ref, lo_phi, hi_phi, [lo, hi])
            else:
                a, b = f_lo * w_lo, f_hi * w_hi
                phi = lo_phi + (-a / (b - a)) * width
            phi = min(hi_phi - 0.01 * width, max(lo_phi + 0.01 * width, phi))
            arch = self.arch_at(phi)
            # on an end's rounding step: move that end, no measurement (arch is monotone in φ)
            if arch == lo.arch:
                lo_phi, unmeasured = phi, unmeasured + 1
                continue
            if arch == hi.arch:
                hi_phi, unmeasured = phi, unmeasured + 1
                continue
            unmeasured = 0
            try:
                p = probe(phi)
            except MeasurementError as exc:
                failures += 1
                if failures >= _MAX_FAILURES:
                    raise
                notes.append(f"φ={phi:.4f} failed to measure ({exc}); treated as too large")
                hi_phi = phi
                continue
            if self._within(p.value, target):
                return finish("converged")
            if p.value >= target:
                hi, hi_phi, f_hi, w_hi = p, phi, math.log(p.value / target), 1.0
                if last_side == "hi":
                    w_lo *= 0.5  # Illinois: the retained end counts half
                last_side = "hi"
            else:
                lo, lo_phi, f_lo, w_lo = p, phi, math.log(p.value / target), 1.0
                if last_side == "lo":
                    w_hi *= 0.5
                last_side = "lo"
            stalls = stalls + 1 if hi_phi - lo_phi > 0.5 * width else 0

    def _unreachable(self, target: float, probes: list[Probe], phi_max: float):
        best = max(probes, key=lambda p: p.value)
        return UnreachableTargetError(
            f"{self.what} target {target:.4g} {self.unit} is unreachable: the largest "
            f"reachable {self.what} measured is {best.value:.4g} {self.unit} (φ={best.phi:.4g}, "
            f"limit φ={phi_max:.3f}); lower the target or raise max_multiplier",
            largest=best.value,
            largest_phi=best.phi,
        )
