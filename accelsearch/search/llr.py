"""``llr``: GENet's local linear regression NAS (Lin et al., §4.2), for any stage-based space.

One round:

1. evaluate the start arch (``start``: a reference name, a parameter dict, or by default
   the middle value of every parameter);
2. perturb one stage at a time: every ordered parameter that changes exactly one stage's
   depth or width is stepped by ``steps`` (default -1 and +1 value) and evaluated, the
   rest of the arch kept;
3. fit a linear model of the objective (e.g. accuracy) on the depth and width changes -
   per block type (``granularity: type``, GENet's pseudo-gradient shared by all stages of
   one type) or per stage - and one of latency (per stage, from the trials' measured
   latency; or a predictor, ``latency_model: lut|flops``);
4. pick the arch within ``radius`` steps of the start with the best predicted objective
   whose predicted latency is within ``latency_budget_ms`` (default: the start's measured
   latency, i.e. "as fast, more accurate"), and evaluate it (verification).

A search budget (``search.latency_budget_ms``) becomes this budget: LLR takes it itself
and trains every arch it asks for (its perturbations fit the slopes wherever they land), so
neither the screen nor the measure-first gate applies to it.

With ``rounds > 1`` the next round starts from the best evaluated arch within the budget.
A round costs 1 + (number of perturbations) + 1 trials; the search ends by itself.
The space needs ordered (``IntRange``/``Ordinal``) depth/width parameters; a space without
any is rejected before a trial runs.

Which parameter moves which stage is :mod:`accelsearch.search.llr_effects`; the features, the
linear models and the selection (steps 3 and 4) are
:class:`~accelsearch.search.llr_model.LinearModelSelection`, a base class of
:class:`LLRSearcher`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.core.errors import AccelSearchError, ConfigError, short_repr
from accelsearch.search.llr_effects import stage_effects
from accelsearch.search.llr_model import LinearModelSelection
from accelsearch.search.predictors import check_predictor
from accelsearch.search.predictors import make_predictor as make_predictor
from accelsearch.search.predictors import predict_params as predict_params
from accelsearch.search.searcher import Searcher
from accelsearch.search.strategy import register_searcher

KINDS = ("depth", "width")


@register_searcher(
    "llr",
    multi=False,
    description="GENet LLR-NAS: one-stage perturbations, linear model, best arch in a latency budget",
    constraints="own",
)
class LLRSearcher(LinearModelSelection, Searcher):
    defaults = {
        "start": None,
        "latency_budget_ms": None,
        "steps": [-1, 1],
        "granularity": "type",
        "radius": 2,
        "rounds": 1,
        "latency_model": "linear",
        "predictor_options": None,
        "candidates": 20000,
        "ridge": 1e-3,
    }
    option_kinds = {
        "latency_model": (object,),  # a name, or from Python a callable: check_predictor
        "start": (str, dict),
        "latency_budget_ms": (float,),
        "predictor_options": (dict,),
    }

    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        o = self.options
        if o["granularity"] not in ("type", "stage"):
            raise ConfigError(
                f"search.options.granularity is {o['granularity']!r}; valid: 'type', 'stage'"
            )
        if not all(isinstance(s, int) and not isinstance(s, bool) for s in o["steps"]):
            raise ConfigError(
                f"search.options.steps must be a list of integer steps such as [-1, 1], got "
                f"{short_repr(o['steps'])}"
            )
        steps = list(o["steps"])
        if not steps or 0 in steps:
            raise ConfigError(f"search.options.steps needs non-zero value steps, got {o['steps']}")
        for key in ("radius", "rounds", "candidates"):
            if int(o[key]) < 1:
                raise ConfigError(f"search.options.{key} must be >= 1, got {o[key]}")
        self.steps = steps
        self.latency_model = o["latency_model"]
        if self.latency_model != "linear":
            check_predictor(self.latency_model, o["predictor_options"])
        self.start_idx = self.encoding.to_indices(self._start_params())
        self.effects = self._stage_effects(self.start_idx)
        if not self.effects:
            ordered = [n for n, o_ in zip(self.encoding.names, self.encoding.ordered) if o_]
            raise ConfigError(
                f"strategy 'llr' steps stage depth and width, but no parameter of space "
                f"{getattr(space, 'name', '') or type(space).__name__!r} changes one stage's "
                f"depth or width (ordered parameters: {ordered or 'none'}); declare depths and "
                "widths as IntRange/Ordinal, or use another strategy"
            )
        self.budget = o["latency_budget_ms"]
        self.phase = "start"
        self.round = 0
        self.queue: list[np.ndarray] = [self.start_idx.copy()]
        self.in_flight: dict[tuple, np.ndarray] = {}
        self.known: dict[tuple, tuple[float | None, dict[str, Any] | None]] = {}
        self.center = self.start_idx.copy()
        self.rounds_log: list[dict[str, Any]] = []
        self.error: str | None = None
        self._features()

    # -- set-up ------------------------------------------------------------------------------
    def set_budget(self, budget) -> None:
        """The search's latency budget is LLR's (other bounds it cannot take)."""
        super().set_budget(budget)
        others = [n for n in budget.names() if n != "latency_ms"]
        if others:
            raise ConfigError(
                f"strategy 'llr' takes a latency budget only (search.latency_budget_ms); "
                f"it cannot take {others}: drop them, or use optuna-tpe"
            )
        own = self.options["latency_budget_ms"]
        if own is not None and float(own) != float(budget.latency_ms):
            raise ConfigError(
                f"search.options.latency_budget_ms ({own}) and search.latency_budget_ms "
                f"({budget.latency_ms}) disagree; give one of them"
            )
        self.budget = float(budget.latency_ms)

    def _start_params(self) -> dict[str, Any]:
        start = self.options["start"]
        if start is None:
            return {
                n: vals[len(vals) // 2]
                for n, vals in zip(self.encoding.names, self.encoding.values)
            }
        if isinstance(start, str):
            try:
                return self.space.encode(self.space.reference(start))
            except AccelSearchError as exc:
                raise ConfigError(f"search.options.start {start!r}: {exc}") from None
        if isinstance(start, dict):
            full = {
                n: vals[len(vals) // 2]
                for n, vals in zip(self.encoding.names, self.encoding.values)
            }
            full.update(start)
            self.space.validate_params(full)
            return full
        raise ConfigError(
            f"search.options.start must be a reference name or a parameter dict, got {start!r}"
        )

    def _decode(self, idx) -> Any:
        return self.space.decode(self.encoding.from_indices(idx))

    def _stage_effects(self, idx0: np.ndarray) -> dict[int, dict[int, tuple[int, str, float]]]:
        return stage_effects(self._decode, self.encoding, idx0)

    # -- ask/tell ----------------------------------------------------------------------------
    def _ask_impl(self) -> dict[str, Any] | None:
        while True:
            while self.queue:
                idx = self.queue.pop(0)
                params = self.encoding.from_indices(idx)
                key = self.encoding.key(params)
                if key in self.known or key in self.in_flight:
                    continue
                self.in_flight[key] = idx
                return params
            if self.in_flight or self.phase == "done":
                return None
            self._advance()

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        key = self.encoding.key(params)
        self.in_flight.pop(key, None)
        self.known[key] = (values[0] if values else None, metrics)
        if not self.queue and not self.in_flight and self.phase != "done":
            self._advance()  # a phase ended: fit, select or log now (the summary shows it)

    def is_finished(self) -> bool:
        return self.phase == "done"

    def _result(self, idx) -> tuple[float | None, dict[str, Any] | None]:
        return self.known.get(self.encoding.key(self.encoding.from_indices(idx)), (None, None))

    def _advance(self) -> None:
        if self.phase == "start":
            value, metrics = self._result(self.center)
            if value is None:
                self.error = "the start arch failed; LLR needs its accuracy and latency"
                self.phase = "done"
                return
            if self.budget is None:
                self.budget = self._latency_of_start(metrics)
            self.queue = self._perturbations(self.center)
            self.phase = "perturb"
        elif self.phase == "perturb":
            chosen = self._select()
            if chosen is None:
                self.phase = "done"
                return
            self.queue = [chosen]
            self.phase = "verify"
        elif self.phase == "verify":
            self._log_verification()
            self.round += 1
            if self.round >= int(self.options["rounds"]):
                self.phase = "done"
                return
            self.center = self._best_within_budget()
            self.queue = self._perturbations(self.center)
            self.phase = "perturb"

    def _latency_of_start(self, metrics) -> float:
        if self.latency_model == "linear":
            return float(metrics["latency_ms"])
        return float(self._predict_latency([self.center])[0])

    def _perturbations(self, center: np.ndarray) -> list[np.ndarray]:
        out = []
        for p in self.effects:
            for s in self.steps:
                v = int(center[p]) + s
                if 0 <= v < self.encoding.cardinalities[p] and (
                    v in self.effects[p] or v == self.start_idx[p]
                ):
                    idx = center.copy()
                    idx[p] = v
                    out.append(idx)
        return out

    def _log_verification(self) -> None:
        log = dict(getattr(self, "_pending_log", {}) or {})
        sel = log.get("selected")
        if sel is not None:
            value, metrics = self.known.get(self.encoding.key(sel), (None, None))
            log["verified_value"] = value
            log["verified_latency_ms"] = (metrics or {}).get("latency_ms")
            log["verified_arch"] = (metrics or {}).get("arch")
        self.rounds_log.append(log)
        self._pending_log = None

    def _best_within_budget(self) -> np.ndarray:
        best, best_v = self.center, self._result(self.center)[0]
        for key, (value, metrics) in self.known.items():
            if value is None or not metrics:
                continue
            lat = metrics.get("latency_ms")
            if self.latency_model == "linear" and (lat is None or lat > self.budget):
                continue
            if best_v is None or value < best_v:
                best = self.encoding.to_indices(dict(zip(self.encoding.names, key)))
                best_v = value
        return best

    def summary(self) -> dict[str, Any]:
        metric = self.objective.metrics[0]
        sign = -1.0 if self.objective.modes[0] == "max" else 1.0

        def nat(v):  # back from "minimise" form to the metric's own sign
            return None if v is None else sign * v

        rounds = []
        for log in self.rounds_log:
            r = dict(log)
            for k in ("center_value", "predicted_value", "verified_value"):
                if k in r:
                    r[k.replace("value", metric)] = nat(r.pop(k))
            if "coefficients" in r:
                r["coefficients"] = {k: sign * v for k, v in r["coefficients"].items()}
            rounds.append(r)
        out: dict[str, Any] = {
            "strategy": "llr",
            "metric": metric,
            "granularity": self.options["granularity"],
            "latency_budget": self.budget,
            "trials": len(self.known),
            "rounds": rounds,
            "stage_parameters": {
                self.encoding.names[p]: sorted({f"stage{j}:{k}" for j, k, _ in t.values()})
                for p, t in self.effects.items()
            },
        }
        if self.error:
            out["error"] = self.error
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_predictor"] = None  # rebuilt on demand (a LUT holds a database handle)
        return state
