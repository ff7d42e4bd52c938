"""What a search leaves behind: one record per trial, the best one and the Pareto set.

A trial's ``status`` is ``ok`` (trained), ``failed``, ``infeasible`` (over the search's
budget, stopped before training) or ``screened`` (rejected before the GPU from its predicted
latency; never a Ray Tune trial). Under a budget a trained trial may still be over it (the
screen off): its ``metrics["feasible"]`` is 0, :meth:`SearchResult.best` never picks it and
the Pareto set marks it (:attr:`TrialRecord.feasible`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsearch.core.arch import Arch
from accelsearch.core.errors import AccelSearchError
from accelsearch.objectives.reward import pareto_mask

_OVER_BUDGET = ("infeasible", "screened")


@dataclass
class TrialRecord:
    trial_id: str
    params: dict[str, Any]
    status: str  # "ok" | "failed" | "infeasible" | "screened"
    metrics: dict[str, Any] = field(default_factory=dict)
    arch: Arch | None = None
    error: str | None = None
    mlflow_run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and "accuracy" in self.metrics

    @property
    def feasible(self) -> bool:
        """Within the search's budget (always true for a search without one)."""
        return self.status in ("ok", "failed") and self.metrics.get("feasible", 1) != 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "params": self.params,
            "status": self.status,
            "metrics": self.metrics,
            "arch": self.arch.to_dict() if self.arch is not None else None,
            "error": self.error,
            "mlflow_run_id": self.mlflow_run_id,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrialRecord:
        d = dict(d)
        arch = d.pop("arch", None)
        return cls(**d, arch=Arch.from_dict(arch) if arch else None)


@dataclass
class SearchResult:
    trials: list[TrialRecord]
    strategy: str = ""
    space: str = ""
    mlflow_run_id: str | None = None
    wall_s: float = 0.0
    #: what the strategy concluded (e.g. ``stratified``: one winner per latency bin)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def completed(self) -> list[TrialRecord]:
        return [t for t in self.trials if t.ok]

    @property
    def failed(self) -> list[TrialRecord]:
        return [t for t in self.trials if not t.ok and t.status not in _OVER_BUDGET]

    @property
    def infeasible(self) -> list[TrialRecord]:
        """Candidates over the budget: screened, stopped after measuring, or trained."""
        return [t for t in self.trials if t.status in _OVER_BUDGET or (t.ok and not t.feasible)]

    def best(self, metric: str = "reward", mode: str = "max") -> TrialRecord:
        """The best *feasible* completed trial (every trial is, without a budget). After
        ``search.confirm`` (:mod:`accelsearch.search.confirm`), the best of the confirmed
        trials by the mean of their confirming runs (``metric + "_confirmed"``)."""
        done = [t for t in self.completed if t.feasible]
        confirmed = [t for t in done if f"{metric}_confirmed" in t.metrics]
        if confirmed:
            done, metric = confirmed, f"{metric}_confirmed"
        if not done:
            if self.completed:
                raise AccelSearchError(
                    f"no completed trial is within the budget ({len(self.infeasible)} "
                    "candidates were over it), so there is no best model; raise the budget "
                    "or run more trials"
                )
            reasons = "; ".join(
                f"{t.trial_id}: {(t.error or '').strip().splitlines()[-1:]}"
                for t in self.failed[:3]
            )
            raise AccelSearchError(f"no trial completed, so there is no best model ({reasons})")
        key = (lambda t: t.metrics[metric]) if mode == "max" else (lambda t: -t.metrics[metric])
        return max(done, key=key)

    def pareto(self, feasible_only: bool = False) -> list[TrialRecord]:
        """Non-dominated trials for (accuracy max, latency_ms min), fastest first. Trained
        trials over a budget take part (``TrialRecord.feasible`` marks them) unless
        ``feasible_only``."""
        done = [t for t in self.completed if t.feasible or not feasible_only]
        if not done:
            return []
        mask = pareto_mask(
            [[t.metrics["accuracy"], t.metrics["latency_ms"]] for t in done], ["max", "min"]
        )
        front = [t for t, m in zip(done, mask) if m]
        return sorted(front, key=lambda t: t.metrics["latency_ms"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "space": self.space,
            "mlflow_run_id": self.mlflow_run_id,
            "wall_s": self.wall_s,
            "summary": self.summary,
            "trials": [t.to_dict() for t in self.trials],
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str))

    @classmethod
    def load(cls, path: str | Path) -> SearchResult:
        d = json.loads(Path(path).read_text())
        trials = [TrialRecord.from_dict(t) for t in d.pop("trials")]
        return cls(trials=trials, **d)
