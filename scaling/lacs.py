"""LACS: latency-aware compound scaling (EfficientNet-X §4, §5.2).

For each (α, β, γ) of a grid, find φ so that the *measured* latency of
``scale(base, α^φ, β^φ, γ^φ)`` equals the first latency target (within ``tolerance``),
evaluate its accuracy and the search's reward, keep the triple with the best reward, then
solve φ for every target of the family.

φ is found by bracketing, then interpolation on log-latency (latency grows roughly
exponentially in φ) safeguarded by bisection. Channel, depth and resolution rounding make
latency a step function of φ: when no new arch lies between the bracket's ends the search
stops and returns the closest member, flagged ``within_tolerance=False``. Every latency is
cached by arch, so a repeated arch costs no measurement; each member reports how many new
measurements it cost.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accelsearch.arch import Arch
from accelsearch.errors import AccelSearchError, ConfigError
from accelsearch.scaling.family import Family, FamilyMember, GridPoint
from accelsearch.scaling.rules import compound

LatencyFn = Callable[[Arch], object]  # returns a LatencyResult or a float (ms)


class UnreachableTargetError(AccelSearchError):
    """A latency target cannot be reached within the scaling limits."""


@dataclass
class _Point:
    phi: float
    arch: Arch
    latency_ms: float
    result: object


@dataclass
class Solution:
    target_ms: float
    phi: float
    arch: Arch
    latency_ms: float
    within_tolerance: bool
    n_measurements: int
    result: object

    @property
    def error(self) -> float:
        return self.latency_ms / self.target_ms - 1.0


def validate_grid(grid: Sequence[Sequence[float]]) -> list[tuple[float, float, float]]:
    if not grid:
        raise ConfigError("LACS grid is empty; give at least one (alpha, beta, gamma)")
    out = []
    for entry in grid:
        if len(entry) != 3:
            raise ConfigError(f"LACS grid entry {tuple(entry)} must be (alpha, beta, gamma)")
        a, b, g = (float(v) for v in entry)
        for name, v in (("alpha", a), ("beta", b), ("gamma", g)):
            if not math.isfinite(v) or v < 1.0:
                raise ConfigError(
                    f"LACS grid entry {tuple(entry)}: {name}={v} is below 1; alpha, beta and "
                    "gamma must be >= 1 (scaling grows a model)"
                )
        if a == b == g == 1.0:
            raise ConfigError(
                f"LACS grid entry {tuple(entry)} does not grow the model; one of alpha, beta, "
                "gamma must be > 1"
            )
        out.append((a, b, g))
    return out


def default_grid(
    low: float = 1.0, high: float = 1.4, step: float = 0.05
) -> list[tuple[float, float, float]]:
    """The paper's neighbourhood: each of α, β, γ in [low, high] by ``step`` (9³ − 1 triples)."""
    n = int(round((high - low) / step)) + 1
    vals = [round(low + i * step, 6) for i in range(n)]
    return [(a, b, g) for a in vals for b in vals for g in vals if not a == b == g == 1.0]


class LACS:
    """Latency-aware compound scaling.

    ``latency(arch)`` measures an arch (a LatencyResult or ms); ``accuracy(arch)`` estimates
    its accuracy in percent; ``reward(acc, lat, target)`` scores it (default: MnasNet
    reward with w = −0.09). ``max_multiplier`` bounds α^φ, β^φ and γ^φ.
    """

    def __init__(
        self,
        grid: Sequence[Sequence[float]],
        latency: LatencyFn | None = None,
        accuracy: Callable[[Arch], float] | None = None,
        reward: Callable[[float, float, float], float] | None = None,
        *,
        tolerance: float = 0.02,
        max_measurements: int = 12,
        max_multiplier: float = 8.0,
        resolution_multiple: int = 8,
        channel_divisor: int = 8,
        printer: Callable[[str], None] = print,
    ) -> None:
        self.grid = validate_grid(grid)
        if not 0 < tolerance < 1:
            raise ConfigError(f"LACS tolerance must be in (0, 1), got {tolerance}")
        if max_measurements < 2:
            raise ConfigError(f"LACS max_measurements must be >= 2, got {max_measurements}")
        self.latency_fn = latency
        self.accuracy_fn = accuracy
        if reward is None:
            from accelsearch.objectives.reward import mnas_reward

            reward = mnas_reward
        self.reward_fn = reward
        self.tolerance = tolerance
        self.max_measurements = max_measurements
        self.max_multiplier = max_multiplier
        self.resolution_multiple = resolution_multiple
        self.channel_divisor = channel_divisor
        self.print = printer
        self._cache: dict[str, tuple[float, object]] = {}
        self.measurements = 0

    # -- latency ---------------------------------------------------------------------------
    def latency(self, arch: Arch) -> tuple[float, object, bool]:
        """(ms, result, new?) for ``arch``, from the cache when it was measured before."""
        key = arch.hash()
        if key in self._cache:
            ms, res = self._cache[key]
            return ms, res, False
        if self.latency_fn is None:
            raise ConfigError("LACS needs a latency function to measure archs")
        res = self.latency_fn(arch)
        ms = float(getattr(res, "median_ms", res))
        self._cache[key] = (ms, res)
        self.measurements += 1
        return ms, res, True

    def _scaled(self, base: Arch, triple, phi: float) -> Arch:
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

    def _phi_limit(self, triple) -> float:
        growth = max(math.log(v) for v in triple)
        return math.log(self.max_multiplier) / growth

    # -- solving φ -----------------------------------------------------------------------
    def solve(self, base: Arch, triple, target_ms: float) -> Solution:
        """φ such that the scaled base's measured latency is ``target_ms``."""
        triple = validate_grid([triple])[0]
        new = 0

        def point(phi: float) -> _Point:
            nonlocal new
            arch = self._scaled(base, triple, phi)
            ms, res, fresh = self.latency(arch)
            new += int(fresh)
            return _Point(phi, arch, ms, res)

        p0 = point(0.0)
        if target_ms <= p0.latency_ms:
            raise ConfigError(
                f"latency target {target_ms:.4g} ms is not above the base model's "
                f"{p0.latency_ms:.4g} ms; family targets must be larger than the base latency"
            )
        a, b, g = triple
        growth = math.log(a * b * b * g * g)  # latency ∝ FLOPs ∝ (α β² γ²)^φ as a first guess
        limit = self._phi_limit(triple)
        phi = min(limit, math.log(target_ms / p0.latency_ms) / growth)
        lo, hi = p0, None
        seen = [p0]
        while hi is None:
            p = point(phi)
            seen.append(p)
            if p.latency_ms >= target_ms:
                hi = p
            else:
                lo = p if p.latency_ms > lo.latency_ms or p.phi > lo.phi else lo
                if phi >= limit:
                    best = max(seen, key=lambda q: q.latency_ms)
                    raise UnreachableTargetError(
                        f"latency target {target_ms:.4g} ms is unreachable with (alpha, beta, "
                        f"gamma)={triple} within a ×{self.max_multiplier:g} multiplier; the "
                        f"largest reachable latency measured is {best.latency_ms:.4g} ms at "
                        f"phi={best.phi:.3f}; lower the target or raise max_multiplier"
                    )
                # extrapolate on log-latency, at least +25 % of φ
                slope = (math.log(p.latency_ms) - math.log(p0.latency_ms)) / max(p.phi, 1e-9)
                step = (math.log(target_ms) - math.log(p.latency_ms)) / max(slope, 1e-3)
                phi = min(limit, max(p.phi * 1.25, p.phi + step * 1.1))
            if new >= self.max_measurements and hi is None:
                break
        if hi is not None:
            use_bisect = False
            while new < self.max_measurements:
                if abs(hi.latency_ms / target_ms - 1) <= self.tolerance:
                    break
                if lo.phi > 0 and abs(lo.latency_ms / target_ms - 1) <= self.tolerance:
                    break
                if use_bisect:
                    phi = (lo.phi + hi.phi) / 2
                else:
                    llo, lhi = math.log(lo.latency_ms), math.log(hi.latency_ms)
                    frac = (math.log(target_ms) - llo) / max(lhi - llo, 1e-12)
                    phi = lo.phi + min(0.9, max(0.1, frac)) * (hi.phi - lo.phi)
                use_bisect = not use_bisect
                arch = self._scaled(base, triple, phi)
                if arch == lo.arch or arch == hi.arch:
                    mid = (lo.phi + hi.phi) / 2
                    arch_mid = self._scaled(base, triple, mid)
                    if arch_mid == lo.arch or arch_mid == hi.arch:
                        if hi.phi - lo.phi < 1e-4:
                            break  # no arch between the ends: rounding decides
                        # narrow the bracket without measuring
                        if arch_mid == lo.arch:
                            lo = _Point(mid, lo.arch, lo.latency_ms, lo.result)
                        else:
                            hi = _Point(mid, hi.arch, hi.latency_ms, hi.result)
                        continue
                    phi = mid
                p = point(phi)
                seen.append(p)
                if p.latency_ms >= target_ms:
                    hi = p
                else:
                    lo = p
        candidates = [q for q in seen if q.phi > 0] or seen
        best = min(candidates, key=lambda q: abs(q.latency_ms / target_ms - 1))
        return Solution(
            target_ms=target_ms,
            phi=best.phi,
            arch=best.arch,
            latency_ms=best.latency_ms,
            within_tolerance=abs(best.latency_ms / target_ms - 1) <= self.tolerance,
            n_measurements=new,
            result=best.result,
        )

    # -- the whole method ----------------------------------------------------------------
    def run(
        self,
        base: Arch,
        targets_ms: Sequence[float] | None = None,
        name: str = "family",
        base_accuracy: float | None = None,
        cost: Callable[[Arch], object] | None = None,
        *,
        targets_x: Sequence[float] | None = None,
    ) -> Family:
        """Grid-search (α, β, γ) on the first target, then solve φ for every target.

        Targets are absolute (``targets_ms``) or multiples of the base model's latency as
        measured here (``targets_x``, e.g. ``[1.5, 2, 3]``).
        """
        if (targets_ms is None) == (targets_x is None) or not (targets_ms or targets_x):
            raise ConfigError("LACS.run needs latency targets: give targets_ms or targets_x")
        if self.accuracy_fn is None:
            raise ConfigError("LACS needs an accuracy function to choose (alpha, beta, gamma)")
        t0 = time.perf_counter()
        base_ms, base_res, _ = self.latency(base)
        if targets_x is not None:
            bad = [x for x in targets_x if x <= 1]
            if bad:
                raise ConfigError(
                    f"LACS targets_x are multiples of the base latency and must be > 1, got {bad}"
                )
            targets_ms = [base_ms * float(x) for x in targets_x]
        targets = sorted(float(t) for t in targets_ms)
        for t in targets:
            if t <= base_ms:
                raise ConfigError(
                    f"latency target {t:.4g} ms is not above the base model's {base_ms:.4g} ms; "
                    "family targets must be larger than the base latency"
                )
        self.print(
            f"[lacs] base latency {base_ms:.3f} ms; targets "
            + ", ".join(f"{t:.3f}" for t in targets)
            + " ms"
        )
        first = targets[0]
        grid_points: list[GridPoint] = []
        solutions: dict[tuple, tuple[Solution, float]] = {}
        for i, triple in enumerate(self.grid):
            gp = GridPoint(*triple)
            try:
                sol = self.solve(base, triple, first)
                acc = float(self.accuracy_fn(sol.arch))
                gp.phi, gp.latency_ms, gp.accuracy = sol.phi, sol.latency_ms, acc
                gp.reward = float(self.reward_fn(acc, sol.latency_ms, first))
                gp.n_measurements = sol.n_measurements
                solutions[triple] = (sol, acc)
            except UnreachableTargetError as exc:
                gp.error = str(exc)
            grid_points.append(gp)
            self.print(
                f"[lacs] grid {i + 1}/{len(self.grid)} (α,β,γ)={triple}: "
                + (
                    f"φ={gp.phi:.3f}, {gp.latency_ms:.3f} ms, acc {gp.accuracy:.2f}, "
                    f"reward {gp.reward:.3f}"
                    if gp.error is None
                    else f"skipped: {gp.error}"
                )
            )
        scored = [g for g in grid_points if g.reward is not None]
        if not scored:
            raise UnreachableTargetError(
                f"no (alpha, beta, gamma) of the grid reaches {first:.4g} ms: "
                + "; ".join(g.error or "" for g in grid_points[:3])
            )
        best = max(scored, key=lambda g: g.reward)
        triple = (best.alpha, best.beta, best.gamma)
        self.print(f"[lacs] chosen (α,β,γ)={triple}")

        members: list[FamilyMember] = []
        base_member = self._member(
            f"{name}-0", base, base_ms, base_ms, triple, 0.0, True, 0, base_res, base_accuracy, cost
        )
        members.append(base_member)
        for k, t in enumerate(targets, start=1):
            if t == first:
                sol, acc = solutions[triple]
            else:
                sol = self.solve(base, triple, t)
                acc = float(self.accuracy_fn(sol.arch))
            members.append(
                self._member(
                    f"{name}-{k}",
                    sol.arch,
                    t,
                    sol.latency_ms,
                    triple,
                    sol.phi,
                    sol.within_tolerance,
                    sol.n_measurements,
                    sol.result,
                    acc,
                    cost,
                )
            )
            self.print(
                f"[lacs] member {k}: target {t:.3f} ms -> {sol.latency_ms:.3f} ms "
                f"({100 * sol.error:+.1f} %), φ={sol.phi:.3f}, acc {acc:.2f}, "
                f"{sol.n_measurements} measurements"
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
            settings={
                "tolerance": self.tolerance,
                "max_measurements": self.max_measurements,
                "max_multiplier": self.max_multiplier,
                "resolution_multiple": self.resolution_multiple,
                "targets_ms": targets,
                "total_measurements": self.measurements,
            },
            wall_s=time.perf_counter() - t0,
        )

    def _member(self, name, arch, target, lat_ms, triple, phi, within, n, result, acc, cost):
        reward = float(self.reward_fn(acc, lat_ms, target)) if acc is not None else None
        c = cost(arch) if cost is not None else None
        lat_dict = result.to_dict() if hasattr(result, "to_dict") else {"median_ms": lat_ms}
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
            n_measurements=n,
            latency=lat_dict,
        )
