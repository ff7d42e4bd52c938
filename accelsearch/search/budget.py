"""Budgets as constraints: "the most accurate model under 2 ms on this GPU".

A :class:`Budget` holds the recipe's ``search.latency_budget_ms`` (and the optional lower
bound ``search.latency_min_ms``, ``search.params_budget_m``, ``search.gflops_budget``). It
turns a trial's metrics into constraint values in Optuna's convention (<= 0 feasible, > 0
violated), each relative to its bound, so that a candidate at 2.4 ms under a 2 ms budget has
a violation of 0.2 whatever the unit.

How a strategy takes a budget (:data:`CONSTRAINT_KINDS`, set when it is registered):

* ``native``: the strategy's own constraint mechanism - Optuna's samplers through
  ``Trial.set_constraint`` (constrained TPE, constrained dominance in NSGA-II/III,
  constrained LogEI/LogEHVI in the GP sampler), pymoo's constraint violation, stratified's
  bins restricted to the candidates predicted under the budget;
* ``own``: the strategy already has a budget of its own and needs every candidate it asks
  for trained (``llr``: its perturbations are steps to fit a slope, wherever they land): the
  search's budget becomes its ``latency_budget_ms``, and neither the screen nor the
  measure-first gate applies;
* ``screen``: the strategy cannot take constraints (``random``, ``sobol``,
  ``utilization-filter``, any strategy registered without saying): the screen
  (:mod:`accelsearch.search.screen`) rejects over-budget candidates for it, so a budget
  with ``search.screen.enabled: false`` is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError

CONSTRAINT_KINDS = ("native", "own", "screen")

#: constraint name -> (metric it reads, recipe field, upper or lower bound)
CONSTRAINTS: dict[str, tuple[str, str, str]] = {
    "latency_ms": ("latency_ms", "search.latency_budget_ms", "max"),
    "latency_min_ms": ("latency_ms", "search.latency_min_ms", "min"),
    "params_m": ("params_m", "search.params_budget_m", "max"),
    "gflops": ("gflops", "search.gflops_budget", "max"),
}


#: user attribute that carries a trial's constraint values where Optuna has no
#: ``Trial.set_constraint`` (Optuna 4.x): the sampler's ``constraints_func`` reads it
CONSTRAINTS_ATTR = "accelsearch.constraints"


def constraints_from_user_attrs(trial) -> list[float]:
    """``constraints_func`` for Optuna 4.x samplers (module level, so it pickles)."""
    return list(trial.user_attrs.get(CONSTRAINTS_ATTR, []))


@dataclass(frozen=True)
class Budget:
    """Upper (and one lower) bounds on a trial's metrics; ``None`` means no bound."""

    latency_ms: float | None = None
    latency_min_ms: float | None = None
    params_m: float | None = None
    gflops: float | None = None

    def __post_init__(self) -> None:
        for name, (_, field, _) in CONSTRAINTS.items():
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"{field} must be a number, got {v!r}")
            if v < 0 or (v == 0 and name != "latency_min_ms"):
                raise ConfigError(f"{field} must be positive, got {v}")
        lo, hi = self.latency_min_ms, self.latency_ms
        if lo is not None and hi is not None and lo >= hi:
            raise ConfigError(
                f"search.latency_min_ms ({lo}) must be below search.latency_budget_ms ({hi}); "
                "lower the one or raise the other"
            )

    @classmethod
    def of_search(cls, spec) -> Budget | None:
        """The budget of a recipe's ``search`` section, or ``None`` when it sets none."""
        b = cls(
            latency_ms=spec.latency_budget_ms,
            latency_min_ms=spec.latency_min_ms,
            params_m=spec.params_budget_m,
            gflops=spec.gflops_budget,
        )
        return b if b.active else None

    @property
    def active(self) -> bool:
        return bool(self.names())

    @property
    def on_latency(self) -> bool:
        return self.latency_ms is not None or self.latency_min_ms is not None

    def names(self) -> list[str]:
        """The constraints this budget sets, in a fixed order (Optuna's GP sampler needs the
        same names on every trial)."""
        return [n for n in CONSTRAINTS if getattr(self, n) is not None]

    def violations(self, metrics: dict[str, Any] | None) -> dict[str, float | None]:
        """Each constraint's relative violation (<= 0 feasible); ``None`` where the metric is
        missing from ``metrics``."""
        out: dict[str, float | None] = {}
        for name in self.names():
            metric, _, side = CONSTRAINTS[name]
            bound = float(getattr(self, name))
            v = (metrics or {}).get(metric)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                out[name] = None
            elif side == "max":
                out[name] = (float(v) - bound) / bound
            else:
                out[name] = (bound - float(v)) / bound if bound > 0 else -float(v)
        return out

    def violation(self, metrics: dict[str, Any] | None) -> float:
        """The largest violation (0 when every known constraint holds)."""
        known = [v for v in self.violations(metrics).values() if v is not None]
        return max([0.0, *known])

    def feasible(self, metrics: dict[str, Any] | None) -> bool:
        return self.violation(metrics) <= 0

    def reason(self, metrics: dict[str, Any] | None) -> str:
        """Why ``metrics`` break the budget, in words ('' when they do not)."""
        parts = []
        for name, v in self.violations(metrics).items():
            if v is None or v <= 0:
                continue
            metric, field, side = CONSTRAINTS[name]
            word = "over" if side == "max" else "under"
            parts.append(
                f"{metric} {float(metrics[metric]):.4g} {word} {field} {getattr(self, name):g}"
            )
        return "; ".join(parts)

    def describe(self) -> str:
        parts = []
        if self.latency_ms is not None:
            parts.append(f"latency <= {self.latency_ms:g} ms")
        if self.latency_min_ms is not None:
            parts.append(f"latency >= {self.latency_min_ms:g} ms")
        if self.params_m is not None:
            parts.append(f"params <= {self.params_m:g} M")
        if self.gflops is not None:
            parts.append(f"GFLOPs <= {self.gflops:g}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def pool_within_budget(latency, budget: Budget | None, margin: float, unit: str, strategy: str):
    """The members of a pool (predicted ``latency``, a NumPy array in ``unit``) that
    ``budget`` admits with its ``margin``; used by the pool strategies when they build their
    pool. Raises when the predictor is not in ms or when no member is admitted."""
    keep = np.ones(len(latency), dtype=bool)
    if budget is None or not budget.on_latency:
        return keep
    if unit != "ms":
        raise ConfigError(
            f"strategy {strategy!r} needs a latency predictor in ms for the budget "
            f"({budget.describe()}); its predictor gives {unit}"
        )
    if budget.latency_ms is not None:
        keep &= latency <= budget.latency_ms * (1 + margin)
    if budget.latency_min_ms is not None:
        keep &= latency >= budget.latency_min_ms * (1 - margin)
    if not keep.any():
        raise ConfigError(
            f"no candidate of {strategy}'s pool of {len(latency)} is predicted within the "
            f"budget ({budget.describe()}): the fastest is predicted at {latency.min():.4g} "
            "ms; raise search.latency_budget_ms"
        )
    return keep
