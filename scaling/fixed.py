"""Families with given coefficients, and the EfficientNet comparison (a part of :class:`.LACS`).

:class:`FixedCoefficientGrowth` holds :meth:`~FixedCoefficientGrowth.grow_fixed` (a family
with given (α, β, γ): φ solved on measured latency, equal latency as in EfficientNet-X's
ablation, or on the FLOPs budget the latency targets imply) and
:meth:`~FixedCoefficientGrowth.compare` (the base grown with EfficientNet's accuracy-only
coefficients to a LACS family's targets). It is a base class of :class:`.LACS` and uses the
latency cache, reward, φ solver and settings LACS sets up: ``evals``, ``reward_fn``,
``print``, ``build``, ``tolerance``, ``_prepare``, ``scaled``, ``phi_max``, ``solver`` and
``_settings``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError
from accelsearch.scaling.efficientnet import ExactFlops, solve_flops_budget
from accelsearch.scaling.family import Family
from accelsearch.scaling.grid import Triple, check_targets, validate_grid
from accelsearch.scaling.members import CostFn, EfficiencyFn, MemberMaker, same_family_as
from accelsearch.scaling.prune import EFFICIENTNET_COEFFICIENTS
from accelsearch.scaling.solve import PhiSolution, UnreachableTargetError

PHI_FROM = ("latency", "flops")

__all__ = ["PHI_FROM", "FixedCoefficientGrowth"]


class FixedCoefficientGrowth:
    """Growth with given coefficients for :class:`.LACS` (see the module docstring for the
    attributes and methods of LACS it uses)."""

    def grow_fixed(
        self,
        base: Arch,
        triple: Sequence[float],
        targets_ms: Sequence[float],
        name: str = "family",
        method: str = "fixed",
        phi_from: str = "latency",
        base_accuracy: float | None = None,
        cost: CostFn | None = None,
        efficiency: EfficiencyFn | None = None,
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
        targets = check_targets(targets_ms, base_ms)
        if base_accuracy is not None:
            self.evals.set_accuracy(base, base_accuracy)
        notes: list[str] = []
        solved: dict[float, PhiSolution] = {}
        if phi_from == "flops":
            solved = self._solve_flops_budgets(base, base_ms, triple, targets, name, notes)
            targets = [t for t in targets if t in solved]
        members = MemberMaker(self.evals, self.reward_fn, self.print, cost, efficiency).members(
            base, base_ms, triple, targets, name, self.solver(base, triple).solve, solved,
            skipped=notes,
        )  # fmt: skip
        settings = self._settings(targets, m0, None)
        if notes:
            settings["unreachable"] = notes
        settings["phi_from"] = phi_from
        return Family.grown(
            name, base, base_ms, triple, members, method=method, settings=settings,
            wall_s=time.perf_counter() - t0,
        )  # fmt: skip

    def _solve_flops_budgets(
        self,
        base: Arch,
        base_ms: float,
        triple: Triple,
        targets: list[float],
        name: str,
        notes: list[str],
    ) -> dict[float, PhiSolution]:
        """φ per target on the FLOPs budget ``target / base_ms`` × the base's FLOPs; a target
        that cannot be reached is noted in ``notes`` and left out."""
        counter = ExactFlops(self.build)
        solved = {}
        for t in targets:
            try:
                solved[t] = solve_flops_budget(
                    base, triple, t / base_ms, measure_latency=self.evals.measure,
                    arch_at=lambda phi: self.scaled(base, triple, phi),
                    phi_max=self.phi_max(triple), build=self.build, target_ms=t,
                    tolerance=self.tolerance, counter=counter,
                )  # fmt: skip
            except UnreachableTargetError as exc:
                notes.append(str(exc))
                self.print(f"[lacs] {name}: target {t:.3f} ms skipped: {exc}")
        return solved

    def compare(
        self,
        family: Family,
        method: str = "efficientnet",
        phi_from: str = "latency",
        cost: CostFn | None = None,
        efficiency: EfficiencyFn | None = None,
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
            family.baseline = same_family_as(family, "efficientnet")
            self.print(
                "[lacs] LACS chose EfficientNet's coefficients: the comparison is the family"
            )
            return family.baseline
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
