"""A family's members: the base (φ = 0) and one scaled model per latency target.

:class:`MemberMaker` turns φ solutions into :class:`~.family.FamilyMember` rows (measured
latency, accuracy, reward, size, roofline efficiency) for LACS and for its fixed-coefficient
families; :func:`same_family_as` relabels a LACS family as the EfficientNet comparison when
LACS chose EfficientNet's own coefficients (at equal latency the two coincide).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accelsearch.core.arch import Arch
from accelsearch.scaling.evaluations import Evaluations
from accelsearch.scaling.family import Family, FamilyMember
from accelsearch.scaling.solve import PhiSolution, UnreachableTargetError

CostFn = Callable[[Arch], object]
EfficiencyFn = Callable[[Arch, object], dict]


@dataclass
class MemberMaker:
    """Builds members from measured archs: ``cost(arch)`` gives params and FLOPs,
    ``efficiency(arch, latency_result)`` intensity and utilisation (both optional)."""

    evals: Evaluations
    reward_fn: Callable[[float, float, float], float]
    printer: Callable[[str], None]
    cost: CostFn | None = None
    efficiency: EfficiencyFn | None = None

    def members(
        self,
        base: Arch,
        base_ms: float,
        triple: Sequence[float],
        targets: Sequence[float],
        name: str,
        solve: Callable[[float], PhiSolution],
        solved: dict[float, PhiSolution],
        skipped: list[str] | None = None,
    ) -> list[FamilyMember]:
        """Member 0 (the base) and one member per target, φ from ``solved`` or ``solve(t)``.
        With ``skipped`` (a list), an unreachable target is noted there and left out instead
        of raising."""
        base_sol = PhiSolution(base_ms, 0.0, base, base_ms, 1.0, 0, "base")
        members = [self.member(f"{name}-0", base_sol, triple)]
        for k, t in enumerate(targets, start=1):
            sol = solved.get(t)
            if sol is None:
                try:
                    sol = solve(t)
                except UnreachableTargetError as exc:
                    if skipped is None:
                        raise
                    skipped.append(str(exc))
                    self.printer(f"[lacs] {name}: target {t:.3f} ms skipped: {exc}")
                    continue
            member = self.member(f"{name}-{k}", sol, triple, target=t)
            members.append(member)
            self.printer(
                f"[lacs] {name}-{k}: target {t:.3f} ms -> {sol.value:.3f} ms "
                f"({100 * sol.error:+.1f} %, {sol.reason}), φ={sol.phi:.4g}, "
                + (f"acc {member.accuracy:.2f}, " if member.accuracy is not None else "")
                + f"{sol.n_measurements} measurements"
            )
        return members

    def member(
        self, name: str, sol: PhiSolution, triple: Sequence[float], target: float | None = None
    ) -> FamilyMember:
        """The member for ``sol`` (its arch measured before), scored against ``target``
        (default: the solution's own target; the base's is its own latency)."""
        target = sol.target if target is None else target
        arch, lat_ms = sol.arch, sol.value
        acc = self.evals.known_accuracy(arch)
        if acc is None and self.evals.accuracy_fn is not None:
            acc = self.evals.accuracy(arch)
        reward = float(self.reward_fn(acc, lat_ms, target)) if acc is not None else None
        c = self.cost(arch) if self.cost is not None else None
        measured = self.evals.measured(arch)
        eff = self.efficiency(arch, measured.result) if self.efficiency is not None else None
        eff = eff or {}
        return FamilyMember(
            name=name,
            arch=arch,
            target_ms=target,
            alpha=triple[0],
            beta=triple[1],
            gamma=triple[2],
            phi=sol.phi,
            latency_ms=lat_ms,
            latency_error=lat_ms / target - 1.0,
            within_tolerance=sol.within_tolerance,
            accuracy=acc,
            reward=reward,
            params_m=getattr(c, "params_m", None),
            gflops=getattr(c, "gflops", None),
            gmacs=getattr(c, "gmacs", None),
            intensity=eff.get("intensity"),
            utilisation=eff.get("utilisation", eff.get("utilization")),
            n_measurements=sol.n_measurements,
            solve=sol.reason,
            latency=measured.to_dict(),
        )


def same_family_as(family: Family, method: str = "efficientnet") -> Family:
    """``family`` relabelled as grown by ``method`` with no new measurement: what the
    comparison is when LACS chose the comparison's own coefficients."""
    other = copy.deepcopy(family)
    other.name, other.method, other.baseline, other.grid = (
        f"{family.name}-{method}",
        method,
        None,
        [],
    )
    for m in other.members:
        m.name = m.name.replace(family.name, other.name, 1)
        m.n_measurements = 0
    other.settings = {**family.settings, "phi_from": "latency", "same_as": family.name}
    other.settings.pop("pruning", None)
    other.settings["total_measurements"] = 0
    return other
