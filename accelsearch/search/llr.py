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
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.core.errors import AccelSearchError, ConfigError, short_repr
from accelsearch.search.llr_effects import stage_effects
from accelsearch.search.predictors import check_predictor, make_predictor, predict_params
from accelsearch.search.searcher import Searcher
from accelsearch.search.strategy import register_searcher

KINDS = ("depth", "width")


@register_searcher(
    "llr",
    multi=False,
    description="GENet LLR-NAS: one-stage perturbations, linear model, best arch in a latency budget",
    constraints="own",
)
class LLRSearcher(Searcher):
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

    def _features(self) -> None:
        arch0 = self._decode(self.start_idx)
        self.stage_types = [st.type for st in arch0.stages]
        acc_names, lat_names = [], []
        for table in self.effects.values():
            for j, kind, _ in table.values():
                a = self._acc_feature(j, kind)
                if a not in acc_names:
                    acc_names.append(a)
                lname = f"stage{j}:{kind}"
                if lname not in lat_names:
                    lat_names.append(lname)
        self.acc_names, self.lat_names = acc_names, lat_names

    def _acc_feature(self, j: int, kind: str) -> str:
        if self.options["granularity"] == "type":
            return f"{self.stage_types[j]}:{kind}"
        return f"stage{j}:{kind}"

    def _vectors(self, center: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Feature vectors (objective, latency) of ``idx`` relative to ``center``; additive
        over parameters (each moves one stage)."""
        xa = np.zeros(len(self.acc_names))
        xl = np.zeros(len(self.lat_names))
        for p, table in self.effects.items():
            if idx[p] == center[p]:
                continue
            # effects are relative to the start arch (the start's own value has none)
            e1 = table.get(int(idx[p]))
            e0 = table.get(int(center[p]))
            for e, sign in ((e1, 1.0), (e0, -1.0)):
                if e is None:
                    continue
                j, kind, delta = e
                xa[self.acc_names.index(self._acc_feature(j, kind))] += sign * delta
                xl[self.lat_names.index(f"stage{j}:{kind}")] += sign * delta
        return xa, xl

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

    # -- the linear models -------------------------------------------------------------------
    def _fit(self, center: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float, float]:
        y0, m0 = self._result(center)
        lat0 = float(m0["latency_ms"]) if m0 and "latency_ms" in m0 else float("nan")
        rows_a, rows_l, ya, yl = [], [], [], []
        for key, (value, metrics) in self.known.items():
            if value is None:
                continue
            idx = self.encoding.to_indices(dict(zip(self.encoding.names, key)))
            if np.array_equal(idx, center):
                continue
            diff = np.flatnonzero(idx != center)
            if len(diff) != 1 or int(diff[0]) not in self.effects:
                continue  # only one-stage perturbations of this center
            xa, xl = self._vectors(center, idx)
            rows_a.append(xa)
            ya.append(value - y0)
            if metrics and "latency_ms" in metrics:
                rows_l.append(xl)
                yl.append(float(metrics["latency_ms"]) - lat0)
        lam = float(self.options["ridge"])
        g = _ridge(np.array(rows_a), np.array(ya), lam, len(self.acc_names))
        a = _ridge(np.array(rows_l), np.array(yl), lam, len(self.lat_names)) if rows_l else None
        return g, a, y0, lat0

    def _select(self) -> np.ndarray | None:
        center = self.center
        g, a, y0, lat0 = self._fit(center)
        params = [p for p in self.effects]
        radius = int(self.options["radius"])
        # per parameter and value: predicted objective and latency contributions
        contrib_a: dict[int, dict[int, float]] = {}
        contrib_l: dict[int, dict[int, float]] = {}
        choices: dict[int, list[int]] = {}
        for p in params:
            vals = [
                v
                for v in range(
                    max(0, int(center[p]) - radius),
                    min(int(self.encoding.cardinalities[p]), int(center[p]) + radius + 1),
                )
                if v in self.effects[p] or v == self.start_idx[p]
            ]
            choices[p] = vals
            contrib_a[p], contrib_l[p] = {}, {}
            for v in vals:
                idx = center.copy()
                idx[p] = v
                xa, xl = self._vectors(center, idx)
                contrib_a[p][v] = float(xa @ g)
                contrib_l[p][v] = float(xl @ a) if a is not None else 0.0
        n = int(self.options["candidates"])
        rng = np.random.default_rng(self.seed + 7919 * (self.round + 1))
        cand = np.repeat(center[None, :], n, axis=0)
        for p in params:
            cand[:, p] = rng.choice(choices[p], size=n)
        cand = np.vstack([center[None, :], cand])
        pred_a = y0 + sum(np.vectorize(contrib_a[p].get)(cand[:, p]) for p in params)
        if self.latency_model == "linear":
            pred_l = lat0 + sum(np.vectorize(contrib_l[p].get)(cand[:, p]) for p in params)
        else:
            cand = cand[: min(len(cand), 512)]  # a predictor builds or looks up each arch
            pred_a = pred_a[: len(cand)]
            pred_l = self._predict_latency(cand)
        fresh = np.array(
            [self.encoding.key(self.encoding.from_indices(c)) not in self.known for c in cand]
        )
        feasible = pred_l <= self.budget
        ok = feasible & fresh
        if not ok.any():
            self._pending_log = {"selected": None, "reason": "no unevaluated arch fits the budget"}
            return None
        best = int(np.flatnonzero(ok)[np.argmin(pred_a[ok])])
        chosen = cand[best].copy()
        if self.latency_model == "linear":
            chosen = self._coordinate_descent(chosen, params, choices, contrib_a, contrib_l, lat0)
        xa, xl = self._vectors(center, chosen)
        pa = float(y0 + xa @ g)
        pl = (
            float(lat0 + xl @ a)
            if (a is not None and self.latency_model == "linear")
            else float(pred_l[best])
        )
        self._pending_log = {
            "round": self.round,
            "center": self.encoding.from_indices(center),
            "center_value": y0,
            "center_latency_ms": lat0,
            "coefficients": dict(zip(self.acc_names, map(float, g))),
            "latency_slopes": dict(zip(self.lat_names, map(float, a))) if a is not None else {},
            "budget": self.budget,
            "selected": self.encoding.from_indices(chosen),
            "predicted_value": pa,
            "predicted_latency": pl,
        }
        return chosen

    def _coordinate_descent(self, idx, params, choices, ca, cl, lat0) -> np.ndarray:
        """Improve one parameter at a time while the prediction gets better and fits."""
        idx = idx.copy()

        def score(i):
            return sum(ca[p][int(i[p])] for p in params), lat0 + sum(
                cl[p][int(i[p])] for p in params
            )

        cur_a, _ = score(idx)
        improved = True
        while improved:
            improved = False
            for p in params:
                for v in choices[p]:
                    if v == idx[p]:
                        continue
                    trial = idx.copy()
                    trial[p] = v
                    pa, pl = score(trial)
                    key = self.encoding.key(self.encoding.from_indices(trial))
                    if pa < cur_a - 1e-12 and pl <= self.budget and key not in self.known:
                        idx, cur_a, improved = trial, pa, True
        return idx

    def _predict_latency(self, cand) -> np.ndarray:
        if not hasattr(self, "_predictor") or self._predictor is None:
            self._predictor = make_predictor(
                self.latency_model, self.space, self.options["predictor_options"] or {}
            )
        params = [self.encoding.from_indices(c) for c in cand]
        return predict_params(self._predictor, self.space, params)

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


def _ridge(X: np.ndarray, y: np.ndarray, lam: float, k: int) -> np.ndarray:
    if X.size == 0:
        return np.zeros(k)
    A = X.T @ X + lam * np.eye(X.shape[1])
    return np.linalg.solve(A, X.T @ y)
