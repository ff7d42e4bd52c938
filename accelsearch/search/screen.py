"""The screen before the GPU: reject over-budget candidates from their *predicted* latency.

A candidate the strategy proposes is first judged on the CPU: its parameters and GFLOPs
(when the budget bounds them; exact, from the model built on the CPU) and its predicted
latency. It is rejected - told back to the strategy as infeasible, never built on the GPU
nor trained - when the prediction is over the budget by more than the predictor's measured
error (``predicted × (1 − margin) > budget``; the mirror image for a lower bound). A
candidate that passes goes to a trial, which measures its latency before training and stops
there when the measurement is over the budget (``trial.py``).

The predictor (:func:`make_latency_model`; the models in ``screen_models.py``): the
GPU's lookup table, rescaled on the trials measured, or GFLOPs and layer count fitted on
them. ``search.screen.margin`` fixes the margin instead. The margin never goes below 2 %
(measurement noise).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.search.budget import Budget
from accelsearch.search.encoding import Encoding

# snapshots of runs from before the split pickled the models under this module's name
from accelsearch.search.screen_models import FlopsLatency as FlopsLatency
from accelsearch.search.screen_models import TableLatency as TableLatency

SCREEN_PREDICTORS = ("auto", "lut", "flops")
#: the layers :class:`BuildCost` counts for the FLOPs predictor's second term
WEIGHTED_LAYERS = (nn.Conv2d, nn.Linear)
MIN_MARGIN = 0.02


@dataclass
class Verdict:
    """What the screen concluded about one candidate."""

    passed: bool
    predicted_ms: float | None = None
    margin: float | None = None
    reason: str = ""
    #: what the strategy is told for a rejected candidate (and the trial record carries)
    metrics: dict[str, Any] = field(default_factory=dict)


class Screen:
    """Judges candidates against a budget before the GPU, and learns the predictor's error
    from the trials measured afterwards (see the module docstring)."""

    def __init__(
        self,
        budget: Budget,
        space,
        latency_model=None,
        cost_of: Callable[[dict[str, Any]], tuple[float, float]] | None = None,
        margin: float | None = None,
    ) -> None:
        self.budget = budget
        self.space = space
        self.encoding = Encoding(space)
        self.model = latency_model
        self.cost_of = cost_of or BuildCost(space)
        self.fixed_margin = margin
        self.predicted: dict[tuple, float] = {}  # candidates passed, by key: predicted ms
        self.judged = 0
        self.rejected = 0
        self.passed_unscreened = 0  # passed because the predictor was not ready yet
        #: the predicted latency range checked before any trial (screen_setup.check_reachable)
        self.reach: dict[str, Any] | None = None

    # -- judging -------------------------------------------------------------------------
    def margin(self) -> float | None:
        if self.fixed_margin is not None:
            return float(self.fixed_margin)
        m = self.model.margin() if self.model is not None else None
        return None if m is None else max(MIN_MARGIN, m)

    def _costs(self, params: dict[str, Any]) -> dict[str, float]:
        need = self.budget.params_m is not None or self.budget.gflops is not None
        if not need and not (self.model is not None and self.model.kind == "flops"):
            return {}
        params_m, gflops = self.cost_of(params)
        return {"params_m": params_m, "gflops": gflops}

    def judge(self, params: dict[str, Any]) -> Verdict:
        self.judged += 1
        costs = self._costs(params)
        exact = {k: v for k, v in costs.items() if getattr(self.budget, k) is not None}
        if exact and not self.budget.feasible(exact):  # exact numbers: no margin
            return self._reject(params, exact, self.budget.reason(exact), None, None)
        pred = margin = None
        if self.budget.on_latency and self.model is not None and self.model.ready:
            pred = self.model.predict(params, costs.get("gflops"), layers=self._layers(params))
            margin = self.margin()
        if pred is not None and margin is not None:
            lo = {"latency_ms": pred * (1 - margin)}
            hi = {"latency_ms": pred * (1 + margin)}
            b = self.budget
            if b.latency_ms is not None and not b.feasible(lo):
                why = f"predicted {pred:.4g} ms − {100 * margin:.1f} % > {b.latency_ms:g} ms"
                return self._reject(params, costs, why, pred, margin)
            if b.latency_min_ms is not None and not b.feasible(hi):
                why = f"predicted {pred:.4g} ms + {100 * margin:.1f} % < {b.latency_min_ms:g} ms"
                return self._reject(params, costs, why, pred, margin)
        elif self.budget.on_latency:
            self.passed_unscreened += 1
        if pred is not None:
            self.predicted[self.encoding.key(params)] = pred
        return Verdict(True, pred, margin)

    def _layers(self, params: dict[str, Any]) -> float | None:
        """The candidate's layers with weights, for the FLOPs predictor only (a table needs
        none: no build for it) and where the cost function counts them (:class:`BuildCost`
        does, from the model it built for the GFLOPs)."""
        count = getattr(self.cost_of, "layers", None)
        if count is None or self.model is None or self.model.kind != "flops":
            return None
        return float(count(params))

    def _reject(self, params, costs, why: str, pred, margin) -> Verdict:
        self.rejected += 1
        metrics = {**costs, "feasible": 0, "screened": 1, "infeasible": why}
        if pred is not None:
            metrics["latency_ms"] = pred  # what the strategy learns the violation from
            metrics["predicted_latency_ms"] = pred
            metrics["screen_margin"] = margin
        return Verdict(False, pred, margin, why, metrics)

    # -- learning ------------------------------------------------------------------------
    def observe(self, params: dict[str, Any], metrics: dict[str, Any] | None) -> None:
        """A trial measured ``params``: compare with what was predicted, refit FLOPs."""
        if not metrics or self.model is None:
            return
        measured = metrics.get("latency_ms")
        if not isinstance(measured, (int, float)) or metrics.get("screened"):
            return
        pred = self.predicted.pop(self.encoding.key(params), None)
        layers = self._layers(params)
        self.model.observe(params, pred, float(measured), metrics.get("gflops"), layers=layers)

    def summary(self) -> dict[str, Any]:
        m = self.margin()
        out: dict[str, Any] = {
            "budget": self.budget.to_dict(),
            "predictor": self.model.description if self.model is not None else "none",
            "margin": m,
            "judged": self.judged,
            "screened": self.rejected,
            "passed_before_the_predictor_was_ready": self.passed_unscreened,
        }
        if self.reach:
            out["reach"] = self.reach
        if self.model is not None and self.model.kind == "lut":
            out["measured_errors"] = len(self.model.errors)
            out["scale"] = self.model.scale()
        if self.model is not None and self.model.kind == "flops":
            out["calibration_points"] = len(self.model.points)
            out["calibration"] = self.model.coef
            terms = ["gflops", "layers", "1"] if self.model.with_layers else ["gflops", "1"]
            out["calibration_terms"] = terms
        return out


class BuildCost:
    """Parameters (M) and GFLOPs of a candidate, from its model built on the CPU, and its
    layers with weights (convolutions and linear layers: :meth:`layers`); memoised, one
    build per distinct candidate."""

    def __init__(self, space, num_classes: int = 1000) -> None:
        self.space = space
        self.num_classes = num_classes
        self.memo: dict[tuple, tuple[float, float]] = {}
        self.layer_memo: dict[tuple, int] = {}
        self.encoding = Encoding(space)

    def __call__(self, params: dict[str, Any]) -> tuple[float, float]:
        key = self.encoding.key(params)
        if key not in self.memo:
            arch = self.space.decode(params)
            model = self.space.build(arch, num_classes=self.num_classes)
            cost = model_cost(model, arch.resolution)
            self.memo[key] = (cost.params_m, cost.gflops)
            self.layer_memo[key] = sum(isinstance(m, WEIGHTED_LAYERS) for m in model.modules())
        return self.memo[key]

    def layers(self, params: dict[str, Any]) -> int:
        """Convolutions and linear layers of the candidate (each a kernel launch or more)."""
        key = self.encoding.key(params)
        if key not in self.layer_memo:
            self.memo.pop(key, None)  # sized before layers were counted: build it again
            self(params)
        return self.layer_memo[key]

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"layer_memo": {}, **state})  # snapshots from before the count


def check_predictor_name(name: str) -> None:
    if name not in SCREEN_PREDICTORS:
        raise ConfigError(
            f"search.screen.predictor is {name!r}; valid choices: {choices_text(SCREEN_PREDICTORS)}"
        )
