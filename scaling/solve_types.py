"""The types a φ solve works with (:mod:`.solve` holds the solver, ``PhiSolver``).

The callables it takes (``Measure``, ``ArchAt``, ``Predict``), the error when a target is out of
reach (:class:`UnreachableTargetError`), a measured point (:class:`Probe`), the result
(:class:`PhiSolution`), and the bracket around the target that the refine step narrows
(``_Bracket``: Illinois regula falsi on log-value, with the counters that switch to bisection).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from accelsearch.core.arch import Arch
from accelsearch.core.errors import AccelSearchError

Measure = Callable[[Arch], tuple[float, bool]]
ArchAt = Callable[[float], Arch]
Predict = Callable[[Arch], float]


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


@dataclass
class _Bracket:
    """[lo_phi, hi_phi] around the target while refining: the measured ends (``lo`` below
    the target, ``hi`` above), their log errors with Illinois weights, and the counters that
    switch to bisection (steps that did not halve it, unmeasured moves on plateaus)."""

    lo: Probe
    hi: Probe
    lo_phi: float
    hi_phi: float
    f_lo: float
    f_hi: float
    w_lo: float = 1.0
    w_hi: float = 1.0
    last_side: str = ""
    stalls: int = 0
    unmeasured: int = 0

    @classmethod
    def around(cls, lo: Probe, hi: Probe, target: float) -> _Bracket:
        f_lo, f_hi = math.log(lo.value / target), math.log(hi.value / target)
        return cls(lo, hi, lo.phi, hi.phi, f_lo, f_hi)

    @property
    def width(self) -> float:
        return self.hi_phi - self.lo_phi

    def interpolated(self) -> float:
        """Illinois regula falsi: where the weighted log errors of the ends cross zero."""
        a, b = self.f_lo * self.w_lo, self.f_hi * self.w_hi
        return self.lo_phi + (-a / (b - a)) * self.width

    def moved_on_plateau(self, phi: float, arch: Arch) -> bool:
        """When ``arch`` is an end's arch, move that end to ``phi`` (no measurement)."""
        if arch == self.lo.arch:
            self.lo_phi, self.unmeasured = phi, self.unmeasured + 1
            return True
        if arch == self.hi.arch:
            self.hi_phi, self.unmeasured = phi, self.unmeasured + 1
            return True
        self.unmeasured = 0
        return False

    def take(self, p: Probe, target: float) -> None:
        """``p`` (measured, outside tolerance) replaces the end on its side."""
        width = self.width
        f = math.log(p.value / target)
        if p.value >= target:
            self.hi, self.hi_phi, self.f_hi, self.w_hi = p, p.phi, f, 1.0
            if self.last_side == "hi":
                self.w_lo *= 0.5  # Illinois: the retained end counts half
            self.last_side = "hi"
        else:
            self.lo, self.lo_phi, self.f_lo, self.w_lo = p, p.phi, f, 1.0
            if self.last_side == "lo":
                self.w_hi *= 0.5
            self.last_side = "lo"
        self.stalls = self.stalls + 1 if self.width > 0.5 * width else 0
